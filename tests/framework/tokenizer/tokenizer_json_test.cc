// tokenizer.json and tokenizer_config.json: what is accepted, the errors
// for what is not (each naming the file and the field), and Save/Load.
#include "framework/tokenizer/tokenizer_json.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "framework/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/framework/tokenizer/golden_util.h"

namespace minigraph {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kMinimal[] = R"json({
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [{"id": 3, "content": "<s>", "single_word": false,
                    "lstrip": false, "rstrip": false, "normalized": false,
                    "special": true}],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
                    "trim_offsets": true, "use_regex": true},
  "post_processor": null,
  "decoder": {"type": "ByteLevel", "add_prefix_space": true,
              "trim_offsets": true, "use_regex": true},
  "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3},
            "merges": ["a b"]}
})json";

// kMinimal with `from` replaced by `to` (which must occur).
std::string Edit(absl::string_view from, absl::string_view to) {
  const std::string text(kMinimal);
  EXPECT_NE(text.find(std::string(from)), std::string::npos) << from;
  return absl::StrReplaceAll(text, {{from, to}});
}

absl::Status Error(const std::string& json) {
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromJson(json, "bad.json");
  return tokenizer.ok() ? absl::OkStatus() : tokenizer.status();
}

TEST(FromJson, TheMinimalFileWorks) {
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromJson(kMinimal, "x");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_THAT(tokenizer->Encode("ab<s>ba"), ElementsAre(2, 3, 1, 0));
  EXPECT_EQ(tokenizer->vocab_size(), 4);
  EXPECT_TRUE(tokenizer->spec().byte_level_decoder);
}

TEST(FromJson, AcceptsTheOtherSupportedForms) {
  for (const std::string& json : {
           Edit(R"("merges": ["a b"])", R"("merges": [["a", "b"]])"),
           Edit(R"("merges": ["a b"])",
                R"("merges": ["#version: 0.2", "a b"])"),
           Edit(R"("post_processor": null)",
                R"("post_processor": {"type": "ByteLevel"})"),
           Edit(R"("dropout": null)", R"("dropout": 0)"),
           Edit(R"("continuing_subword_prefix": null)",
                R"("continuing_subword_prefix": "")"),
       }) {
    absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromJson(json, "x");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status() << "\n" << json;
    EXPECT_THAT(tokenizer->Encode("ab"), ElementsAre(2));
  }
  const std::string sequence = Edit(
      R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
                    "trim_offsets": true, "use_regex": true},)",
      R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "ByteLevel", "add_prefix_space": true,
         "trim_offsets": true, "use_regex": true}]},)");
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromJson(sequence, "x");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_TRUE(tokenizer->spec().add_prefix_space);

  tokenizer = Tokenizer::FromJson(
      Edit(R"("decoder": {"type": "ByteLevel", "add_prefix_space": true,
              "trim_offsets": true, "use_regex": true},)",
           R"("decoder": null,)"),
      "x");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_FALSE(tokenizer->spec().byte_level_decoder);
}

TEST(FromJson, MalformedJsonNamesTheFile) {
  const std::string text(kMinimal);
  const absl::Status status = Error(text.substr(0, text.size() / 2));
  EXPECT_THAT(std::string(status.message()),
              AllOf(StartsWith("bad.json: "), HasSubstr("not a valid JSON")));
  EXPECT_THAT(std::string(Error("").message()), StartsWith("bad.json: "));
  EXPECT_THAT(std::string(Error("[1, 2]").message()), StartsWith("bad.json: "));
}

TEST(FromJson, UnsupportedModelsAndComponentsNameTheFieldAndTheType) {
  struct Case {
    std::string json;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {Edit(R"("type": "BPE")", R"("type": "WordPiece")"),
       {"model.type", "\"WordPiece\"", "only BPE"}},
      {Edit(R"("type": "BPE")", R"("type": "Unigram")"),
       {"model.type", "\"Unigram\"", "only BPE"}},
      {Edit(R"("normalizer": null)", R"("normalizer": {"type": "NFC"})"),
       {"normalizer", "\"NFC\""}},
      {Edit(R"("type": "ByteLevel", "add_prefix_space": false)",
            R"("type": "Whitespace", "add_prefix_space": false)"),
       {"pre_tokenizer.type", "\"Whitespace\""}},
      {Edit(R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false,
                    "trim_offsets": true, "use_regex": true},)",
            R"("pre_tokenizer": null,)"),
       {"pre_tokenizer", "ByteLevel"}},
      {Edit(R"("decoder": {"type": "ByteLevel")",
            R"("decoder": {"type": "WordPiece")"),
       {"decoder.type", "\"WordPiece\""}},
      {Edit(R"("post_processor": null)",
            R"("post_processor": {"type": "TemplateProcessing"})"),
       {"post_processor.type", "\"TemplateProcessing\""}},
      {Edit(R"("dropout": null)", R"("dropout": 0.1)"),
       {"model.dropout", "0.1"}},
      {Edit(R"("continuing_subword_prefix": null)",
            R"("continuing_subword_prefix": "##")"),
       {"model.continuing_subword_prefix", "\"##\""}},
      {Edit(R"("end_of_word_suffix": null)", R"("end_of_word_suffix": "</w>")"),
       {"model.end_of_word_suffix", "\"</w>\""}},
      {Edit(R"("byte_fallback": false)", R"("byte_fallback": true)"),
       {"model.byte_fallback"}},
      {Edit(R"("truncation": null)", R"("truncation": {"max_length": 8})"),
       {"truncation", "only null"}},
      {Edit(R"("padding": null)", R"("padding": {})"), {"padding"}},
      {Edit(R"("version": "1.0")", R"("version": "2.0")"), {"version"}},
  };
  for (const Case& c : cases) {
    const absl::Status status = Error(c.json);
    ASSERT_FALSE(status.ok()) << c.json;
    EXPECT_THAT(std::string(status.message()), StartsWith("bad.json: "));
    for (const std::string& part : c.expected) {
      EXPECT_THAT(std::string(status.message()), HasSubstr(part));
    }
  }
}

TEST(FromJson, BadVocabMergesAndAddedTokensNameTheField) {
  struct Case {
    std::string json;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {Edit(R"("merges": ["a b"])", R"("merges": ["a b", "a c"])"),
       {"merges[1]", "token \"c\" is not in the vocab"}},
      {Edit(R"("merges": ["a b"])", R"("merges": ["b a"])"),
       {"merges[0]", "merged token \"ba\""}},
      {Edit(R"("merges": ["a b"])", R"("merges": ["a  b"])"),
       {"model.merges[0]", "two tokens separated by one space"}},
      {Edit(R"("merges": ["a b"])", R"("merges": [["a"]])"),
       {"model.merges[0]"}},
      {Edit(R"("merges": ["a b"])", R"("mergers": ["a b"])"),
       {"model.merges", "missing"}},
      {Edit(R"("vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3},)", ""),
       {"model.vocab", "missing"}},
      {Edit(R"("a": 0)", R"("a": "zero")"), {"model.vocab[\"a\"]"}},
      {Edit(R"("a": 0)", R"("a": 1.5)"), {"model.vocab[\"a\"]"}},
      {Edit(R"("ab": 2)", R"("ab": 7)"), {"model.vocab", "ids reach 7"}},
      {Edit(R"("ab": 2)", R"("ab": 1)"),
       {"model.vocab", "id 1 is given to both \"ab\" and \"b\""}},
      {Edit(R"("id": 3)", R"("id": 2)"),
       {"added_tokens[0]", "id 2 is \"ab\" in model.vocab"}},
      {Edit(R"("content": "<s>",)", ""), {"added_tokens[0].content"}},
      {Edit(R"("id": 3, )", ""), {"added_tokens[0].id"}},
      {Edit(R"("special": true)", R"("special": "yes")"),
       {"added_tokens[0].special", "true or false"}},
      {Edit(R"("unk_token": null)", R"("unk_token": "<unk>")"),
       {"unk_token", "\"<unk>\" is not in the vocab"}},
      {Edit(R"("add_prefix_space": false,
                    "trim_offsets": true, "use_regex": true},)",
            R"("trim_offsets": true, "use_regex": true},)"),
       {"pre_tokenizer.add_prefix_space", "missing"}},
  };
  for (const Case& c : cases) {
    const absl::Status status = Error(c.json);
    ASSERT_FALSE(status.ok()) << c.json;
    EXPECT_THAT(std::string(status.message()), StartsWith("bad.json: "));
    for (const std::string& part : c.expected) {
      EXPECT_THAT(std::string(status.message()), HasSubstr(part));
    }
  }
  // The model key itself.
  const std::string text(kMinimal);
  const std::string no_model =
      text.substr(0, text.find(",\n  \"model\"")) + "}";
  EXPECT_THAT(std::string(Error(no_model).message()),
              AllOf(HasSubstr("model"), HasSubstr("missing")));
}

TEST(JsonQuote, EscapesAsSerdeJsonDoes) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
  EXPECT_EQ(JsonQuote("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\"");
  EXPECT_EQ(JsonQuote(std::string("\x00\x01\x1f\x7f", 4)),
            "\"\\u0000\\u0001\\u001f\x7f\"");
  EXPECT_EQ(JsonQuote("\xC4\xA0\xE6\xB3\xA8"), "\"\xC4\xA0\xE6\xB3\xA8\"");
}

TEST(ToJson, HasHuggingFaceLayout) {
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromJson(kMinimal, "x");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->ToJson(), R"json({
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [
    {
      "id": 3,
      "content": "<s>",
      "single_word": false,
      "lstrip": false,
      "rstrip": false,
      "normalized": false,
      "special": true
    }
  ],
  "normalizer": null,
  "pre_tokenizer": {
    "type": "ByteLevel",
    "add_prefix_space": false,
    "trim_offsets": true,
    "use_regex": true
  },
  "post_processor": null,
  "decoder": {
    "type": "ByteLevel",
    "add_prefix_space": true,
    "trim_offsets": true,
    "use_regex": true
  },
  "model": {
    "type": "BPE",
    "dropout": null,
    "unk_token": null,
    "continuing_subword_prefix": null,
    "end_of_word_suffix": null,
    "fuse_unk": false,
    "byte_fallback": false,
    "ignore_merges": false,
    "vocab": {
      "a": 0,
      "b": 1,
      "ab": 2,
      "<s>": 3
    },
    "merges": [
      "a b"
    ]
  }
}
)json");
}

TEST(ToJson, MergesWithSpacesAreWrittenAsPairs) {
  TokenizerSpec spec;
  spec.vocab = {"a", "b c", "ab c", "x"};
  spec.merges = {{"a", "b c"}};
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromSpec(spec);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::string json = tokenizer->ToJson();
  EXPECT_THAT(json, HasSubstr("\"merges\": [\n      [\n        \"a\",\n"
                              "        \"b c\"\n      ]\n    ]"));
  absl::StatusOr<Tokenizer> back = Tokenizer::FromJson(json, "x");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->spec().merges, spec.merges);
}

TEST(TokenizerConfig, ReadsStringsObjectsAndLimits) {
  absl::StatusOr<TokenizerConfig> config = ParseTokenizerConfigJson(
      R"({"bos_token": {"__type": "AddedToken", "content": "<s>"},
          "eos_token": "</s>", "pad_token": null,
          "chat_template": "{{ messages }}",
          "model_max_length": 1000000000000000019884624838656,
          "added_tokens_decoder": {}})",
      "cfg.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bos_token, "<s>");
  EXPECT_EQ(config->eos_token, "</s>");
  EXPECT_FALSE(config->pad_token.has_value());
  EXPECT_FALSE(config->unk_token.has_value());
  EXPECT_EQ(config->chat_template, "{{ messages }}");
  EXPECT_FALSE(config->model_max_length.has_value());  // "no limit"
  config = ParseTokenizerConfigJson(R"({"model_max_length": 32768})", "c");
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->model_max_length, 32768);

  for (const auto& [json, field] :
       std::vector<std::pair<std::string, std::string>>{
           {R"({"bos_token": 5})", "bos_token"},
           {R"({"eos_token": {"text": "x"}})", "eos_token.content"},
           {R"({"chat_template": ["a"]})", "chat_template"},
           {R"({"model_max_length": -3})", "model_max_length"},
           {R"({"bos_token": )", "not a valid JSON"}}) {
    const absl::StatusOr<TokenizerConfig> bad =
        ParseTokenizerConfigJson(json, "cfg.json");
    ASSERT_FALSE(bad.ok()) << json;
    EXPECT_THAT(std::string(bad.status().message()),
                AllOf(StartsWith("cfg.json: "), HasSubstr(field)));
  }
}

std::string TempDir(absl::string_view name) {
  const char* root = std::getenv("TEST_TMPDIR");
  return absl::StrCat(root == nullptr ? "/tmp" : root, "/", name);
}

TEST(SaveAndLoad, RoundTripWithConfig) {
  absl::StatusOr<Tokenizer> tokenizer =
      Tokenizer::Load(TokenizerTestDataPath("trained.tokenizer.json"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  TokenizerConfig config;
  config.bos_token = "<|im_start|>";
  config.eos_token = "<|im_end|>";
  config.pad_token = "<|endoftext|>";
  config.unk_token = "<|endoftext|>";
  config.chat_template =
      "{% for m in messages %}{{ m['content'] }}\n{% endfor %}";
  config.model_max_length = 32768;
  tokenizer->set_config(config);
  const std::string dir = TempDir("saved/nested/tokenizer");
  ASSERT_TRUE(tokenizer->Save(dir).ok());

  absl::StatusOr<Tokenizer> loaded = Tokenizer::Load(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->spec().vocab, tokenizer->spec().vocab);
  EXPECT_EQ(loaded->spec().merges, tokenizer->spec().merges);
  EXPECT_EQ(loaded->config().bos_token, config.bos_token);
  EXPECT_EQ(loaded->config().eos_token, config.eos_token);
  EXPECT_EQ(loaded->config().pad_token, config.pad_token);
  EXPECT_EQ(loaded->config().unk_token, config.unk_token);
  EXPECT_EQ(loaded->config().chat_template, config.chat_template);
  EXPECT_EQ(loaded->config().model_max_length, 32768);
  const std::string text = "<|im_start|>user\nHello world, 注意力!<|im_end|>";
  EXPECT_EQ(loaded->Encode(text), tokenizer->Encode(text));

  // The file alone: no config.
  absl::StatusOr<Tokenizer> file_only =
      Tokenizer::Load(absl::StrCat(dir, "/tokenizer.json"));
  ASSERT_TRUE(file_only.ok()) << file_only.status();
  EXPECT_FALSE(file_only->config().bos_token.has_value());

  absl::StatusOr<std::string> config_text =
      ReadTextFile(absl::StrCat(dir, "/tokenizer_config.json"));
  ASSERT_TRUE(config_text.ok());
  EXPECT_THAT(
      *config_text,
      AllOf(HasSubstr("\"add_bos_token\": false"),
            HasSubstr("\"add_eos_token\": false"),
            HasSubstr("\"tokenizer_class\": \"PreTrainedTokenizerFast\""),
            HasSubstr("\"bos_token\": \"<|im_start|>\""),
            HasSubstr("\"model_max_length\": 32768"),
            HasSubstr("\"clean_up_tokenization_spaces\": false"),
            HasSubstr("\"chat_template\": \"{% for m in messages %}"
                      "{{ m['content'] }}\\n{% endfor %}\"")));
}

TEST(SaveAndLoad, ErrorsNameThePath) {
  const std::string missing = TempDir("no/such/tokenizer");
  absl::StatusOr<Tokenizer> loaded = Tokenizer::Load(missing);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(missing));

  // A directory whose tokenizer.json is cut short.
  const std::string dir = TempDir("truncated");
  mkdir(dir.c_str(), 0777);
  const std::string path = dir + "/tokenizer.json";
  std::ofstream(path) << std::string(kMinimal).substr(0, 200);
  loaded = Tokenizer::Load(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), StartsWith(path + ": "));

  // A bad tokenizer_config.json beside a good tokenizer.json.
  std::ofstream(path) << kMinimal;
  std::ofstream(dir + "/tokenizer_config.json") << R"({"eos_token": 3})";
  loaded = Tokenizer::Load(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(StartsWith(dir + "/tokenizer_config.json: "),
                    HasSubstr("eos_token")));

  // Saving under a path that is a file.
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromJson(kMinimal, "x");
  ASSERT_TRUE(tokenizer.ok());
  const absl::Status saved = tokenizer->Save(path + "/sub");
  ASSERT_FALSE(saved.ok());
  EXPECT_THAT(std::string(saved.message()), HasSubstr(path));
}

}  // namespace
}  // namespace minigraph
