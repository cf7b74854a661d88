// Runs the C++ tokenizer for the checks of tools/parity/tokenizer_ref.py
// and measures its speed:
//   tokenizer_driver run TOKENIZER.json IN.jsonl OUT.jsonl
//       per input: {"piece_lengths", "ids", "decoded", "decoded_skip_special"}
//   tokenizer_driver classes OUT.txt
//       per code point U+0000..U+10FFFF: split class (L N S O), then w or -
//       for the \w of single_word
//   tokenizer_driver bench TOKENIZER TEXT.txt [REPEATS]
//       encode speed on one core, MB/s (and ids per byte)
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/tokenizer/pretokenize.h"
#include "framework/tokenizer/tokenizer.h"
#include "framework/tokenizer/tokenizer_json.h"
#include "framework/tokenizer/unicode_props.h"
#include "tests/framework/tokenizer/golden_util.h"

namespace minigraph {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << status << "\n";
  return 1;
}

int Run(const std::string& tokenizer_path, const std::string& in,
        const std::string& out) {
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::Load(tokenizer_path);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  absl::StatusOr<std::vector<GoldenRow>> rows = ReadGoldenRows(in);
  if (!rows.ok()) return Fail(rows.status());
  std::ofstream file(out, std::ios::binary);
  for (const GoldenRow& row : *rows) {
    std::vector<int64_t> lengths;
    for (absl::string_view piece : SplitGpt2Pattern(row.input)) {
      lengths.push_back(static_cast<int64_t>(piece.size()));
    }
    const std::vector<int64_t> ids = tokenizer->Encode(row.input);
    absl::StatusOr<std::string> decoded = tokenizer->Decode(ids);
    absl::StatusOr<std::string> skipped = tokenizer->Decode(ids, true);
    if (!decoded.ok()) return Fail(decoded.status());
    if (!skipped.ok()) return Fail(skipped.status());
    file << "{\"piece_lengths\": [" << absl::StrJoin(lengths, ", ")
         << "], \"ids\": [" << absl::StrJoin(ids, ", ")
         << "], \"decoded\": " << JsonQuote(*decoded)
         << ", \"decoded_skip_special\": " << JsonQuote(*skipped) << "}\n";
  }
  return file.good() ? 0 : 1;
}

int Classes(const std::string& out) {
  std::string text;
  text.reserve(0x110000 * 3);
  for (char32_t c = 0; c < 0x110000; ++c) {
    const char* classes = "LNSO";
    text.push_back(classes[static_cast<int>(ClassifyForSplit(c))]);
    text.push_back(IsUnicodeWordChar(c) ? 'w' : '-');
    text.push_back('\n');
  }
  std::ofstream file(out, std::ios::binary);
  file << text;
  return file.good() ? 0 : 1;
}

int Bench(const std::string& tokenizer_path, const std::string& text_path,
          int repeats) {
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::Load(tokenizer_path);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  absl::StatusOr<std::string> text = ReadTextFile(text_path);
  if (!text.ok()) return Fail(text.status());
  // Line by line, as a data loader encodes documents.
  std::vector<absl::string_view> lines;
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    end = end == std::string::npos ? text->size() : end + 1;
    lines.push_back(absl::string_view(*text).substr(start, end - start));
    start = end;
  }
  for (int run = 0; run < repeats; ++run) {
    size_t total_ids = 0;
    const auto begin = std::chrono::steady_clock::now();
    for (absl::string_view line : lines) {
      total_ids += tokenizer->Encode(line).size();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
            .count();
    std::printf(
        "run %d: %.2f MB in %.3f s = %.1f MB/s, %zu ids (%.2f bytes "
        "per id)\n",
        run, text->size() / 1e6, seconds, text->size() / 1e6 / seconds,
        total_ids, static_cast<double>(text->size()) / total_ids);
  }
  return 0;
}

}  // namespace
}  // namespace minigraph

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 4 && args[0] == "run") {
    return minigraph::Run(args[1], args[2], args[3]);
  }
  if (args.size() == 2 && args[0] == "classes") {
    return minigraph::Classes(args[1]);
  }
  if ((args.size() == 3 || args.size() == 4) && args[0] == "bench") {
    return minigraph::Bench(args[1], args[2],
                            args.size() == 4 ? std::stoi(args[3]) : 3);
  }
  std::cerr << "usage: tokenizer_driver run TOKENIZER IN.jsonl OUT.jsonl\n"
               "       tokenizer_driver classes OUT.txt\n"
               "       tokenizer_driver bench TOKENIZER TEXT [REPEATS]\n";
  return 2;
}
