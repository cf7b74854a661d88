// MiniMindConfig: the intermediate-size rules, presets, validation, and the
// config.json reader and writer (round trips, MiniMind-style files, and an
// error naming the file and the key for every kind of bad input).
#include "models/minimind_config.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "framework/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

void ExpectSameConfig(const MiniMindConfig& a, const MiniMindConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.HeadDim(), b.HeadDim());
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.IntermediateSize(), b.IntermediateSize());
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.dropout, b.dropout);
  EXPECT_EQ(a.flash_attn, b.flash_attn);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.qk_norm, b.qk_norm);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_id, b.eos_token_id);
}

std::string Message(const absl::StatusOr<MiniMindConfig>& config) {
  return config.ok() ? "ok" : std::string(config.status().message());
}

TEST(MiniMindConfigTest, IntermediateSizeRules) {
  // 2025: int(h * 8 / 3) rounded up to 64. 512 -> 1365 -> 1408;
  // 640 -> 1706 -> 1728; 768 -> 2048 (already a multiple).
  EXPECT_EQ(IntermediateSize2025(512), 1408);
  EXPECT_EQ(IntermediateSize2025(640), 1728);
  EXPECT_EQ(IntermediateSize2025(768), 2048);
  // 2026: ceil(h * pi / 64) * 64. 768 -> 2412.7 -> 2432; 512 -> 1608.5 ->
  // 1664; 640 -> 2010.6 -> 2048.
  EXPECT_EQ(IntermediateSize2026(768), 2432);
  EXPECT_EQ(IntermediateSize2026(512), 1664);
  EXPECT_EQ(IntermediateSize2026(640), 2048);
  MiniMindConfig config;
  EXPECT_EQ(config.intermediate_size, 0);
  EXPECT_EQ(config.IntermediateSize(), 1408);
  config.intermediate_size = 100;
  EXPECT_EQ(config.IntermediateSize(), 100);
}

TEST(MiniMindConfigTest, Presets) {
  EXPECT_EQ(PresetNames(),
            std::vector<std::string>({"minimind2-small", "minimind3", "tiny"}));
  const MiniMindConfig small = ValueOrDie(PresetConfig("minimind2-small"));
  EXPECT_EQ(small.hidden_size, 512);
  EXPECT_EQ(small.num_hidden_layers, 8);
  EXPECT_EQ(small.num_attention_heads, 8);
  EXPECT_EQ(small.num_key_value_heads, 2);
  EXPECT_EQ(small.vocab_size, 6400);
  EXPECT_EQ(small.intermediate_size, 1408);
  EXPECT_EQ(small.rms_norm_eps, 1e-5);
  EXPECT_FALSE(small.qk_norm);
  EXPECT_TRUE(small.tie_word_embeddings);

  const MiniMindConfig three = ValueOrDie(PresetConfig("minimind3"));
  EXPECT_EQ(three.hidden_size, 768);
  EXPECT_EQ(three.num_hidden_layers, 8);
  EXPECT_EQ(three.num_attention_heads, 8);
  EXPECT_EQ(three.num_key_value_heads, 4);
  EXPECT_EQ(three.HeadDim(), 96);
  EXPECT_EQ(three.vocab_size, 6400);
  EXPECT_EQ(three.intermediate_size, 2432);
  EXPECT_EQ(three.rms_norm_eps, 1e-6);
  EXPECT_TRUE(three.qk_norm);

  const MiniMindConfig tiny = ValueOrDie(PresetConfig("tiny"));
  EXPECT_EQ(tiny.hidden_size, 128);
  EXPECT_EQ(tiny.num_hidden_layers, 2);
  EXPECT_EQ(tiny.num_attention_heads, 4);
  EXPECT_EQ(tiny.num_key_value_heads, 2);
  EXPECT_EQ(tiny.intermediate_size, 384);
  EXPECT_EQ(tiny.vocab_size, 259);
  EXPECT_EQ(tiny.max_position_embeddings, 1024);
  for (const std::string& name : PresetNames()) {
    EXPECT_TRUE(ValidateConfig(ValueOrDie(PresetConfig(name))).ok()) << name;
  }

  EXPECT_THAT(Message(PresetConfig("minimind4")),
              HasSubstr("unknown model preset 'minimind4' (presets: "
                        "minimind2-small, minimind3, tiny)"));
}

// The tiny preset's config.json, as transformers would write it: sorted
// keys, 2-space indent, Python's float spellings.
constexpr char kTinyJson[] = R"({
  "architectures": [
    "MiniMindForCausalLM"
  ],
  "auto_map": {
    "AutoConfig": "model_minimind.MiniMindConfig",
    "AutoModelForCausalLM": "model_minimind.MiniMindForCausalLM"
  },
  "bos_token_id": 1,
  "dropout": 0.0,
  "eos_token_id": 2,
  "flash_attn": true,
  "head_dim": 32,
  "hidden_act": "silu",
  "hidden_size": 128,
  "intermediate_size": 384,
  "max_position_embeddings": 1024,
  "model_type": "minimind",
  "num_attention_heads": 4,
  "num_hidden_layers": 2,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-05,
  "rope_theta": 1000000.0,
  "tie_word_embeddings": true,
  "use_moe": false,
  "vocab_size": 259
}
)";

TEST(MiniMindConfigTest, ConfigToJsonWritesWhatTransformersWrites) {
  EXPECT_EQ(ConfigToJson(ValueOrDie(PresetConfig("tiny"))), kTinyJson);
  // qk_norm appears only when on.
  MiniMindConfig three = ValueOrDie(PresetConfig("minimind3"));
  const std::string json = ConfigToJson(three);
  EXPECT_THAT(json, HasSubstr("\"qk_norm\": true,\n"));
  EXPECT_THAT(json, HasSubstr("\"rms_norm_eps\": 1e-06,\n"));
  EXPECT_THAT(json, HasSubstr("\"intermediate_size\": 2432,\n"));
  EXPECT_THAT(kTinyJson, ::testing::Not(HasSubstr("qk_norm")));
}

// Floats are spelled as Python's json module spells them (values from
// Python's repr).
TEST(MiniMindConfigTest, FloatsAreWrittenAsPythonWritesThem) {
  const std::pair<double, const char*> cases[] = {
      {1e6, "1000000.0"},
      {1e-5, "1e-05"},
      {0.1, "0.1"},
      {12345.678, "12345.678"},
      {3.3e-7, "3.3e-07"},
      {1e16, "1e+16"},
      {1.5e16, "1.5e+16"},
      {0.0001, "0.0001"},
      {0.00012, "0.00012"},
      {123456789012345.6, "123456789012345.6"},
      {9.999e15, "9999000000000000.0"},
      {2.5, "2.5"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
  };
  for (const auto& [value, repr] : cases) {
    MiniMindConfig config;
    config.rope_theta = value;
    EXPECT_THAT(ConfigToJson(config),
                HasSubstr(absl::StrCat("\"rope_theta\": ", repr, ",\n")))
        << repr;
  }
}

TEST(MiniMindConfigTest, JsonRoundTrips) {
  std::vector<MiniMindConfig> configs = {
      ValueOrDie(PresetConfig("minimind2-small")),
      ValueOrDie(PresetConfig("minimind3")), ValueOrDie(PresetConfig("tiny"))};
  MiniMindConfig odd;
  odd.hidden_size = 96;
  odd.num_hidden_layers = 3;
  odd.num_attention_heads = 6;
  odd.num_key_value_heads = 3;
  odd.head_dim = 10;
  odd.vocab_size = 1000;
  odd.intermediate_size = 200;
  odd.rope_theta = 12345.678;
  odd.max_position_embeddings = 77;
  odd.dropout = 0.1;
  odd.flash_attn = false;
  odd.rms_norm_eps = 3.3e-7;
  odd.qk_norm = true;
  odd.tie_word_embeddings = false;
  odd.bos_token_id = 5;
  odd.eos_token_id = 999;
  configs.push_back(odd);
  for (const MiniMindConfig& config : configs) {
    const std::string json = ConfigToJson(config);
    ExpectSameConfig(ValueOrDie(ParseConfigJson(json, "config.json")), config);
  }
}

TEST(MiniMindConfigTest, ReadsMiniMindStyleFiles) {
  // MiniMind2 as save_pretrained writes it: intermediate_size null (derived
  // at model construction), no tie_word_embeddings (its default, true), and
  // keys this model has no use for.
  constexpr char kMiniMind2[] = R"({
    "architectures": ["MiniMindForCausalLM"],
    "auto_map": {"AutoConfig": "model_minimind.MiniMindConfig"},
    "aux_loss_alpha": 0.01, "bos_token_id": 1, "dropout": 0.0,
    "eos_token_id": 2, "flash_attn": true, "hidden_act": "silu",
    "hidden_size": 512, "inference_rope_scaling": false,
    "intermediate_size": null, "max_position_embeddings": 32768,
    "model_type": "minimind", "n_routed_experts": 4,
    "num_attention_heads": 8, "num_hidden_layers": 8,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-05,
    "rope_scaling": null, "rope_theta": 1000000.0,
    "torch_dtype": "float32", "transformers_version": "4.57.1",
    "use_moe": false, "vocab_size": 6400})";
  const MiniMindConfig two =
      ValueOrDie(ParseConfigJson(kMiniMind2, "MiniMind2/config.json"));
  ExpectSameConfig(two, ValueOrDie(PresetConfig("minimind2-small")));

  // MiniMind-3: head_dim given, eps 1e-6, no qk_norm key (its code always
  // norms q and k; the checkpoint loader sees the weights).
  constexpr char kMiniMind3[] = R"({
    "hidden_size": 768, "num_hidden_layers": 8, "num_attention_heads": 8,
    "num_key_value_heads": 4, "head_dim": 96, "vocab_size": 6400,
    "intermediate_size": 2432, "rms_norm_eps": 1e-06, "rope_theta": 1e6,
    "max_position_embeddings": 32768, "tie_word_embeddings": true,
    "hidden_act": "silu", "num_experts": 4, "rope_scaling": null})";
  MiniMindConfig three =
      ValueOrDie(ParseConfigJson(kMiniMind3, "MiniMind3/config.json"));
  EXPECT_FALSE(three.qk_norm);
  three.qk_norm = true;
  ExpectSameConfig(three, ValueOrDie(PresetConfig("minimind3")));
}

// A valid minimal file with `key`'s value replaced by `value` (or the key
// removed when value is empty).
std::string EditedJson(const std::string& key, const std::string& value) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"hidden_size", "64"},           {"num_hidden_layers", "2"},
      {"num_attention_heads", "4"},    {"num_key_value_heads", "2"},
      {"vocab_size", "100"},           {"intermediate_size", "128"},
      {"rms_norm_eps", "1e-5"},        {"rope_theta", "10000.0"},
      {"tie_word_embeddings", "true"}, {"hidden_act", "\"silu\""}};
  std::string json = "{";
  bool replaced = false;
  for (const auto& [k, v] : fields) {
    if (k == key) {
      replaced = true;
      if (value.empty()) continue;
      absl::StrAppend(&json, json.size() > 1 ? ", " : "", "\"", k,
                      "\": ", value);
      continue;
    }
    absl::StrAppend(&json, json.size() > 1 ? ", " : "", "\"", k, "\": ", v);
  }
  if (!replaced && !key.empty()) {
    absl::StrAppend(&json, ", \"", key, "\": ", value);
  }
  return json + "}";
}

TEST(MiniMindConfigTest, EveryErrorNamesTheFileAndTheKey) {
  EXPECT_EQ(Message(ParseConfigJson(EditedJson("", ""), "c.json")), "ok");
  for (const char* key :
       {"hidden_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "vocab_size", "intermediate_size",
        "rms_norm_eps", "rope_theta"}) {
    EXPECT_THAT(Message(ParseConfigJson(EditedJson(key, ""), "dir/c.json")),
                HasSubstr(absl::StrCat("dir/c.json: required key '", key,
                                       "' is missing")))
        << key;
  }
  struct Bad {
    std::string key, value, message;
  };
  const std::vector<Bad> cases = {
      {"hidden_size", "\"64\"",
       "c.json: key 'hidden_size' must be an integer, got the string \"64\""},
      {"hidden_size", "64.5",
       "c.json: key 'hidden_size' must be an integer, got the number 64.5"},
      {"vocab_size", "true",
       "c.json: key 'vocab_size' must be an integer, got true"},
      {"num_hidden_layers", "[2]",
       "c.json: key 'num_hidden_layers' must be an integer, got a list"},
      {"rope_theta", "\"1e6\"",
       "c.json: key 'rope_theta' must be a number, got the string \"1e6\""},
      {"tie_word_embeddings", "1",
       "c.json: key 'tie_word_embeddings' must be true or false, got the "
       "number 1"},
      {"flash_attn", "\"yes\"",
       "c.json: key 'flash_attn' must be true or false"},
      {"qk_norm", "null",
       "c.json: key 'qk_norm' must be true or false, got "
       "null"},
      {"hidden_act", "7", "c.json: key 'hidden_act' must be a string"},
      {"head_dim", "{}",
       "c.json: key 'head_dim' must be an integer, got an object"},
      {"eos_token_id", "[2]", "c.json: key 'eos_token_id' must be an integer"},
      {"dropout", "false", "c.json: key 'dropout' must be a number, got false"},
      // Values of the right type that ValidateConfig rejects.
      {"num_attention_heads", "5",
       "c.json: MiniMindConfig: num_attention_heads (5) must be a multiple of "
       "num_key_value_heads (2)"},
      {"hidden_size", "66",
       "c.json: MiniMindConfig: hidden_size (66) must be a multiple of "
       "num_attention_heads (4)"},
      {"hidden_act", "\"gelu\"",
       "c.json: MiniMindConfig: hidden_act must be \"silu\", got \"gelu\""},
      {"vocab_size", "0", "c.json: MiniMindConfig: vocab_size must be > 0"},
      {"bos_token_id", "100",
       "c.json: MiniMindConfig: bos_token_id must be in [0, vocab_size = "
       "100), got 100"},
      {"rms_norm_eps", "0", "c.json: MiniMindConfig: rms_norm_eps must be > 0"},
      {"use_moe", "true",
       "c.json: key 'use_moe' is true, but a mixture of experts is not "
       "supported"},
      {"inference_rope_scaling", "true",
       "c.json: key 'inference_rope_scaling' is true, but YaRN RoPE scaling "
       "is not supported"},
  };
  for (const Bad& bad : cases) {
    EXPECT_THAT(
        Message(ParseConfigJson(EditedJson(bad.key, bad.value), "c.json")),
        HasSubstr(bad.message))
        << bad.key << " = " << bad.value;
  }
  EXPECT_THAT(Message(ParseConfigJson("{\"hidden_size\": ", "broken.json")),
              HasSubstr("broken.json: not a JSON object"));
  EXPECT_THAT(Message(ParseConfigJson("[1, 2]", "list.json")),
              HasSubstr("list.json: not a JSON object"));
}

TEST(MiniMindConfigTest, ReadConfigJsonNamesThePath) {
  const std::string dir = ::testing::TempDir();
  const std::string missing = absl::StrCat(dir, "/no_such_config.json");
  EXPECT_THAT(Message(ReadConfigJson(missing)),
              HasSubstr(absl::StrCat(missing, ": cannot open")));
  const std::string path = absl::StrCat(dir, "/tiny_config.json");
  {
    std::ofstream out(path);
    out << absl::StrReplaceAll(
        kTinyJson, {{"\"vocab_size\": 259", "\"vocab_size\": \"259\""}});
  }
  EXPECT_THAT(Message(ReadConfigJson(path)),
              HasSubstr(absl::StrCat(path,
                                     ": key 'vocab_size' must be an "
                                     "integer")));
  {
    std::ofstream out(path);
    out << kTinyJson;
  }
  ExpectSameConfig(ValueOrDie(ReadConfigJson(path)),
                   ValueOrDie(PresetConfig("tiny")));
}

TEST(MiniMindConfigTest, ValidateConfigNamesNewFields) {
  struct Bad {
    void (*edit)(MiniMindConfig&);
    const char* message;
  };
  const Bad cases[] = {
      {[](MiniMindConfig& c) { c.num_hidden_layers = 0; },
       "num_hidden_layers must be > 0, got 0"},
      {[](MiniMindConfig& c) { c.vocab_size = -1; },
       "vocab_size must be > 0, got -1"},
      {[](MiniMindConfig& c) { c.intermediate_size = -5; },
       "intermediate_size must be >= 0"},
      {[](MiniMindConfig& c) { c.hidden_act = "relu"; },
       "hidden_act must be \"silu\", got \"relu\""},
      {[](MiniMindConfig& c) { c.eos_token_id = 6400; },
       "eos_token_id must be in [0, vocab_size = 6400), got 6400"},
      {[](MiniMindConfig& c) { c.bos_token_id = -1; },
       "bos_token_id must be in [0, vocab_size = 6400), got -1"},
  };
  for (const Bad& bad : cases) {
    MiniMindConfig config;
    bad.edit(config);
    EXPECT_THAT(std::string(ValidateConfig(config).message()),
                HasSubstr(bad.message));
  }
}

}  // namespace
}  // namespace minigraph
