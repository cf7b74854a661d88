#include "framework/tokenizer/bpe_model.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "framework/tokenizer/byte_level.h"
#include "framework/tokenizer/unicode_props.h"

namespace minigraph {
namespace {

constexpr uint64_t kNoMerge = MergeTable::kNone;

int32_t MergedId(uint64_t entry) {
  return static_cast<int32_t>(entry & 0xFFFFFFFFu);
}
uint32_t Rank(uint64_t entry) { return static_cast<uint32_t>(entry >> 32); }

// A symbol of the word being merged, linked to its live neighbours.
struct Symbol {
  int32_t id;
  int32_t prev;   // -1: none
  int32_t next;   // -1: none
  uint64_t pair;  // table entry of (this, next), kNoMerge if none
  bool alive;
};

}  // namespace

void MergeTable::Reserve(size_t merges) {
  size_t capacity = 2;
  shift_ = 63;
  while (capacity < 2 * merges + 2) {
    capacity *= 2;
    --shift_;
  }
  keys_.assign(capacity, kNone);
  entries_.assign(capacity, kNone);
  mask_ = capacity - 1;
}

void MergeTable::Set(int32_t left, int32_t right, int32_t rank,
                     int32_t merged) {
  const uint64_t key = Key(left, right);
  size_t slot = Slot(key);
  while (keys_[slot] != kNone && keys_[slot] != key) slot = (slot + 1) & mask_;
  keys_[slot] = key;
  entries_[slot] =
      (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(merged);
}

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(
    const std::vector<std::string>& vocab,
    const std::vector<std::pair<std::string, std::string>>& merges,
    const BpeModelOptions& options) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  model->options_ = options;
  model->token_ids_.reserve(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    const auto [it, inserted] =
        model->token_ids_.emplace(vocab[id], static_cast<int32_t>(id));
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocab: token \"", vocab[id], "\" has two ids, ",
                       it->second, " and ", id));
    }
  }
  auto find_id = [&model](absl::string_view token) -> int32_t {
    auto it = model->token_ids_.find(token);
    return it == model->token_ids_.end() ? -1 : it->second;
  };
  for (int b = 0; b < 256; ++b) {
    std::string character;
    AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(b)), &character);
    model->byte_ids_[b] = find_id(character);
  }
  model->merges_.Reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const std::string merged = absl::StrCat(left, right);
    int32_t ids[3];
    const std::string* tokens[3] = {&left, &right, &merged};
    for (int k = 0; k < 3; ++k) {
      ids[k] = find_id(*tokens[k]);
      if (ids[k] < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("merges[", rank, "] (\"", left, "\" + \"", right,
                         "\"): ", k == 2 ? "the merged token \"" : "token \"",
                         *tokens[k], "\" is not in the vocab"));
      }
    }
    model->merges_.Set(ids[0], ids[1], static_cast<int32_t>(rank), ids[2]);
  }
  if (options.unk_id.has_value() &&
      (*options.unk_id < 0 ||
       static_cast<size_t>(*options.unk_id) >= vocab.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("unk id ", *options.unk_id, " is outside the vocab"));
  }
  return model;
}

void BpeModel::InitialSymbols(absl::string_view piece,
                              std::vector<int32_t>* symbols) const {
  // Each byte is one byte-level character. Unknown ones become the unk
  // token (one per byte, or one per run with fuse_unk), or vanish.
  bool pending_unk = false;
  for (const char byte : piece) {
    const int32_t id = byte_ids_[static_cast<uint8_t>(byte)];
    if (id >= 0) {
      if (pending_unk) symbols->push_back(*options_.unk_id);
      pending_unk = false;
      symbols->push_back(id);
    } else if (options_.unk_id.has_value()) {
      if (pending_unk && !options_.fuse_unk) {
        symbols->push_back(*options_.unk_id);
      }
      pending_unk = true;
    }
  }
  if (pending_unk) symbols->push_back(*options_.unk_id);
}

void BpeModel::MergeAll(std::vector<int32_t>* ids) const {
  if (ids->size() < 2) return;
  if (ids->size() <= kMaxScannedSymbols) {
    MergeByScanning(ids);
  } else {
    MergeWithHeap(ids);
  }
}

void BpeModel::MergeByScanning(std::vector<int32_t>* ids) const {
  // merge[i] is the table entry of the pair (symbols[i], symbols[i + 1]):
  // its first minimum is the lowest rank, leftmost on ties.
  std::vector<int32_t>& symbols = *ids;
  size_t n = symbols.size();
  uint64_t merge[kMaxScannedSymbols];
  for (size_t i = 0; i + 1 < n; ++i) {
    merge[i] = merges_.Find(symbols[i], symbols[i + 1]);
  }
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i) {
      if (merge[i] < merge[best]) best = i;
    }
    if (merge[best] == kNoMerge) break;
    symbols[best] = MergedId(merge[best]);
    for (size_t i = best + 1; i + 1 < n; ++i) {
      symbols[i] = symbols[i + 1];
      merge[i] = merge[i + 1];
    }
    --n;
    if (best + 1 < n)
      merge[best] = merges_.Find(symbols[best], symbols[best + 1]);
    if (best > 0)
      merge[best - 1] = merges_.Find(symbols[best - 1], symbols[best]);
  }
  symbols.resize(n);
}

void BpeModel::MergeWithHeap(std::vector<int32_t>* ids) const {
  const int32_t n = static_cast<int32_t>(ids->size());
  thread_local std::vector<Symbol> symbols;
  // Candidates rank << 32 | position, smallest on top: the lowest rank,
  // then the leftmost. Each symbol keeps the table entry of the pair it
  // starts; every change of that pair rewrites it, so a popped candidate is
  // current exactly when its rank is still the symbol's.
  thread_local std::vector<uint64_t> heap;
  const std::greater<uint64_t> later;
  symbols.resize(static_cast<size_t>(n));
  heap.clear();
  for (int32_t i = 0; i < n; ++i) {
    symbols[i] = {(*ids)[i], i - 1, i + 1 < n ? i + 1 : -1, kNoMerge, true};
  }
  for (int32_t i = 0; i + 1 < n; ++i) {
    symbols[i].pair = merges_.Find(symbols[i].id, symbols[i + 1].id);
    if (symbols[i].pair != kNoMerge) {
      heap.push_back((symbols[i].pair & ~uint64_t{0xFFFFFFFF}) |
                     static_cast<uint32_t>(i));
    }
  }
  std::make_heap(heap.begin(), heap.end(), later);
  // Sets the pair starting at `pos` and queues it when it has a merge.
  auto update_pair = [this, &later](int32_t pos) {
    Symbol& symbol = symbols[pos];
    symbol.pair = symbol.next < 0
                      ? kNoMerge
                      : merges_.Find(symbol.id, symbols[symbol.next].id);
    if (symbol.pair == kNoMerge) return;
    heap.push_back((symbol.pair & ~uint64_t{0xFFFFFFFF}) |
                   static_cast<uint32_t>(pos));
    std::push_heap(heap.begin(), heap.end(), later);
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const uint64_t top = heap.back();
    heap.pop_back();
    const int32_t pos = static_cast<int32_t>(top & 0xFFFFFFFFu);
    Symbol& left = symbols[pos];
    if (!left.alive || left.pair == kNoMerge || Rank(left.pair) != top >> 32) {
      continue;
    }
    Symbol& right = symbols[left.next];
    left.id = MergedId(left.pair);
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = pos;
    if (left.prev >= 0) update_pair(left.prev);
    update_pair(pos);
  }
  ids->clear();
  // Symbol 0 is never merged away (merges keep the left symbol).
  for (int32_t i = 0; i >= 0; i = symbols[i].next)
    ids->push_back(symbols[i].id);
}

void BpeModel::Encode(absl::string_view piece,
                      std::vector<int64_t>* ids) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    auto it = token_ids_.find(BytesToByteLevel(piece));
    if (it != token_ids_.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  if (cacheable) {
    absl::MutexLock lock(&cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  InitialSymbols(piece, &symbols);
  MergeAll(&symbols);
  ids->insert(ids->end(), symbols.begin(), symbols.end());
  if (cacheable) {
    absl::MutexLock lock(&cache_mutex_);
    if (cache_.size() >= kCacheCapacity) cache_.clear();
    cache_.emplace(piece, symbols);
  }
}

}  // namespace minigraph
