// `minigraph generate` end to end: the real binary on small checkpoints
// written here. Its ids are checked against the library's Generate on the
// same checkpoint, its streamed text against the tokenizer's Decode of the
// ids it printed; bad input exits 2 with a message and no output.
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "framework/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/generate.h"
#include "models/minimind_lm.h"
#include "tests/tools/cli_test_util.h"

namespace minigraph {
namespace {

using ::minigraph::testing::ReadFile;
using ::minigraph::testing::RunMinigraph;
using ::minigraph::testing::RunResult;
using ::minigraph::testing::TempPath;
using ::minigraph::testing::WriteFile;
using ::testing::HasSubstr;

struct Captured {
  int exit_code;
  std::string out;
  std::string err;
};

// Runs `minigraph generate ARGS...`, keeping stdout and stderr.
Captured RunGenerate(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"generate"};
  all.insert(all.end(), args.begin(), args.end());
  const RunResult result = RunMinigraph(all);
  return {result.exit_code, result.stdout_text, result.stderr_text};
}

// GPT-2's byte-to-character table: printable Latin-1 bytes stand for
// themselves, the other 68 take U+0100 onwards in byte order.
std::string ByteLevelChar(int byte) {
  const bool printable = (byte >= '!' && byte <= '~') ||
                         (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
  int code_point = byte;
  if (!printable) {
    int n = 0;
    for (int b = 0; b < byte; ++b) {
      const bool p =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      if (!p) ++n;
    }
    code_point = 256 + n;
  }
  std::string utf8;
  if (code_point < 0x80) {
    utf8.push_back(static_cast<char>(code_point));
  } else {
    utf8.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    utf8.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
  return utf8;
}

// MiniMind's three specials (eos <|im_end|> is id 2), the 256 bytes, and a
// few merges: 262 ids.
Tokenizer SmallTokenizer() {
  TokenizerSpec spec;
  spec.vocab = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  for (int b = 0; b < 256; ++b) spec.vocab.push_back(ByteLevelChar(b));
  const std::string space = ByteLevelChar(' ');
  spec.merges = {{"h", "e"}, {"l", "l"}, {space, "w"}};
  for (const auto& [a, b] : spec.merges) spec.vocab.push_back(a + b);
  for (int64_t id = 0; id < 3; ++id) {
    AddedToken token;
    token.id = id;
    token.content = spec.vocab[id];
    token.special = true;
    spec.added_tokens.push_back(token);
  }
  return ValueOrDie(Tokenizer::FromSpec(std::move(spec)));
}

MiniMindConfig TinyConfig(int64_t vocab) {
  MiniMindConfig config;
  config.hidden_size = 16;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 1;
  config.num_hidden_layers = 2;
  config.intermediate_size = 32;
  config.vocab_size = vocab;
  config.max_position_embeddings = 64;
  // Untied: a tied random model greedily repeats its last token.
  config.tie_word_embeddings = false;
  return config;
}

// A float64 checkpoint in TEST_TMPDIR/name, with the tokenizer when given.
std::string WriteCheckpoint(const std::string& name, int64_t vocab,
                            const Tokenizer* tokenizer = nullptr) {
  Generator generator(17);
  const MiniMindForCausalLM model = ValueOrDie(MiniMindForCausalLM::Create(
      TinyConfig(vocab), generator, DType::kFloat64));
  const std::string dir = TempPath(name);
  EXPECT_TRUE(model.SaveDir(dir).ok());
  if (tokenizer != nullptr) {
    EXPECT_TRUE(tokenizer->Save(dir).ok());
  }
  return dir;
}

// The library's greedy ids on the checkpoint in `dir`.
std::vector<int64_t> LibraryGreedy(const std::string& dir,
                                   const std::vector<int64_t>& prompt,
                                   int64_t max_new_tokens,
                                   std::optional<int64_t> eos) {
  const MiniMindForCausalLM model =
      ValueOrDie(MiniMindForCausalLM::LoadDir(dir, DType::kFloat64));
  GenerateOptions options;
  options.max_new_tokens = max_new_tokens;
  options.sampling.do_sample = false;
  options.eos_token_id = eos;
  return ValueOrDie(Generate(model, {prompt}, options)).ids[0];
}

std::string Joined(const std::vector<int64_t>& ids) {
  return absl::StrCat(absl::StrJoin(ids, ","), "\n");
}

// stdout of a run with a tokenizer and --print-ids: the text, a newline,
// the ids line.
struct TextAndIds {
  std::string text;
  std::vector<int64_t> ids;
};

TextAndIds SplitOutput(const std::string& out) {
  TextAndIds parsed;
  EXPECT_GE(out.size(), 2u);
  EXPECT_EQ(out.back(), '\n');
  const std::string body = out.substr(0, out.size() - 1);
  const size_t last = body.rfind('\n');
  EXPECT_NE(last, std::string::npos) << out;
  if (last == std::string::npos) return parsed;
  parsed.text = body.substr(0, last);
  for (absl::string_view id :
       absl::StrSplit(body.substr(last + 1), ',', absl::SkipEmpty())) {
    int64_t value = 0;
    EXPECT_TRUE(absl::SimpleAtoi(id, &value)) << id;
    parsed.ids.push_back(value);
  }
  return parsed;
}

TEST(GenerateCliTest, GreedyPromptIdsEqualTheLibrary) {
  const std::string dir = WriteCheckpoint("gen_ids", 40);
  const std::vector<int64_t> prompt = {5, 9, 1, 33};
  const std::vector<int64_t> expected = LibraryGreedy(dir, prompt, 12, 2);
  ASSERT_FALSE(expected.empty());
  for (bool print_ids : {true, false}) {
    std::vector<std::string> args = {
        "--model",          dir,  "--prompt-ids", "5, 9,1,33", "--greedy",
        "--max-new-tokens", "12", "--dtype",      "f64"};
    if (print_ids) args.push_back("--print-ids");
    const Captured run = RunGenerate(args);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    // No tokenizer: the ids line is all there is.
    EXPECT_EQ(run.out, Joined(expected));
    EXPECT_THAT(run.err,
                HasSubstr(absl::StrCat("prompt tokens 4, generated tokens ",
                                       expected.size(), ", prefill ")));
    EXPECT_THAT(run.err, HasSubstr("tok/s"));
  }
}

TEST(GenerateCliTest, TheSameSeedGivesTheSameOutput) {
  const std::string dir = WriteCheckpoint("gen_seed", 40);
  auto sample = [&](const std::string& seed) {
    const Captured run =
        RunGenerate({"--model", dir, "--prompt-ids", "3,4,5", "--seed", seed,
                     "--max-new-tokens", "16", "--temperature", "1.5"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return run.out;
  };
  const std::string first = sample("7");
  EXPECT_GT(first.size(), 6u);
  EXPECT_EQ(sample("7"), first);
  EXPECT_NE(sample("8"), first);
}

// The text streamed token by token (bytes held until a character is whole,
// ill-formed bytes as U+FFFD) is Decode of the ids the run printed, which
// are the library's for the encoded prompt.
TEST(GenerateCliTest, StreamedTextIsTheDecodedIds) {
  const Tokenizer tokenizer = SmallTokenizer();
  ASSERT_EQ(tokenizer.vocab_size(), 262);
  const std::string dir = WriteCheckpoint("gen_text", 262, &tokenizer);
  const std::vector<int64_t> prompt = tokenizer.Encode("hello world");
  const Captured greedy =
      RunGenerate({"--model", dir, "--prompt", "hello world", "--greedy",
                   "--max-new-tokens", "40", "--print-ids", "--dtype", "f64"});
  ASSERT_EQ(greedy.exit_code, 0) << greedy.err;
  const TextAndIds parsed = SplitOutput(greedy.out);
  EXPECT_EQ(parsed.ids, LibraryGreedy(dir, prompt, 40, 2));
  ASSERT_FALSE(parsed.ids.empty());
  EXPECT_EQ(parsed.text, ValueOrDie(tokenizer.Decode(parsed.ids)));

  // Sampled runs hit more byte patterns (split and ill-formed characters).
  for (const char* seed : {"1", "2", "3"}) {
    const Captured run = RunGenerate(
        {"--model", dir, "--prompt", "hello", "--seed", seed, "--temperature",
         "2", "--top-k", "0", "--top-p", "1", "--print-ids"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const TextAndIds sampled = SplitOutput(run.out);
    EXPECT_EQ(sampled.text, ValueOrDie(tokenizer.Decode(sampled.ids)))
        << "seed " << seed;
  }
  // Without --print-ids: the text and its newline only.
  const Captured text_only =
      RunGenerate({"--model", dir, "--prompt", "hello world", "--greedy",
                   "--max-new-tokens", "40", "--dtype", "f64"});
  ASSERT_EQ(text_only.exit_code, 0) << text_only.err;
  EXPECT_EQ(text_only.out, parsed.text + "\n");
}

// A model that greedily repeats its last token: blocks that add nothing
// (o_proj and down_proj zero) and a tied embedding whose rows share one
// norm, so logits = E e_x / rms peak at x (Cauchy-Schwarz).
std::string WriteEchoCheckpoint(const std::string& name,
                                const Tokenizer& tokenizer) {
  MiniMindConfig config = TinyConfig(tokenizer.vocab_size());
  config.tie_word_embeddings = true;
  Generator generator(3);
  const MiniMindForCausalLM model = ValueOrDie(
      MiniMindForCausalLM::Create(config, generator, DType::kFloat64));
  for (const auto& [param, tensor] : model.NamedParameters()) {
    double* data = tensor.data<double>();
    if (param.find("o_proj") != std::string::npos ||
        param.find("down_proj") != std::string::npos) {
      std::fill(data, data + tensor.numel(), 0.0);
    }
    if (param == "model.embed_tokens.weight") {
      const int64_t width = tensor.size(1);
      for (int64_t row = 0; row < tensor.size(0); ++row) {
        double norm = 0.0;
        for (int64_t i = 0; i < width; ++i) {
          norm += data[row * width + i] * data[row * width + i];
        }
        for (int64_t i = 0; i < width; ++i) {
          data[row * width + i] /= std::sqrt(norm);
        }
      }
    }
  }
  const std::string dir = TempPath(name);
  EXPECT_TRUE(model.SaveDir(dir).ok());
  EXPECT_TRUE(tokenizer.Save(dir).ok());
  return dir;
}

// One token of bytes AC E2 82, repeated: the stream must hold E2 82 until
// the next token's AC completes the euro sign, and end with the dangling
// E2 82 as one U+FFFD.
TEST(GenerateCliTest, CharactersSplitAcrossTokensArePrintedWhole) {
  TokenizerSpec spec = SmallTokenizer().spec();
  spec.vocab.push_back(ByteLevelChar(0xAC) + ByteLevelChar(0xE2) +
                       ByteLevelChar(0x82));
  const Tokenizer tokenizer = ValueOrDie(Tokenizer::FromSpec(std::move(spec)));
  const int64_t split = tokenizer.vocab_size() - 1;
  const std::string dir = WriteEchoCheckpoint("gen_split", tokenizer);
  const Captured run = RunGenerate(
      {"--model", dir, "--prompt-ids", absl::StrCat(split), "--greedy",
       "--max-new-tokens", "5", "--print-ids", "--dtype", "f64"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const TextAndIds parsed = SplitOutput(run.out);
  EXPECT_EQ(parsed.ids, std::vector<int64_t>(5, split));
  const std::string replacement = "\xEF\xBF\xBD", euro = "\xE2\x82\xAC";
  EXPECT_EQ(parsed.text,
            absl::StrCat(replacement, euro, euro, euro, euro, replacement));
  EXPECT_EQ(parsed.text, ValueOrDie(tokenizer.Decode(parsed.ids)));
}

TEST(GenerateCliTest, ChatWrapsThePromptInMiniMindsTemplate) {
  const Tokenizer tokenizer = SmallTokenizer();
  const std::string dir = WriteCheckpoint("gen_chat", 262, &tokenizer);
  const std::vector<int64_t> prompt = tokenizer.Encode(
      "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  ASSERT_EQ(prompt[0], 1);  // the template's specials are single ids
  const Captured run =
      RunGenerate({"--model", dir, "--prompt", "hi", "--chat", "--greedy",
                   "--max-new-tokens", "20", "--print-ids", "--dtype", "f64"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(SplitOutput(run.out).ids, LibraryGreedy(dir, prompt, 20, 2));
  EXPECT_THAT(run.err,
              HasSubstr(absl::StrCat("prompt tokens ", prompt.size(), ",")));
}

// Without eos_token_id in config.json, the tokenizer's eos_token ends the
// text: its id is taken where the free greedy run first produces it.
TEST(GenerateCliTest, EosFallsBackToTheTokenizersEosToken) {
  Tokenizer tokenizer = SmallTokenizer();
  const std::string dir = WriteCheckpoint("gen_eos", 262, &tokenizer);
  const std::vector<int64_t> prompt = tokenizer.Encode("hello");
  const std::vector<int64_t> free_run =
      LibraryGreedy(dir, prompt, 30, std::nullopt);
  size_t at = 1;
  while (at < free_run.size() &&
         std::find(free_run.begin(), free_run.begin() + at, free_run[at]) !=
             free_run.begin() + at) {
    ++at;
  }
  ASSERT_LT(at, free_run.size()) << "the free run repeats one token";
  TokenizerConfig config;
  config.eos_token = tokenizer.spec().vocab[free_run[at]];
  tokenizer.set_config(config);
  ASSERT_TRUE(tokenizer.Save(dir).ok());
  const std::string config_path = dir + "/config.json";
  const std::string json = ReadFile(config_path);
  ASSERT_THAT(json, HasSubstr("\"eos_token_id\": 2,\n"));
  WriteFile(config_path,
            absl::StrReplaceAll(json, {{"  \"eos_token_id\": 2,\n", ""}}));

  const Captured run =
      RunGenerate({"--model", dir, "--prompt", "hello", "--greedy",
                   "--max-new-tokens", "30", "--print-ids", "--dtype", "f64"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(SplitOutput(run.out).ids,
            std::vector<int64_t>(free_run.begin(), free_run.begin() + at));
}

TEST(GenerateCliTest, BadInputExitsTwoWithoutOutput) {
  const std::string dir = WriteCheckpoint("gen_bad", 40);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--model", TempPath("no_such_dir"), "--prompt-ids", "1"},
       "no_such_dir: no such directory"},
      {{"--model", dir, "--prompt-ids", "1,x"},
       "--prompt-ids: entry 1 'x' is not an integer"},
      {{"--model", dir, "--prompt-ids", "1,40"},
       "entry 1 is id 40, outside the model's vocabulary [0, 40)"},
      {{"--model", dir, "--prompt-ids",
        absl::StrJoin(std::vector<int>(65, 3), ",")},
       "prompt 0 has 65 tokens, more than max_position_embeddings 64"},
      {{"--model", dir, "--prompt", "hello"},
       absl::StrCat(dir, "/tokenizer.json does not exist")},
      {{"--model", dir, "--prompt-ids", "1", "--greedy", "--temperature",
        "0.5"},
       "--greedy takes the most likely token; --temperature is for sampling"},
      {{"--model", dir, "--prompt-ids", "1", "--top-p", "0"},
       "top_p must be in (0, 1]"},
      {{"--model", dir, "--prompt-ids", "1", "--max-new-tokens", "-1"},
       "--max-new-tokens must be >= 0"},
      {{"--model", dir}, "a prompt is required"},
      {{"--model", dir, "--chat"}, "a prompt is required"},
      {{"--model", dir, "--prompt-ids", "1", "--prompt", "a"}, "not both"},
      {{"--model", dir, "--prompt-ids", "1", "--dtype", "i64"},
       "--dtype must be f32 or f64"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    const Captured run = RunGenerate(c.args);
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_THAT(run.err, HasSubstr(c.message));
    EXPECT_EQ(run.out, "");
  }
}

}  // namespace
}  // namespace minigraph
