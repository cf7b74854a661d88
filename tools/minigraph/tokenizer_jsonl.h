// The JSON Lines the tokenizer verbs read: each line one object, from which
// one field is taken ("text": a string, or "ids": an array of integers).
// A small strict parser of its own, so that every error says which field and
// what was expected, and so that a lone surrogate escape (\ud800, valid JSON
// but no text) is refused rather than turned into invalid UTF-8.
#ifndef MINIGRAPH_TOOLS_MINIGRAPH_TOKENIZER_JSONL_H_
#define MINIGRAPH_TOOLS_MINIGRAPH_TOKENIZER_JSONL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace minigraph::cli {

// The string field `key` of the object on `line` (UTF-8). Errors name the
// field and the column; the caller adds the file and line.
absl::StatusOr<std::string> JsonlStringField(absl::string_view line,
                                             absl::string_view key);

// The integer array field `key` of the object on `line`.
absl::StatusOr<std::vector<int64_t>> JsonlIdsField(absl::string_view line,
                                                   absl::string_view key);

// Calls visit(line_number, line) for each line of `contents` (1-based; a
// final '\n' ends the last line, a '\r' before '\n' is dropped). A line that
// is empty or only white space is given to `blank` instead; either may stop
// the walk with an error, which is returned.
absl::Status ForEachJsonlLine(
    absl::string_view contents,
    const std::function<absl::Status(int64_t, absl::string_view)>& visit,
    const std::function<absl::Status(int64_t)>& blank);

// Writes `contents` to `path` through a temporary file beside it, renamed
// into place once complete; "" or "-" writes standard output.
absl::Status WriteOutput(const std::string& path, absl::string_view contents);

}  // namespace minigraph::cli

#endif  // MINIGRAPH_TOOLS_MINIGRAPH_TOKENIZER_JSONL_H_
