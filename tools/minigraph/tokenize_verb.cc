// The `tokenize` verb: JSON Lines of text to JSON Lines of ids with a
// tokenizer.json, and back with --decode.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "framework/graph_io.h"
#include "framework/tokenizer/tokenizer.h"
#include "framework/tokenizer/tokenizer_json.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/tokenizer_jsonl.h"
#include "tools/minigraph/verb.h"

ABSL_FLAG(bool, decode, false,
          "tokenize: read {\"ids\": [...]} lines and write {\"text\": ...} "
          "lines");
ABSL_FLAG(bool, skip_special_tokens, false,
          "tokenize --decode: leave special tokens out of the text");

namespace minigraph::cli {
namespace {

constexpr char kTokenizeUsage[] =
    "minigraph tokenize --tokenizer FILE_OR_DIR --input IN.jsonl\n"
    "    [--output OUT.jsonl] [--decode] [--skip-special-tokens]\n"
    "\n"
    "Encodes each line {\"text\": ...} of IN into a line {\"ids\": [...]} of\n"
    "OUT, in order, as HF tokenizers encodes (special tokens in the text are\n"
    "matched; no bos/eos is added). With --decode, each line {\"ids\": [...]}\n"
    "becomes {\"text\": ...} (with --skip-special-tokens, special tokens are\n"
    "left out). Strings are written as UTF-8 with \\\", \\\\ and control\n"
    "characters escaped. OUT is written whole through a temporary file\n"
    "(default: standard output); a bad line (not JSON, no such field, an id\n"
    "outside the vocabulary, a blank line) writes nothing and exits 2.\n"
    "Throughput goes to standard error.\n";

// The input is read whole; the limit guards against a wrong path, not
// against big corpora.
constexpr int64_t kMaxInputBytes = int64_t{16} << 30;

int BadInput(const std::string& message) {
  std::fprintf(stderr, "minigraph tokenize: %s\n", message.c_str());
  return kExitBadInput;
}

int RunTokenizeVerb(const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return BadInput(absl::StrCat("unexpected argument '", positional.back(),
                                 "' (every input is a flag)"));
  }
  const std::string tokenizer_path = absl::GetFlag(FLAGS_tokenizer);
  const std::string input = absl::GetFlag(FLAGS_input);
  const std::string output = absl::GetFlag(FLAGS_output);
  const bool decode = absl::GetFlag(FLAGS_decode);
  const bool skip_special = absl::GetFlag(FLAGS_skip_special_tokens);
  if (tokenizer_path.empty()) {
    return BadInput("--tokenizer FILE_OR_DIR is required");
  }
  if (input.empty()) return BadInput("--input IN.jsonl is required");
  if (skip_special && !decode) {
    return BadInput("--skip-special-tokens applies to --decode only");
  }
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::Load(tokenizer_path);
  if (!tokenizer.ok()) {
    return BadInput(std::string(tokenizer.status().message()));
  }
  absl::StatusOr<std::string> contents =
      ReadFileToString(input, kMaxInputBytes);
  if (!contents.ok()) return BadInput(std::string(contents.status().message()));

  const absl::Time start = absl::Now();
  const int64_t vocab_size = tokenizer->vocab_size();
  std::string out;
  out.reserve(contents->size() * (decode ? 1 : 2));
  int64_t lines = 0;
  int64_t text_bytes = 0;
  int64_t ids_total = 0;
  const auto where = [&](int64_t line_number) {
    return absl::StrCat(input, ": line ", line_number, ": ");
  };
  const auto blank = [&](int64_t line_number) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(line_number), "blank line (expected ",
                     decode ? "{\"ids\": [...]}" : "{\"text\": \"...\"}", ")"));
  };
  const auto encode_line = [&](int64_t line_number, absl::string_view line) {
    absl::StatusOr<std::string> text = JsonlStringField(line, "text");
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(line_number), text.status().message()));
    }
    const std::vector<int64_t> ids = tokenizer->Encode(*text);
    absl::StrAppend(&out, "{\"ids\": [", absl::StrJoin(ids, ", "), "]}\n");
    ++lines;
    text_bytes += static_cast<int64_t>(text->size());
    ids_total += static_cast<int64_t>(ids.size());
    return absl::OkStatus();
  };
  const auto decode_line = [&](int64_t line_number, absl::string_view line) {
    absl::StatusOr<std::vector<int64_t>> ids = JsonlIdsField(line, "ids");
    if (!ids.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(line_number), ids.status().message()));
    }
    for (size_t i = 0; i < ids->size(); ++i) {
      if ((*ids)[i] < 0 || (*ids)[i] >= vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(line_number), "\"ids\"[", i, "] = ", (*ids)[i],
                         " is outside the vocabulary [0, ", vocab_size, ")"));
      }
    }
    absl::StatusOr<std::string> text = tokenizer->Decode(*ids, skip_special);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(line_number), text.status().message()));
    }
    absl::StrAppend(&out, "{\"text\": ", JsonQuote(*text), "}\n");
    ++lines;
    text_bytes += static_cast<int64_t>(text->size());
    ids_total += static_cast<int64_t>(ids->size());
    return absl::OkStatus();
  };
  absl::Status status = decode
                            ? ForEachJsonlLine(*contents, decode_line, blank)
                            : ForEachJsonlLine(*contents, encode_line, blank);
  if (!status.ok()) return BadInput(std::string(status.message()));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  status = WriteOutput(output, out);
  if (!status.ok()) return BadInput(std::string(status.message()));
  const double megabytes = static_cast<double>(text_bytes) / 1e6;
  std::fprintf(stderr,
               "tokenize: %s %ld lines, %.2f MB of text %s %ld ids in %.3f s "
               "(%.1f MB/s)\n",
               decode ? "decoded" : "encoded", static_cast<long>(lines),
               megabytes, decode ? "from" : "into",
               static_cast<long>(ids_total), seconds,
               seconds > 0 ? megabytes / seconds : 0.0);
  return kExitOk;
}

}  // namespace

MG_REGISTER_VERB(tokenize) {
  Verb verb;
  verb.name = "tokenize";
  verb.summary =
      "encode {\"text\"} JSON lines into {\"ids\"} with a tokenizer.json, or "
      "decode them back";
  verb.usage = kTokenizeUsage;
  verb.run = RunTokenizeVerb;
  return verb;
}

}  // namespace minigraph::cli
