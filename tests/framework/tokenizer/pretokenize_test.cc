// The GPT-2 split on cases whose pieces are derived by reading the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// and, for the golden file, against the regex module running it.
#include "framework/tokenizer/pretokenize.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/framework/tokenizer/golden_util.h"

namespace minigraph {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Split(absl::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view piece : SplitGpt2Pattern(text)) {
    out.emplace_back(piece);
  }
  return out;
}

TEST(SplitGpt2Pattern, WordsTakeTheSpaceBeforeThem) {
  EXPECT_THAT(Split(""), IsEmpty());
  EXPECT_THAT(Split("Hello world"), ElementsAre("Hello", " world"));
  EXPECT_THAT(Split("Hello, world!"), ElementsAre("Hello", ",", " world", "!"));
  EXPECT_THAT(Split("abc123def"), ElementsAre("abc", "123", "def"));
  EXPECT_THAT(Split(" 42 ?!"), ElementsAre(" 42", " ?!"));
}

TEST(SplitGpt2Pattern, SpaceRunsLeaveTheirLastSpaceToTheNextWord) {
  EXPECT_THAT(Split("a   b"), ElementsAre("a", "  ", " b"));
  EXPECT_THAT(Split("a \n b"), ElementsAre("a", " \n", " b"));
  // A single non-space white space before a word stands alone: \s+(?!\S)
  // cannot backtrack below one character, \s+ takes it.
  EXPECT_THAT(Split("a\tb"), ElementsAre("a", "\t", "b"));
  EXPECT_THAT(Split("a\t\tb"), ElementsAre("a", "\t", "\t", "b"));
  EXPECT_THAT(Split("a\n\nb"), ElementsAre("a", "\n", "\n", "b"));
  // At the end of the text the run is taken whole.
  EXPECT_THAT(Split("a   "), ElementsAre("a", "   "));
  EXPECT_THAT(Split("   "), ElementsAre("   "));
  EXPECT_THAT(Split(" "), ElementsAre(" "));
  EXPECT_THAT(Split("  a"), ElementsAre(" ", " a"));
  // NBSP and U+3000 are white space but not the optional ' '.
  EXPECT_THAT(Split("a\xC2\xA0"
                    "b"),
              ElementsAre("a", "\xC2\xA0", "b"));
  EXPECT_THAT(Split("a \xE3\x80\x80 b"),
              ElementsAre("a", " \xE3\x80\x80", " b"));
}

TEST(SplitGpt2Pattern, ContractionsAreCaseSensitive) {
  EXPECT_THAT(Split("I'm"), ElementsAre("I", "'m"));
  EXPECT_THAT(Split("don't"), ElementsAre("don", "'t"));
  EXPECT_THAT(Split("we'll they're I've he'd it's"),
              ElementsAre("we", "'ll", " they", "'re", " I", "'ve", " he", "'d",
                          " it", "'s"));
  // Upper case is not a contraction: the apostrophe is punctuation.
  EXPECT_THAT(Split("DON'T"), ElementsAre("DON", "'", "T"));
  EXPECT_THAT(Split("'LL"), ElementsAre("'", "LL"));
  // Punctuation runs swallow an apostrophe that does not start the piece.
  EXPECT_THAT(Split("?'s"), ElementsAre("?'", "s"));
  EXPECT_THAT(Split(" 's"), ElementsAre(" '", "s"));
  EXPECT_THAT(Split("'"), ElementsAre("'"));
}

TEST(SplitGpt2Pattern, UnicodeClasses) {
  // CJK letters run together; ideographic full stop is punctuation.
  EXPECT_THAT(Split("\xE6\xB3\xA8\xE6\x84\x8F\xE3\x80\x82"),
              ElementsAre("\xE6\xB3\xA8\xE6\x84\x8F", "\xE3\x80\x82"));
  // A combining mark (Mn) is neither letter nor number: it ends the word.
  EXPECT_THAT(Split("cafe\xCC\x81s"), ElementsAre("cafe", "\xCC\x81", "s"));
  // Digits of other scripts and numbers of other categories are \p{N}.
  EXPECT_THAT(Split("x \xD9\xA3\xC2\xBD"),
              ElementsAre("x", " \xD9\xA3\xC2\xBD"));
  // ZWJ emoji sequences are punctuation runs.
  EXPECT_THAT(
      Split("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 hi"),
      ElementsAre("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9", " hi"));
}

TEST(SplitGpt2Pattern, InvalidBytesArePunctuation) {
  EXPECT_THAT(Split("ab\xFF\xFE"
                    "cd"),
              ElementsAre("ab", "\xFF\xFE", "cd"));
  EXPECT_THAT(Split(" \x80!"), ElementsAre(" \x80!"));
  // A truncated sequence before a letter: each byte is one character.
  EXPECT_THAT(Split("\xE2\x82"
                    "a"),
              ElementsAre("\xE2\x82", "a"));
}

TEST(SplitGpt2Pattern, MatchesTheReferenceOnTheGoldenInputs) {
  absl::StatusOr<std::vector<GoldenRow>> rows =
      ReadGoldenRows(TokenizerTestDataPath("split.golden.jsonl"));
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_GT(rows->size(), 100u);
  for (const GoldenRow& row : *rows) {
    std::vector<int64_t> lengths;
    for (absl::string_view piece : SplitGpt2Pattern(row.input)) {
      lengths.push_back(static_cast<int64_t>(piece.size()));
    }
    EXPECT_EQ(lengths, row.piece_lengths) << row.input;
  }
}

}  // namespace
}  // namespace minigraph
