// The Unicode facts the tokenizer needs, for text that may hold invalid
// UTF-8: decoding one character at a time (a byte that does not start a
// valid sequence is one character of its own), the character classes of the
// GPT-2 split pattern, the \s and \w of added-token matching, and the lossy
// UTF-8 repair of decoding. Properties beyond ASCII come from ICU.
#ifndef MINIGRAPH_FRAMEWORK_TOKENIZER_UNICODE_PROPS_H_
#define MINIGRAPH_FRAMEWORK_TOKENIZER_UNICODE_PROPS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace minigraph {

// Stands for a byte that is not part of a valid UTF-8 sequence; it is no
// code point, so no Unicode property holds for it.
inline constexpr char32_t kInvalidUtf8Byte = 0xFFFFFFFF;

// Decodes the character at `text[pos]` (pos < text.size()): its code point
// (kInvalidUtf8Byte when that byte starts no valid sequence: a stray
// continuation byte, C0/C1/F5..FF, an overlong form, a surrogate, a value
// over U+10FFFF or a truncated sequence) and its length in bytes (1 for an
// invalid byte).
struct Utf8Char {
  char32_t code_point;
  int length;
};
Utf8Char DecodeUtf8At(absl::string_view text, size_t pos);

// Appends the UTF-8 of a code point (which must be a scalar value).
void AppendUtf8(char32_t code_point, std::string* out);

// The classes of the GPT-2 split pattern: \p{L}, \p{N}, \s (White_Space) and
// everything else (including invalid bytes).
enum class SplitClass : uint8_t { kLetter, kNumber, kSpace, kOther };
SplitClass ClassifyForSplit(char32_t code_point);

// The White_Space property (what \s matches in HF's regexes and what Rust's
// char::is_whitespace tests).
bool IsUnicodeWhiteSpace(char32_t code_point);
// A word character in the sense of the Unicode \w of HF's single_word test:
// Alphabetic, a mark (M), a decimal digit (Nd), a connector punctuation (Pc)
// or Join_Control.
bool IsUnicodeWordChar(char32_t code_point);

// `bytes` with each maximal invalid subpart replaced by U+FFFD, as Rust's
// String::from_utf8_lossy and the Unicode "substitution of maximal subparts"
// practice do: a lead byte followed by some but not all of the continuation
// bytes its sequence needs becomes one U+FFFD; any other invalid byte
// becomes one U+FFFD each.
std::string Utf8Lossy(absl::string_view bytes);

// Whether `bytes` is valid UTF-8.
bool IsValidUtf8(absl::string_view bytes);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TOKENIZER_UNICODE_PROPS_H_
