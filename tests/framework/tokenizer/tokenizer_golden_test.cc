// Encoding and decoding against golden data from the independent Python
// reference (tools/parity/tokenizer_ref.py): a tokenizer trained on a small
// corpus (merges as "a b" strings; special and plain added tokens with
// lstrip, rstrip, single_word, both normalized passes), the same with
// add_prefix_space, ignore_merges and merges as pairs, and hand-made
// vocabularies with unknown bytes (fused, not fused, dropped), no regex
// split and a null decoder.
#include <algorithm>
#include <string>
#include <vector>

#include "framework/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "tests/framework/tokenizer/golden_util.h"

namespace minigraph {
namespace {

class GoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<Tokenizer> tokenizer =
        Tokenizer::Load(TokenizerTestDataPath(GetParam() + ".tokenizer.json"));
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_.emplace(*std::move(tokenizer));
    absl::StatusOr<std::vector<GoldenRow>> rows =
        ReadGoldenRows(TokenizerTestDataPath(GetParam() + ".golden.jsonl"));
    ASSERT_TRUE(rows.ok()) << rows.status();
    rows_ = *std::move(rows);
    ASSERT_GT(rows_.size(), 100u);
  }

  std::optional<Tokenizer> tokenizer_;
  std::vector<GoldenRow> rows_;
};

TEST_P(GoldenTest, EncodeMatchesTheReference) {
  for (const GoldenRow& row : rows_) {
    EXPECT_EQ(tokenizer_->Encode(row.input), row.ids) << row.input;
  }
}

TEST_P(GoldenTest, DecodeMatchesTheReference) {
  for (const GoldenRow& row : rows_) {
    absl::StatusOr<std::string> text = tokenizer_->Decode(row.ids);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, row.decoded) << row.input;
    text = tokenizer_->Decode(row.ids, /*skip_special_tokens=*/true);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(*text, row.decoded_skip_special) << row.input;
  }
}

TEST_P(GoldenTest, ToJsonReadsBackToTheSameTokenizer) {
  absl::StatusOr<Tokenizer> copy =
      Tokenizer::FromJson(tokenizer_->ToJson(), "copy");
  ASSERT_TRUE(copy.ok()) << copy.status();
  const TokenizerSpec& a = tokenizer_->spec();
  const TokenizerSpec& b = copy->spec();
  EXPECT_EQ(a.vocab, b.vocab);
  EXPECT_EQ(a.merges, b.merges);
  EXPECT_EQ(a.add_prefix_space, b.add_prefix_space);
  EXPECT_EQ(a.use_regex, b.use_regex);
  EXPECT_EQ(a.ignore_merges, b.ignore_merges);
  EXPECT_EQ(a.unk_token, b.unk_token);
  EXPECT_EQ(a.fuse_unk, b.fuse_unk);
  EXPECT_EQ(a.byte_level_decoder, b.byte_level_decoder);
  // ToJson lists added tokens by id (as HF does); their order means nothing.
  auto by_id = [](std::vector<AddedToken> tokens) {
    std::sort(
        tokens.begin(), tokens.end(),
        [](const AddedToken& x, const AddedToken& y) { return x.id < y.id; });
    return tokens;
  };
  const std::vector<AddedToken> x_tokens = by_id(a.added_tokens);
  const std::vector<AddedToken> y_tokens = by_id(b.added_tokens);
  ASSERT_EQ(x_tokens.size(), y_tokens.size());
  for (size_t i = 0; i < x_tokens.size(); ++i) {
    const AddedToken& x = x_tokens[i];
    const AddedToken& y = y_tokens[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.content, y.content);
    EXPECT_EQ(x.special, y.special);
    EXPECT_EQ(x.single_word, y.single_word);
    EXPECT_EQ(x.lstrip, y.lstrip);
    EXPECT_EQ(x.rstrip, y.rstrip);
    EXPECT_EQ(x.normalized, y.normalized);
  }
  for (const GoldenRow& row : rows_) {
    EXPECT_EQ(copy->Encode(row.input), row.ids) << row.input;
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, GoldenTest,
                         ::testing::Values("trained", "trained_prefix",
                                           "small_fuse", "small_plain",
                                           "small_drop"));

}  // namespace
}  // namespace minigraph
