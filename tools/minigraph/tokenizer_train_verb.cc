// The `tokenizer` verb: `minigraph tokenizer train` learns a byte-level BPE
// tokenizer from text as MiniMind's train_tokenizer.py does with HF
// tokenizers, and writes tokenizer.json and tokenizer_config.json.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "framework/graph_io.h"
#include "framework/tokenizer/bpe_trainer.h"
#include "framework/tokenizer/tokenizer.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/tokenizer_jsonl.h"
#include "tools/minigraph/verb.h"

// Defined by the train verb (train_verb.cc); both read a text corpus.

ABSL_FLAG(int64_t, vocab_size, 6400,
          "tokenizer train: tokens in the vocabulary (special tokens, the 256 "
          "bytes, then merges)");
ABSL_FLAG(std::vector<std::string>, special,
          std::vector<std::string>({"<|endoftext|>", "<|im_start|>",
                                    "<|im_end|>"}),
          "tokenizer train: special tokens, comma-separated, given ids 0.. in "
          "this order");
ABSL_FLAG(int64_t, min_frequency, 0,
          "tokenizer train: pairs seen fewer times are never merged");
ABSL_FLAG(bool, add_prefix_space, false,
          "tokenizer train: the ByteLevel pre-tokenizer puts a space before "
          "text that does not start with one");

namespace minigraph::cli {
namespace {

constexpr char kTokenizerUsage[] =
    "minigraph tokenizer train --data FILE --out DIR [--vocab-size N]\n"
    "    [--special TOK,TOK,...] [--min-frequency N] [--add-prefix-space]\n"
    "\n"
    "Learns a byte-level BPE tokenizer as HF tokenizers' BpeTrainer does for\n"
    "MiniMind (ByteLevel pre-tokenizer, the 256 byte tokens as the initial\n"
    "alphabet): special tokens get ids 0.., the bytes follow, then one token\n"
    "per merge of the most frequent pair until --vocab-size. Special tokens\n"
    "in the text are cut out, not counted. FILE is .jsonl (one {\"text\":\n"
    "...} per line, blank lines skipped) or .txt (the whole file as one\n"
    "text). DIR gets tokenizer.json and tokenizer_config.json (bos\n"
    "<|im_start|>, eos <|im_end|>, pad and unk <|endoftext|> when those are\n"
    "special tokens); --out is short for --output.\n"
    "Defaults: --vocab-size 6400, --special\n"
    "<|endoftext|>,<|im_start|>,<|im_end|> (MiniMind's).\n";

constexpr int64_t kMaxDataBytes = int64_t{16} << 30;

int BadInput(const std::string& message) {
  std::fprintf(stderr, "minigraph tokenizer: %s\n", message.c_str());
  return kExitBadInput;
}

// Feeds FILE's texts to the trainer.
absl::Status FeedFile(const std::string& path, BpeTrainer* trainer) {
  const bool jsonl = absl::EndsWith(path, ".jsonl");
  if (!jsonl && !absl::EndsWith(path, ".txt")) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a .txt or .jsonl file ({\"text\": ...} per line)"));
  }
  absl::StatusOr<std::string> contents = ReadFileToString(path, kMaxDataBytes);
  if (!contents.ok()) return contents.status();
  if (!jsonl) {
    trainer->Feed(*contents);
    return absl::OkStatus();
  }
  return ForEachJsonlLine(
      *contents,
      [&](int64_t line_number, absl::string_view line) -> absl::Status {
        absl::StatusOr<std::string> text = JsonlStringField(line, "text");
        if (!text.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": line ", line_number, ": ", text.status().message()));
        }
        trainer->Feed(*text);
        return absl::OkStatus();
      },
      [](int64_t) { return absl::OkStatus(); });
}

// Saves into a fresh directory beside `dir` and renames it to `dir`, so a
// failure leaves no half-written tokenizer; an existing directory gets each
// file replaced atomically.
absl::Status SaveTokenizer(const Tokenizer& tokenizer, const std::string& dir) {
  struct stat info;
  if (stat(dir.c_str(), &info) == 0) {
    if (!S_ISDIR(info.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": exists and is not a directory"));
    }
    return tokenizer.Save(dir);
  }
  std::string base = dir;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  const std::string temp = absl::StrCat(base, ".tmp.", getpid());
  absl::Status status = tokenizer.Save(temp);
  if (status.ok() && std::rename(temp.c_str(), base.c_str()) != 0) {
    status = absl::PermissionDeniedError(
        absl::StrCat(dir, ": cannot rename ", temp, " into place (",
                     std::strerror(errno), ")"));
  }
  if (!status.ok()) {
    for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
      std::remove(absl::StrCat(temp, "/", name).c_str());
    }
    rmdir(temp.c_str());
  }
  return status;
}

int RunTokenizerTrain(const std::vector<std::string>& args) {
  if (args.size() > 1) {
    return BadInput(absl::StrCat("unexpected argument '", args[1],
                                 "' (every input is a flag)"));
  }
  const std::string data = absl::GetFlag(FLAGS_data);
  const std::string out = absl::GetFlag(FLAGS_output);
  if (data.empty()) return BadInput("--data FILE is required (.txt or .jsonl)");
  if (out.empty()) return BadInput("--out DIR is required");
  BpeTrainerOptions options;
  options.vocab_size = absl::GetFlag(FLAGS_vocab_size);
  options.special_tokens = absl::GetFlag(FLAGS_special);
  options.min_frequency = absl::GetFlag(FLAGS_min_frequency);
  options.add_prefix_space = absl::GetFlag(FLAGS_add_prefix_space);
  if (options.min_frequency < 0) {
    return BadInput(absl::StrCat("--min-frequency must be >= 0, got ",
                                 options.min_frequency));
  }
  const bool live = isatty(STDERR_FILENO) != 0;
  if (live) {
    options.progress = [](int64_t done, int64_t wanted) {
      std::fprintf(stderr, "\rmerges %ld / %ld", static_cast<long>(done),
                   static_cast<long>(wanted));
    };
  }
  BpeTrainer trainer(options);
  const absl::Time start = absl::Now();
  if (absl::Status status = FeedFile(data, &trainer); !status.ok()) {
    return BadInput(std::string(status.message()));
  }
  BpeTrainStats stats;
  absl::StatusOr<Tokenizer> tokenizer = trainer.TrainTokenizer(&stats);
  if (live) std::fprintf(stderr, "\n");
  if (!tokenizer.ok()) {
    return BadInput(absl::StrCat(data, ": ", tokenizer.status().message()));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (absl::Status status = SaveTokenizer(*tokenizer, out); !status.ok()) {
    return BadInput(std::string(status.message()));
  }
  const double megabytes = static_cast<double>(stats.bytes) / 1e6;
  const auto rate = [&](double s) { return s > 0 ? megabytes / s : 0.0; };
  std::printf(
      "read %.2f MB: %ld words (%ld distinct); %ld merges, vocabulary %ld\n"
      "counting %.2f s (%.1f MB/s), merging %.2f s (%.1f MB/s), total %.2f s "
      "(%.1f MB/s)\n"
      "wrote %s/tokenizer.json and tokenizer_config.json\n",
      megabytes, static_cast<long>(stats.words),
      static_cast<long>(stats.unique_words), static_cast<long>(stats.merges),
      static_cast<long>(stats.vocab_size), stats.count_seconds,
      rate(stats.count_seconds), stats.merge_seconds, rate(stats.merge_seconds),
      seconds, rate(seconds), out.c_str());
  return kExitOk;
}

int RunTokenizerVerb(const std::vector<std::string>& positional) {
  if (positional.empty() || positional[0] != "train") {
    std::fprintf(stderr, "minigraph tokenizer: %s\n\n%s",
                 positional.empty()
                     ? "which subcommand? (train)"
                     : absl::StrCat("unknown subcommand '", positional[0],
                                    "' (expected train)")
                           .c_str(),
                 kTokenizerUsage);
    return kExitBadInput;
  }
  return RunTokenizerTrain(positional);
}

}  // namespace

MG_REGISTER_VERB(tokenizer) {
  Verb verb;
  verb.name = "tokenizer";
  verb.summary =
      "tokenizer train: learn a byte-level BPE tokenizer.json from text, as "
      "HF tokenizers does for MiniMind";
  verb.usage = kTokenizerUsage;
  verb.run = RunTokenizerVerb;
  return verb;
}

}  // namespace minigraph::cli
