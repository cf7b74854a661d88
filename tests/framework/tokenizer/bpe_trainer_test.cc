#include "framework/tokenizer/bpe_trainer.h"

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/tokenizer/pretokenize.h"
#include "framework/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace minigraph {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Merges = std::vector<std::pair<std::string, std::string>>;

// GPT-2's bytes_to_unicode, written out from its definition: the printable
// bytes keep their code point, the other 68 take U+0100.. in byte order.
std::vector<char32_t> Gpt2CodePoints() {
  std::vector<char32_t> table(256, 0);
  std::vector<bool> printable(256, false);
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) table[b] = printable[b] ? b : next++;
  return table;
}

std::string Utf8(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

// Byte-level text of raw bytes, from the table above.
std::string Mapped(const std::string& bytes) {
  static const std::vector<char32_t> table = Gpt2CodePoints();
  std::string out;
  for (unsigned char b : bytes) out += Utf8(table[b]);
  return out;
}

BpeTrainerOptions Options(int64_t vocab_size) {
  BpeTrainerOptions options;
  options.vocab_size = vocab_size;
  return options;
}

TokenizerSpec TrainOrDie(const BpeTrainer& trainer) {
  absl::StatusOr<TokenizerSpec> spec = trainer.Train();
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *std::move(spec) : TokenizerSpec();
}

// 3 special tokens + 256 bytes.
constexpr int64_t kBase = 259;

TEST(BpeTrainerTest, SpecialTokensThenTheBytesInCodePointOrder) {
  BpeTrainer trainer(Options(kBase));
  trainer.AddWord("ab", 2);
  const TokenizerSpec spec = TrainOrDie(trainer);
  ASSERT_EQ(spec.vocab.size(), 259u);
  EXPECT_EQ(spec.vocab[0], "<|endoftext|>");
  EXPECT_EQ(spec.vocab[1], "<|im_start|>");
  EXPECT_EQ(spec.vocab[2], "<|im_end|>");
  // '!'..'~' (94), U+00A1..U+00AC (12), U+00AE..U+00FF (82), then the 68
  // remapped bytes U+0100..U+0143; byte ' ' is U+0120.
  EXPECT_EQ(spec.vocab[3], "!");
  EXPECT_EQ(spec.vocab[96], "~");
  EXPECT_EQ(spec.vocab[97], "\u00A1");
  EXPECT_EQ(spec.vocab[108], "\u00AC");
  EXPECT_EQ(spec.vocab[109], "\u00AE");
  EXPECT_EQ(spec.vocab[190], "\u00FF");
  EXPECT_EQ(spec.vocab[191], "\u0100");
  EXPECT_EQ(spec.vocab[191 + 0x20], "\u0120");
  EXPECT_EQ(spec.vocab[258], "\u0143");
  // Every byte exactly once, ordered by code point.
  const std::vector<char32_t> table = Gpt2CodePoints();
  std::vector<char32_t> sorted = table;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 256; ++i) EXPECT_EQ(spec.vocab[3 + i], Utf8(sorted[i]));
  EXPECT_TRUE(spec.merges.empty());  // vocab_size reached before any merge
  ASSERT_EQ(spec.added_tokens.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(spec.added_tokens[i].id, i);
    EXPECT_EQ(spec.added_tokens[i].content, spec.vocab[i]);
    EXPECT_TRUE(spec.added_tokens[i].special);
    EXPECT_FALSE(spec.added_tokens[i].normalized);
    EXPECT_FALSE(spec.added_tokens[i].lstrip);
    EXPECT_FALSE(spec.added_tokens[i].rstrip);
    EXPECT_FALSE(spec.added_tokens[i].single_word);
  }
  EXPECT_FALSE(spec.add_prefix_space);
  EXPECT_TRUE(spec.use_regex);
}

// "aaab" x5, "ab" x3. Pairs: aa 10, ab 5 + 3 = 8. Merge aa (259): aaab ->
// [aa a b], leaving aa.a 5, ab 8. Merge ab (260): [aa ab], aa.ab 5. Merge
// aa+ab -> "aaab" (261). Nothing is left.
TEST(BpeTrainerTest, HandWorkedMergeOrder) {
  BpeTrainer trainer(Options(1000));
  for (int i = 0; i < 5; ++i) trainer.Feed("aaab");
  for (int i = 0; i < 3; ++i) trainer.Feed("ab");
  const TokenizerSpec spec = TrainOrDie(trainer);
  EXPECT_THAT(spec.merges,
              ElementsAre(std::pair<std::string, std::string>("a", "a"),
                          std::pair<std::string, std::string>("a", "b"),
                          std::pair<std::string, std::string>("aa", "ab")));
  ASSERT_EQ(spec.vocab.size(), 262u);
  EXPECT_EQ(spec.vocab[259], "aa");
  EXPECT_EQ(spec.vocab[260], "ab");
  EXPECT_EQ(spec.vocab[261], "aaab");
}

TEST(BpeTrainerTest, VocabSizeStopsTheMerges) {
  BpeTrainer trainer(Options(kBase + 2));
  trainer.AddWord("aaab", 5);
  trainer.AddWord("ab", 3);
  const TokenizerSpec spec = TrainOrDie(trainer);
  EXPECT_EQ(spec.vocab.size(), 261u);
  EXPECT_EQ(spec.merges, (Merges{{"a", "a"}, {"a", "b"}}));
}

TEST(BpeTrainerTest, MinFrequencyStopsTheMerges) {
  BpeTrainerOptions options = Options(1000);
  options.min_frequency = 6;  // aa 10 and ab 8 pass, aa.ab 5 does not
  BpeTrainer trainer(options);
  trainer.AddWord("aaab", 5);
  trainer.AddWord("ab", 3);
  EXPECT_EQ(TrainOrDie(trainer).merges, (Merges{{"a", "a"}, {"a", "b"}}));

  options.min_frequency = 5;  // aa.ab 5 passes
  BpeTrainer lower(options);
  lower.AddWord("aaab", 5);
  lower.AddWord("ab", 3);
  EXPECT_EQ(TrainOrDie(lower).merges.size(), 3u);
}

// HF's own example: with min_frequency 2 the merges are r+e (3: are x2,
// red), then a+re (2) before i+s (2): equal counts go to the pair of
// smaller ids, and 'a' < 'i'.
TEST(BpeTrainerTest, HfExampleCorpus) {
  BpeTrainerOptions options = Options(30000);
  options.min_frequency = 2;
  options.special_tokens = {};
  BpeTrainer trainer(options);
  const std::vector<std::pair<std::string, int>> words = {
      {"roses", 1}, {"are", 2},  {"red", 1},  {"voilets", 1},
      {"blue", 1},  {"BERT", 1}, {"is", 2},   {"big", 1},
      {"and", 1},   {"so", 1},   {"GPT-2", 1}};
  for (const auto& [word, count] : words) trainer.AddWord(word, count);
  const TokenizerSpec spec = TrainOrDie(trainer);
  EXPECT_EQ(spec.merges, (Merges{{"r", "e"}, {"a", "re"}, {"i", "s"}}));
  ASSERT_EQ(spec.vocab.size(), 259u);
  EXPECT_EQ(spec.vocab[256], "re");
  EXPECT_EQ(spec.vocab[257], "are");
  EXPECT_EQ(spec.vocab[258], "is");
}

// Equal counts: the smaller (left id, right id) first, ids in code point
// order. ' ' is U+0120 ('Ġ'), after 'z', although byte 0x20 < 'z'.
TEST(BpeTrainerTest, TiesGoToTheSmallerPairOfIds) {
  BpeTrainer trainer(Options(1000));
  trainer.AddWord(" a", 4);
  trainer.AddWord("za", 4);
  trainer.AddWord("ba", 4);
  trainer.AddWord("bc", 4);
  trainer.AddWord("ab", 4);
  const TokenizerSpec spec = TrainOrDie(trainer);
  EXPECT_EQ(
      spec.merges,
      (Merges{
          {"a", "b"}, {"b", "a"}, {"b", "c"}, {"z", "a"}, {"\u0120", "a"}}));
}

TEST(BpeTrainerTest, SpecialTokensInTheTextAreNotCounted) {
  BpeTrainer trainer(Options(1000));
  trainer.Feed("hello<|endoftext|>hello<|im_start|><|im_end|>");
  const TokenizerSpec spec = TrainOrDie(trainer);
  // "hello" x2 only: h.e e.l l.l l.o all 2, so e+l (smallest ids) first;
  // then h.el, el.l, l.o are 2 and h < l < "el" (259); then hel.l, l.o.
  EXPECT_EQ(spec.merges,
            (Merges{{"e", "l"}, {"h", "el"}, {"l", "o"}, {"hel", "lo"}}));

  // Counted as text (HF's trainer): "<|", "endoftext", "|><|", "im", ...
  BpeTrainerOptions as_text = Options(1000);
  as_text.split_special_tokens = false;
  BpeTrainer counted(as_text);
  counted.Feed("hello<|endoftext|>hello");
  const TokenizerSpec text_spec = TrainOrDie(counted);
  EXPECT_NE(
      std::find(text_spec.vocab.begin(), text_spec.vocab.end(), "endoftext"),
      text_spec.vocab.end());
}

TEST(BpeTrainerTest, LeftmostLongestSpecialToken) {
  BpeTrainerOptions options = Options(1000);
  options.special_tokens = {"<a>", "<a>x"};
  BpeTrainer trainer(options);
  // "<a>x" wins over "<a>" at the same start: only "yy" is left to count.
  trainer.Feed("<a>xyy");
  const TokenizerSpec spec = TrainOrDie(trainer);
  EXPECT_EQ(spec.merges, (Merges{{"y", "y"}}));
}

TEST(BpeTrainerTest, PrefixSpaceOncePerStretch) {
  BpeTrainerOptions options = Options(1000);
  options.add_prefix_space = true;
  BpeTrainer trainer(options);
  trainer.Feed("ab<|endoftext|>ab");  // " ab" twice
  trainer.Feed(" ab");                // already starts with a space
  const TokenizerSpec spec = TrainOrDie(trainer);
  EXPECT_EQ(spec.merges, (Merges{{"a", "b"}, {"\u0120", "ab"}}));
  EXPECT_TRUE(spec.add_prefix_space);
}

TEST(BpeTrainerTest, Errors) {
  {
    BpeTrainer trainer(Options(kBase - 1));
    trainer.Feed("abc");
    absl::StatusOr<TokenizerSpec> spec = trainer.Train();
    ASSERT_FALSE(spec.ok());
    EXPECT_THAT(spec.status().message(), HasSubstr("vocab_size 258"));
    EXPECT_THAT(spec.status().message(), HasSubstr("259"));
  }
  {
    BpeTrainerOptions options = Options(1000);
    options.special_tokens = {"<s>", "</s>", "<s>"};
    BpeTrainer trainer(options);
    trainer.Feed("abc");
    absl::StatusOr<TokenizerSpec> spec = trainer.Train();
    ASSERT_FALSE(spec.ok());
    EXPECT_THAT(spec.status().message(), HasSubstr("'<s>' is given twice"));
  }
  {
    BpeTrainerOptions options = Options(1000);
    options.special_tokens = {"<s>", ""};
    BpeTrainer trainer(options);
    trainer.Feed("abc");
    EXPECT_THAT(trainer.Train().status().message(),
                HasSubstr("special token 1 is empty"));
  }
  {
    BpeTrainer trainer(Options(1000));
    EXPECT_THAT(trainer.Train().status().message(),
                HasSubstr("no training text"));
  }
  {
    BpeTrainer trainer(Options(1000));
    trainer.Feed("<|im_start|><|im_end|>");
    EXPECT_THAT(trainer.Train().status().message(), HasSubstr("hold no words"));
  }
}

// ---- an independent reference ---------------------------------------------

// BPE training from the definition: after every merge, recount every
// adjacent pair of every word; take the largest count, ties to the smaller
// pair of ids; merge left to right without overlap.
struct Reference {
  std::vector<std::string> vocab;
  Merges merges;
};

Reference ReferenceTrain(const std::map<std::string, int64_t>& words,
                         const std::vector<std::string>& specials,
                         int64_t vocab_size, int64_t min_frequency) {
  Reference ref;
  std::map<std::string, int> ids;
  for (const std::string& s : specials) {
    ids[s] = static_cast<int>(ref.vocab.size());
    ref.vocab.push_back(s);
  }
  const std::vector<char32_t> table = Gpt2CodePoints();
  std::vector<std::pair<char32_t, int>> order;
  for (int b = 0; b < 256; ++b) order.emplace_back(table[b], b);
  std::sort(order.begin(), order.end());
  std::vector<int> byte_id(256);
  for (const auto& [code_point, b] : order) {
    byte_id[b] = static_cast<int>(ref.vocab.size());
    ids[Utf8(code_point)] = byte_id[b];
    ref.vocab.push_back(Utf8(code_point));
  }
  std::vector<std::pair<std::vector<int>, int64_t>> symbols;
  for (const auto& [word, count] : words) {
    std::vector<int> s;
    for (unsigned char b : word) s.push_back(byte_id[b]);
    symbols.emplace_back(s, count);
  }
  while (static_cast<int64_t>(ref.vocab.size()) < vocab_size) {
    std::map<std::pair<int, int>, int64_t> pair_counts;
    for (const auto& [s, count] : symbols) {
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        pair_counts[{s[i], s[i + 1]}] += count;
      }
    }
    std::pair<int, int> best{-1, -1};
    int64_t best_count = 0;
    for (const auto& [pair, count] : pair_counts) {  // ascending pairs
      if (count > best_count) {
        best = pair;
        best_count = count;
      }
    }
    if (best_count < std::max<int64_t>(1, min_frequency)) break;
    const std::string merged = ref.vocab[best.first] + ref.vocab[best.second];
    EXPECT_EQ(ids.count(merged), 0u) << merged << " built twice";
    const int merged_id = static_cast<int>(ref.vocab.size());
    ids[merged] = merged_id;
    ref.vocab.push_back(merged);
    ref.merges.emplace_back(ref.vocab[best.first], ref.vocab[best.second]);
    for (auto& [s, count] : symbols) {
      std::vector<int> out;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == best.first && s[i + 1] == best.second) {
          out.push_back(merged_id);
          i += 2;
        } else {
          out.push_back(s[i++]);
        }
      }
      s = out;
    }
  }
  return ref;
}

// Random words over a few letters (runs of one letter included, which make
// overlapping pairs) and a two-byte character.
std::map<std::string, int64_t> RandomWords(std::mt19937* rng, int n) {
  const std::vector<std::string> letters = {"a", "b", "c", "a", "\u00e9", " "};
  std::map<std::string, int64_t> words;
  std::uniform_int_distribution<int> length(1, 9);
  std::uniform_int_distribution<size_t> letter(0, letters.size() - 1);
  std::uniform_int_distribution<int> count(1, 20);
  for (int i = 0; i < n; ++i) {
    std::string word;
    const int len = length(*rng);
    for (int k = 0; k < len; ++k) word += letters[letter(*rng)];
    words[word] += count(*rng);
  }
  return words;
}

TEST(BpeTrainerTest, MatchesTheReferenceOnRandomWords) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    const std::map<std::string, int64_t> words = RandomWords(&rng, 60);
    const int64_t vocab_size = kBase + 5 + trial * 3;
    const int64_t min_frequency = trial % 3 == 0 ? 4 : 0;
    BpeTrainerOptions options = Options(vocab_size);
    options.min_frequency = min_frequency;
    BpeTrainer trainer(options);
    for (const auto& [word, count] : words) trainer.AddWord(word, count);
    const TokenizerSpec spec = TrainOrDie(trainer);
    const Reference ref = ReferenceTrain(words, options.special_tokens,
                                         vocab_size, min_frequency);
    EXPECT_EQ(spec.merges, ref.merges) << "trial " << trial;
    EXPECT_EQ(spec.vocab, ref.vocab) << "trial " << trial;
    EXPECT_GT(spec.merges.size(), 4u);
  }
}

// Feeding text = counting its GPT-2 pieces (after the special tokens are cut
// out), also for a text long enough to be counted in several cuts, with the
// prefix space only at its start; the thread count does not matter.
TEST(BpeTrainerTest, LongTextCountsAsItsPieces) {
  std::mt19937 rng(3);
  const std::vector<std::string> parts = {
      "word", " word",  "\n",  "  ", "\n\n", "\r\n",   "\t", "I'm",
      "中文", "\u3000", " 12", "!!", " ",    "\u00A0", "x",  "ok\n"};
  std::uniform_int_distribution<size_t> pick(0, parts.size() - 1);
  std::string text;
  while (text.size() < (size_t{1} << 20) + 12345) text += parts[pick(rng)];
  for (bool prefix : {false, true}) {
    std::map<std::string, int64_t> pieces;
    const std::string pretokenized = prefix ? " " + text : text;
    for (absl::string_view piece : SplitGpt2Pattern(pretokenized)) {
      ++pieces[std::string(piece)];
    }
    BpeTrainerOptions options = Options(kBase + 40);
    options.add_prefix_space = prefix;
    BpeTrainer fed(options);
    fed.Feed(text);
    BpeTrainerOptions one_thread = options;
    one_thread.threads = 1;
    BpeTrainer fed_alone(one_thread);
    fed_alone.Feed(text);
    BpeTrainer counted(options);
    for (const auto& [piece, count] : pieces) counted.AddWord(piece, count);
    BpeTrainStats stats;
    absl::StatusOr<TokenizerSpec> spec = fed.Train(&stats);
    ASSERT_TRUE(spec.ok()) << spec.status();
    const TokenizerSpec expected = TrainOrDie(counted);
    EXPECT_EQ(spec->merges, expected.merges);
    EXPECT_EQ(TrainOrDie(fed_alone).merges, expected.merges);
    int64_t total = 0;
    for (const auto& [piece, count] : pieces) total += count;
    EXPECT_EQ(stats.words, total);
    EXPECT_EQ(stats.unique_words, static_cast<int64_t>(pieces.size()));
    EXPECT_EQ(stats.bytes, static_cast<int64_t>(text.size()));
    EXPECT_EQ(stats.merges, 40);
  }
}

TEST(BpeTrainerTest, FeedOrderDoesNotMatter) {
  const std::vector<std::string> texts = {"the cat sat", "on the mat",
                                          "the hat", "that cat", "a bat"};
  BpeTrainer forward(Options(kBase + 12));
  for (const std::string& t : texts) forward.Feed(t);
  BpeTrainer backward(Options(kBase + 12));
  for (auto it = texts.rbegin(); it != texts.rend(); ++it) backward.Feed(*it);
  const TokenizerSpec a = TrainOrDie(forward);
  EXPECT_EQ(a.merges, TrainOrDie(backward).merges);
  EXPECT_EQ(a.merges.size(), 12u);
}

TEST(BpeTrainerTest, ProgressReportsMerges) {
  std::vector<std::pair<int64_t, int64_t>> calls;
  BpeTrainerOptions options = Options(kBase + 3);
  options.progress = [&](int64_t done, int64_t wanted) {
    calls.emplace_back(done, wanted);
  };
  BpeTrainer trainer(options);
  trainer.Feed("abcd abcd abcd");
  TrainOrDie(trainer);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{3}, int64_t{3}));
}

// ---- the trained tokenizer -------------------------------------------------

TEST(BpeTrainerTest, TrainedTokenizerEncodesTrainingWordsWhole) {
  BpeTrainer trainer(Options(kBase + 200));
  const std::string corpus =
      "hello world, hello there. The world is big; hello again!\n"
      "<|im_start|>user\nhello<|im_end|>\n";
  for (int i = 0; i < 20; ++i) trainer.Feed(corpus);
  absl::StatusOr<Tokenizer> tokenizer = trainer.TrainTokenizer();
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(tokenizer->config().bos_token, "<|im_start|>");
  EXPECT_EQ(tokenizer->config().eos_token, "<|im_end|>");
  EXPECT_EQ(tokenizer->config().pad_token, "<|endoftext|>");
  EXPECT_EQ(tokenizer->config().unk_token, "<|endoftext|>");

  // Reloaded from its JSON, the tokenizer gives the same ids.
  absl::StatusOr<Tokenizer> reloaded =
      Tokenizer::FromJson(tokenizer->ToJson(), "trained");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->spec().vocab, tokenizer->spec().vocab);
  EXPECT_EQ(reloaded->spec().merges, tokenizer->spec().merges);

  for (const Tokenizer* t : {&*tokenizer, &*reloaded}) {
    for (const std::string word : {"hello", " world", " hello", " again"}) {
      const std::vector<int64_t> ids = t->Encode(word);
      ASSERT_EQ(ids.size(), 1u) << word;
      EXPECT_EQ(t->spec().vocab[ids[0]], Mapped(word));
    }
    EXPECT_EQ(t->Encode("<|im_start|>user\nhello<|im_end|>")[0], 1);
    const std::string unseen = "Zebras quack 42 times, 中文 too.\n";
    for (const std::string& text : {corpus, unseen}) {
      absl::StatusOr<std::string> decoded = t->Decode(t->Encode(text));
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_EQ(*decoded, text);
    }
  }
}

}  // namespace
}  // namespace minigraph
