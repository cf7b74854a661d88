#include "framework/tokenizer/byte_level.h"

#include <array>

#include "framework/tokenizer/unicode_props.h"

namespace minigraph {
namespace {

// Bytes that are printable Latin-1 stand for themselves; the rest are
// numbered from U+0100 upwards in byte order.
constexpr bool IsSelfMapped(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
         (b >= 0xAE && b <= 0xFF);
}

constexpr std::array<char32_t, 256> MakeByteToCodePoint() {
  std::array<char32_t, 256> table{};
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    table[b] = IsSelfMapped(b) ? static_cast<char32_t>(b) : next++;
  }
  return table;
}
constexpr std::array<char32_t, 256> kByteToCodePoint = MakeByteToCodePoint();

// The 256 code points lie in U+0021..U+0143; index by code point.
constexpr char32_t kMaxMappedCodePoint = 0x143;
constexpr std::array<int16_t, kMaxMappedCodePoint + 1> MakeCodePointToByte() {
  std::array<int16_t, kMaxMappedCodePoint + 1> table{};
  for (auto& entry : table) entry = -1;
  for (int b = 0; b < 256; ++b) {
    table[kByteToCodePoint[b]] = static_cast<int16_t>(b);
  }
  return table;
}
constexpr std::array<int16_t, kMaxMappedCodePoint + 1> kCodePointToByte =
    MakeCodePointToByte();

}  // namespace

char32_t ByteToCodePoint(uint8_t b) { return kByteToCodePoint[b]; }

std::optional<uint8_t> CodePointToByte(char32_t c) {
  if (c > kMaxMappedCodePoint || kCodePointToByte[c] < 0) return std::nullopt;
  return static_cast<uint8_t>(kCodePointToByte[c]);
}

std::string BytesToByteLevel(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char byte : bytes) {
    AppendUtf8(kByteToCodePoint[static_cast<uint8_t>(byte)], &out);
  }
  return out;
}

std::optional<std::string> ByteLevelToBytes(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Char c = DecodeUtf8At(text, pos);
    const std::optional<uint8_t> byte = CodePointToByte(c.code_point);
    if (!byte.has_value()) return std::nullopt;
    out.push_back(static_cast<char>(*byte));
    pos += static_cast<size_t>(c.length);
  }
  return out;
}

}  // namespace minigraph
