// The training loop end to end on a very small MiniMind: the loss falls,
// an interrupted and resumed run ends with the same bits as one that never
// stopped, divergence stops the run without touching the last checkpoint,
// and bad plans, data and directories are refused with their names.
#include "models/train/trainer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "framework/graph_io.h"
#include "framework/safetensors.h"
#include "gtest/gtest.h"
#include "models/minimind_lm.h"
#include "models/train/byte_tokenizer.h"
#include "models/train/checkpoint.h"

namespace minigraph {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

std::string ReadAll(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path, 1 << 28);
  return bytes.ok() ? *bytes : std::string("<missing>");
}

// A text the model can learn: a short phrase repeated.
std::string WriteCorpus() {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "the cat sat on the mat. ";
  const std::string path = TempPath("trainer_corpus.txt");
  EXPECT_TRUE(WriteFileAtomically(path, text).ok());
  return path;
}

// A two-layer MiniMind small enough for sanitizer builds.
std::string WriteTinyModel(const std::string& name, bool qk_norm = false) {
  MiniMindConfig config;
  config.hidden_size = 16;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 1;
  config.num_hidden_layers = 2;
  config.intermediate_size = 32;
  config.vocab_size = 259;
  config.max_position_embeddings = 64;
  config.qk_norm = qk_norm;
  if (qk_norm) config.rms_norm_eps = 1e-6;
  Generator generator(3);
  auto model = MiniMindForCausalLM::Create(config, generator);
  EXPECT_TRUE(model.ok()) << model.status();
  const std::string dir = TempPath(name);
  EXPECT_TRUE(model->SaveDir(dir).ok());
  return dir;
}

TrainPlan SmallPlan(const std::string& model_dir, const std::string& data) {
  TrainPlan plan;
  plan.model_dir = model_dir;
  plan.data_path = data;
  plan.steps = 6;
  plan.batch = 2;
  plan.seq = 12;
  plan.accum = 2;
  plan.schedule.lr = 1e-2;
  plan.schedule.kind = ScheduleKind::kCosine;
  plan.schedule.warmup_steps = 1;
  plan.schedule.min_lr = 1e-3;
  plan.eval_every = 3;
  plan.eval_batches = 2;
  plan.seed = 11;
  return plan;
}

TrainOptions Out(const std::string& dir) {
  TrainOptions options;
  options.out_dir = dir;
  return options;
}

// The metrics rows without their timing figures.
std::vector<std::string> MetricsWithoutTimes(const std::string& dir) {
  std::vector<std::string> rows;
  for (absl::string_view line : absl::StrSplit(ReadAll(dir + "/metrics.jsonl"),
                                               '\n', absl::SkipEmpty())) {
    const size_t cut = line.find(", \"tokens_per_s\"");
    std::string row(line.substr(0, cut));
    const size_t eval = line.find("\"eval_loss\"");
    if (eval != absl::string_view::npos) row += std::string(line.substr(eval));
    rows.push_back(row);
  }
  return rows;
}

TEST(TrainerTest, ResumedRunEndsWithTheSameBits) {
  const std::string model = WriteTinyModel("resume_model");
  const std::string data = WriteCorpus();
  const TrainPlan plan = SmallPlan(model, data);

  const std::string straight = TempPath("straight");
  auto whole = RunTraining(plan, Out(straight));
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_TRUE(whole->finished);

  const std::string split = TempPath("split");
  TrainOptions first = Out(split);
  first.stop_after = 4;
  auto part = RunTraining(plan, first);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_FALSE(part->finished);
  EXPECT_EQ(part->last_step, 4);
  EXPECT_EQ(CheckpointStep(split), 4);

  TrainOptions second = Out(split);
  second.resume_dir = split;
  TrainPlan ignored = plan;  // the saved plan wins
  ignored.schedule.lr = 0.5;
  auto rest = RunTraining(ignored, second);
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_TRUE(rest->finished);

  for (const char* file : {"model.safetensors", "optimizer.safetensors",
                           "config.json", "trainer_state.json"}) {
    EXPECT_EQ(ReadAll(straight + "/" + file), ReadAll(split + "/" + file))
        << file << " differs";
  }
  EXPECT_EQ(MetricsWithoutTimes(straight), MetricsWithoutTimes(split));
  EXPECT_EQ(MetricsWithoutTimes(straight).size(), 6u);
  EXPECT_NE(ReadAll(straight + "/loss.svg").find("<svg"), std::string::npos);
}

// A byte-level tokenizer with a few merges, saved as tokenizer.json.
std::string WriteBpeTokenizer(const std::string& name) {
  TokenizerSpec spec = ByteTokenizerSpec();
  const std::pair<std::string, std::string> merges[] = {
      {"t", "h"}, {"th", "e"}, {"a", "t"}, {"\xC4\xA0", "the"}};
  for (const auto& [left, right] : merges) {
    spec.merges.emplace_back(left, right);
    spec.vocab.push_back(left + right);
  }
  auto tokenizer = Tokenizer::FromSpec(spec);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::string dir = TempPath(name);
  EXPECT_TRUE(tokenizer->Save(dir).ok());
  return dir;
}

TEST(TrainerTest, CheckpointsCarryTheTokenizerTheyWereTrainedWith) {
  const std::string data = WriteCorpus();
  // Byte-level by default: the checkpoint's tokenizer.json is that one.
  const std::string bytes_out = TempPath("bytes_run");
  TrainPlan plan = SmallPlan(WriteTinyModel("bytes_model"), data);
  plan.steps = 2;
  ASSERT_TRUE(RunTraining(plan, Out(bytes_out)).ok());
  auto saved = Tokenizer::Load(bytes_out);
  ASSERT_TRUE(saved.ok()) << saved.status();
  auto byte_level = Tokenizer::FromSpec(ByteTokenizerSpec());
  ASSERT_TRUE(byte_level.ok());
  EXPECT_EQ(saved->ToJson(), byte_level->ToJson());

  // A preset takes a given tokenizer's vocabulary size.
  const std::string tokenizer_dir = WriteBpeTokenizer("bpe_tokenizer");
  const std::string bpe_out = TempPath("bpe_run");
  TrainPlan bpe_plan = SmallPlan("", data);
  bpe_plan.preset = "tiny";
  bpe_plan.tokenizer_path = tokenizer_dir;
  bpe_plan.steps = 2;
  auto trained = RunTraining(bpe_plan, Out(bpe_out));
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(ReadAll(bpe_out + "/tokenizer.json"),
            ReadAll(tokenizer_dir + "/tokenizer.json"));
  auto model = MiniMindForCausalLM::LoadDir(bpe_out);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->config().vocab_size, kByteVocabSize + 4);

  // Training on from that checkpoint uses its tokenizer.
  const std::string next_out = TempPath("bpe_next");
  TrainPlan next = SmallPlan(bpe_out, data);
  next.steps = 2;
  ASSERT_TRUE(RunTraining(next, Out(next_out)).ok());
  EXPECT_EQ(ReadAll(next_out + "/tokenizer.json"),
            ReadAll(tokenizer_dir + "/tokenizer.json"));

  // A tokenizer with more ids than the model's vocabulary is refused.
  TrainPlan mismatch = SmallPlan(WriteTinyModel("small_vocab"), data);
  mismatch.tokenizer_path = tokenizer_dir + "/tokenizer.json";
  auto refused = RunTraining(mismatch, Out(TempPath("mismatch_run")));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("smaller than the tokenizer's"),
            std::string::npos)
      << refused.status();
}

TEST(TrainerTest, InterruptionCheckpointsAfterTheCurrentStep) {
  const std::string model = WriteTinyModel("interrupt_model");
  const TrainPlan plan = SmallPlan(model, WriteCorpus());
  const std::string dir = TempPath("interrupted");
  // As if Ctrl-C came during the first step.
  std::atomic<bool> interrupted{true};
  TrainOptions first = Out(dir);
  first.interrupted = &interrupted;
  auto part = RunTraining(plan, first);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_TRUE(part->interrupted);
  EXPECT_EQ(part->last_step, 1);
  EXPECT_EQ(CheckpointStep(dir), 1);

  TrainOptions second = Out(dir);
  second.resume_dir = dir;
  ASSERT_TRUE(RunTraining(TrainPlan(), second).ok());
  const std::string straight = TempPath("not_interrupted");
  ASSERT_TRUE(RunTraining(plan, Out(straight)).ok());
  EXPECT_EQ(ReadAll(straight + "/model.safetensors"),
            ReadAll(dir + "/model.safetensors"));
  EXPECT_EQ(ReadAll(straight + "/optimizer.safetensors"),
            ReadAll(dir + "/optimizer.safetensors"));
}

TEST(TrainerTest, LossFallsOnALearnableText) {
  const std::string model = WriteTinyModel("learn_model", /*qk_norm=*/true);
  TrainPlan plan = SmallPlan(model, WriteCorpus());
  plan.steps = 40;
  plan.accum = 1;
  plan.batch = 4;
  plan.eval_every = 0;
  auto result = RunTraining(plan, Out(TempPath("learn")));
  ASSERT_TRUE(result.ok()) << result.status();
  // ln(259) = 5.56 at the start; a repeated phrase is learnt quickly.
  EXPECT_GT(result->first_loss, 5.0);
  EXPECT_LT(result->last_loss, 0.6 * result->first_loss);
}

TEST(TrainerTest, SgdTrainsToo) {
  TrainPlan plan = SmallPlan(WriteTinyModel("sgd_model"), WriteCorpus());
  plan.optimizer = "sgd";
  plan.sgd.momentum = 0.9;
  plan.sgd.nesterov = true;
  plan.schedule.lr = 0.3;
  plan.steps = 20;
  plan.accum = 1;
  auto result = RunTraining(plan, Out(TempPath("sgd")));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LT(result->last_loss, result->first_loss);
}

TEST(TrainerTest, DivergenceStopsAndKeepsTheLastCheckpoint) {
  const std::string dir = TempPath("diverge");
  TrainOptions first = Out(dir);
  first.stop_after = 2;
  ASSERT_TRUE(
      RunTraining(SmallPlan(WriteTinyModel("diverge_model"), WriteCorpus()),
                  first)
          .ok());
  // Poison one weight of the saved model (keeping its step metadata): the
  // next step's loss and gradients are NaN.
  const std::string weights_path = dir + "/model.safetensors";
  absl::StatusOr<SafetensorsFile> weights = ReadSafetensors(weights_path);
  ASSERT_TRUE(weights.ok());
  Tensor& norm =
      weights->tensors["model.layers.1.post_attention_layernorm.weight"];
  norm.data<float>()[0] = std::nanf("");
  ASSERT_TRUE(WriteSafetensors(weights_path, *weights).ok());
  const std::string before = ReadAll(weights_path);
  const std::string state_before = ReadAll(dir + "/trainer_state.json");

  TrainOptions resume = Out(dir);
  resume.resume_dir = dir;
  auto result = RunTraining(TrainPlan(), resume);
  ASSERT_FALSE(result.ok());
  const std::string message(result.status().message());
  EXPECT_NE(message.find("step 3"), std::string::npos) << message;
  EXPECT_NE(message.find("not finite is "), std::string::npos) << message;
  EXPECT_NE(message.find("step 2, is intact"), std::string::npos) << message;
  EXPECT_EQ(ReadAll(weights_path), before);
  EXPECT_EQ(ReadAll(dir + "/trainer_state.json"), state_before);
}

TEST(TrainerTest, BadDirectoriesAndPlansAreRefused) {
  const std::string model = WriteTinyModel("bad_model");
  const std::string data = WriteCorpus();
  // --resume of a directory that is not a checkpoint.
  TrainOptions resume = Out(TempPath("fresh_out"));
  resume.resume_dir = TempPath("bad_model");
  auto result = RunTraining(SmallPlan(model, data), resume);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("not a training checkpoint"),
            std::string::npos)
      << result.status();

  // An existing checkpoint is never overwritten by a new run.
  const std::string done = TempPath("done");
  ASSERT_TRUE(RunTraining(SmallPlan(model, data), Out(done)).ok());
  const std::string saved = ReadAll(done + "/model.safetensors");
  result = RunTraining(SmallPlan(model, data), Out(done));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("already holds a checkpoint"),
            std::string::npos);
  EXPECT_EQ(ReadAll(done + "/model.safetensors"), saved);

  // Two runs never share an output directory.
  absl::StatusOr<int> lock = LockOutputDir(done);
  ASSERT_TRUE(lock.ok()) << lock.status();
  TrainOptions resume_done = Out(done);
  resume_done.resume_dir = done;
  result = RunTraining(TrainPlan(), resume_done);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("in use by another training run"),
            std::string::npos)
      << result.status();
  close(*lock);
  // Resuming a finished run does nothing and says so.
  result = RunTraining(TrainPlan(), resume_done);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->finished);
  EXPECT_EQ(ReadAll(done + "/model.safetensors"), saved);

  // An --out that cannot be a directory.
  result = RunTraining(SmallPlan(model, data), Out(data + "/sub"));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("cannot create directory"),
            std::string::npos)
      << result.status();

  // Plans.
  TrainPlan plan = SmallPlan(model, data);
  plan.optimizer = "adam";
  EXPECT_NE(ValidatePlan(plan).message().find("--optimizer"),
            std::string::npos);
  plan = SmallPlan(model, data);
  plan.schedule.warmup_steps = 6;
  EXPECT_NE(ValidatePlan(plan).message().find("--warmup"), std::string::npos);
  plan = SmallPlan(model, data);
  plan.seq = 100;  // > max_position_embeddings 64
  result = RunTraining(plan, Out(TempPath("long_seq")));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("max_position_embeddings"),
            std::string::npos);
}

TEST(TrainerStateTest, RoundTripsExactly) {
  TrainPlan plan = SmallPlan("dir", "data.txt");
  plan.schedule.lr = 0.1 + 0.2;  // not a short decimal
  plan.seed = 18446744073709551615ULL;
  plan.dtype = DType::kFloat64;
  plan.tokenizer_path = "tok/tokenizer.json";
  const std::string json = TrainerStateToJson(plan, 3, 6);
  auto state = ParseTrainerState(json, "state.json");
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->step, 3);
  EXPECT_EQ(state->plan.schedule.lr, plan.schedule.lr);
  EXPECT_EQ(state->plan.seed, plan.seed);
  EXPECT_EQ(state->plan.dtype, DType::kFloat64);
  EXPECT_EQ(state->plan.tokenizer_path, plan.tokenizer_path);
  EXPECT_EQ(TrainerStateToJson(state->plan, 3, 6), json);

  auto bad = ParseTrainerState("{\"step\": 3}", "state.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("state.json: key 'plan'"),
            std::string::npos);
  std::string mistyped = json;
  mistyped.replace(mistyped.find("\"batch\": 2"), 10, "\"batch\": \"2\"");
  bad = ParseTrainerState(mistyped, "state.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'plan.batch' must be a number"),
            std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace minigraph
