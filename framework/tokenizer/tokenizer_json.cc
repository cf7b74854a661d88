// tokenizer.json and tokenizer_config.json: reading (through
// google.protobuf.Struct) and writing in HF's layout.
#include "framework/tokenizer/tokenizer_json.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "framework/status_macros.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace minigraph {
namespace {

using ::google::protobuf::ListValue;
using ::google::protobuf::Struct;
using ::google::protobuf::Value;

std::string Describe(const Value& value) {
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

// Reads fields of one JSON file; errors read "SOURCE: FIELD: what".
class JsonReader {
 public:
  explicit JsonReader(std::string source) : source_(std::move(source)) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": ", field, ": ", what));
  }
  absl::Status Mistyped(absl::string_view field, absl::string_view expected,
                        const Value& got) const {
    return Error(field,
                 absl::StrCat("expected ", expected, ", got ", Describe(got)));
  }

  // The value of `key` in `object`, nullptr when absent.
  static const Value* Find(const Struct& object, absl::string_view key) {
    auto it = object.fields().find(std::string(key));
    return it == object.fields().end() ? nullptr : &it->second;
  }
  // Absent or null.
  static bool IsNull(const Value* value) {
    return value == nullptr || value->kind_case() == Value::kNullValue;
  }

  absl::StatusOr<const Struct*> Object(const Struct& object,
                                       absl::string_view key,
                                       absl::string_view field) const {
    const Value* value = Find(object, key);
    if (value == nullptr) {
      return Error(field, "is missing (expected an object)");
    }
    if (value->kind_case() != Value::kStructValue) {
      return Mistyped(field, "an object", *value);
    }
    return &value->struct_value();
  }

  absl::StatusOr<const ListValue*> List(const Struct& object,
                                        absl::string_view key,
                                        absl::string_view field) const {
    const Value* value = Find(object, key);
    if (value == nullptr) return Error(field, "is missing (expected a list)");
    if (value->kind_case() != Value::kListValue) {
      return Mistyped(field, "a list", *value);
    }
    return &value->list_value();
  }

  absl::Status Bool(const Struct& object, absl::string_view key,
                    absl::string_view field, bool* out) const {
    const Value* value = Find(object, key);
    if (value == nullptr) return absl::OkStatus();  // keeps the default
    if (value->kind_case() != Value::kBoolValue) {
      return Mistyped(field, "true or false", *value);
    }
    *out = value->bool_value();
    return absl::OkStatus();
  }

  // An integer in [0, limit]; JSON numbers arrive as doubles.
  absl::StatusOr<int64_t> Id(const Value& value, absl::string_view field,
                             double limit = 2147483647.0) const {
    const double number = value.number_value();
    if (value.kind_case() != Value::kNumberValue || !(number >= 0) ||
        number > limit || number != std::floor(number)) {
      return Mistyped(field, "a non-negative integer id", value);
    }
    return static_cast<int64_t>(number);
  }

  absl::StatusOr<std::string> String(const Value& value,
                                     absl::string_view field) const {
    if (value.kind_case() != Value::kStringValue) {
      return Mistyped(field, "a string", value);
    }
    return value.string_value();
  }

  // `type` of a component object ("ByteLevel", "BPE", ...), "" when absent.
  absl::StatusOr<std::string> Type(const Struct& object,
                                   absl::string_view field) const {
    const Value* value = Find(object, "type");
    if (value == nullptr) return std::string();
    return String(*value, absl::StrCat(field, ".type"));
  }

 private:
  std::string source_;
};

absl::StatusOr<Struct> ParseObject(absl::string_view json,
                                   const std::string& source) {
  Struct root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a valid JSON object (",
                     std::string(parsed.message()), ")"));
  }
  return root;
}

absl::Status ReadAddedTokens(const JsonReader& reader, const Struct& root,
                             std::vector<AddedToken>* tokens) {
  if (JsonReader::IsNull(JsonReader::Find(root, "added_tokens"))) {
    return absl::OkStatus();
  }
  MG_ASSIGN_OR_RETURN(const ListValue* list,
                      reader.List(root, "added_tokens", "added_tokens"));
  for (int i = 0; i < list->values_size(); ++i) {
    const std::string field = absl::StrCat("added_tokens[", i, "]");
    const Value& entry = list->values(i);
    if (entry.kind_case() != Value::kStructValue) {
      return reader.Mistyped(field, "an object", entry);
    }
    const Struct& object = entry.struct_value();
    AddedToken token;
    token.normalized = true;  // HF's default when the key is absent
    const Value* id = JsonReader::Find(object, "id");
    if (id == nullptr) return reader.Error(field + ".id", "is missing");
    MG_ASSIGN_OR_RETURN(token.id, reader.Id(*id, field + ".id"));
    const Value* content = JsonReader::Find(object, "content");
    if (content == nullptr) {
      return reader.Error(field + ".content", "is missing");
    }
    MG_ASSIGN_OR_RETURN(token.content,
                        reader.String(*content, field + ".content"));
    if (token.content.empty()) {
      return reader.Error(field + ".content", "is empty");
    }
    MG_RETURN_IF_ERROR(reader.Bool(object, "single_word",
                                   field + ".single_word", &token.single_word));
    MG_RETURN_IF_ERROR(
        reader.Bool(object, "lstrip", field + ".lstrip", &token.lstrip));
    MG_RETURN_IF_ERROR(
        reader.Bool(object, "rstrip", field + ".rstrip", &token.rstrip));
    MG_RETURN_IF_ERROR(reader.Bool(object, "normalized", field + ".normalized",
                                   &token.normalized));
    MG_RETURN_IF_ERROR(
        reader.Bool(object, "special", field + ".special", &token.special));
    tokens->push_back(std::move(token));
  }
  return absl::OkStatus();
}

// The ByteLevel pre-tokenizer, also inside a one-element Sequence.
absl::Status ReadPreTokenizer(const JsonReader& reader, const Struct& root,
                              TokenizerSpec* spec) {
  const Value* value = JsonReader::Find(root, "pre_tokenizer");
  if (JsonReader::IsNull(value)) {
    return reader.Error("pre_tokenizer",
                        "is missing or null (expected ByteLevel)");
  }
  MG_ASSIGN_OR_RETURN(const Struct* object,
                      reader.Object(root, "pre_tokenizer", "pre_tokenizer"));
  std::string field = "pre_tokenizer";
  MG_ASSIGN_OR_RETURN(std::string type, reader.Type(*object, field));
  if (type == "Sequence") {
    MG_ASSIGN_OR_RETURN(
        const ListValue* list,
        reader.List(*object, "pretokenizers", "pre_tokenizer.pretokenizers"));
    if (list->values_size() != 1 ||
        list->values(0).kind_case() != Value::kStructValue) {
      return reader.Error(
          "pre_tokenizer.pretokenizers",
          absl::StrCat("a Sequence must hold exactly one ByteLevel "
                       "pre-tokenizer, this one holds ",
                       list->values_size(), " entries"));
    }
    object = &list->values(0).struct_value();
    field = "pre_tokenizer.pretokenizers[0]";
    MG_ASSIGN_OR_RETURN(type, reader.Type(*object, field));
  }
  if (type != "ByteLevel") {
    return reader.Error(
        field + ".type",
        absl::StrCat("\"", type,
                     "\" is not supported (only ByteLevel, alone or as the "
                     "one entry of a Sequence)"));
  }
  const Value* prefix = JsonReader::Find(*object, "add_prefix_space");
  if (prefix == nullptr) {
    return reader.Error(field + ".add_prefix_space", "is missing");
  }
  MG_RETURN_IF_ERROR(reader.Bool(*object, "add_prefix_space",
                                 field + ".add_prefix_space",
                                 &spec->add_prefix_space));
  return reader.Bool(*object, "use_regex", field + ".use_regex",
                     &spec->use_regex);
}

// normalizer, post_processor and decoder: what is supported of each.
absl::Status ReadPipeline(const JsonReader& reader, const Struct& root,
                          TokenizerSpec* spec) {
  for (const char* key : {"truncation", "padding"}) {
    const Value* value = JsonReader::Find(root, key);
    if (!JsonReader::IsNull(value)) {
      return reader.Error(
          key, absl::StrCat("only null is supported, got ", Describe(*value)));
    }
  }
  const Value* normalizer = JsonReader::Find(root, "normalizer");
  if (!JsonReader::IsNull(normalizer)) {
    std::string type = "?";
    if (normalizer->kind_case() == Value::kStructValue) {
      MG_ASSIGN_OR_RETURN(
          type, reader.Type(normalizer->struct_value(), "normalizer"));
    }
    return reader.Error("normalizer",
                        absl::StrCat("type \"", type,
                                     "\" is not supported (only null: byte-"
                                     "level BPE without a normalizer)"));
  }
  for (const char* key : {"post_processor", "decoder"}) {
    const Value* value = JsonReader::Find(root, key);
    if (JsonReader::IsNull(value)) {
      if (absl::string_view(key) == "decoder") {
        spec->byte_level_decoder = false;
      }
      continue;
    }
    MG_ASSIGN_OR_RETURN(const Struct* object, reader.Object(root, key, key));
    MG_ASSIGN_OR_RETURN(const std::string type, reader.Type(*object, key));
    if (type != "ByteLevel") {
      return reader.Error(absl::StrCat(key, ".type"),
                          absl::StrCat("\"", type,
                                       "\" is not supported (only ByteLevel or "
                                       "null)"));
    }
  }
  return absl::OkStatus();
}

// A merge: "left right" (one space) or ["left", "right"]. `skip` is set for
// the "#version" header line old merges.txt files carry, which HF skips.
absl::Status ReadMerge(const JsonReader& reader, const Value& value,
                       const std::string& field,
                       std::pair<std::string, std::string>* merge, bool* skip) {
  *skip = false;
  if (value.kind_case() == Value::kStringValue) {
    const std::string& text = value.string_value();
    if (absl::StartsWith(text, "#version")) {
      *skip = true;
      return absl::OkStatus();
    }
    std::vector<std::string> parts = absl::StrSplit(text, ' ');
    if (parts.size() != 2) {
      return reader.Error(
          field, absl::StrCat("\"", text,
                              "\" is not two tokens separated by one space"));
    }
    *merge = {std::move(parts[0]), std::move(parts[1])};
    return absl::OkStatus();
  }
  if (value.kind_case() == Value::kListValue &&
      value.list_value().values_size() == 2) {
    MG_ASSIGN_OR_RETURN(merge->first,
                        reader.String(value.list_value().values(0), field));
    MG_ASSIGN_OR_RETURN(merge->second,
                        reader.String(value.list_value().values(1), field));
    return absl::OkStatus();
  }
  return reader.Mistyped(field, "\"a b\" or [\"a\", \"b\"]", value);
}

absl::Status ReadModel(const JsonReader& reader, const Struct& root,
                       TokenizerSpec* spec,
                       std::vector<std::pair<std::string, int64_t>>* vocab) {
  MG_ASSIGN_OR_RETURN(const Struct* model,
                      reader.Object(root, "model", "model"));
  MG_ASSIGN_OR_RETURN(const std::string type, reader.Type(*model, "model"));
  if (!type.empty() && type != "BPE") {
    return reader.Error("model.type",
                        absl::StrCat("\"", type,
                                     "\" is not supported: only BPE models "
                                     "are"));
  }
  const Value* dropout = JsonReader::Find(*model, "dropout");
  if (!JsonReader::IsNull(dropout) &&
      !(dropout->kind_case() == Value::kNumberValue &&
        dropout->number_value() == 0.0)) {
    return reader.Error(
        "model.dropout",
        absl::StrCat("only null or 0 is supported, got ", Describe(*dropout)));
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const Value* value = JsonReader::Find(*model, key);
    // An empty string adds nothing, the same as null.
    if (!JsonReader::IsNull(value) &&
        !(value->kind_case() == Value::kStringValue &&
          value->string_value().empty())) {
      return reader.Error(
          absl::StrCat("model.", key),
          absl::StrCat("only null is supported, got ", Describe(*value)));
    }
  }
  bool byte_fallback = false;
  MG_RETURN_IF_ERROR(reader.Bool(*model, "byte_fallback", "model.byte_fallback",
                                 &byte_fallback));
  if (byte_fallback) {
    return reader.Error("model.byte_fallback",
                        "true is not supported (byte-level BPE has every "
                        "byte in its alphabet; expected false)");
  }
  MG_RETURN_IF_ERROR(
      reader.Bool(*model, "fuse_unk", "model.fuse_unk", &spec->fuse_unk));
  MG_RETURN_IF_ERROR(reader.Bool(*model, "ignore_merges", "model.ignore_merges",
                                 &spec->ignore_merges));
  const Value* unk = JsonReader::Find(*model, "unk_token");
  if (!JsonReader::IsNull(unk)) {
    MG_ASSIGN_OR_RETURN(spec->unk_token,
                        reader.String(*unk, "model.unk_token"));
  }
  MG_ASSIGN_OR_RETURN(const Struct* vocab_object,
                      reader.Object(*model, "vocab", "model.vocab"));
  vocab->reserve(vocab_object->fields_size());
  for (const auto& [token, id_value] : vocab_object->fields()) {
    MG_ASSIGN_OR_RETURN(
        const int64_t id,
        reader.Id(id_value, absl::StrCat("model.vocab[\"", token, "\"]")));
    vocab->emplace_back(token, id);
  }
  MG_ASSIGN_OR_RETURN(const ListValue* merges,
                      reader.List(*model, "merges", "model.merges"));
  spec->merges.reserve(merges->values_size());
  for (int i = 0; i < merges->values_size(); ++i) {
    std::pair<std::string, std::string> merge;
    bool skip = false;
    MG_RETURN_IF_ERROR(ReadMerge(reader, merges->values(i),
                                 absl::StrCat("model.merges[", i, "]"), &merge,
                                 &skip));
    if (!skip) spec->merges.push_back(std::move(merge));
  }
  return absl::OkStatus();
}

// Lays the model's vocab and the added tokens out by id: each id must name
// one token, and a token in both must have the same id in both.
absl::Status BuildVocab(
    const JsonReader& reader,
    const std::vector<std::pair<std::string, int64_t>>& model_vocab,
    TokenizerSpec* spec) {
  int64_t size = 0;
  for (const auto& entry : model_vocab) size = std::max(size, entry.second + 1);
  for (const AddedToken& token : spec->added_tokens) {
    size = std::max(size, token.id + 1);
  }
  // Without gaps the largest id is below the number of entries; checked
  // before allocating, so that a stray huge id costs nothing.
  const int64_t entries =
      static_cast<int64_t>(model_vocab.size() + spec->added_tokens.size());
  if (size > entries) {
    return reader.Error(
        "model.vocab",
        absl::StrCat("ids reach ", size - 1, " but there are only ", entries,
                     " tokens (ids must run from 0 without gaps, counting "
                     "added_tokens)"));
  }
  std::vector<std::optional<std::string>> by_id(static_cast<size_t>(size));
  for (const auto& [token, id] : model_vocab) {
    if (by_id[id].has_value()) {
      // Report the pair in a fixed order whatever the map's order.
      const std::string& a = std::min(*by_id[id], token);
      const std::string& b = std::max(*by_id[id], token);
      return reader.Error("model.vocab",
                          absl::StrCat("id ", id, " is given to both \"", a,
                                       "\" and \"", b, "\""));
    }
    by_id[id] = token;
  }
  for (size_t i = 0; i < spec->added_tokens.size(); ++i) {
    const AddedToken& token = spec->added_tokens[i];
    const std::string field = absl::StrCat("added_tokens[", i, "]");
    if (by_id[token.id].has_value() && *by_id[token.id] != token.content) {
      return reader.Error(
          field,
          absl::StrCat("id ", token.id, " is \"", *by_id[token.id],
                       "\" in model.vocab, not \"", token.content, "\""));
    }
    by_id[token.id] = token.content;
  }
  spec->vocab.reserve(by_id.size());
  for (size_t id = 0; id < by_id.size(); ++id) {
    if (!by_id[id].has_value()) {
      return reader.Error(
          "model.vocab",
          absl::StrCat("id ", id, " has no token (ids must run from 0 to ",
                       size - 1, " without gaps, counting added_tokens)"));
    }
    spec->vocab.push_back(*std::move(by_id[id]));
  }
  return absl::OkStatus();
}

// ---- writing ----------------------------------------------------------------

const char* JsonBool(bool value) { return value ? "true" : "false"; }

std::string JsonOptionalString(const std::optional<std::string>& value) {
  return value.has_value() ? JsonQuote(*value) : "null";
}

}  // namespace

std::string JsonQuote(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

absl::StatusOr<TokenizerSpec> ParseTokenizerJson(absl::string_view json,
                                                 const std::string& source) {
  MG_ASSIGN_OR_RETURN(const Struct root, ParseObject(json, source));
  const JsonReader reader(source);
  const Value* version = JsonReader::Find(root, "version");
  if (version != nullptr && !(version->kind_case() == Value::kStringValue &&
                              version->string_value() == "1.0")) {
    return reader.Mistyped("version", "\"1.0\"", *version);
  }
  TokenizerSpec spec;
  MG_RETURN_IF_ERROR(ReadPipeline(reader, root, &spec));
  MG_RETURN_IF_ERROR(ReadPreTokenizer(reader, root, &spec));
  MG_RETURN_IF_ERROR(ReadAddedTokens(reader, root, &spec.added_tokens));
  std::vector<std::pair<std::string, int64_t>> model_vocab;
  MG_RETURN_IF_ERROR(ReadModel(reader, root, &spec, &model_vocab));
  MG_RETURN_IF_ERROR(BuildVocab(reader, model_vocab, &spec));
  return spec;
}

absl::StatusOr<Tokenizer> Tokenizer::FromJson(absl::string_view json,
                                              const std::string& source) {
  MG_ASSIGN_OR_RETURN(TokenizerSpec spec, ParseTokenizerJson(json, source));
  absl::StatusOr<Tokenizer> tokenizer = FromSpec(std::move(spec));
  if (!tokenizer.ok()) {
    return absl::Status(
        tokenizer.status().code(),
        absl::StrCat(source, ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<TokenizerConfig> ParseTokenizerConfigJson(
    absl::string_view json, const std::string& source) {
  MG_ASSIGN_OR_RETURN(const Struct root, ParseObject(json, source));
  const JsonReader reader(source);
  TokenizerConfig config;
  const std::pair<const char*, std::optional<std::string>*> tokens[] = {
      {"bos_token", &config.bos_token},
      {"eos_token", &config.eos_token},
      {"pad_token", &config.pad_token},
      {"unk_token", &config.unk_token}};
  for (const auto& [key, out] : tokens) {
    const Value* value = JsonReader::Find(root, key);
    if (JsonReader::IsNull(value)) continue;
    if (value->kind_case() == Value::kStructValue) {
      // transformers' serialized AddedToken: {"content": ..., ...}.
      const Value* content = JsonReader::Find(value->struct_value(), "content");
      if (content == nullptr) {
        return reader.Error(absl::StrCat(key, ".content"), "is missing");
      }
      MG_ASSIGN_OR_RETURN(
          *out, reader.String(*content, absl::StrCat(key, ".content")));
      continue;
    }
    if (value->kind_case() != Value::kStringValue) {
      return reader.Mistyped(key, "a string or an object with \"content\"",
                             *value);
    }
    *out = value->string_value();
  }
  const Value* chat_template = JsonReader::Find(root, "chat_template");
  if (!JsonReader::IsNull(chat_template)) {
    MG_ASSIGN_OR_RETURN(config.chat_template,
                        reader.String(*chat_template, "chat_template"));
  }
  const Value* max_length = JsonReader::Find(root, "model_max_length");
  if (!JsonReader::IsNull(max_length)) {
    // transformers writes int(1e30) for "no limit": beyond 2^62 means none.
    const double number = max_length->number_value();
    if (max_length->kind_case() != Value::kNumberValue || !(number >= 0) ||
        number != std::floor(number)) {
      return reader.Mistyped("model_max_length", "a non-negative integer",
                             *max_length);
    }
    if (number < 4611686018427387904.0) {
      config.model_max_length = static_cast<int64_t>(number);
    }
  }
  return config;
}

std::string TokenizerConfigToJson(const TokenizerSpec& spec,
                                  const TokenizerConfig& config) {
  // Keys in sorted order, as transformers' json.dumps(sort_keys=True).
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("add_bos_token", "false");
  fields.emplace_back("add_eos_token", "false");
  std::vector<std::pair<std::string, const AddedToken*>> added;
  for (const AddedToken& token : spec.added_tokens) {
    added.emplace_back(absl::StrCat(token.id), &token);
  }
  std::sort(added.begin(), added.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string decoder = "{";
  for (size_t i = 0; i < added.size(); ++i) {
    const AddedToken& token = *added[i].second;
    absl::StrAppend(&decoder, i == 0 ? "\n" : ",\n", "    \"", added[i].first,
                    "\": {\n      \"content\": ", JsonQuote(token.content),
                    ",\n      \"lstrip\": ", JsonBool(token.lstrip),
                    ",\n      \"normalized\": ", JsonBool(token.normalized),
                    ",\n      \"rstrip\": ", JsonBool(token.rstrip),
                    ",\n      \"single_word\": ", JsonBool(token.single_word),
                    ",\n      \"special\": ", JsonBool(token.special),
                    "\n    }");
  }
  absl::StrAppend(&decoder, added.empty() ? "}" : "\n  }");
  fields.emplace_back("added_tokens_decoder", decoder);
  const std::pair<const char*, const std::optional<std::string>*> tokens[] = {
      {"bos_token", &config.bos_token},
      {"chat_template", &config.chat_template},
      {"eos_token", &config.eos_token},
      {"pad_token", &config.pad_token},
      {"unk_token", &config.unk_token}};
  for (const auto& [key, value] : tokens) {
    if (value->has_value()) fields.emplace_back(key, JsonQuote(**value));
  }
  fields.emplace_back("clean_up_tokenization_spaces", "false");
  if (config.model_max_length.has_value()) {
    fields.emplace_back("model_max_length",
                        absl::StrCat(*config.model_max_length));
  }
  fields.emplace_back("tokenizer_class", "\"PreTrainedTokenizerFast\"");
  std::sort(fields.begin(), fields.end());
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "  \"", fields[i].first,
                    "\": ", fields[i].second);
  }
  absl::StrAppend(&out, "\n}\n");
  return out;
}

std::string Tokenizer::ToJson() const {
  const TokenizerSpec& spec = this->spec();
  std::string out =
      "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n"
      "  \"padding\": null,\n  \"added_tokens\": [";
  // By id, as HF writes them.
  std::vector<const AddedToken*> added;
  for (const AddedToken& token : spec.added_tokens) added.push_back(&token);
  std::stable_sort(
      added.begin(), added.end(),
      [](const AddedToken* a, const AddedToken* b) { return a->id < b->id; });
  for (size_t i = 0; i < added.size(); ++i) {
    const AddedToken& token = *added[i];
    absl::StrAppend(
        &out, i == 0 ? "\n" : ",\n", "    {\n      \"id\": ", token.id,
        ",\n      \"content\": ", JsonQuote(token.content),
        ",\n      \"single_word\": ", JsonBool(token.single_word),
        ",\n      \"lstrip\": ", JsonBool(token.lstrip),
        ",\n      \"rstrip\": ", JsonBool(token.rstrip),
        ",\n      \"normalized\": ", JsonBool(token.normalized),
        ",\n      \"special\": ", JsonBool(token.special), "\n    }");
  }
  absl::StrAppend(&out, spec.added_tokens.empty() ? "]" : "\n  ]", ",\n");
  absl::StrAppend(&out,
                  "  \"normalizer\": null,\n"
                  "  \"pre_tokenizer\": {\n"
                  "    \"type\": \"ByteLevel\",\n"
                  "    \"add_prefix_space\": ",
                  JsonBool(spec.add_prefix_space),
                  ",\n"
                  "    \"trim_offsets\": true,\n"
                  "    \"use_regex\": ",
                  JsonBool(spec.use_regex),
                  "\n  },\n"
                  "  \"post_processor\": null,\n");
  if (spec.byte_level_decoder) {
    absl::StrAppend(&out,
                    "  \"decoder\": {\n"
                    "    \"type\": \"ByteLevel\",\n"
                    "    \"add_prefix_space\": true,\n"
                    "    \"trim_offsets\": true,\n"
                    "    \"use_regex\": true\n"
                    "  },\n");
  } else {
    absl::StrAppend(&out, "  \"decoder\": null,\n");
  }
  absl::StrAppend(&out,
                  "  \"model\": {\n"
                  "    \"type\": \"BPE\",\n"
                  "    \"dropout\": null,\n"
                  "    \"unk_token\": ",
                  JsonOptionalString(spec.unk_token),
                  ",\n"
                  "    \"continuing_subword_prefix\": null,\n"
                  "    \"end_of_word_suffix\": null,\n"
                  "    \"fuse_unk\": ",
                  JsonBool(spec.fuse_unk),
                  ",\n"
                  "    \"byte_fallback\": false,\n"
                  "    \"ignore_merges\": ",
                  JsonBool(spec.ignore_merges), ",\n    \"vocab\": {");
  for (size_t id = 0; id < spec.vocab.size(); ++id) {
    absl::StrAppend(&out, id == 0 ? "\n" : ",\n", "      ",
                    JsonQuote(spec.vocab[id]), ": ", id);
  }
  absl::StrAppend(&out, spec.vocab.empty() ? "}" : "\n    }",
                  ",\n    \"merges\": [");
  // "a b" strings unless a side holds a space, which only the pair form
  // can carry (and a file uses one form throughout).
  const bool as_pairs = std::any_of(
      spec.merges.begin(), spec.merges.end(), [](const auto& merge) {
        return absl::StrContains(merge.first, ' ') ||
               absl::StrContains(merge.second, ' ');
      });
  for (size_t i = 0; i < spec.merges.size(); ++i) {
    const auto& [left, right] = spec.merges[i];
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "      ");
    if (as_pairs) {
      absl::StrAppend(&out, "[\n        ", JsonQuote(left), ",\n        ",
                      JsonQuote(right), "\n      ]");
    } else {
      absl::StrAppend(&out, JsonQuote(absl::StrCat(left, " ", right)));
    }
  }
  absl::StrAppend(&out, spec.merges.empty() ? "]" : "\n    ]", "\n  }\n}\n");
  return out;
}

}  // namespace minigraph
