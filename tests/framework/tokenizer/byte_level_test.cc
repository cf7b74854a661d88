#include "framework/tokenizer/byte_level.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace minigraph {
namespace {

TEST(ByteLevel, PrintableBytesMapToThemselves) {
  for (int b = '!'; b <= '~'; ++b) EXPECT_EQ(ByteToCodePoint(b), char32_t(b));
  for (int b = 0xA1; b <= 0xAC; ++b) EXPECT_EQ(ByteToCodePoint(b), char32_t(b));
  for (int b = 0xAE; b <= 0xFF; ++b) EXPECT_EQ(ByteToCodePoint(b), char32_t(b));
}

TEST(ByteLevel, OtherBytesCountUpFromU0100) {
  // 0x00..0x20 are the first 33 unmapped bytes, 0x7F the 34th, 0x80..0xA0
  // the next 33 and 0xAD the last (68 in all).
  EXPECT_EQ(ByteToCodePoint(0x00), 0x100u);
  EXPECT_EQ(ByteToCodePoint('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(ByteToCodePoint(' '), 0x120u);   // Ġ
  EXPECT_EQ(ByteToCodePoint(0x7F), 0x121u);
  EXPECT_EQ(ByteToCodePoint(0x80), 0x122u);
  EXPECT_EQ(ByteToCodePoint(0xA0), 0x142u);
  EXPECT_EQ(ByteToCodePoint(0xAD), 0x143u);
}

TEST(ByteLevel, TableIsABijection) {
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    const char32_t c = ByteToCodePoint(static_cast<uint8_t>(b));
    EXPECT_TRUE(seen.insert(c).second) << b;
    ASSERT_TRUE(CodePointToByte(c).has_value());
    EXPECT_EQ(*CodePointToByte(c), b);
  }
  EXPECT_FALSE(CodePointToByte(U' ').has_value());
  EXPECT_FALSE(CodePointToByte(0x144).has_value());
  EXPECT_FALSE(
      CodePointToByte(0xAD).has_value());  // soft hyphen is mapped away
}

TEST(ByteLevel, StringsRoundTrip) {
  EXPECT_EQ(BytesToByteLevel("Hi there\n"), "Hi\xC4\xA0there\xC4\x8A");
  // é (C3 A9) becomes Ã (U+00C3) and © (U+00A9).
  EXPECT_EQ(BytesToByteLevel("\xC3\xA9"), "\xC3\x83\xC2\xA9");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::optional<std::string> back =
      ByteLevelToBytes(BytesToByteLevel(all));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, all);
  EXPECT_FALSE(ByteLevelToBytes("a b").has_value());           // space unmapped
  EXPECT_FALSE(ByteLevelToBytes("\xE2\x82\xAC").has_value());  // €
  EXPECT_FALSE(ByteLevelToBytes("\xC4").has_value());          // invalid UTF-8
}

}  // namespace
}  // namespace minigraph
