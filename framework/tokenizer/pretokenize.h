// The ByteLevel pre-tokenizer's pieces: GPT-2's split pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// evaluated as a regex engine does (alternatives in order at each position,
// each quantifier greedy), with Unicode letters (L*), numbers (N*) and
// White_Space from ICU. A byte that is not valid UTF-8 counts as one
// character that is neither letter, number nor space.
#ifndef MINIGRAPH_FRAMEWORK_TOKENIZER_PRETOKENIZE_H_
#define MINIGRAPH_FRAMEWORK_TOKENIZER_PRETOKENIZE_H_

#include <vector>

#include "absl/strings/string_view.h"

namespace minigraph {

// The pieces, in order; concatenated they are `text` exactly.
std::vector<absl::string_view> SplitGpt2Pattern(absl::string_view text);
// The same, appended to `pieces` (which callers reuse across texts).
void SplitGpt2Pattern(absl::string_view text,
                      std::vector<absl::string_view>* pieces);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TOKENIZER_PRETOKENIZE_H_
