// End-to-end tests of `minigraph lm` and `minigraph train`: the real binary
// on a small MiniMind checkpoint. lm's gradients are checked against float64
// finite differences of the loss, and train's first logged loss against
// lm's loss on the same batch; bad input exits 2, names what is wrong and
// writes nothing.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/autograd.h"
#include "framework/safetensors.h"
#include "gtest/gtest.h"
#include "models/minimind_lm.h"
#include "tests/tools/cli_test_util.h"

namespace minigraph {
namespace {

using ::minigraph::testing::RunMinigraph;
using ::minigraph::testing::RunResult;
using ::minigraph::testing::TempPath;


bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

MiniMindConfig TinyConfig() {
  MiniMindConfig config;
  config.hidden_size = 16;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 1;
  config.num_hidden_layers = 2;
  config.intermediate_size = 32;
  config.vocab_size = 40;
  config.max_position_embeddings = 32;
  return config;
}

std::string WriteModel(const std::string& name) {
  Generator generator(5);
  auto model = MiniMindForCausalLM::Create(TinyConfig(), generator,
                                           DType::kFloat64);
  EXPECT_TRUE(model.ok()) << model.status();
  const std::string dir = TempPath(name);
  EXPECT_TRUE(model->SaveDir(dir).ok());
  return dir;
}

Tensor Ids(const std::vector<int64_t>& values, const Shape& shape) {
  return Tensor::FromData(values, shape);
}

std::string WriteInput(const std::string& name, const Tensor& ids,
                       const Tensor& labels) {
  SafetensorsFile file;
  file.tensors["input_ids"] = ids;
  if (labels.defined()) file.tensors["labels"] = labels;
  const std::string path = TempPath(name);
  EXPECT_TRUE(WriteSafetensors(path, file).ok());
  return path;
}

const std::vector<int64_t> kIds = {5, 9, 1, 33, 7, 2, 8, 8, 30, 4, 0, 12};
const std::vector<int64_t> kLabels = {5, 9, 1, -100, 7, 2, 8, 8, 30, 4, 0, 12};

TEST(LmCliTest, LossAndGradientsMatchFiniteDifferences) {
  const std::string dir = WriteModel("lm_model");
  const std::string input = WriteInput("lm_x.safetensors", Ids(kIds, {2, 6}),
                                       Ids(kLabels, {2, 6}));
  const std::string output = TempPath("lm_y.safetensors");
  const RunResult run = RunMinigraph({"lm", "--model", dir, "--input", input,
                                      "--output", output, "--grad", "--dtype",
                                      "f64"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  absl::StatusOr<SafetensorsFile> y = ReadSafetensors(output);
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_EQ(y->tensors.at("logits").shape(), (Shape{2, 6, 40}));
  const double loss = y->tensors.at("loss").item();

  // The loss and a few entries of each gradient, by central differences on
  // the checkpoint's own float64 weights.
  absl::StatusOr<MiniMindForCausalLM> model =
      MiniMindForCausalLM::LoadDir(dir, DType::kFloat64);
  ASSERT_TRUE(model.ok());
  LMOptions options;
  options.labels = Ids(kLabels, {2, 6});
  auto loss_now = [&]() {
    NoGradGuard no_grad;
    return model->Forward(Ids(kIds, {2, 6}), options)->loss.item();
  };
  EXPECT_NEAR(loss_now(), loss, 1e-12);
  int checked = 0;
  for (const auto& [name, param] : model->StateDictEntries()) {
    const std::string key = "grad." + name;
    ASSERT_TRUE(y->tensors.count(key)) << key;
    const Tensor& grad = y->tensors.at(key);
    ASSERT_EQ(grad.shape(), param.shape()) << key;
    for (int64_t i : {int64_t{0}, param.numel() / 2, param.numel() - 1}) {
      double* value = param.data<double>() + i;
      const double saved = *value;
      *value = saved + 1e-6;
      const double up = loss_now();
      *value = saved - 1e-6;
      const double down = loss_now();
      *value = saved;
      const double numeric = (up - down) / 2e-6;
      EXPECT_NEAR(grad.data<double>()[i], numeric,
                  1e-6 + 1e-5 * std::abs(numeric))
          << key << " entry " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
  // The tied head's gradient is the embedding's: both uses summed.
  EXPECT_EQ(y->tensors.at("grad.lm_head.weight").ToVector<double>(),
            y->tensors.at("grad.model.embed_tokens.weight").ToVector<double>());
}

TEST(LmCliTest, BadInputExitsTwoAndWritesNothing) {
  const std::string dir = WriteModel("lm_bad_model");
  const std::string output = TempPath("lm_bad_y.safetensors");
  std::vector<int64_t> ids = kIds;
  ids[7] = 40;  // == vocab_size
  RunResult run = RunMinigraph(
      {"lm", "--model", dir, "--input",
       WriteInput("lm_bad_ids.safetensors", Ids(ids, {2, 6}), Tensor()),
       "--output", output});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.stderr_text.find("40"), std::string::npos) << run.stderr_text;
  EXPECT_NE(run.stderr_text.find("[1, 1]"), std::string::npos)
      << run.stderr_text;
  EXPECT_FALSE(Exists(output));

  run = RunMinigraph({"lm", "--model", dir, "--input",
                      WriteInput("lm_no_labels.safetensors", Ids(kIds, {2, 6}),
                                 Tensor()),
                      "--output", output, "--grad"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.stderr_text.find("--grad needs 'labels'"), std::string::npos)
      << run.stderr_text;
  EXPECT_FALSE(Exists(output));

  SafetensorsFile wrong;
  wrong.tensors["tokens"] = Ids(kIds, {2, 6});
  ASSERT_TRUE(WriteSafetensors(TempPath("lm_wrong.safetensors"), wrong).ok());
  run = RunMinigraph({"lm", "--model", dir, "--input",
                      TempPath("lm_wrong.safetensors"), "--output", output});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.stderr_text.find("no tensor 'input_ids'"), std::string::npos);

  run = RunMinigraph({"lm", "--model", TempPath("no_such_model"), "--input",
                      TempPath("lm_wrong.safetensors"), "--output", output});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.stderr_text.find("config.json"), std::string::npos)
      << run.stderr_text;
  EXPECT_FALSE(Exists(output));
}

TEST(TrainCliTest, FirstLoggedLossIsTheLossBeforeTheUpdate) {
  const std::string dir = WriteModel("train_model");
  // Two steps of batches [S=2, B=2, T=6].
  std::vector<int64_t> batches = kIds;
  for (int64_t id : kIds) batches.push_back((id * 7 + 3) % 40);
  SafetensorsFile data;
  data.tensors["input_ids"] = Ids(batches, {2, 2, 6});
  const std::string data_path = TempPath("train_batches.safetensors");
  ASSERT_TRUE(WriteSafetensors(data_path, data).ok());
  const std::string out = TempPath("train_out");
  const RunResult run = RunMinigraph(
      {"train", "--model", dir, "--data", data_path, "--out", out,
       "--steps", "2", "--dtype", "f64", "--lr", "1e-3", "--eval-every", "0"});
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  std::ifstream in(out + "/metrics.jsonl");
  std::string first_row;
  std::getline(in, first_row);
  double first_loss = 0;
  ASSERT_EQ(std::sscanf(first_row.c_str(), "{\"step\": 1, \"loss\": %lf",
                        &first_loss),
            1)
      << first_row;
  for (const char* key : {"\"lr\"", "\"grad_norm\"", "\"tokens_per_s\""}) {
    EXPECT_NE(first_row.find(key), std::string::npos) << first_row;
  }
  absl::StatusOr<MiniMindForCausalLM> model =
      MiniMindForCausalLM::LoadDir(dir, DType::kFloat64);
  ASSERT_TRUE(model.ok());
  LMOptions options;
  options.labels = Ids(kIds, {2, 6});
  NoGradGuard no_grad;
  EXPECT_NEAR(model->Forward(Ids(kIds, {2, 6}), options)->loss.item(),
              first_loss, 1e-7 * first_loss);
  for (const char* file : {"config.json", "model.safetensors",
                           "optimizer.safetensors", "trainer_state.json",
                           "loss.svg"}) {
    EXPECT_TRUE(Exists(out + "/" + file)) << file;
  }
}

TEST(TrainCliTest, BadInputExitsTwoAndHarmsNothing) {
  const std::string dir = WriteModel("train_bad_model");
  std::vector<int64_t> ids = kIds;
  ids[3] = 99;
  SafetensorsFile data;
  data.tensors["input_ids"] = Ids(ids, {1, 2, 6});
  const std::string data_path = TempPath("train_bad.safetensors");
  ASSERT_TRUE(WriteSafetensors(data_path, data).ok());
  const std::string out = TempPath("train_bad_out");
  RunResult run = RunMinigraph({"train", "--model", dir, "--data", data_path,
                                "--out", out, "--steps", "1"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.stderr_text.find("input_ids[0, 0, 3] is 99"),
            std::string::npos)
      << run.stderr_text;
  EXPECT_FALSE(Exists(out + "/model.safetensors"));

  run = RunMinigraph({"train", "--resume", dir});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.stderr_text.find("not a training checkpoint"),
            std::string::npos)
      << run.stderr_text;

  // A broken config.json names the file and the key.
  const std::string broken = TempPath("train_broken_model");
  ASSERT_EQ(std::system(("cp -r '" + dir + "' '" + broken + "'").c_str()), 0);
  {
    std::ofstream config(broken + "/config.json");
    config << "{\"hidden_size\": \"wide\"}";
  }
  run = RunMinigraph({"train", "--model", broken, "--out",
                      TempPath("train_broken_out"), "--steps", "1"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.stderr_text.find("config.json"), std::string::npos)
      << run.stderr_text;
  EXPECT_NE(run.stderr_text.find("hidden_size"), std::string::npos)
      << run.stderr_text;

  run = RunMinigraph({"train", "--steps", "3"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.stderr_text.find("--out"), std::string::npos);
}

}  // namespace
}  // namespace minigraph
