// `minigraph tokenizer train` and `minigraph tokenize` end to end: the real
// binary trains a tokenizer equal to the library's trainer on the same
// texts, encodes JSON lines into the ids Tokenizer::Encode gives, decodes
// them back into the same lines, and refuses bad input with exit code 2,
// a message naming the file, line and field, and no output.
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "framework/tokenizer/bpe_trainer.h"
#include "framework/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/cli_test_util.h"

namespace minigraph {
namespace {

using ::minigraph::testing::ReadFile;
using ::minigraph::testing::RunMinigraph;
using ::minigraph::testing::RunResult;
using ::minigraph::testing::TempPath;
using ::minigraph::testing::WriteFile;
using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

// The training texts, and the same texts as JSON lines written by hand in
// the output's style (UTF-8 as is; \" \\ \n \t and \u00xx escaped).
const std::vector<std::string>& Texts() {
  static const auto* texts = new std::vector<std::string>{
      "Hello world! The quick brown fox jumps over the lazy dog.",
      "<|im_start|>user\nWhat's the time?<|im_end|>\n",
      "He said \"hi\" \\ and left.\n\tIndented line",
      "中文文本，还有更多的中文。 日本語も少し。",
      "numbers 12345 and 3.14, emoji \U0001F600\U0001F44D\u200D!",
      "bell\x07 and escape\x1B characters",
      "the the the hello hello world world world",
  };
  return *texts;
}

const std::vector<std::string>& TextLines() {
  static const auto* lines = new std::vector<std::string>{
      R"({"text": "Hello world! The quick brown fox jumps over the lazy dog."})",
      R"({"text": "<|im_start|>user\nWhat's the time?<|im_end|>\n"})",
      R"({"text": "He said \"hi\" \\ and left.\n\tIndented line"})",
      R"({"text": "中文文本，还有更多的中文。 日本語も少し。"})",
      "{\"text\": \"numbers 12345 and 3.14, emoji "
      "\U0001F600\U0001F44D\u200D!\"}",
      R"({"text": "bell\u0007 and escape\u001b characters"})",
      R"({"text": "the the the hello hello world world world"})",
  };
  return *lines;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) absl::StrAppend(&out, line, "\n");
  return out;
}

// {"ids": [1, 2, 3]} -> the ids.
std::vector<int64_t> IdsOfLine(absl::string_view line) {
  std::vector<int64_t> ids;
  EXPECT_TRUE(absl::ConsumePrefix(&line, "{\"ids\": [")) << line;
  EXPECT_TRUE(absl::ConsumeSuffix(&line, "]}")) << line;
  if (line.empty()) return ids;
  for (absl::string_view part : absl::StrSplit(line, ", ")) {
    int64_t id = -1;
    EXPECT_TRUE(absl::SimpleAtoi(part, &id)) << part;
    ids.push_back(id);
  }
  return ids;
}

class TokenizerCliTest : public ::testing::Test {
 protected:
  // Trains on the texts as JSON lines into a fresh directory.
  static void SetUpTestSuite() {
    WriteFile(TempPath("train.jsonl"), Joined(TextLines()));
    const RunResult result =
        RunMinigraph({"tokenizer", "train", "--data", TempPath("train.jsonl"),
                      "--vocab-size", "330", "--out", TempPath("trained")});
    ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  }
};

TEST_F(TokenizerCliTest, TrainWritesWhatTheLibraryTrains) {
  BpeTrainerOptions options;
  options.vocab_size = 330;
  BpeTrainer trainer(options);
  for (const std::string& text : Texts()) trainer.Feed(text);
  absl::StatusOr<Tokenizer> expected = trainer.TrainTokenizer();
  ASSERT_TRUE(expected.ok()) << expected.status();
  absl::StatusOr<Tokenizer> trained = Tokenizer::Load(TempPath("trained"));
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(ReadFile(TempPath("trained/tokenizer.json")), expected->ToJson());
  EXPECT_EQ(trained->vocab_size(), 330);
  EXPECT_EQ(trained->spec().vocab[0], "<|endoftext|>");
  EXPECT_EQ(trained->config().bos_token, "<|im_start|>");
  EXPECT_EQ(trained->config().eos_token, "<|im_end|>");
  EXPECT_EQ(trained->config().pad_token, "<|endoftext|>");
  EXPECT_EQ(trained->config().unk_token, "<|endoftext|>");
}

TEST_F(TokenizerCliTest, TxtIsOneText) {
  std::string corpus;
  for (const std::string& text : Texts()) absl::StrAppend(&corpus, text, "\n");
  WriteFile(TempPath("train.txt"), corpus);
  const RunResult result =
      RunMinigraph({"tokenizer", "train", "--data", TempPath("train.txt"),
                    "--vocab-size", "300", "--special", "<s>,</s>",
                    "--min-frequency", "2", "--out", TempPath("from_txt")});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  BpeTrainerOptions options;
  options.vocab_size = 300;
  options.special_tokens = {"<s>", "</s>"};
  options.min_frequency = 2;
  BpeTrainer trainer(options);
  trainer.Feed(corpus);
  absl::StatusOr<TokenizerSpec> spec = trainer.Train();
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<Tokenizer> trained = Tokenizer::Load(TempPath("from_txt"));
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_EQ(trained->spec().merges, spec->merges);
  EXPECT_EQ(trained->spec().vocab[1], "</s>");
  EXPECT_FALSE(trained->config().bos_token.has_value());
}

TEST_F(TokenizerCliTest, EncodeThenDecodeRoundTrips) {
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::Load(TempPath("trained"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::string in = TempPath("texts.jsonl");
  const std::string ids = TempPath("ids.jsonl");
  const std::string back = TempPath("back.jsonl");
  WriteFile(in, Joined(TextLines()));
  RunResult result =
      RunMinigraph({"tokenize", "--tokenizer", TempPath("trained"), "--input",
                    in, "--output", ids});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stderr_text, HasSubstr("MB/s"));
  const std::vector<std::string> id_lines =
      absl::StrSplit(absl::StripSuffix(ReadFile(ids), "\n"), '\n');
  ASSERT_EQ(id_lines.size(), Texts().size());
  for (size_t i = 0; i < Texts().size(); ++i) {
    EXPECT_EQ(IdsOfLine(id_lines[i]), tokenizer->Encode(Texts()[i]))
        << "line " << i + 1;
  }
  EXPECT_EQ(IdsOfLine(id_lines[1])[0], 1);  // <|im_start|>

  // A tokenizer.json file works as well as its directory.
  result = RunMinigraph({"tokenize", "--tokenizer",
                         TempPath("trained/tokenizer.json"), "--input", ids,
                         "--output", back, "--decode"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(ReadFile(back), Joined(TextLines()));
}

TEST_F(TokenizerCliTest, DecodeCanSkipSpecialTokens) {
  const std::string in = TempPath("special_ids.jsonl");
  const std::string out = TempPath("special_text.jsonl");
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::Load(TempPath("trained"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::string line = "{\"ids\": [1";
  for (int64_t id : tokenizer->Encode("user")) absl::StrAppend(&line, ", ", id);
  absl::StrAppend(&line, ", 2, 0]}\n");
  WriteFile(in, line);
  RunResult result =
      RunMinigraph({"tokenize", "--tokenizer", TempPath("trained"), "--input",
                    in, "--output", out, "--decode", "--skip-special-tokens"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(ReadFile(out), "{\"text\": \"user\"}\n");
  result = RunMinigraph({"tokenize", "--tokenizer", TempPath("trained"),
                         "--input", in, "--output", out, "--decode"});
  ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_EQ(ReadFile(out),
            "{\"text\": \"<|im_start|>user<|im_end|><|endoftext|>\"}\n");
}

// Each bad input exits 2, names the file, the line and the field, and
// leaves the existing output file as it was.
TEST_F(TokenizerCliTest, BadLinesWriteNothing) {
  struct Case {
    std::string lines;
    bool decode;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{\"text\": \"ok\"}\n{\"text\": \"unclosed}\n", false,
       "line 2: \"text\": the string is not closed"},
      {"{\"text\": \"ok\"}\n{\"txt\": \"a\"}\n", false,
       "line 2: no \"text\" field"},
      {"{\"text\": 5}\n", false, "line 1: \"text\" is not a string"},
      {"{\"text\": \"a\"}\n\n{\"text\": \"b\"}\n", false, "line 2: blank line"},
      {"{\"text\": \"a\\ud800b\"}\n", false,
       "line 1: \"text\": a lone high surrogate \\ud800"},
      {"{\"text\": \"\\udc00\"}\n", false, "line 1: \"text\": a lone low"},
      {"{\"text\": \"a\"} x\n", false, "line 1: unexpected text after"},
      {"[1, 2]\n", false, "line 1: expected a JSON object"},
      {"{\"text\": \"\xff\"}\n", false, "line 1: \"text\": invalid UTF-8"},
      {"{\"ids\": [1, 2]}\n{\"ids\": [3, 99999]}\n", true,
       "line 2: \"ids\"[1] = 99999 is outside the vocabulary [0, 330)"},
      {"{\"ids\": [-1]}\n", true, "line 1: \"ids\"[0] = -1 is outside"},
      {"{\"ids\": [1, 2.5]}\n", true,
       "line 1: \"ids\"[1] is 2.5, not an integer id"},
      {"{\"ids\": [1, \"2\"]}\n", true, "line 1: \"ids\"[1] is not a number"},
      {"{\"ids\": 3}\n", true, "line 1: \"ids\" is not an array"},
      {"{\"ids\": [99999999999999999999]}\n", true,
       "line 1: \"ids\"[0] is 99999999999999999999, not an integer id"},
      {"{\"text\": \"a\"}\n", true, "line 1: no \"ids\" field"},
  };
  const std::string in = TempPath("bad.jsonl");
  const std::string out = TempPath("bad_out.jsonl");
  for (const Case& c : cases) {
    WriteFile(in, c.lines);
    WriteFile(out, "previous\n");
    std::vector<std::string> args = {"tokenize",
                                     "--tokenizer",
                                     TempPath("trained"),
                                     "--input",
                                     in,
                                     "--output",
                                     out};
    if (c.decode) args.push_back("--decode");
    const RunResult result = RunMinigraph(args);
    EXPECT_EQ(result.exit_code, 2) << c.lines;
    EXPECT_THAT(result.stderr_text, HasSubstr(absl::StrCat(in, ": ")))
        << c.lines;
    EXPECT_THAT(result.stderr_text, HasSubstr(c.message)) << c.lines;
    EXPECT_EQ(ReadFile(out), "previous\n") << c.lines;
  }
}

TEST_F(TokenizerCliTest, BadArgumentsExit2) {
  const std::string in = TempPath("ok.jsonl");
  WriteFile(in, "{\"text\": \"a\"}\n");
  const std::string out = TempPath("never.jsonl");
  RunResult result =
      RunMinigraph({"tokenize", "--tokenizer", TempPath("missing"), "--input",
                    in, "--output", out});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr(TempPath("missing")));
  result =
      RunMinigraph({"tokenize", "--tokenizer", TempPath("trained"), "--input",
                    TempPath("missing.jsonl"), "--output", out});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("missing.jsonl"));
  result = RunMinigraph({"tokenize", "--input", in, "--output", out});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("--tokenizer"));
  EXPECT_FALSE(Exists(out));

  result = RunMinigraph({"tokenizer", "retrain"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("unknown subcommand 'retrain'"));
  EXPECT_THAT(result.stderr_text,
              HasSubstr("minigraph tokenizer train --data FILE"));
  result = RunMinigraph({"tokenizer"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("which subcommand? (train)"));
}

TEST_F(TokenizerCliTest, BadTrainingInputWritesNoDirectory) {
  const std::string dir = TempPath("not_trained");
  const std::string data = TempPath("bad_train.jsonl");
  struct Case {
    std::vector<std::string> args;
    std::string data;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{},
       "{\"text\": \"a\"}\n{\"text\": [1]}\n",
       "bad_train.jsonl: line 2: \"text\" is not a string"},
      {{"--vocab-size", "100"},
       "{\"text\": \"abc\"}\n",
       "vocab_size 100 is smaller"},
      {{"--special", "<a>,<b>,<a>"},
       "{\"text\": \"abc\"}\n",
       "'<a>' is given twice"},
      {{}, "\n\n", "no training text"},
      {{"--min-frequency", "-1"}, "{\"text\": \"abc\"}\n", "--min-frequency"},
  };
  for (const Case& c : cases) {
    WriteFile(data, c.data);
    std::vector<std::string> args = {"tokenizer", "train", "--data",
                                     data,        "--out", dir};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const RunResult result = RunMinigraph(args);
    EXPECT_EQ(result.exit_code, 2) << c.message;
    EXPECT_THAT(result.stderr_text, HasSubstr(c.message));
    EXPECT_FALSE(Exists(dir)) << c.message;
  }
  WriteFile(TempPath("corpus.csv"), "abc");
  const RunResult result = RunMinigraph(
      {"tokenizer", "train", "--data", TempPath("corpus.csv"), "--out", dir});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text, HasSubstr("expected a .txt or .jsonl"));
  EXPECT_FALSE(Exists(dir));
}

}  // namespace
}  // namespace minigraph
