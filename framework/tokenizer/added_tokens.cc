#include "framework/tokenizer/added_tokens.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "framework/tokenizer/unicode_props.h"

namespace minigraph {
namespace {

// The last character of `text[0, end)`. The end of a stretch is always a
// character boundary of the forward decoding, and the bytes before it that
// form one valid sequence ending there are that character (a lead byte is
// never inside an earlier character); otherwise the last byte is an
// invalid character of its own.
Utf8Char LastChar(absl::string_view text, size_t end) {
  if (static_cast<unsigned char>(text[end - 1]) < 0x80) {
    return {static_cast<unsigned char>(text[end - 1]), 1};
  }
  for (size_t length = 2; length <= 4 && length <= end; ++length) {
    const Utf8Char c = DecodeUtf8At(text.substr(0, end), end - length);
    if (c.code_point != kInvalidUtf8Byte &&
        static_cast<size_t>(c.length) == length) {
      return c;
    }
  }
  return DecodeUtf8At(text.substr(0, end), end - 1);
}

}  // namespace

bool EndsWithWordChar(absl::string_view text) {
  return !text.empty() &&
         IsUnicodeWordChar(LastChar(text, text.size()).code_point);
}

bool StartsWithWordChar(absl::string_view text) {
  return !text.empty() && IsUnicodeWordChar(DecodeUtf8At(text, 0).code_point);
}

size_t TrailingWhiteSpaceStart(absl::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    const Utf8Char c = LastChar(text, end);
    if (!IsUnicodeWhiteSpace(c.code_point)) break;
    end -= static_cast<size_t>(c.length);
  }
  return end;
}

size_t LeadingWhiteSpaceLength(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Char c = DecodeUtf8At(text, pos);
    if (!IsUnicodeWhiteSpace(c.code_point)) break;
    pos += static_cast<size_t>(c.length);
  }
  return pos;
}

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens)
    : tokens_(tokens) {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content.empty()) continue;  // never matches, as in HF
    TokenSet& set = tokens_[i].normalized ? normalized_ : not_normalized_;
    set.by_first_byte[static_cast<uint8_t>(tokens_[i].content[0])].push_back(
        static_cast<int32_t>(i));
    set.empty = false;
  }
  for (TokenSet* set : {&not_normalized_, &normalized_}) {
    for (std::vector<int32_t>& list : set->by_first_byte) {
      std::stable_sort(list.begin(), list.end(), [this](int32_t a, int32_t b) {
        return tokens_[a].content.size() > tokens_[b].content.size();
      });
    }
  }
}

void AddedTokenMatcher::FindMatches(absl::string_view text, size_t begin,
                                    size_t end, const TokenSet& set,
                                    std::vector<TextSegment>* segments) const {
  const absl::string_view sentence = text.substr(begin, end - begin);
  const size_t n = sentence.size();
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < n) {
    // The leftmost-longest match at or after `pos`.
    const std::vector<int32_t>& candidates =
        set.by_first_byte[static_cast<uint8_t>(sentence[pos])];
    int32_t found = -1;
    for (const int32_t index : candidates) {
      if (absl::StartsWith(sentence.substr(pos), tokens_[index].content)) {
        found = index;
        break;
      }
    }
    if (found < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[found];
    size_t start = pos;
    size_t stop = pos + token.content.size();
    // The search resumes after this match even when the rules drop it.
    pos = stop;
    if (token.single_word) {
      const bool start_space =
          start == 0 || !EndsWithWordChar(sentence.substr(0, start));
      const bool stop_space =
          stop == n || !StartsWithWordChar(sentence.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    if (token.lstrip) {
      // White space already taken by the previous match stays there.
      start = std::max(TrailingWhiteSpaceStart(sentence.substr(0, start)),
                       start_offset);
    }
    if (token.rstrip) stop += LeadingWhiteSpaceLength(sentence.substr(stop));
    if (start_offset < start) {
      segments->push_back({begin + start_offset, begin + start, -1});
    }
    segments->push_back({begin + start, begin + stop, token.id});
    start_offset = stop;
  }
  if (start_offset < n) segments->push_back({begin + start_offset, end, -1});
}

void AddedTokenMatcher::Split(absl::string_view text,
                              std::vector<TextSegment>* segments) const {
  segments->clear();
  if (text.empty()) return;
  if (not_normalized_.empty) {
    segments->push_back({0, text.size(), -1});
  } else {
    FindMatches(text, 0, text.size(), not_normalized_, segments);
  }
  if (normalized_.empty) return;
  std::vector<TextSegment> first_pass;
  first_pass.swap(*segments);
  for (const TextSegment& segment : first_pass) {
    if (segment.token_id >= 0) {
      segments->push_back(segment);
    } else {
      FindMatches(text, segment.begin, segment.end, normalized_, segments);
    }
  }
}

}  // namespace minigraph
