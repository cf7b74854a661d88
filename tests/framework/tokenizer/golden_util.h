// Reading the golden files of tests/framework/tokenizer/testdata, which
// tools/parity/tokenizer_ref.py writes: one JSON object per line, the input
// as "text" (valid UTF-8) or "bytes_b64" (anything else).
#ifndef MINIGRAPH_TESTS_FRAMEWORK_TOKENIZER_GOLDEN_UTIL_H_
#define MINIGRAPH_TESTS_FRAMEWORK_TOKENIZER_GOLDEN_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace minigraph {

struct GoldenRow {
  std::string input;  // raw bytes
  std::vector<int64_t> ids;
  std::vector<int64_t> piece_lengths;
  std::string decoded;
  std::string decoded_skip_special;
};

// Path of a file under testdata/ in the test's runfiles.
std::string TokenizerTestDataPath(absl::string_view name);

absl::StatusOr<std::string> ReadTextFile(const std::string& path);

// The rows of a .jsonl file; absent fields stay empty.
absl::StatusOr<std::vector<GoldenRow>> ReadGoldenRows(const std::string& path);

}  // namespace minigraph

#endif  // MINIGRAPH_TESTS_FRAMEWORK_TOKENIZER_GOLDEN_UTIL_H_
