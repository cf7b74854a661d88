#include "models/minimind_config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace minigraph {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("MiniMindConfig: ", message));
}

// ---- JSON reading -----------------------------------------------------------

std::string DescribeValue(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return absl::StrCat("the number ", value.number_value());
    case Value::kStringValue:
      return absl::StrCat("the string \"", value.string_value(), "\"");
    case Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "a list";
    default:
      return "nothing";
  }
}

// Reads the keys of one config.json, naming the file and the key in errors.
class ConfigReader {
 public:
  ConfigReader(const Struct& root, absl::string_view source)
      : root_(root), source_(source) {}

  // nullptr when absent.
  const Value* Find(absl::string_view key) const {
    auto it = root_.fields().find(std::string(key));
    return it == root_.fields().end() ? nullptr : &it->second;
  }

  absl::Status Missing(absl::string_view key, absl::string_view expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        source_, ": required key '", key, "' is missing (", expected, ")"));
  }

  absl::Status Mistyped(absl::string_view key, absl::string_view expected,
                        const Value& got) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": key '", key, "' must be ", expected, ", got ",
                     DescribeValue(got)));
  }

  // An integral JSON number; JSON numbers arrive as doubles, so only values
  // below 2^53 are exact.
  absl::Status Int(absl::string_view key, bool required, int64_t& out) {
    constexpr char kExpected[] = "an integer";
    const Value* value = Find(key);
    if (value == nullptr) {
      return required ? Missing(key, kExpected) : absl::OkStatus();
    }
    const double number = value->number_value();
    if (value->kind_case() != Value::kNumberValue ||
        !(std::abs(number) < 9007199254740992.0) ||
        number != std::floor(number)) {
      return Mistyped(key, kExpected, *value);
    }
    out = static_cast<int64_t>(number);
    return absl::OkStatus();
  }

  absl::Status Double(absl::string_view key, bool required, double& out) {
    constexpr char kExpected[] = "a number";
    const Value* value = Find(key);
    if (value == nullptr) {
      return required ? Missing(key, kExpected) : absl::OkStatus();
    }
    if (value->kind_case() != Value::kNumberValue) {
      return Mistyped(key, kExpected, *value);
    }
    out = value->number_value();
    return absl::OkStatus();
  }

  absl::Status Bool(absl::string_view key, bool& out) {
    const Value* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->kind_case() != Value::kBoolValue) {
      return Mistyped(key, "true or false", *value);
    }
    out = value->bool_value();
    return absl::OkStatus();
  }

  absl::Status String(absl::string_view key, std::string& out) {
    const Value* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->kind_case() != Value::kStringValue) {
      return Mistyped(key, "a string", *value);
    }
    out = value->string_value();
    return absl::OkStatus();
  }

  // A MiniMind feature this model does not have: absent or false only.
  absl::Status Unsupported(absl::string_view key, absl::string_view what) {
    const Value* value = Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->kind_case() != Value::kBoolValue) {
      return Mistyped(key, "true or false", *value);
    }
    if (value->bool_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source_, ": key '", key, "' is true, but ", what,
                       " is not supported (expected false or no such key)"));
    }
    return absl::OkStatus();
  }

 private:
  const Struct& root_;
  std::string source_;
};

// ---- JSON writing -----------------------------------------------------------

// Python's repr of a float, as json.dumps writes it: the shortest digits
// that read back as `value`, fixed notation for exponents in [-4, 16) with
// ".0" on integral values (1000000.0, 0.0001), else scientific with a
// two-digit exponent (1e-05, 1e+16). `value` is finite.
std::string JsonDouble(double value) {
  if (value == 0.0) return "0.0";
  std::string sign = value < 0 ? "-" : "";
  const double magnitude = std::abs(value);
  std::string text;
  for (int precision = 0; precision <= 16; ++precision) {
    text = absl::StrFormat("%.*e", precision, magnitude);
    if (std::strtod(text.c_str(), nullptr) == magnitude) break;
  }
  // text is "d.ddde+XX" (or "de+XX"): the digits and the exponent.
  const size_t e = text.find('e');
  std::string digits = text.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int exponent = std::atoi(text.c_str() + e + 1);
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      return absl::StrCat(sign, "0.", std::string(-exponent - 1, '0'), digits);
    }
    const size_t whole = static_cast<size_t>(exponent) + 1;
    if (digits.size() <= whole) {
      return absl::StrCat(sign, digits, std::string(whole - digits.size(), '0'),
                          ".0");
    }
    return absl::StrCat(sign, digits.substr(0, whole), ".",
                        digits.substr(whole));
  }
  return absl::StrCat(sign, digits.substr(0, 1),
                      digits.size() > 1 ? "." + digits.substr(1) : "", "e",
                      exponent < 0 ? "-" : "+",
                      absl::StrFormat("%02d", std::abs(exponent)));
}

std::string JsonBool(bool value) { return value ? "true" : "false"; }

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

int64_t IntermediateSize2025(int64_t hidden_size) {
  // Python: int(hidden_size * 8 / 3), rounded up to a multiple of 64.
  const int64_t raw =
      static_cast<int64_t>(static_cast<double>(hidden_size * 8) / 3.0);
  return 64 * ((raw + 64 - 1) / 64);
}

int64_t IntermediateSize2026(int64_t hidden_size) {
  // Python: math.ceil(hidden_size * math.pi / 64) * 64.
  return static_cast<int64_t>(
             std::ceil(static_cast<double>(hidden_size) * M_PI / 64.0)) *
         64;
}

int64_t MiniMindConfig::IntermediateSize() const {
  return intermediate_size != 0 ? intermediate_size
                                : IntermediateSize2025(hidden_size);
}

absl::Status ValidateConfig(const MiniMindConfig& config) {
  const int64_t heads = config.num_attention_heads;
  const int64_t kv_heads = config.num_key_value_heads;
  if (config.hidden_size <= 0) {
    return Invalid(
        absl::StrCat("hidden_size must be > 0, got ", config.hidden_size));
  }
  if (heads <= 0) {
    return Invalid(
        absl::StrCat("num_attention_heads must be > 0, got ", heads));
  }
  if (kv_heads <= 0) {
    return Invalid(
        absl::StrCat("num_key_value_heads must be > 0, got ", kv_heads));
  }
  if (heads % kv_heads != 0) {
    return Invalid(absl::StrCat("num_attention_heads (", heads,
                                ") must be a multiple of num_key_value_heads (",
                                kv_heads, ")"));
  }
  if (config.head_dim < 0) {
    return Invalid(
        absl::StrCat("head_dim must be >= 0 (0: hidden_size / "
                     "num_attention_heads), got ",
                     config.head_dim));
  }
  if (config.head_dim == 0 && config.hidden_size % heads != 0) {
    return Invalid(absl::StrCat("hidden_size (", config.hidden_size,
                                ") must be a multiple of num_attention_heads (",
                                heads, ")"));
  }
  const int64_t head_dim = config.HeadDim();
  if (head_dim <= 0 || head_dim % 2 != 0) {
    return Invalid(absl::StrCat(
        "head_dim must be even and > 0 (RoPE rotates pairs of dimensions), "
        "got ",
        head_dim));
  }
  if (config.num_hidden_layers <= 0) {
    return Invalid(absl::StrCat("num_hidden_layers must be > 0, got ",
                                config.num_hidden_layers));
  }
  if (config.vocab_size <= 0) {
    return Invalid(
        absl::StrCat("vocab_size must be > 0, got ", config.vocab_size));
  }
  if (config.intermediate_size < 0) {
    return Invalid(absl::StrCat(
        "intermediate_size must be >= 0 (0: the 2025 rule from hidden_size), "
        "got ",
        config.intermediate_size));
  }
  if (config.hidden_act != "silu") {
    return Invalid(absl::StrCat("hidden_act must be \"silu\", got \"",
                                config.hidden_act, "\""));
  }
  if (!(config.rope_theta > 0.0) || !std::isfinite(config.rope_theta)) {
    return Invalid(absl::StrCat("rope_theta must be finite and > 0, got ",
                                config.rope_theta));
  }
  if (config.max_position_embeddings <= 0) {
    return Invalid(absl::StrCat("max_position_embeddings must be > 0, got ",
                                config.max_position_embeddings));
  }
  // Written so that nan fails too.
  if (!(config.dropout >= 0.0 && config.dropout < 1.0)) {
    return Invalid(
        absl::StrCat("dropout must be in [0, 1), got ", config.dropout));
  }
  if (!(config.rms_norm_eps > 0.0) || !std::isfinite(config.rms_norm_eps)) {
    return Invalid(
        absl::StrCat("rms_norm_eps must be > 0, got ", config.rms_norm_eps));
  }
  for (const auto& [field, id] :
       {std::pair<const char*, int64_t>{"bos_token_id", config.bos_token_id},
        {"eos_token_id", config.eos_token_id}}) {
    if (id < 0 || id >= config.vocab_size) {
      return Invalid(absl::StrCat(field, " must be in [0, vocab_size = ",
                                  config.vocab_size, "), got ", id));
    }
  }
  return absl::OkStatus();
}

std::string ConfigToString(const MiniMindConfig& config) {
  return absl::StrCat(
      "hidden ", config.hidden_size, ", layers ", config.num_hidden_layers,
      ", heads ", config.num_attention_heads, ", kv_heads ",
      config.num_key_value_heads, ", head_dim ", config.HeadDim(),
      ", intermediate ", config.IntermediateSize(), ", vocab ",
      config.vocab_size, ", rope_theta ", config.rope_theta, ", max_positions ",
      config.max_position_embeddings, ", rms_norm_eps ", config.rms_norm_eps,
      ", dropout ", config.dropout, ", flash_attn ",
      config.flash_attn ? "true" : "false", ", qk_norm ",
      config.qk_norm ? "true" : "false", ", tied ",
      config.tie_word_embeddings ? "true" : "false");
}

absl::StatusOr<MiniMindConfig> ParseConfigJson(absl::string_view json,
                                               absl::string_view source) {
  Struct root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a JSON object: ", std::string(parsed.message())));
  }
  ConfigReader reader(root, source);
  MiniMindConfig c;
  MG_RETURN_IF_ERROR(reader.Int("hidden_size", true, c.hidden_size));
  MG_RETURN_IF_ERROR(
      reader.Int("num_hidden_layers", true, c.num_hidden_layers));
  MG_RETURN_IF_ERROR(
      reader.Int("num_attention_heads", true, c.num_attention_heads));
  MG_RETURN_IF_ERROR(
      reader.Int("num_key_value_heads", true, c.num_key_value_heads));
  MG_RETURN_IF_ERROR(reader.Int("vocab_size", true, c.vocab_size));
  // MiniMind2 saves null when the rule derives it.
  const Value* intermediate = reader.Find("intermediate_size");
  if (intermediate == nullptr ||
      intermediate->kind_case() != Value::kNullValue) {
    MG_RETURN_IF_ERROR(
        reader.Int("intermediate_size", true, c.intermediate_size));
  }
  MG_RETURN_IF_ERROR(reader.Double("rms_norm_eps", true, c.rms_norm_eps));
  MG_RETURN_IF_ERROR(reader.Double("rope_theta", true, c.rope_theta));
  MG_RETURN_IF_ERROR(reader.Int("head_dim", false, c.head_dim));
  MG_RETURN_IF_ERROR(
      reader.Int("max_position_embeddings", false, c.max_position_embeddings));
  MG_RETURN_IF_ERROR(reader.Bool("tie_word_embeddings", c.tie_word_embeddings));
  MG_RETURN_IF_ERROR(reader.Double("dropout", false, c.dropout));
  MG_RETURN_IF_ERROR(reader.Int("bos_token_id", false, c.bos_token_id));
  MG_RETURN_IF_ERROR(reader.Int("eos_token_id", false, c.eos_token_id));
  MG_RETURN_IF_ERROR(reader.String("hidden_act", c.hidden_act));
  MG_RETURN_IF_ERROR(reader.Bool("flash_attn", c.flash_attn));
  MG_RETURN_IF_ERROR(reader.Bool("qk_norm", c.qk_norm));
  MG_RETURN_IF_ERROR(reader.Unsupported("use_moe", "a mixture of experts"));
  MG_RETURN_IF_ERROR(
      reader.Unsupported("inference_rope_scaling", "YaRN RoPE scaling"));
  if (absl::Status status = ValidateConfig(c); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", status.message()));
  }
  return c;
}

absl::StatusOr<MiniMindConfig> ReadConfigJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open the model config (config.json)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read error"));
  }
  return ParseConfigJson(text.str(), path);
}

std::string ConfigToJson(const MiniMindConfig& config) {
  // std::map: sorted keys, as transformers writes config.json.
  std::map<std::string, std::string> fields = {
      {"architectures", "[\n    \"MiniMindForCausalLM\"\n  ]"},
      {"auto_map",
       "{\n    \"AutoConfig\": \"model_minimind.MiniMindConfig\",\n"
       "    \"AutoModelForCausalLM\": \"model_minimind.MiniMindForCausalLM\"\n"
       "  }"},
      {"model_type", JsonString("minimind")},
      {"bos_token_id", absl::StrCat(config.bos_token_id)},
      {"eos_token_id", absl::StrCat(config.eos_token_id)},
      {"dropout", JsonDouble(config.dropout)},
      {"flash_attn", JsonBool(config.flash_attn)},
      {"head_dim", absl::StrCat(config.HeadDim())},
      {"hidden_act", JsonString(config.hidden_act)},
      {"hidden_size", absl::StrCat(config.hidden_size)},
      {"intermediate_size", absl::StrCat(config.IntermediateSize())},
      {"max_position_embeddings", absl::StrCat(config.max_position_embeddings)},
      {"num_attention_heads", absl::StrCat(config.num_attention_heads)},
      {"num_hidden_layers", absl::StrCat(config.num_hidden_layers)},
      {"num_key_value_heads", absl::StrCat(config.num_key_value_heads)},
      {"rms_norm_eps", JsonDouble(config.rms_norm_eps)},
      {"rope_theta", JsonDouble(config.rope_theta)},
      {"tie_word_embeddings", JsonBool(config.tie_word_embeddings)},
      {"use_moe", JsonBool(false)},
      {"vocab_size", absl::StrCat(config.vocab_size)},
  };
  if (config.qk_norm) fields["qk_norm"] = JsonBool(true);
  std::vector<std::string> lines;
  for (const auto& [key, value] : fields) {
    lines.push_back(absl::StrCat("  ", JsonString(key), ": ", value));
  }
  return absl::StrCat("{\n", absl::StrJoin(lines, ",\n"), "\n}\n");
}

std::vector<std::string> PresetNames() {
  return {"minimind2-small", "minimind3", "tiny"};
}

absl::StatusOr<MiniMindConfig> PresetConfig(absl::string_view name) {
  MiniMindConfig c;  // MiniMind2's defaults
  if (name == "minimind2-small") {
    c.intermediate_size = IntermediateSize2025(c.hidden_size);
    return c;
  }
  if (name == "minimind3") {
    // MiniMind-3's MiniMindConfig defaults.
    c.hidden_size = 768;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.head_dim = 96;
    c.vocab_size = 6400;
    c.intermediate_size = IntermediateSize2026(c.hidden_size);
    c.rms_norm_eps = 1e-6;
    c.qk_norm = true;
    return c;
  }
  if (name == "tiny") {
    c.hidden_size = 128;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.intermediate_size = 384;
    // The byte-level tokenizer: 3 special ids, then the 256 bytes.
    c.vocab_size = 259;
    c.max_position_embeddings = 1024;
    return c;
  }
  return absl::NotFoundError(
      absl::StrCat("unknown model preset '", name,
                   "' (presets: ", absl::StrJoin(PresetNames(), ", "), ")"));
}

}  // namespace minigraph
