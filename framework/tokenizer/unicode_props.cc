#include "framework/tokenizer/unicode_props.h"

#include <array>

#include "unicode/uchar.h"

namespace minigraph {
namespace {

// A decoded sequence, or the length of the maximal invalid subpart at that
// position (code_point == kInvalidUtf8Byte).
struct Utf8Scan {
  char32_t code_point;
  int length;
};

// The Unicode table "Well-Formed UTF-8 Byte Sequences": the lead byte fixes
// the length and the range of the second byte; later bytes are 80..BF.
Utf8Scan ScanUtf8(const unsigned char* p, size_t available) {
  const unsigned char lead = p[0];
  if (lead < 0x80) return {lead, 1};
  int length;
  unsigned char second_low = 0x80;
  unsigned char second_high = 0xBF;
  char32_t value;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    value = lead & 0x0F;
    if (lead == 0xE0) second_low = 0xA0;   // no overlong forms
    if (lead == 0xED) second_high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    value = lead & 0x07;
    if (lead == 0xF0) second_low = 0x90;   // no overlong forms
    if (lead == 0xF4) second_high = 0x8F;  // nothing past U+10FFFF
  } else {
    return {kInvalidUtf8Byte, 1};  // 80..C1 or F5..FF never start a sequence
  }
  for (int i = 1; i < length; ++i) {
    const unsigned char low = i == 1 ? second_low : 0x80;
    const unsigned char high = i == 1 ? second_high : 0xBF;
    if (static_cast<size_t>(i) >= available || p[i] < low || p[i] > high) {
      return {kInvalidUtf8Byte, i};  // the lead and the good bytes so far
    }
    value = (value << 6) | (p[i] & 0x3F);
  }
  return {value, length};
}

// ASCII classes of the split pattern; White_Space in ASCII is \t \n \v \f \r
// and the space (not the separators 1C..1F).
constexpr std::array<SplitClass, 128> MakeAsciiClasses() {
  std::array<SplitClass, 128> classes{};
  for (int c = 0; c < 128; ++c) {
    SplitClass cls = SplitClass::kOther;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      cls = SplitClass::kLetter;
    } else if (c >= '0' && c <= '9') {
      cls = SplitClass::kNumber;
    } else if (c == ' ' || (c >= '\t' && c <= '\r')) {
      cls = SplitClass::kSpace;
    }
    classes[c] = cls;
  }
  return classes;
}
constexpr std::array<SplitClass, 128> kAsciiClasses = MakeAsciiClasses();

}  // namespace

Utf8Char DecodeUtf8At(absl::string_view text, size_t pos) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  if (*p < 0x80) return {*p, 1};
  const Utf8Scan scan = ScanUtf8(p, text.size() - pos);
  // Every byte of an invalid subpart is a character of its own: none of the
  // continuation bytes after the lead can start a sequence either.
  if (scan.code_point == kInvalidUtf8Byte) return {kInvalidUtf8Byte, 1};
  return {scan.code_point, scan.length};
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

SplitClass ClassifyForSplit(char32_t c) {
  if (c < 0x80) return kAsciiClasses[c];
  if (c == kInvalidUtf8Byte) return SplitClass::kOther;
  const UChar32 u = static_cast<UChar32>(c);
  // White_Space first: no space character is a letter or a number.
  if (u_isUWhiteSpace(u)) return SplitClass::kSpace;
  const uint32_t mask = U_GET_GC_MASK(u);
  if (mask & U_GC_L_MASK) return SplitClass::kLetter;
  if (mask & U_GC_N_MASK) return SplitClass::kNumber;
  return SplitClass::kOther;
}

bool IsUnicodeWhiteSpace(char32_t c) {
  if (c < 0x80) return kAsciiClasses[c] == SplitClass::kSpace;
  if (c == kInvalidUtf8Byte) return false;
  return u_isUWhiteSpace(static_cast<UChar32>(c));
}

bool IsUnicodeWordChar(char32_t c) {
  if (c < 0x80) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
  }
  if (c == kInvalidUtf8Byte) return false;
  if (c == 0x200C || c == 0x200D) return true;  // Join_Control
  const UChar32 u = static_cast<UChar32>(c);
  if (u_isUAlphabetic(u)) return true;
  const uint32_t mask = U_GET_GC_MASK(u);
  return (mask & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

std::string Utf8Lossy(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (p[pos] < 0x80) {
      out.push_back(static_cast<char>(p[pos++]));
      continue;
    }
    const Utf8Scan scan = ScanUtf8(p + pos, bytes.size() - pos);
    if (scan.code_point == kInvalidUtf8Byte) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
    } else {
      out.append(bytes.data() + pos, static_cast<size_t>(scan.length));
    }
    pos += static_cast<size_t>(scan.length);
  }
  return out;
}

bool IsValidUtf8(absl::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (p[pos] < 0x80) {
      ++pos;
      continue;
    }
    const Utf8Scan scan = ScanUtf8(p + pos, bytes.size() - pos);
    if (scan.code_point == kInvalidUtf8Byte) return false;
    pos += static_cast<size_t>(scan.length);
  }
  return true;
}

}  // namespace minigraph
