// `minigraph dump|stats|gradcheck|run --model minimind` end to end: the real
// binary on MiniMind's causal LM from the model registry. run's outputs are
// checked bit for bit against the registered model built here with the same
// options; --preset reaches the model (and only that model); bad settings
// exit 2 with a message naming the setting.
#include <string>
#include <vector>

#include "framework/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/model_registry.h"
#include "tests/framework/graph_test_util.h"
#include "tests/tools/cli_test_util.h"

namespace minigraph {
namespace {

using ::minigraph::testing::BitDifference;
using ::minigraph::testing::ReadFile;
using ::minigraph::testing::RunMinigraph;
using ::minigraph::testing::RunResult;
using ::minigraph::testing::TempPath;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(MiniMindModelCliTest, DumpPrintsTheLanguageModelsGraph) {
  const RunResult r = RunMinigraph({"dump", "--model", "minimind"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_THAT(r.stdout_text, HasSubstr("graph minimind"));
  EXPECT_THAT(r.stdout_text, HasSubstr("input input_ids : int64[B, T]"));
  EXPECT_THAT(r.stdout_text, HasSubstr("input labels : int64[B, T]"));
  // The tiny preset by default: the byte-level vocabulary, 128 wide, tied.
  EXPECT_THAT(r.stdout_text,
              HasSubstr("param model.embed_tokens.weight : float32[259, 128]"));
  EXPECT_THAT(r.stdout_text, HasSubstr("param model.layers.1.mlp.up_proj"));
  EXPECT_THAT(r.stdout_text, Not(HasSubstr("param lm_head.weight")));
  EXPECT_THAT(r.stdout_text, HasSubstr("= embedding("));
  EXPECT_THAT(r.stdout_text, HasSubstr("= cross_entropy("));
  EXPECT_THAT(r.stdout_text, HasSubstr("output logits = "));
  EXPECT_THAT(r.stdout_text, HasSubstr("output loss = "));

  const RunResult backward =
      RunMinigraph({"dump", "--model", "minimind", "--seq", "4", "--backward"});
  ASSERT_EQ(backward.exit_code, 0) << backward.stderr_text;
  EXPECT_THAT(backward.stdout_text, HasSubstr("# grad of"));
}

TEST(MiniMindModelCliTest, PresetFlagAndSettingReachTheModel) {
  // minimind3 made small: its 2026 layout shows in q/k norms and the
  // SwiGLU width ceil(96 pi / 64) * 64 = 320 for hidden 96.
  const std::vector<std::string> small = {"--set", "layers=1,hidden=96"};
  std::vector<std::string> by_flag = {"dump", "--model", "minimind", "--preset",
                                      "minimind3"};
  by_flag.insert(by_flag.end(), small.begin(), small.end());
  const RunResult flag = RunMinigraph(by_flag);
  ASSERT_EQ(flag.exit_code, 0) << flag.stderr_text;
  EXPECT_THAT(flag.stdout_text,
              HasSubstr("param model.layers.0.self_attn.q_norm.weight : "
                        "float32[96]"));
  EXPECT_THAT(flag.stdout_text,
              HasSubstr("param model.layers.0.mlp.gate_proj.weight : "
                        "float32[320, 96]"));
  EXPECT_THAT(flag.stdout_text,
              HasSubstr("param model.embed_tokens.weight : float32[6400, 96]"));

  const RunResult setting =
      RunMinigraph({"dump", "--model", "minimind", "--set",
                    "preset=minimind3,layers=1,hidden=96"});
  ASSERT_EQ(setting.exit_code, 0) << setting.stderr_text;
  EXPECT_EQ(setting.stdout_text, flag.stdout_text);
  // Both, agreeing, are fine.
  const RunResult both =
      RunMinigraph({"dump", "--model", "minimind", "--preset", "minimind3",
                    "--set", "preset=minimind3,layers=1,hidden=96"});
  ASSERT_EQ(both.exit_code, 0) << both.stderr_text;
  EXPECT_EQ(both.stdout_text, flag.stdout_text);
}

TEST(MiniMindModelCliTest, StatsCountsTheParameters) {
  const RunResult r = RunMinigraph({"stats", "--model", "minimind"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_THAT(r.stdout_text, HasSubstr("graph minimind (model minimind)"));
  // tiny: 259 * 128 + 2 * 196864 + 128 (tests/models works it out).
  EXPECT_THAT(r.stdout_text, HasSubstr("parameters: 427008 elements"));
  EXPECT_THAT(r.stdout_text, HasSubstr("cross_entropy"));
  // One layer fewer: 196864 fewer.
  const RunResult one =
      RunMinigraph({"stats", "--model", "minimind", "--set", "layers=1"});
  ASSERT_EQ(one.exit_code, 0) << one.stderr_text;
  EXPECT_THAT(one.stdout_text, HasSubstr("parameters: 230144 elements"));
}

TEST(MiniMindModelCliTest, GradcheckPassesInFloat64AndCanFail) {
  const RunResult r = RunMinigraph({"gradcheck", "--model", "minimind"});
  ASSERT_EQ(r.exit_code, 0) << r.stdout_text << r.stderr_text;
  EXPECT_THAT(r.stdout_text, HasSubstr("graph minimind (model minimind)"));
  EXPECT_THAT(r.stdout_text, HasSubstr("model.embed_tokens.weight"));
  EXPECT_THAT(r.stdout_text, HasSubstr("model.norm.weight"));
  EXPECT_THAT(r.stdout_text, HasSubstr(": PASS"));
  EXPECT_THAT(r.stdout_text, Not(HasSubstr("FAIL")));
  // The int64 ids and labels are not perturbed.
  EXPECT_THAT(r.stdout_text, Not(HasSubstr("input_ids ")));
  // Finite differences never match to zero tolerance: the check is real.
  const RunResult strict = RunMinigraph(
      {"gradcheck", "--model", "minimind", "--atol=0", "--rtol=0"});
  EXPECT_EQ(strict.exit_code, 1) << strict.stderr_text;
  EXPECT_THAT(strict.stdout_text, HasSubstr("FAIL"));
}

TEST(MiniMindModelCliTest, RunWritesTheRegisteredForwardsOutputs) {
  const std::string out = TempPath("minimind_run.safetensors");
  const RunResult r = RunMinigraph({"run", "--model", "minimind", "--batch",
                                    "2", "--seq", "5", "--seed", "3", "--set",
                                    "layers=1,flash=false", "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_THAT(r.stdout_text, HasSubstr("logits: float32[2, 5, 259]"));
  EXPECT_THAT(r.stdout_text, HasSubstr("loss: float32[]"));
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(out);
  ASSERT_TRUE(file.ok()) << file.status();

  const ModelEntry* entry = FindModel("minimind");
  ASSERT_NE(entry, nullptr);
  ModelOptions options;
  options.batch = 2;
  options.seq = 5;
  options.seed = 3;
  options.settings = {{"layers", "1"}, {"flash", "false"}};
  absl::StatusOr<ModelInstance> model = entry->build(options);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<Tensor> expected = model->forward(model->inputs);
  ASSERT_EQ(file->tensors.count("logits"), 1u);
  ASSERT_EQ(file->tensors.count("loss"), 1u);
  EXPECT_EQ(BitDifference(file->tensors.at("logits"), expected[0]), "");
  EXPECT_EQ(BitDifference(file->tensors.at("loss"), expected[1]), "");
}

TEST(MiniMindModelCliTest, PresetIsRefusedWhereItMeansNothing) {
  const RunResult attention = RunMinigraph(
      {"dump", "--model", "attention", "--seq", "4", "--preset", "tiny"});
  EXPECT_EQ(attention.exit_code, 2);
  EXPECT_THAT(attention.stderr_text,
              HasSubstr("--preset applies only to --model minimind (model "
                        "attention has no presets)"));
  EXPECT_EQ(attention.stdout_text, "");
  const RunResult file =
      RunMinigraph({"stats", TempPath("none.pb"), "--preset", "tiny"});
  EXPECT_EQ(file.exit_code, 2);
  EXPECT_THAT(file.stderr_text, HasSubstr("(no --model given)"));
  const RunResult disagree =
      RunMinigraph({"stats", "--model", "minimind", "--preset", "tiny", "--set",
                    "preset=minimind3"});
  EXPECT_EQ(disagree.exit_code, 2);
  EXPECT_THAT(disagree.stderr_text,
              HasSubstr("--preset tiny and --set preset=minimind3 disagree"));
  // train keeps its flag.
  const RunResult train = RunMinigraph({"train", "--help"});
  EXPECT_EQ(train.exit_code, 0);
  EXPECT_THAT(train.stdout_text, HasSubstr("--preset (default: tiny)"));
}

TEST(MiniMindModelCliTest, BadSettingsExitTwoNamingTheSetting) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"dump", "--model", "minimind", "--set", "heads=0"},
       "minigraph dump: model minimind: setting heads=0 is not valid "
       "(expected a positive integer)"},
      {{"stats", "--model", "minimind", "--set", "tie=perhaps"},
       "setting tie=perhaps is not valid (expected true or false)"},
      {{"gradcheck", "--model", "minimind", "--set", "frobnicate=1"},
       "unknown setting 'frobnicate' (known: preset, layers, hidden, heads, "
       "kv_heads, head_dim, intermediate, vocab, tie, flash, qk_norm, "
       "rope_theta, dropout)"},
      {{"dump", "--model", "minimind", "--preset", "huge"},
       "setting preset=huge is not valid (expected one of minimind2-small, "
       "minimind3, tiny)"},
      {{"dump", "--model", "minimind", "--seq", "1"}, "seq (1) in [2, 1024]"},
  };
  for (const Case& c : cases) {
    const RunResult r = RunMinigraph(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_THAT(r.stderr_text, HasSubstr(c.message));
    EXPECT_EQ(r.stdout_text, "") << c.message;
  }
  const RunResult run =
      RunMinigraph({"run", "--model", "minimind", "--set", "vocab=abc",
                    "--output", TempPath("bad_run.safetensors")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.stderr_text, HasSubstr("setting vocab=abc is not valid"));
  EXPECT_EQ(ReadFile(TempPath("bad_run.safetensors")), "");
}

}  // namespace
}  // namespace minigraph
