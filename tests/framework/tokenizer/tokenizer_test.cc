// Encoding and decoding on hand-built tokenizers whose expected ids are
// derived by hand from HF tokenizers' rules, and properties on random bytes.
#include "framework/tokenizer/tokenizer.h"

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/tokenizer/byte_level.h"
#include "framework/tokenizer/unicode_props.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/framework/tokenizer/golden_util.h"

namespace minigraph {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kSpaceChar[] = "\xC4\xA0";  // Ġ, the byte-level space

// A tokenizer over `vocab` (ids by position) with `merges`.
Tokenizer Build(std::vector<std::string> vocab,
                std::vector<std::pair<std::string, std::string>> merges,
                TokenizerSpec spec = {}) {
  spec.vocab = std::move(vocab);
  spec.merges = std::move(merges);
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromSpec(std::move(spec));
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return *std::move(tokenizer);
}

// The tokens of `ids` as text, for readable expectations.
std::vector<std::string> Tokens(const Tokenizer& tokenizer,
                                const std::vector<int64_t>& ids) {
  std::vector<std::string> out;
  for (const int64_t id : ids) out.push_back(tokenizer.spec().vocab.at(id));
  return out;
}

TEST(Bpe, MergesOnePairAtATimeByRankThenPosition) {
  // "abab": (a,b) at 0 merges first (rank 1, leftmost); that makes
  // (ab,a) with rank 0, which merges before the second (a,b). Merging every
  // (a,b) at once, as GPT-2's script does, would give "abab".
  const Tokenizer tokenizer = Build({"a", "b", "ab", "aba", "abab"},
                                    {{"ab", "a"}, {"a", "b"}, {"ab", "ab"}});
  EXPECT_THAT(Tokens(tokenizer, tokenizer.Encode("abab")),
              ElementsAre("aba", "b"));
  // Then the third (a,b) at position 4: "aba b ab".
  EXPECT_THAT(Tokens(tokenizer, tokenizer.Encode("ababab")),
              ElementsAre("aba", "b", "ab"));
  EXPECT_THAT(Tokens(tokenizer, tokenizer.Encode("ba")), ElementsAre("b", "a"));
  // Every "abab" goes the same way, in short pieces (16 symbols) and in
  // long ones (18, which take the heap path).
  std::vector<std::string> expected;
  for (int i = 0; i < 4; ++i) {
    expected.push_back("aba");
    expected.push_back("b");
  }
  std::string text;
  for (int i = 0; i < 8; ++i) text += "ab";
  EXPECT_EQ(Tokens(tokenizer, tokenizer.Encode(text)), expected);
  expected.push_back("ab");
  EXPECT_EQ(Tokens(tokenizer, tokenizer.Encode(text + "ab")), expected);
}

TEST(Bpe, RepeatedMergeTakesItsLastRank) {
  // (y,z) is listed at ranks 0 and 2, (z,z) at 1: HF's merge map keeps
  // rank 2, so (z,z) goes first.
  const Tokenizer tokenizer =
      Build({"y", "z", "yz", "zz"}, {{"y", "z"}, {"z", "z"}, {"y", "z"}});
  EXPECT_THAT(Tokens(tokenizer, tokenizer.Encode("yzz")),
              ElementsAre("y", "zz"));
}

TEST(Bpe, UnknownBytes) {
  TokenizerSpec spec;
  spec.use_regex = false;
  spec.unk_token = "<unk>";
  // 'q' is not in the vocab. Without fuse_unk each unknown byte is one unk.
  const Tokenizer one_each = Build({"<unk>", "a"}, {}, spec);
  EXPECT_THAT(Tokens(one_each, one_each.Encode("qqaq")),
              ElementsAre("<unk>", "<unk>", "a", "<unk>"));
  spec.fuse_unk = true;
  const Tokenizer fused = Build({"<unk>", "a"}, {}, spec);
  EXPECT_THAT(Tokens(fused, fused.Encode("qqaq")),
              ElementsAre("<unk>", "a", "<unk>"));
  // A multi-byte character is several unknown bytes.
  EXPECT_THAT(Tokens(fused, fused.Encode("a\xC3\xA9")),
              ElementsAre("a", "<unk>"));
  EXPECT_THAT(Tokens(one_each, one_each.Encode("a\xC3\xA9")),
              ElementsAre("a", "<unk>", "<unk>"));
  // Without an unk token they vanish, as in HF.
  spec.unk_token.reset();
  const Tokenizer dropping = Build({"<unk>", "a"}, {}, spec);
  EXPECT_THAT(Tokens(dropping, dropping.Encode("qqaq")), ElementsAre("a"));
}

TEST(Bpe, UnknownSymbolsTakePartInMerges) {
  TokenizerSpec spec;
  spec.unk_token = "<unk>";
  const Tokenizer tokenizer =
      Build({"<unk>", "a", "<unk>a"}, {{"<unk>", "a"}}, spec);
  EXPECT_THAT(Tokens(tokenizer, tokenizer.Encode("qa")), ElementsAre("<unk>a"));
}

TEST(Bpe, IgnoreMergesKeepsWholeTokens) {
  // "abc" is a token but no merge builds it.
  TokenizerSpec spec;
  const std::vector<std::string> vocab = {"a", "b", "c", "ab", "abc"};
  const Tokenizer merging = Build(vocab, {{"a", "b"}}, spec);
  EXPECT_THAT(Tokens(merging, merging.Encode("abc")), ElementsAre("ab", "c"));
  spec.ignore_merges = true;
  const Tokenizer whole = Build(vocab, {{"a", "b"}}, spec);
  EXPECT_THAT(Tokens(whole, whole.Encode("abc")), ElementsAre("abc"));
  EXPECT_THAT(Tokens(whole, whole.Encode("abcab")),
              ElementsAre("ab", "c", "ab"));
}

TEST(Bpe, LongRunIsNotQuadratic) {
  // 100,000 'a': rank 0 pairs them up left to right, rank 1 the pairs of
  // pairs, rank 2 again: 12,500 runs of eight.
  const Tokenizer tokenizer =
      Build({"a", "aa", "aaaa", "aaaaaaaa"},
            {{"a", "a"}, {"aa", "aa"}, {"aaaa", "aaaa"}});
  const std::vector<int64_t> ids = tokenizer.Encode(std::string(100000, 'a'));
  EXPECT_EQ(ids, std::vector<int64_t>(12500, 3));
  // One more 'a' is left over at the end.
  const std::vector<int64_t> odd = tokenizer.Encode(std::string(100001, 'a'));
  ASSERT_EQ(odd.size(), 12501u);
  EXPECT_EQ(odd.back(), 0);
}

enum AddedFlag {
  kSpecial = 1,
  kSingleWord = 2,
  kLstrip = 4,
  kRstrip = 8,
  kNormalized = 16
};

AddedToken Added(int64_t id, std::string content, int flags) {
  AddedToken token;
  token.id = id;
  token.content = std::move(content);
  token.special = (flags & kSpecial) != 0;
  token.single_word = (flags & kSingleWord) != 0;
  token.lstrip = (flags & kLstrip) != 0;
  token.rstrip = (flags & kRstrip) != 0;
  token.normalized = (flags & kNormalized) != 0;
  return token;
}

// All 256 byte characters (id = byte) and added tokens after them.
TokenizerSpec ByteSpec() {
  TokenizerSpec spec;
  for (int b = 0; b < 256; ++b) {
    std::string character;
    AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(b)), &character);
    spec.vocab.push_back(character);
  }
  spec.added_tokens = {
      Added(256, "<s>", kSpecial),
      Added(257, "<t>", kLstrip | kRstrip),
      Added(258, "[M]", kSpecial | kSingleWord),
      Added(259, "cat", kNormalized),
      Added(260, "at", 0),
  };
  for (const AddedToken& token : spec.added_tokens) {
    spec.vocab.push_back(token.content);
  }
  return spec;
}

// Ids of `text` with every byte its own token.
std::vector<int64_t> ByteIds(absl::string_view text) {
  std::vector<int64_t> ids;
  for (const char c : text) ids.push_back(static_cast<uint8_t>(c));
  return ids;
}

std::vector<int64_t> Concat(std::initializer_list<std::vector<int64_t>> parts) {
  std::vector<int64_t> out;
  for (const auto& part : parts)
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

TEST(AddedTokens, MatchedBeforePreTokenization) {
  const Tokenizer tokenizer = *Tokenizer::FromSpec(ByteSpec());
  EXPECT_EQ(tokenizer.Encode("x<s>y"), Concat({{'x', 256, 'y'}}));
  EXPECT_EQ(tokenizer.Encode("<s><s>"), Concat({{256, 256}}));
  // lstrip and rstrip swallow the white space on both sides.
  EXPECT_EQ(tokenizer.Encode("x \t<t>  \ny"), Concat({{'x', 257, 'y'}}));
  // single_word: not next to a word character.
  EXPECT_EQ(tokenizer.Encode("a[M]b"), ByteIds("a[M]b"));
  EXPECT_EQ(tokenizer.Encode("a [M] b"), Concat({{'a', ' ', 258, ' ', 'b'}}));
  EXPECT_EQ(tokenizer.Encode("_[M]"), ByteIds("_[M]"));  // '_' is \w
  EXPECT_EQ(tokenizer.Encode("[M]"), Concat({{258}}));
  // normalized == false tokens are found first: "at" hides "cat".
  EXPECT_EQ(tokenizer.Encode("cat"), Concat({{'c', 260}}));
  EXPECT_EQ(tokenizer.Encode("ca t"), ByteIds("ca t"));
}

TEST(AddedTokens, PrefixSpaceGoesToEveryStretch) {
  TokenizerSpec spec = ByteSpec();
  spec.add_prefix_space = true;
  const Tokenizer tokenizer = *Tokenizer::FromSpec(spec);
  EXPECT_EQ(tokenizer.Encode("<s>hi"), Concat({{256, ' ', 'h', 'i'}}));
  // "hi " gets one; " yo" already starts with a space.
  EXPECT_EQ(tokenizer.Encode("hi <s> yo"),
            Concat({{' ', 'h', 'i', ' ', 256, ' ', 'y', 'o'}}));
  EXPECT_EQ(tokenizer.Encode(""), std::vector<int64_t>());
  EXPECT_EQ(tokenizer.Encode("<s>"), Concat({{256}}));
}

TEST(Decode, BytesBackToTextAndSpecialTokensSkipped) {
  const Tokenizer tokenizer = *Tokenizer::FromSpec(ByteSpec());
  const std::vector<int64_t> ids =
      Concat({ByteIds("hi"), {256}, ByteIds("\xC3\xA9"), {257, 259}});
  EXPECT_EQ(*tokenizer.Decode(ids), "hi<s>\xC3\xA9<t>cat");
  EXPECT_EQ(*tokenizer.Decode(ids, /*skip_special_tokens=*/true),
            "hi\xC3\xA9<t>cat");
  // Bytes that are not UTF-8 come back as U+FFFD; joined first, so a
  // character split over tokens survives.
  EXPECT_EQ(*tokenizer.Decode(ByteIds("\xE2\x82")), "\xEF\xBF\xBD");
  EXPECT_EQ(*tokenizer.Decode(ByteIds("\xE2\x82\xAC")), "\xE2\x82\xAC");
  EXPECT_EQ(*tokenizer.TokenBytes(' '), " ");
  EXPECT_EQ(*tokenizer.TokenBytes(256), "<s>");
  EXPECT_EQ(tokenizer.vocab_size(), 261);
  EXPECT_EQ(tokenizer.TokenToId("<t>"), 257);
  EXPECT_EQ(tokenizer.TokenToId(kSpaceChar), ' ');
  EXPECT_FALSE(tokenizer.TokenToId("nope").has_value());
}

TEST(Decode, IdOutOfRangeNamesTheIdAndTheSize) {
  const Tokenizer tokenizer = *Tokenizer::FromSpec(ByteSpec());
  for (const int64_t bad : {int64_t{261}, int64_t{-1}, int64_t{1} << 40}) {
    const absl::StatusOr<std::string> text = tokenizer.Decode({'a', bad});
    ASSERT_FALSE(text.ok());
    EXPECT_THAT(std::string(text.status().message()),
                HasSubstr(absl::StrCat("id ", bad)));
    EXPECT_THAT(std::string(text.status().message()), HasSubstr("size 261"));
    EXPECT_FALSE(tokenizer.TokenBytes(bad).ok());
  }
}

TEST(Decode, TokensOutsideTheByteTableAreTheirOwnText) {
  TokenizerSpec spec = ByteSpec();
  spec.vocab.push_back("a b");  // ' ' is not a byte-level character
  spec.added_tokens.push_back(Added(261, "a b", 0));
  const Tokenizer tokenizer = *Tokenizer::FromSpec(spec);
  EXPECT_EQ(*tokenizer.Decode({'x', 261, 'y'}), "xa by");
  EXPECT_EQ(tokenizer.Encode("xa by"), Concat({{'x', 261, 'y'}}));
}

TEST(Decode, NullDecoderJoinsTokenTextsWithSpaces) {
  TokenizerSpec spec = ByteSpec();
  spec.byte_level_decoder = false;
  const Tokenizer tokenizer = *Tokenizer::FromSpec(spec);
  EXPECT_EQ(*tokenizer.Decode(Concat({ByteIds("a b"), {256}})),
            absl::StrCat("a ", kSpaceChar, " b <s>"));
  EXPECT_EQ(*tokenizer.Decode(Concat({{256}, ByteIds("a")}), true), "a");
}

TEST(FromSpec, RejectsInconsistentSpecs) {
  TokenizerSpec spec;
  spec.vocab = {"a", "b", "ab"};
  spec.merges = {{"a", "b"}, {"b", "c"}};
  absl::StatusOr<Tokenizer> bad = Tokenizer::FromSpec(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("merges[1]"));
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("\"c\" is not in the vocab"));

  spec.merges = {{"b", "a"}};
  bad = Tokenizer::FromSpec(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("merged token \"ba\" is not in the vocab"));

  spec.merges.clear();
  spec.unk_token = "<unk>";
  bad = Tokenizer::FromSpec(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("unk_token"));

  spec.unk_token.reset();
  spec.added_tokens = {Added(1, "<s>", 0)};
  bad = Tokenizer::FromSpec(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("added_tokens[0]"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("\"b\""));

  spec.added_tokens.clear();
  spec.vocab = {"a", "b", "a"};
  bad = Tokenizer::FromSpec(spec);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("\"a\" has two ids, 0 and 2"));
}

// Random bytes: valid UTF-8 from many blocks, sometimes invalid bytes.
std::string RandomBytes(std::mt19937& rng) {
  static constexpr char32_t kBlocks[][2] = {
      {0x20, 0x7E},     {0x9, 0xD},         {0xA0, 0x24F},
      {0x370, 0x4FF},   {0x900, 0x97F},     {0x2000, 0x206F},
      {0x3000, 0x30FF}, {0x4E00, 0x9FFF},   {0xAC00, 0xD7A3},
      {0xE000, 0xF8FF}, {0x1F300, 0x1FAFF}, {0x30000, 0x3FFFF}};
  std::string out;
  const int parts = std::uniform_int_distribution<int>(0, 30)(rng);
  for (int i = 0; i < parts; ++i) {
    if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) {
      out.push_back(static_cast<char>(
          std::uniform_int_distribution<int>(0x80, 0xFF)(rng)));
      continue;
    }
    const auto& block = kBlocks[std::uniform_int_distribution<size_t>(
        0, std::size(kBlocks) - 1)(rng)];
    AppendUtf8(std::uniform_int_distribution<uint32_t>(block[0], block[1])(rng),
               &out);
  }
  return out;
}

TEST(RoundTrip, RandomBytesComeBack) {
  absl::StatusOr<Tokenizer> tokenizer =
      Tokenizer::Load(TokenizerTestDataPath("trained.tokenizer.json"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::mt19937 rng(7);
  int invalid = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string bytes = RandomBytes(rng);
    const std::vector<int64_t> ids = tokenizer->Encode(bytes);
    // The tokens' bytes are the input, byte for byte.
    std::string joined;
    for (const int64_t id : ids) joined += *tokenizer->TokenBytes(id);
    ASSERT_EQ(joined, bytes);
    const std::string decoded = *tokenizer->Decode(ids);
    if (IsValidUtf8(bytes)) {
      ASSERT_EQ(decoded, bytes);
    } else {
      ++invalid;
      ASSERT_EQ(decoded, Utf8Lossy(bytes));
    }
  }
  EXPECT_GT(invalid, 100);  // both kinds were tried
}

TEST(Encode, ConcurrentCallsAgree) {
  absl::StatusOr<Tokenizer> tokenizer =
      Tokenizer::Load(TokenizerTestDataPath("trained.tokenizer.json"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  std::mt19937 rng(11);
  std::vector<std::string> texts;
  std::vector<std::vector<int64_t>> expected;
  for (int i = 0; i < 200; ++i) {
    texts.push_back(RandomBytes(rng));
    expected.push_back(tokenizer->Encode(texts.back()));
  }
  std::vector<int> failures(2, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          if (tokenizer->Encode(texts[i]) != expected[i]) ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>({0, 0}));
}

}  // namespace
}  // namespace minigraph
