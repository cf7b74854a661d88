#include "framework/tokenizer/unicode_props.h"

#include <string>

#include "gtest/gtest.h"

namespace minigraph {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

TEST(DecodeUtf8At, ValidSequencesOfEveryLength) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // aé€😀
  Utf8Char c = DecodeUtf8At(text, 0);
  EXPECT_EQ(c.code_point, U'a');
  EXPECT_EQ(c.length, 1);
  c = DecodeUtf8At(text, 1);
  EXPECT_EQ(c.code_point, 0xE9u);
  EXPECT_EQ(c.length, 2);
  c = DecodeUtf8At(text, 3);
  EXPECT_EQ(c.code_point, 0x20ACu);
  EXPECT_EQ(c.length, 3);
  c = DecodeUtf8At(text, 6);
  EXPECT_EQ(c.code_point, 0x1F600u);
  EXPECT_EQ(c.length, 4);
}

TEST(DecodeUtf8At, EachInvalidByteIsOneCharacter) {
  // Stray continuation, C0/C1, F5..FF, overlong E0 80, surrogate ED A0,
  // past U+10FFFF (F4 90), truncated at the end.
  for (const std::string text :
       {"\x80", "\xBF", "\xC0\xAF", "\xC1\x81", "\xF5\x80\x80\x80", "\xFF",
        "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82",
        "\xF0\x9F\x98"}) {
    const Utf8Char c = DecodeUtf8At(text, 0);
    EXPECT_EQ(c.code_point, kInvalidUtf8Byte) << text;
    EXPECT_EQ(c.length, 1) << text;
  }
  // The largest and the smallest values of each length are valid.
  EXPECT_EQ(DecodeUtf8At("\xF4\x8F\xBF\xBF", 0).code_point, 0x10FFFFu);
  EXPECT_EQ(DecodeUtf8At("\xE0\xA0\x80", 0).code_point, 0x800u);
  EXPECT_EQ(DecodeUtf8At("\xED\x9F\xBF", 0).code_point, 0xD7FFu);
  EXPECT_EQ(DecodeUtf8At("\xC2\x80", 0).code_point, 0x80u);
}

TEST(Utf8Lossy, ReplacesMaximalSubpartsLikeFromUtf8Lossy) {
  EXPECT_EQ(Utf8Lossy("plain ascii"), "plain ascii");
  EXPECT_EQ(Utf8Lossy("caf\xC3\xA9"), "caf\xC3\xA9");
  // A truncated 3-byte sequence is one subpart: one U+FFFD.
  EXPECT_EQ(Utf8Lossy("\xE2\x82"
                      "A"),
            std::string(kReplacement) + "A");
  // Rust's documented example: F0 90 80 is one subpart.
  EXPECT_EQ(Utf8Lossy("Hello \xF0\x90\x80World"),
            std::string("Hello ") + kReplacement + "World");
  // F0 80: 80 cannot follow F0, so F0 alone is a subpart, then 80, 80.
  EXPECT_EQ(Utf8Lossy("\xF0\x80\x80"),
            std::string(kReplacement) + kReplacement + kReplacement);
  // Surrogates and values past U+10FFFF: every byte on its own.
  EXPECT_EQ(Utf8Lossy("\xED\xA0\x80"),
            std::string(kReplacement) + kReplacement + kReplacement);
  EXPECT_EQ(
      Utf8Lossy("\xF4\x90\x80\x80"),
      std::string(kReplacement) + kReplacement + kReplacement + kReplacement);
  EXPECT_EQ(Utf8Lossy("\xC0\xAF"), std::string(kReplacement) + kReplacement);
  // F1 80 80 then a valid 4-byte sequence.
  EXPECT_EQ(Utf8Lossy("\xF1\x80\x80\xF1\x80\x80\x80"),
            std::string(kReplacement) + "\xF1\x80\x80\x80");
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("caf\xC3"));
}

TEST(ClassifyForSplit, LettersNumbersWhiteSpaceAndTheRest) {
  EXPECT_EQ(ClassifyForSplit(U'a'), SplitClass::kLetter);
  EXPECT_EQ(ClassifyForSplit(0xAA), SplitClass::kLetter);     // ª (Lo)
  EXPECT_EQ(ClassifyForSplit(0x6CE8), SplitClass::kLetter);   // 注
  EXPECT_EQ(ClassifyForSplit(0x31350), SplitClass::kLetter);  // Unicode 15
  EXPECT_EQ(ClassifyForSplit(U'7'), SplitClass::kNumber);
  EXPECT_EQ(ClassifyForSplit(0x663), SplitClass::kNumber);   // ٣ (Nd)
  EXPECT_EQ(ClassifyForSplit(0x216B), SplitClass::kNumber);  // Ⅻ (Nl)
  EXPECT_EQ(ClassifyForSplit(0xBD), SplitClass::kNumber);    // ½ (No)
  for (const char32_t space :
       {U' ', U'\t', U'\n', U'\v', U'\f', U'\r', char32_t{0x85}, char32_t{0xA0},
        char32_t{0x1680}, char32_t{0x2000}, char32_t{0x200A}, char32_t{0x2028},
        char32_t{0x2029}, char32_t{0x202F}, char32_t{0x205F},
        char32_t{0x3000}}) {
    EXPECT_EQ(ClassifyForSplit(space), SplitClass::kSpace) << space;
    EXPECT_TRUE(IsUnicodeWhiteSpace(space)) << space;
  }
  // Not White_Space: the ASCII separators, Mongolian vowel separator, zero
  // width space and BOM.
  for (const char32_t other :
       {char32_t{0x1C}, char32_t{0x1F}, char32_t{0x180E}, char32_t{0x200B},
        char32_t{0xFEFF}, char32_t{0x301}, char32_t{0xE000}, char32_t{0x378},
        U'\'', U'_', kInvalidUtf8Byte}) {
    EXPECT_EQ(ClassifyForSplit(other), SplitClass::kOther) << other;
    EXPECT_FALSE(IsUnicodeWhiteSpace(other)) << other;
  }
}

TEST(IsUnicodeWordChar, AlphabeticMarksDigitsConnectorsJoiners) {
  EXPECT_TRUE(IsUnicodeWordChar(U'a'));
  EXPECT_TRUE(IsUnicodeWordChar(U'_'));
  EXPECT_TRUE(IsUnicodeWordChar(U'5'));
  EXPECT_TRUE(IsUnicodeWordChar(0x301));   // combining acute (Mn)
  EXPECT_TRUE(IsUnicodeWordChar(0x216B));  // Ⅻ: Nl is Alphabetic
  EXPECT_TRUE(IsUnicodeWordChar(0x200D));  // ZWJ (Join_Control)
  EXPECT_TRUE(IsUnicodeWordChar(0x203F));  // ‿ (Pc)
  EXPECT_TRUE(IsUnicodeWordChar(0x663));   // ٣
  EXPECT_FALSE(IsUnicodeWordChar(0xBD));   // ½: No is not \w
  EXPECT_FALSE(IsUnicodeWordChar(U' '));
  EXPECT_FALSE(IsUnicodeWordChar(U'-'));
  EXPECT_FALSE(IsUnicodeWordChar(0x1F600));  // 😀
  EXPECT_FALSE(IsUnicodeWordChar(kInvalidUtf8Byte));
}

}  // namespace
}  // namespace minigraph
