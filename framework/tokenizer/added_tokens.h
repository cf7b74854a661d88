// Finds added tokens in raw text the way HF tokenizers' AddedVocabulary
// does, before pre-tokenization: first the tokens with normalized == false
// over the whole text, then those with normalized == true over each stretch
// left between the first ones (no normalizer is supported, so matching is
// on the raw text both times). Each pass takes the leftmost-longest matches
// (Aho-Corasick order: leftmost start, longest token there, then on after
// its end), drops a single_word match next to a word character, and widens
// lstrip/rstrip matches over adjacent white space.
#ifndef MINIGRAPH_FRAMEWORK_TOKENIZER_ADDED_TOKENS_H_
#define MINIGRAPH_FRAMEWORK_TOKENIZER_ADDED_TOKENS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "framework/tokenizer/tokenizer.h"

namespace minigraph {

// A stretch of the input: an added token's match, or text between matches.
struct TextSegment {
  size_t begin;
  size_t end;
  int64_t token_id;  // -1: text to pre-tokenize
};

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  // Replaces `segments` with the non-empty segments of `text`, in order.
  void Split(absl::string_view text, std::vector<TextSegment>* segments) const;

  bool empty() const { return tokens_.empty(); }

 private:
  // One pass's tokens, by first byte, longest first.
  struct TokenSet {
    std::array<std::vector<int32_t>, 256> by_first_byte;
    bool empty = true;
  };
  // HF's find_matches over `text[begin, end)`: appends its segments (offsets
  // in `text`); the match rules see only that stretch.
  void FindMatches(absl::string_view text, size_t begin, size_t end,
                   const TokenSet& set,
                   std::vector<TextSegment>* segments) const;

  std::vector<AddedToken> tokens_;
  TokenSet not_normalized_;
  TokenSet normalized_;
};

// Pieces of HF's added-token rules on a stretch of text, exposed for tests:
// whether it ends (starts) with a \w character, where its trailing white
// space begins, and how long its leading white space is.
bool EndsWithWordChar(absl::string_view text);
bool StartsWithWordChar(absl::string_view text);
size_t TrailingWhiteSpaceStart(absl::string_view text);
size_t LeadingWhiteSpaceLength(absl::string_view text);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TOKENIZER_ADDED_TOKENS_H_
