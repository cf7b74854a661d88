#include "framework/tokenizer/bpe_trainer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "framework/tokenizer/byte_level.h"
#include "framework/tokenizer/pretokenize.h"
#include "framework/tokenizer/unicode_props.h"

namespace minigraph {
namespace {

// Fed text is counted in batches of about this many bytes (spread over the
// threads), so memory stays bounded whatever the corpus size.
constexpr size_t kBatchBytes = size_t{4} << 20;
// A stretch longer than twice this is cut into pieces of at least this size
// (so that one long text is counted on all the threads too).
constexpr size_t kPieceBytes = size_t{256} << 10;

// The first position p >= from where `text` can be cut into [.., p) and
// [p, ..) without changing its GPT-2 split: a '\n' followed by a character
// that is not White_Space. No piece of the split joins a non-space to a
// following space, and a match never looks behind its start; before a
// non-space the '\n' is a piece of its own and a run of white space before
// it stops there (\s+(?!\S) backs off one character), in the whole text as
// in the first part, where the run ends the text. npos when there is none.
size_t FindSafeCut(absl::string_view text, size_t from) {
  while (from < text.size()) {
    const void* found =
        std::memchr(text.data() + from, '\n', text.size() - from);
    if (found == nullptr) return absl::string_view::npos;
    const size_t p = static_cast<const char*>(found) - text.data();
    if (p + 1 < text.size() &&
        ClassifyForSplit(DecodeUtf8At(text, p + 1).code_point) !=
            SplitClass::kSpace) {
      return p;
    }
    from = p + 1;
  }
  return absl::string_view::npos;
}

// Splits `text` around the leftmost-longest occurrences of `specials`;
// returns the stretches between them (possibly empty).
std::vector<absl::string_view> StretchesBetween(
    absl::string_view text, const std::vector<std::string>& specials) {
  std::vector<absl::string_view> stretches;
  // next[k]: where specials[k] next occurs at or after `pos` (npos: never).
  std::vector<size_t> next(specials.size());
  for (size_t k = 0; k < specials.size(); ++k) {
    next[k] =
        specials[k].empty() ? absl::string_view::npos : text.find(specials[k]);
  }
  size_t pos = 0;
  while (true) {
    size_t best = absl::string_view::npos;
    size_t best_length = 0;
    for (size_t k = 0; k < specials.size(); ++k) {
      if (next[k] != absl::string_view::npos && next[k] < pos) {
        next[k] = text.find(specials[k], pos);
      }
      if (next[k] == absl::string_view::npos) continue;
      if (next[k] < best ||
          (next[k] == best && specials[k].size() > best_length)) {
        best = next[k];
        best_length = specials[k].size();
      }
    }
    if (best == absl::string_view::npos) break;
    stretches.push_back(text.substr(pos, best - pos));
    pos = best + best_length;
  }
  stretches.push_back(text.substr(pos));
  return stretches;
}

uint64_t PairKey(uint32_t left, uint32_t right) {
  return (uint64_t{left} << 32) | right;
}
uint32_t PairLeft(uint64_t key) { return static_cast<uint32_t>(key >> 32); }
uint32_t PairRight(uint64_t key) { return static_cast<uint32_t>(key); }

constexpr uint32_t kNone = 0xFFFFFFFF;  // no neighbour / a merged-away symbol
constexpr size_t kPrefetchAhead = 16;   // occurrences loaded ahead of use

// One entry of the merge heap: a pair (its key and index) and its count when
// pushed.
struct HeapEntry {
  int64_t count;
  uint64_t pair;
  uint32_t index;
  uint32_t birth;  // push order: equal entries pop oldest first
};

// Heap order: highest count first, then the smaller (left, right) ids.
bool LowerPriority(const HeapEntry& a, const HeapEntry& b) {
  if (a.count != b.count) return a.count < b.count;
  if (a.pair != b.pair) return a.pair > b.pair;
  return a.birth > b.birth;
}

// The words as linked lists of symbols, with HF's merge bookkeeping. HF
// rescans each word that holds the merged pair; here every pair keeps the
// symbols where it starts, so a merge costs its occurrences, not the length
// of the words (a run of CJK letters is one word of hundreds of bytes).
// Occurrences are merged in text order, each checked against the current
// symbols first, which is HF's left-to-right scan: the same merges, the
// same count changes.
class MergeState {
 public:
  MergeState(std::vector<std::string>* tokens,
             absl::flat_hash_map<std::string, uint32_t>* token_ids)
      : tokens_(*tokens), token_ids_(*token_ids) {}

  void Reserve(size_t words, size_t symbols) {
    count_.reserve(words);
    nodes_.reserve(symbols);
  }

  void AddWord(absl::string_view bytes, int64_t count,
               const std::array<uint32_t, 256>& byte_ids) {
    const uint32_t word = static_cast<uint32_t>(count_.size());
    count_.push_back(count);
    const uint32_t first = static_cast<uint32_t>(nodes_.size());
    for (size_t i = 0; i < bytes.size(); ++i) {
      const uint32_t node = first + static_cast<uint32_t>(i);
      nodes_.push_back(Node{byte_ids[static_cast<unsigned char>(bytes[i])],
                            word, i == 0 ? kNone : node - 1,
                            i + 1 == bytes.size() ? kNone : node + 1, kNone});
    }
  }

  // Counts every adjacent pair and fills the heap, one entry per pair.
  void CountPairs() {
    for (uint32_t node = 0; node < nodes_.size(); ++node) {
      Node& n = nodes_[node];
      if (n.next == kNone) continue;
      const uint32_t index =
          PairIndex(PairKey(n.symbol, nodes_[n.next].symbol));
      n.pair = index;
      pair_count_[index] += count_[n.word];
      pair_starts_[index].push_back(node);
    }
    std::vector<uint32_t> order(pair_key_.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return pair_key_[a] < pair_key_[b];
    });
    heap_.reserve(2 * order.size());
    for (uint32_t index : order) {
      heap_.push_back(HeapEntry{pair_count_[index], pair_key_[index], index,
                                next_birth_++});
    }
    std::make_heap(heap_.begin(), heap_.end(), LowerPriority);
  }

  // Runs merges until `vocab_size` tokens or no pair of count >=
  // max(1, min_frequency); returns the merges made, in order.
  std::vector<std::pair<uint64_t, uint32_t>> Run(
      int64_t vocab_size, int64_t min_frequency,
      const std::function<void(int64_t, int64_t)>& progress) {
    std::vector<std::pair<uint64_t, uint32_t>> merges;
    const int64_t wanted = vocab_size - static_cast<int64_t>(tokens_.size());
    while (static_cast<int64_t>(tokens_.size()) < vocab_size &&
           !heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), LowerPriority);
      HeapEntry top = heap_.back();
      heap_.pop_back();
      const int64_t current = pair_count_[top.index];
      if (top.count != current) {
        // Out of date: back in with the current count. An entry at zero
        // could only surface when every other entry is at zero too, where
        // HF stops; dropping it stops the same way.
        if (current > 0) {
          top.count = current;
          heap_.push_back(top);
          std::push_heap(heap_.begin(), heap_.end(), LowerPriority);
        }
        continue;
      }
      if (top.count < 1 || top.count < min_frequency) break;
      std::string merged =
          tokens_[PairLeft(top.pair)] + tokens_[PairRight(top.pair)];
      auto [it, inserted] =
          token_ids_.try_emplace(merged, static_cast<uint32_t>(tokens_.size()));
      if (inserted) tokens_.push_back(std::move(merged));
      merges.emplace_back(top.pair, it->second);
      MergeOccurrences(top.index, it->second,
                       static_cast<uint32_t>(merges.size()));
      if (progress && merges.size() % 256 == 0) {
        progress(static_cast<int64_t>(merges.size()), wanted);
      }
    }
    return merges;
  }

 private:
  // A symbol of a word: its token id, its word, its neighbours (kNone at
  // the word's ends) and the index of the pair it starts (kNone at the end
  // of the word or once merged into its left neighbour).
  struct Node {
    uint32_t symbol;
    uint32_t word;
    uint32_t prev;
    uint32_t next;
    uint32_t pair;
  };

  // The index of `pair` in the per-pair arrays, adding it when new.
  uint32_t PairIndex(uint64_t pair) {
    auto [it, inserted] =
        pair_index_.try_emplace(pair, static_cast<uint32_t>(pair_key_.size()));
    if (inserted) {
      pair_key_.push_back(pair);
      pair_count_.push_back(0);
      pair_gained_in_.push_back(0);
      pair_starts_.emplace_back();
    }
    return it->second;
  }

  // Replaces each occurrence of (left, right), in text order, by merged_id,
  // and applies HF's count changes: the pairs with the neighbours lose the
  // word's count, the pairs with the new symbol gain it. The merged pair's
  // own count is left as it is, as HF leaves it (it is never looked at
  // again).
  void MergeOccurrences(uint32_t index, uint32_t merged_id,
                        uint32_t merge_number) {
    std::vector<uint32_t> starts = std::move(pair_starts_[index]);
    pair_starts_[index] = {};
    // Nodes are appended as pairs form; merging in node order is merging
    // each word left to right (a word's nodes are consecutive).
    std::sort(starts.begin(), starts.end());
    gained_.clear();
    with_left_.clear();
    with_right_.clear();
    for (size_t i = 0; i < starts.size(); ++i) {
      // The occurrences are scattered over a large array: ask for the
      // node a few ahead while this one is worked on.
      if (i + kPrefetchAhead < starts.size()) {
        __builtin_prefetch(&nodes_[starts[i + kPrefetchAhead]]);
      }
      const uint32_t node = starts[i];
      Node& first = nodes_[node];
      if (first.pair != index) continue;  // merged away or changed since
      Node& second = nodes_[first.next];
      const int64_t count = count_[first.word];
      if (first.prev != kNone) {
        Node& before = nodes_[first.prev];
        pair_count_[before.pair] -= count;
        before.pair = Gain(&with_left_, before.symbol, merged_id, count,
                           first.prev, merge_number);
      }
      first.pair = kNone;
      if (second.next != kNone) {
        Node& after = nodes_[second.next];
        pair_count_[second.pair] -= count;
        first.pair = Gain(&with_right_, after.symbol, merged_id, count, node,
                          merge_number);
        after.prev = node;
      }
      first.symbol = merged_id;
      first.next = second.next;
      second.pair = kNone;
    }
    // New entries for the pairs that gained, in pair order (the run does not
    // depend on hash order).
    std::sort(gained_.begin(), gained_.end(), [&](uint32_t a, uint32_t b) {
      return pair_key_[a] < pair_key_[b];
    });
    for (uint32_t gained : gained_) {
      const int64_t count = pair_count_[gained];
      if (count <= 0) continue;
      heap_.push_back(
          HeapEntry{count, pair_key_[gained], gained, next_birth_++});
      std::push_heap(heap_.begin(), heap_.end(), LowerPriority);
    }
  }

  // The pair of merged_id with `other` (on its left in `with_left_`, on its
  // right in `with_right_`), which starts at `node`, gains `count`; returns
  // its index. The few neighbours of one merge are looked up in a small map
  // of their own before the big one.
  uint32_t Gain(absl::flat_hash_map<uint32_t, uint32_t>* neighbours,
                uint32_t other, uint32_t merged_id, int64_t count,
                uint32_t node, uint32_t merge_number) {
    auto [it, inserted] = neighbours->try_emplace(other, 0);
    if (inserted) {
      it->second =
          PairIndex(neighbours == &with_left_ ? PairKey(other, merged_id)
                                              : PairKey(merged_id, other));
    }
    const uint32_t index = it->second;
    pair_count_[index] += count;
    pair_starts_[index].push_back(node);
    if (pair_gained_in_[index] != merge_number) {
      pair_gained_in_[index] = merge_number;
      gained_.push_back(index);
    }
    return index;
  }

  std::vector<std::string>& tokens_;
  absl::flat_hash_map<std::string, uint32_t>& token_ids_;
  std::vector<Node> nodes_;
  std::vector<int64_t> count_;  // per word
  // Per pair (by index): its key, its count, the last merge (1-based) that
  // added to it, and the nodes where it started when it was counted or
  // formed (some may have changed since).
  absl::flat_hash_map<uint64_t, uint32_t> pair_index_;
  std::vector<uint64_t> pair_key_;
  std::vector<int64_t> pair_count_;
  std::vector<uint32_t> pair_gained_in_;
  std::vector<std::vector<uint32_t>> pair_starts_;
  std::vector<uint32_t> gained_;  // pairs that gained in the current merge
  // The current merge's new pairs by the neighbour's symbol.
  absl::flat_hash_map<uint32_t, uint32_t> with_left_;
  absl::flat_hash_map<uint32_t, uint32_t> with_right_;
  std::vector<HeapEntry> heap_;
  uint32_t next_birth_ = 0;
};

double SecondsSince(absl::Time start) {
  return absl::ToDoubleSeconds(absl::Now() - start);
}

}  // namespace

BpeTrainer::BpeTrainer(BpeTrainerOptions options)
    : options_(std::move(options)) {
  options_.threads = std::clamp(options_.threads, 1, 16);
  counts_.resize(options_.threads);
  words_counted_.assign(options_.threads, 0);
}

BpeTrainer::~BpeTrainer() = default;

void BpeTrainer::Feed(absl::string_view text) {
  bytes_fed_ += static_cast<int64_t>(text.size());
  if (options_.split_special_tokens && !options_.special_tokens.empty()) {
    for (absl::string_view stretch :
         StretchesBetween(text, options_.special_tokens)) {
      FeedStretch(stretch);
    }
  } else {
    FeedStretch(text);
  }
}

// The ByteLevel pre-tokenizer prepends the space to the stretch, so only the
// first of its pieces gets it.
void BpeTrainer::FeedStretch(absl::string_view stretch) {
  if (stretch.empty()) return;
  const bool prefix = options_.add_prefix_space && stretch[0] != ' ';
  size_t start = 0;
  while (start < stretch.size()) {
    size_t end = stretch.size();
    if (end - start > 2 * kPieceBytes) {
      const size_t cut = FindSafeCut(stretch, start + kPieceBytes);
      if (cut != absl::string_view::npos) end = cut;
    }
    PendingText pending;
    pending.begin = pending_text_.size();
    if (prefix && start == 0) pending_text_.push_back(' ');
    pending_text_.append(stretch.data() + start, end - start);
    pending.end = pending_text_.size();
    pending_.push_back(pending);
    start = end;
    if (pending_text_.size() >= kBatchBytes) CountPending();
  }
}

void BpeTrainer::AddWord(absl::string_view word, int64_t count) {
  if (word.empty() || count <= 0) return;
  auto it = counts_[0].find(word);
  if (it == counts_[0].end()) {
    counts_[0].emplace(std::string(word), count);
  } else {
    it->second += count;
  }
  words_counted_[0] += count;
}

void BpeTrainer::CountTexts(const PendingText* texts, size_t n,
                            WordCounts* counts, int64_t* words) const {
  std::vector<absl::string_view> pieces;
  for (size_t i = 0; i < n; ++i) {
    const absl::string_view text(pending_text_.data() + texts[i].begin,
                                 texts[i].end - texts[i].begin);
    pieces.clear();
    SplitGpt2Pattern(text, &pieces);
    for (absl::string_view piece : pieces) {
      auto it = counts->find(piece);
      if (it == counts->end()) {
        counts->emplace(std::string(piece), 1);
      } else {
        ++it->second;
      }
      ++*words;
    }
  }
}

// Thread t counts the t-th of contiguous groups of the pending texts, of
// about equal size, into (*counts)[t] (sums do not depend on the grouping).
void BpeTrainer::CountPendingInto(std::vector<WordCounts>* counts,
                                  std::vector<int64_t>* words) const {
  const size_t threads = std::min(counts->size(), pending_.size());
  if (threads == 0) return;
  std::vector<size_t> group_begin(threads + 1, pending_.size());
  group_begin[0] = 0;
  const size_t total = pending_text_.size();
  size_t group = 1;
  for (size_t i = 0; i < pending_.size() && group < threads; ++i) {
    if (pending_[i].begin >= total * group / threads) {
      group_begin[group++] = i;
    }
  }
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t) {
    workers.emplace_back([this, t, &group_begin, counts, words] {
      CountTexts(pending_.data() + group_begin[t],
                 group_begin[t + 1] - group_begin[t], &(*counts)[t],
                 &(*words)[t]);
    });
  }
  CountTexts(pending_.data(), group_begin[1], &(*counts)[0], &(*words)[0]);
  for (std::thread& worker : workers) worker.join();
}

void BpeTrainer::CountPending() {
  const absl::Time start = absl::Now();
  CountPendingInto(&counts_, &words_counted_);
  pending_.clear();
  pending_text_.clear();
  count_seconds_ += SecondsSince(start);
}

BpeTrainer::WordCounts BpeTrainer::MergedCounts(int64_t* words) const {
  std::vector<WordCounts> pending_counts(counts_.size());
  std::vector<int64_t> pending_words(counts_.size(), 0);
  CountPendingInto(&pending_counts, &pending_words);
  std::vector<const WordCounts*> maps;
  *words = 0;
  for (size_t t = 0; t < counts_.size(); ++t) {
    maps.push_back(&counts_[t]);
    maps.push_back(&pending_counts[t]);
    *words += words_counted_[t] + pending_words[t];
  }
  // The largest map is copied once and the others added to it.
  const WordCounts* largest = maps[0];
  for (const WordCounts* map : maps) {
    if (map->size() > largest->size()) largest = map;
  }
  WordCounts merged = *largest;
  for (const WordCounts* map : maps) {
    if (map == largest) continue;
    for (const auto& [word, count] : *map) merged[word] += count;
  }
  return merged;
}

absl::StatusOr<TokenizerSpec> BpeTrainer::Train(BpeTrainStats* stats) const {
  const absl::Time count_start = absl::Now();
  std::vector<std::string> tokens;
  absl::flat_hash_map<std::string, uint32_t> token_ids;
  const std::vector<std::string>& specials = options_.special_tokens;
  for (size_t i = 0; i < specials.size(); ++i) {
    if (specials[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token ", i, " is empty"));
    }
    auto [it, inserted] =
        token_ids.try_emplace(specials[i], static_cast<uint32_t>(i));
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("special token '", specials[i], "' is given twice (",
                       it->second, " and ", i, ")"));
    }
    tokens.push_back(specials[i]);
  }
  // The 256 byte characters in code point order; a special token that is
  // one of them keeps its id, as HF's trainer does.
  std::array<uint8_t, 256> bytes_by_code_point;
  for (int b = 0; b < 256; ++b) {
    bytes_by_code_point[b] = static_cast<uint8_t>(b);
  }
  std::sort(bytes_by_code_point.begin(), bytes_by_code_point.end(),
            [](uint8_t a, uint8_t b) {
              return ByteToCodePoint(a) < ByteToCodePoint(b);
            });
  std::array<uint32_t, 256> byte_ids;
  for (uint8_t b : bytes_by_code_point) {
    std::string character = BytesToByteLevel(
        absl::string_view(reinterpret_cast<const char*>(&b), 1));
    auto [it, inserted] =
        token_ids.try_emplace(character, static_cast<uint32_t>(tokens.size()));
    if (inserted) tokens.push_back(std::move(character));
    byte_ids[b] = it->second;
  }
  if (options_.vocab_size < static_cast<int64_t>(tokens.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vocab_size ", options_.vocab_size, " is smaller than the ",
        specials.size(), " special tokens plus the 256 byte tokens (",
        tokens.size(), ")"));
  }

  int64_t words = 0;
  const WordCounts counts = MergedCounts(&words);
  if (counts.empty()) {
    return absl::InvalidArgumentError(
        bytes_fed_ == 0 ? "no training text was given"
                        : absl::StrCat("the ", bytes_fed_,
                                       " bytes of training text hold no "
                                       "words besides special tokens"));
  }
  const double count_seconds = count_seconds_ + SecondsSince(count_start);

  const absl::Time merge_start = absl::Now();
  const int64_t initial_vocab_size = static_cast<int64_t>(tokens.size());
  MergeState state(&tokens, &token_ids);
  size_t symbols = 0;
  for (const auto& [word, count] : counts) symbols += word.size();
  if (symbols >= kNone) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the ", counts.size(), " distinct words hold ", symbols,
                     " bytes; the trainer indexes at most ", kNone - 1));
  }
  state.Reserve(counts.size(), symbols);
  for (const auto& [word, count] : counts) state.AddWord(word, count, byte_ids);
  state.CountPairs();
  const std::vector<std::pair<uint64_t, uint32_t>> merge_steps =
      state.Run(options_.vocab_size, options_.min_frequency, options_.progress);

  TokenizerSpec spec;
  // Were a pair ever merged twice (see the header: it is not expected), it
  // would keep its later rank, as HF's model (a map pair -> rank) saves it.
  absl::flat_hash_set<uint64_t> later;
  for (size_t i = merge_steps.size(); i-- > 0;) {
    const uint64_t pair = merge_steps[i].first;
    if (!later.insert(pair).second) continue;
    spec.merges.emplace_back(tokens[PairLeft(pair)], tokens[PairRight(pair)]);
  }
  std::reverse(spec.merges.begin(), spec.merges.end());
  if (options_.progress) {
    options_.progress(static_cast<int64_t>(merge_steps.size()),
                      options_.vocab_size - initial_vocab_size);
  }
  for (size_t i = 0; i < specials.size(); ++i) {
    AddedToken added;
    added.id = static_cast<int64_t>(i);
    added.content = specials[i];
    added.special = true;
    spec.added_tokens.push_back(std::move(added));
  }
  spec.add_prefix_space = options_.add_prefix_space;
  spec.use_regex = true;
  spec.vocab = std::move(tokens);
  if (stats != nullptr) {
    stats->bytes = bytes_fed_;
    stats->words = words;
    stats->unique_words = static_cast<int64_t>(counts.size());
    stats->merge_steps = static_cast<int64_t>(merge_steps.size());
    stats->merges = static_cast<int64_t>(spec.merges.size());
    stats->vocab_size = static_cast<int64_t>(spec.vocab.size());
    stats->count_seconds = count_seconds;
    stats->merge_seconds = SecondsSince(merge_start);
  }
  return spec;
}

absl::StatusOr<Tokenizer> BpeTrainer::TrainTokenizer(
    BpeTrainStats* stats) const {
  absl::StatusOr<TokenizerSpec> spec = Train(stats);
  if (!spec.ok()) return spec.status();
  const absl::flat_hash_set<std::string> specials(
      options_.special_tokens.begin(), options_.special_tokens.end());
  TokenizerConfig config;
  if (specials.contains("<|im_start|>")) config.bos_token = "<|im_start|>";
  if (specials.contains("<|im_end|>")) config.eos_token = "<|im_end|>";
  if (specials.contains("<|endoftext|>")) {
    config.pad_token = "<|endoftext|>";
    config.unk_token = "<|endoftext|>";
  }
  absl::StatusOr<Tokenizer> tokenizer = Tokenizer::FromSpec(*std::move(spec));
  if (!tokenizer.ok()) return tokenizer.status();
  tokenizer->set_config(std::move(config));
  return tokenizer;
}

}  // namespace minigraph
