// MiniMindForCausalLM::SaveDir / LoadDir: bit-exact round trips, F16 and
// BF16 checkpoints, the tied head present or absent, qk_norm found from the
// weights, errors naming the file and the tensor, and failed saves that
// leave no partial or temporary file behind.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/random.h"
#include "framework/safetensors.h"
#include "framework/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/minimind_lm.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

// A fresh directory per call, under the test's temporary directory.
std::string NewDir(const std::string& name) {
  static int counter = 0;
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/ckpt_", name, "_", counter++);
  mkdir(dir.c_str(), 0777);
  return dir;
}

std::set<std::string> ListDir(const std::string& dir) {
  std::set<std::string> names;
  DIR* handle = opendir(dir.c_str());
  if (handle == nullptr) return names;
  while (dirent* entry = readdir(handle)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  closedir(handle);
  return names;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

MiniMindConfig SmallConfig(bool qk_norm, bool tied) {
  MiniMindConfig config;
  config.hidden_size = 16;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.intermediate_size = 24;
  config.vocab_size = 13;
  config.max_position_embeddings = 64;
  config.qk_norm = qk_norm;
  config.rms_norm_eps = qk_norm ? 1e-6 : 1e-5;
  config.tie_word_embeddings = tied;
  return config;
}

const Tensor& Ids() {
  static const Tensor ids =
      Tensor::FromData<int64_t>({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 12, 0}, {2, 6});
  return ids;
}

std::vector<double> Logits(const MiniMindForCausalLM& lm) {
  return ValueOrDie(lm.Forward(Ids())).logits.ToVector<double>();
}

// Every parameter bit for bit (as doubles: exact for float32 and float64).
void ExpectSameParameters(const MiniMindForCausalLM& a,
                          const MiniMindForCausalLM& b) {
  const NamedTensors pa = a.NamedParameters(), pb = b.NamedParameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].first, pb[i].first);
    EXPECT_EQ(pa[i].second.dtype(), pb[i].second.dtype()) << pa[i].first;
    EXPECT_EQ(pa[i].second.ToVector<double>(), pb[i].second.ToVector<double>())
        << pa[i].first;
  }
}

std::string Message(const absl::StatusOr<MiniMindForCausalLM>& lm) {
  return lm.ok() ? "ok" : std::string(lm.status().message());
}

// Rewrites DIR/model.safetensors through `edit`.
template <typename Edit>
void EditWeights(const std::string& dir, Edit edit) {
  const std::string path = dir + "/model.safetensors";
  SafetensorsFile file = ValueOrDie(ReadSafetensors(path));
  edit(file);
  MG_CHECK_OK(WriteSafetensors(path, file));
}

TEST(CheckpointTest, SaveAndLoadRoundTripBitExact) {
  for (bool qk_norm : {false, true}) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      const MiniMindConfig config = SmallConfig(qk_norm, !qk_norm);
      Generator gen(11);
      const MiniMindForCausalLM lm =
          ValueOrDie(MiniMindForCausalLM::Create(config, gen, dtype));
      // Parents are created too.
      const std::string dir = NewDir("round_trip") + "/a/b";
      ASSERT_TRUE(lm.SaveDir(dir).ok());
      EXPECT_EQ(ListDir(dir),
                std::set<std::string>({"config.json", "model.safetensors"}));
      const MiniMindForCausalLM loaded =
          ValueOrDie(MiniMindForCausalLM::LoadDir(dir, dtype));
      ExpectSameParameters(lm, loaded);
      EXPECT_EQ(Logits(lm), Logits(loaded));
      EXPECT_EQ(loaded.config().qk_norm, qk_norm);
      EXPECT_EQ(loaded.config().tie_word_embeddings, !qk_norm);
      EXPECT_EQ(loaded.config().intermediate_size, 24);
      EXPECT_EQ(loaded.config().max_position_embeddings, 64);
      if (!qk_norm) {
        EXPECT_EQ(loaded.lm_head().weight.impl(),
                  loaded.model().embed_tokens.weight.impl());
      }

      // MiniMind's names, lm_head.weight included when tied (same values),
      // the dtype of the model, the metadata transformers checks.
      const SafetensorsFile file =
          ValueOrDie(ReadSafetensors(dir + "/model.safetensors"));
      EXPECT_EQ(file.metadata.at("format"), "pt");
      std::set<std::string> names;
      for (const auto& [name, tensor] : file.tensors) {
        names.insert(name);
        EXPECT_EQ(tensor.dtype(), dtype) << name;
      }
      std::set<std::string> expected;
      for (const auto& entry : lm.StateDictEntries()) {
        expected.insert(entry.first);
      }
      EXPECT_EQ(names, expected);
      EXPECT_EQ(names.count("lm_head.weight"), 1u);
      EXPECT_EQ(names.count("model.layers.1.self_attn.q_norm.weight"),
                qk_norm ? 1u : 0u);
      EXPECT_EQ(file.tensors.at("lm_head.weight").ToVector<double>(),
                lm.lm_head().weight.ToVector<double>());

      // Saving again over the same directory replaces both files.
      ASSERT_TRUE(loaded.SaveDir(dir).ok());
      EXPECT_EQ(ListDir(dir).size(), 2u);
    }
  }
}

// IEEE half and bfloat16 bit patterns of floats that both hold exactly.
uint16_t ExactHalfBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7FFFFFFFu) == 0) return static_cast<uint16_t>(bits >> 16);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int exponent = static_cast<int>((bits >> 23) & 0xFF) - 127 + 15;
  return static_cast<uint16_t>(sign | (exponent << 10) |
                               ((bits >> 13) & 0x3FFu));
}

uint16_t ExactBFloat16Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return static_cast<uint16_t>(bits >> 16);
}

// A safetensors file of 16-bit tensors, written by hand as PyTorch would.
std::string SixteenBitSafetensors(const SafetensorsFile& tensors,
                                  const std::string& dtype) {
  std::string header = "{";
  std::string data;
  for (const auto& [name, tensor] : tensors.tensors) {
    const size_t begin = data.size();
    for (float v : tensor.ToVector<float>()) {
      const uint16_t bits =
          dtype == "F16" ? ExactHalfBits(v) : ExactBFloat16Bits(v);
      data.push_back(static_cast<char>(bits & 0xFF));
      data.push_back(static_cast<char>(bits >> 8));
    }
    absl::StrAppend(&header, header.size() > 1 ? "," : "", "\"", name,
                    "\":{\"dtype\":\"", dtype, "\",\"shape\":[",
                    absl::StrJoin(tensor.shape(), ","), "],\"data_offsets\":[",
                    begin, ",", data.size(), "]}");
  }
  header += "}";
  std::string out;
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i, length >>= 8) {
    out.push_back(static_cast<char>(length & 0xFF));
  }
  return out + header + data;
}

TEST(CheckpointTest, ReadsF16AndBF16Checkpoints) {
  const MiniMindConfig config = SmallConfig(true, false);
  Generator gen(3);
  // Values m / 64 with |m| <= 96: exact in float16 and bfloat16.
  SafetensorsFile state;
  for (const auto& [name, tensor] :
       ValueOrDie(MiniMindForCausalLM::Create(config, gen))
           .StateDictEntries()) {
    std::vector<float> values(tensor.numel());
    for (float& v : values) {
      v = static_cast<float>(static_cast<int64_t>(gen.NextBits() % 193) - 96) /
          64.0f;
    }
    state.tensors[name] = Tensor::FromData(values, tensor.shape());
  }
  for (const std::string dtype : {"F16", "BF16"}) {
    const std::string dir = NewDir(dtype);
    WriteText(dir + "/config.json", ConfigToJson(config));
    WriteText(dir + "/model.safetensors", SixteenBitSafetensors(state, dtype));
    for (DType compute : {DType::kFloat32, DType::kFloat64}) {
      const MiniMindForCausalLM lm =
          ValueOrDie(MiniMindForCausalLM::LoadDir(dir, compute));
      for (const auto& [name, tensor] : lm.NamedParameters()) {
        EXPECT_EQ(tensor.dtype(), compute);
        EXPECT_EQ(tensor.ToVector<double>(),
                  state.tensors.at(name).ToVector<double>())
            << dtype << " " << name;
      }
    }
  }
}

TEST(CheckpointTest, TiedHeadMayBeAbsentPresentOrAlone) {
  const MiniMindConfig config = SmallConfig(false, true);
  Generator gen(5);
  const MiniMindForCausalLM lm =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen));
  const std::vector<double> want = Logits(lm);

  const std::string absent = NewDir("absent");
  ASSERT_TRUE(lm.SaveDir(absent).ok());
  EditWeights(absent,
              [](SafetensorsFile& f) { f.tensors.erase("lm_head.weight"); });
  EXPECT_EQ(Logits(ValueOrDie(MiniMindForCausalLM::LoadDir(absent))), want);

  // Present with other values: the embedding is the weight.
  const std::string other = NewDir("other");
  ASSERT_TRUE(lm.SaveDir(other).ok());
  EditWeights(other, [](SafetensorsFile& f) {
    f.tensors["lm_head.weight"] =
        Tensor::Zeros(f.tensors.at("lm_head.weight").shape());
  });
  EXPECT_EQ(Logits(ValueOrDie(MiniMindForCausalLM::LoadDir(other))), want);

  // Only under the head's name.
  const std::string alone = NewDir("alone");
  ASSERT_TRUE(lm.SaveDir(alone).ok());
  EditWeights(alone, [](SafetensorsFile& f) {
    f.tensors.erase("model.embed_tokens.weight");
  });
  EXPECT_EQ(Logits(ValueOrDie(MiniMindForCausalLM::LoadDir(alone))), want);
}

TEST(CheckpointTest, QkNormIsFoundFromTheWeights) {
  const MiniMindConfig config = SmallConfig(true, true);
  Generator gen(8);
  const MiniMindForCausalLM lm =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen));
  const std::string dir = NewDir("qk_norm");
  ASSERT_TRUE(lm.SaveDir(dir).ok());
  // MiniMind-3's config.json has no qk_norm key.
  MiniMindConfig without = config;
  without.qk_norm = false;
  const std::string json = ConfigToJson(without);
  ASSERT_THAT(json, ::testing::Not(HasSubstr("qk_norm")));
  WriteText(dir + "/config.json", json);
  const MiniMindForCausalLM loaded =
      ValueOrDie(MiniMindForCausalLM::LoadDir(dir));
  EXPECT_TRUE(loaded.config().qk_norm);
  EXPECT_EQ(Logits(loaded), Logits(lm));
}

TEST(CheckpointTest, ErrorsNameTheFileAndTheTensor) {
  const MiniMindConfig config = SmallConfig(false, false);
  Generator gen(6);
  const MiniMindForCausalLM lm =
      ValueOrDie(MiniMindForCausalLM::Create(config, gen));
  const std::string dir = NewDir("errors");
  const std::string weights = dir + "/model.safetensors";
  EXPECT_THAT(Message(MiniMindForCausalLM::LoadDir(dir)),
              HasSubstr(dir + "/config.json: cannot open"));
  WriteText(dir + "/config.json", ConfigToJson(config));
  EXPECT_THAT(Message(MiniMindForCausalLM::LoadDir(dir)), HasSubstr(weights));
  ASSERT_TRUE(lm.SaveDir(dir).ok());

  // Untied, the head is required.
  EditWeights(dir,
              [](SafetensorsFile& f) { f.tensors.erase("lm_head.weight"); });
  EXPECT_EQ(
      Message(MiniMindForCausalLM::LoadDir(dir)),
      weights + ": tensor 'lm_head.weight' not found (expected [13, 16])");
  ASSERT_TRUE(lm.SaveDir(dir).ok());
  EditWeights(dir, [](SafetensorsFile& f) {
    f.tensors.erase("model.layers.1.mlp.up_proj.weight");
    f.tensors.erase("model.norm.weight");
  });
  EXPECT_EQ(Message(MiniMindForCausalLM::LoadDir(dir)),
            weights +
                ": tensor 'model.layers.1.mlp.up_proj.weight' not found "
                "(expected [24, 16]); 1 more missing");
  ASSERT_TRUE(lm.SaveDir(dir).ok());
  EditWeights(dir, [](SafetensorsFile& f) {
    f.tensors["model.layers.0.self_attn.k_proj.weight"] =
        Tensor::Zeros({16, 16});
  });
  EXPECT_EQ(Message(MiniMindForCausalLM::LoadDir(dir)),
            weights +
                ": tensor 'model.layers.0.self_attn.k_proj.weight' is "
                "float32[16, 16], expected a float tensor of shape [8, 16]");
  ASSERT_TRUE(lm.SaveDir(dir).ok());
  EditWeights(dir, [](SafetensorsFile& f) {
    f.tensors["model.layers.2.mlp.up_proj.weight"] = Tensor::Zeros({24, 16});
  });
  EXPECT_THAT(Message(MiniMindForCausalLM::LoadDir(dir)),
              HasSubstr(weights + ": unexpected tensor(s) the model has no "
                                  "parameter for: "
                                  "model.layers.2.mlp.up_proj.weight"));
  // A config that does not describe the weights.
  ASSERT_TRUE(lm.SaveDir(dir).ok());
  MiniMindConfig three_layers = config;
  three_layers.num_hidden_layers = 3;
  WriteText(dir + "/config.json", ConfigToJson(three_layers));
  EXPECT_THAT(Message(MiniMindForCausalLM::LoadDir(dir)),
              HasSubstr("tensor 'model.layers.2.self_attn.q_proj.weight' not "
                        "found"));
  WriteText(dir + "/config.json", "{\"hidden_size\": 16}");
  EXPECT_THAT(Message(MiniMindForCausalLM::LoadDir(dir)),
              HasSubstr(dir + "/config.json: required key "
                              "'num_hidden_layers' is missing"));
}

TEST(CheckpointTest, AFailedSaveLeavesNoPartialFile) {
  Generator gen(2);
  const MiniMindForCausalLM lm =
      ValueOrDie(MiniMindForCausalLM::Create(SmallConfig(false, true), gen));

  // The directory cannot be made: a file stands in its way.
  const std::string root = NewDir("blocked");
  WriteText(root + "/file", "x");
  const absl::Status under_file = lm.SaveDir(root + "/file/sub");
  EXPECT_THAT(std::string(under_file.message()),
              HasSubstr(root + "/file/sub: cannot create the directory"));
  EXPECT_EQ(ListDir(root), std::set<std::string>({"file"}));

  // model.safetensors cannot be replaced (a directory holds its name): the
  // temporaries are removed and config.json is not written either.
  const std::string dir = NewDir("occupied");
  mkdir((dir + "/model.safetensors").c_str(), 0777);
  WriteText(dir + "/model.safetensors/keep", "x");
  const absl::Status occupied = lm.SaveDir(dir);
  EXPECT_THAT(std::string(occupied.message()),
              HasSubstr(dir + "/model.safetensors: cannot rename"));
  EXPECT_EQ(ListDir(dir), std::set<std::string>({"model.safetensors"}));

  // A directory we may not write to (root may write anywhere).
  if (geteuid() != 0) {
    const std::string locked = NewDir("locked");
    chmod(locked.c_str(), 0555);
    EXPECT_FALSE(lm.SaveDir(locked).ok());
    EXPECT_TRUE(ListDir(locked).empty());
    chmod(locked.c_str(), 0755);
  }
}

}  // namespace
}  // namespace minigraph
