// The training step as one graph, end to end: `minigraph dump --model
// minimind --train-step` written once, then `minigraph run` on it N times,
// each run fed the previous run's outputs and the next batch, gives the
// same bits as N steps of `minigraph train` on the same batches (parameters,
// optimizer state, loss and gradient norm), at a batch size and length
// other than the graph was captured at.
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/random.h"
#include "framework/safetensors.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "tests/framework/graph_test_util.h"
#include "tests/tools/cli_test_util.h"

namespace minigraph {
namespace {

using ::minigraph::testing::BitDifference;
using ::minigraph::testing::RunMinigraph;
using ::minigraph::testing::TempPath;

SafetensorsFile ReadOrDie(const std::string& path) {
  absl::StatusOr<SafetensorsFile> file = ReadSafetensors(path);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? *std::move(file) : SafetensorsFile{};
}

// "loss": X of each metrics.jsonl row, by step.
std::map<int64_t, std::string> LoggedField(const std::string& dir,
                                           const std::string& field) {
  std::map<int64_t, std::string> values;
  for (absl::string_view line :
       absl::StrSplit(::minigraph::testing::ReadFile(dir + "/metrics.jsonl"),
                      '\n', absl::SkipEmpty())) {
    int64_t step = 0;
    std::sscanf(std::string(line).c_str(), "{\"step\": %ld", &step);
    const std::string key = absl::StrCat("\"", field, "\": ");
    const size_t at = line.find(key);
    if (at == absl::string_view::npos) continue;
    absl::string_view rest = line.substr(at + key.size());
    values[step] = std::string(rest.substr(0, rest.find_first_of(",}")));
  }
  return values;
}

struct Case {
  std::string name;
  std::vector<std::string> optimizer_flags;
};

class TrainStepGraphTest : public ::testing::TestWithParam<Case> {};

TEST_P(TrainStepGraphTest, RunsEqualTrainerStepsBitForBit) {
  const Case& c = GetParam();
  const std::string dir = TempPath("train_step_" + c.name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // Four batches of 3 x 11 byte ids, in order.
  constexpr int64_t kSteps = 4, kBatch = 3, kSeq = 11;
  Generator gen(17);
  std::vector<int64_t> ids(kSteps * kBatch * kSeq);
  for (int64_t& id : ids) id = static_cast<int64_t>(gen.NextBits() % 259);
  SafetensorsFile batches;
  batches.tensors["input_ids"] = Tensor::FromData(ids, {kSteps, kBatch, kSeq});
  ASSERT_TRUE(WriteSafetensors(dir + "/batches.safetensors", batches).ok());

  std::vector<std::string> train = {"train",
                                    "--data",
                                    dir + "/batches.safetensors",
                                    "--seed",
                                    "5",
                                    "--schedule",
                                    "cosine",
                                    "--warmup",
                                    "1",
                                    "--lr",
                                    "3e-3",
                                    "--min-lr",
                                    "1e-4",
                                    "--batch",
                                    absl::StrCat(kBatch),
                                    "--seq",
                                    absl::StrCat(kSeq)};
  train.insert(train.end(), c.optimizer_flags.begin(), c.optimizer_flags.end());
  // The state after step 1 (the same run stopped there, so the schedule is
  // the same), and a straight run of all the steps.
  std::vector<std::string> first = train, all = train;
  first.insert(first.end(), {"--steps", absl::StrCat(kSteps), "--stop-after",
                             "1", "--out", dir + "/first"});
  all.insert(all.end(),
             {"--steps", absl::StrCat(kSteps), "--out", dir + "/all"});
  for (const auto& args : {first, all}) {
    const auto result = RunMinigraph(args);
    ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  }

  // Captured at the default B=1, T=8; run at B=3, T=11.
  std::vector<std::string> dump = {"dump",         "--model",       "minimind",
                                   "--train-step", "--format",      "pb",
                                   "--output",     dir + "/step.pb"};
  dump.insert(dump.end(), c.optimizer_flags.begin(), c.optimizer_flags.end());
  const auto dumped = RunMinigraph(dump);
  ASSERT_EQ(dumped.exit_code, 0) << dumped.stderr_text;

  // The state: the first checkpoint's parameters (the tied lm_head.weight
  // is the embedding, not an input) and optimizer state.
  SafetensorsFile state;
  state.tensors = ReadOrDie(dir + "/first/model.safetensors").tensors;
  state.tensors.erase("lm_head.weight");
  for (auto& [name, t] :
       ReadOrDie(dir + "/first/optimizer.safetensors").tensors) {
    state.tensors[name] = t;
  }
  const std::map<int64_t, std::string> lrs = LoggedField(dir + "/all", "lr");
  const std::map<int64_t, std::string> losses =
      LoggedField(dir + "/all", "loss");
  const std::map<int64_t, std::string> norms =
      LoggedField(dir + "/all", "grad_norm");
  ASSERT_EQ(lrs.size(), static_cast<size_t>(kSteps));
  for (int64_t step = 2; step <= kSteps; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    SafetensorsFile feed;
    const Tensor batch = CopyToContiguous(
        Slice(batches.tensors["input_ids"], 0, step - 1, step));
    feed.tensors["input_ids"] = Reshape(batch, {kBatch, kSeq});
    feed.tensors["labels"] = feed.tensors["input_ids"];
    feed.tensors["step"] =
        Tensor::Scalar(static_cast<double>(step), DType::kInt64);
    double lr = 0;
    ASSERT_TRUE(absl::SimpleAtod(lrs.at(step), &lr));
    feed.tensors["lr"] = Tensor::Scalar(lr, DType::kFloat64);
    ASSERT_TRUE(WriteSafetensors(dir + "/state.safetensors", state).ok());
    ASSERT_TRUE(WriteSafetensors(dir + "/feed.safetensors", feed).ok());
    const auto ran =
        RunMinigraph({"run", dir + "/step.pb", "--inputs",
                      dir + "/state.safetensors," + dir + "/feed.safetensors",
                      "--output", dir + "/out.safetensors"});
    ASSERT_EQ(ran.exit_code, 0) << ran.stderr_text;
    SafetensorsFile out = ReadOrDie(dir + "/out.safetensors");
    // The trainer logs the loss and norm with 17 significant digits, which
    // name a double exactly.
    double loss = 0, norm = 0;
    ASSERT_TRUE(absl::SimpleAtod(losses.at(step), &loss));
    ASSERT_TRUE(absl::SimpleAtod(norms.at(step), &norm));
    EXPECT_EQ(out.tensors.at("loss").item(), loss);
    EXPECT_EQ(out.tensors.at("grad_norm").item(), norm);
    out.tensors.erase("loss");
    out.tensors.erase("grad_norm");
    ASSERT_EQ(out.tensors.size(), state.tensors.size());
    state = std::move(out);
  }
  const SafetensorsFile model = ReadOrDie(dir + "/all/model.safetensors");
  const SafetensorsFile optimizer =
      ReadOrDie(dir + "/all/optimizer.safetensors");
  int compared = 0;
  for (const auto& [name, t] : state.tensors) {
    auto it = model.tensors.find(name);
    const Tensor& expected =
        it != model.tensors.end() ? it->second : optimizer.tensors.at(name);
    EXPECT_EQ(BitDifference(t, expected), "") << name;
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(model.tensors.size() - 1 +
                                       optimizer.tensors.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Optimizers, TrainStepGraphTest,
    ::testing::Values(Case{"adamw", {"--grad-clip", "0.5"}},
                      Case{"sgd_momentum",
                           {"--optimizer", "sgd", "--momentum", "0.9",
                            "--weight-decay", "0.01", "--grad-clip", "1.0"}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(TrainStepGraphCliTest, RefusesWhatItCannotCapture) {
  for (const auto& [args, message] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"dump", "--model", "attention", "--train-step"},
            "--train-step needs --model minimind"},
           {{"dump", "--model", "minimind", "--train-step", "--backward"},
            "no --backward"},
           {{"dump", "--model", "minimind", "--train-step", "--set",
             "dropout=0.1"},
            "dropout"},
           {{"dump", "--model", "minimind", "--train-step", "--optimizer",
             "lion"},
            "optimizer 'lion'"}}) {
    const auto result = RunMinigraph(args);
    EXPECT_EQ(result.exit_code, 2) << args.back();
    EXPECT_NE(result.stderr_text.find(message), std::string::npos)
        << result.stderr_text;
    EXPECT_EQ(result.stdout_text, "");
  }
}

// The lines of `stats` from "total FLOPs" on (totals and peak memory).
std::string StatsTotals(const std::string& stdout_text) {
  const size_t at = stdout_text.find("total FLOPs");
  return at == std::string::npos ? "" : stdout_text.substr(at);
}

// A graph file evaluated at other symbol sizes reports what a capture at
// those sizes reports: FLOPs, bytes and peak memory.
TEST(GraphStatsAtSizesTest, SetEvaluatesTheSymbols) {
  const std::string path = TempPath("lm_grad_for_stats.pb");
  const auto dumped = RunMinigraph({"dump", "--model", "minimind", "--backward",
                                    "--format", "pb", "--output", path});
  ASSERT_EQ(dumped.exit_code, 0) << dumped.stderr_text;
  for (const auto& [b, t] :
       std::vector<std::pair<int, int>>{{3, 20}, {1, 64}}) {
    const auto from_file =
        RunMinigraph({"stats", path, "--set", absl::StrCat("B=", b, ",T=", t)});
    ASSERT_EQ(from_file.exit_code, 0) << from_file.stderr_text;
    const auto captured =
        RunMinigraph({"stats", "--model", "minimind", "--backward", "--batch",
                      absl::StrCat(b), "--seq", absl::StrCat(t)});
    ASSERT_EQ(captured.exit_code, 0) << captured.stderr_text;
    EXPECT_NE(StatsTotals(from_file.stdout_text), "");
    EXPECT_EQ(StatsTotals(from_file.stdout_text),
              StatsTotals(captured.stdout_text));
  }
  const auto at_capture = RunMinigraph({"stats", path});
  const auto larger = RunMinigraph({"stats", path, "--set", "B=3,T=20"});
  EXPECT_NE(StatsTotals(at_capture.stdout_text),
            StatsTotals(larger.stdout_text));
  for (const auto& [set, message] :
       std::vector<std::pair<std::string, std::string>>{
           {"Q=4", "not a symbol of"},
           {"T=0", "needs a size > 0"},
           {"T=abc", "needs a size > 0"}}) {
    const auto result = RunMinigraph({"stats", path, "--set", set});
    EXPECT_EQ(result.exit_code, 2) << set;
    EXPECT_NE(result.stderr_text.find(message), std::string::npos)
        << result.stderr_text;
  }
}

}  // namespace
}  // namespace minigraph
