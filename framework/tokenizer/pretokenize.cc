#include "framework/tokenizer/pretokenize.h"

#include "framework/tokenizer/unicode_props.h"

namespace minigraph {
namespace {

struct ClassedChar {
  SplitClass cls;
  size_t length;
};

inline ClassedChar ReadChar(absl::string_view text, size_t pos) {
  const auto byte = static_cast<unsigned char>(text[pos]);
  if (byte < 0x80) return {ClassifyForSplit(byte), 1};
  const Utf8Char c = DecodeUtf8At(text, pos);
  return {ClassifyForSplit(c.code_point), static_cast<size_t>(c.length)};
}

// End of the run of `cls` characters starting at `pos`.
size_t RunEnd(absl::string_view text, size_t pos, SplitClass cls) {
  while (pos < text.size()) {
    const ClassedChar c = ReadChar(text, pos);
    if (c.cls != cls) break;
    pos += c.length;
  }
  return pos;
}

// Length of 's 't 're 've 'm 'll 'd at `pos` (which holds the apostrophe),
// 0 when none matches. Case-sensitive: the pattern has no (?i).
size_t ContractionLength(absl::string_view text, size_t pos) {
  if (pos + 1 >= text.size()) return 0;
  const char next = text[pos + 1];
  if (next == 's' || next == 't' || next == 'm' || next == 'd') return 2;
  if (pos + 2 >= text.size()) return 0;
  const char after = text[pos + 2];
  if ((next == 'r' && after == 'e') || (next == 'v' && after == 'e') ||
      (next == 'l' && after == 'l')) {
    return 3;
  }
  return 0;
}

}  // namespace

void SplitGpt2Pattern(absl::string_view text,
                      std::vector<absl::string_view>* pieces) {
  const size_t n = text.size();
  size_t pos = 0;
  while (pos < n) {
    const size_t start = pos;
    if (text[pos] == '\'') {
      const size_t length = ContractionLength(text, pos);
      if (length > 0) {
        pieces->push_back(text.substr(start, length));
        pos += length;
        continue;
      }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional space (only
    // U+0020) and a run of one class.
    if (text[pos] == ' ' && pos + 1 < n) {
      const ClassedChar next = ReadChar(text, pos + 1);
      if (next.cls != SplitClass::kSpace) {
        pos = RunEnd(text, pos + 1 + next.length, next.cls);
        pieces->push_back(text.substr(start, pos - start));
        continue;
      }
    }
    const ClassedChar first = ReadChar(text, pos);
    if (first.cls != SplitClass::kSpace) {
      pos = RunEnd(text, pos + first.length, first.cls);
      pieces->push_back(text.substr(start, pos - start));
      continue;
    }
    // `\s+(?!\S)`: the whole run of white space when it ends the text;
    // otherwise the greedy run backtracks one character, so that the last
    // one can start the next piece (" word"), unless the run is a single
    // character, which `\s+` then takes alone.
    size_t last_start = pos;
    pos += first.length;
    while (pos < n) {
      const ClassedChar c = ReadChar(text, pos);
      if (c.cls != SplitClass::kSpace) break;
      last_start = pos;
      pos += c.length;
    }
    if (pos < n && last_start > start) pos = last_start;
    pieces->push_back(text.substr(start, pos - start));
  }
}

std::vector<absl::string_view> SplitGpt2Pattern(absl::string_view text) {
  std::vector<absl::string_view> pieces;
  SplitGpt2Pattern(text, &pieces);
  return pieces;
}

}  // namespace minigraph
