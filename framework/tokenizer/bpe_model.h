// The BPE model of a byte-level tokenizer: a piece of raw bytes becomes one
// symbol per byte (its byte-level character's id), then the adjacent pair
// with the lowest merge rank is merged, leftmost first on ties, until no
// pair has a merge. This is HF tokenizers' BPE without dropout, subword
// prefixes or byte fallback.
#ifndef MINIGRAPH_FRAMEWORK_TOKENIZER_BPE_MODEL_H_
#define MINIGRAPH_FRAMEWORK_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace minigraph {

struct BpeModelOptions {
  // A piece that is itself a token is that token, merges or not.
  bool ignore_merges = false;
  // Id of the token standing for bytes whose character is not in the vocab;
  // without one such bytes are dropped.
  std::optional<int32_t> unk_id;
  // Consecutive unknown bytes become one unk instead of one each.
  bool fuse_unk = false;
};

// The merges by pair of ids: open addressing with linear probing, since the
// lookup is the inner loop of encoding.
class MergeTable {
 public:
  // rank << 32 | merged id, so that comparing entries compares ranks.
  static constexpr uint64_t kNone = ~uint64_t{0};

  void Reserve(size_t merges);
  // A pair set again keeps the later entry, as HF's merge map does.
  void Set(int32_t left, int32_t right, int32_t rank, int32_t merged);
  uint64_t Find(int32_t left, int32_t right) const {
    const uint64_t key = Key(left, right);
    for (size_t slot = Slot(key);; slot = (slot + 1) & mask_) {
      if (keys_[slot] == key) return entries_[slot];
      if (keys_[slot] == kNone) return kNone;
    }
  }

 private:
  static uint64_t Key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  size_t Slot(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }

  std::vector<uint64_t> keys_ = {kNone};  // kNone: empty (ids are < 2^31)
  std::vector<uint64_t> entries_ = {kNone};
  size_t mask_ = 0;
  int shift_ = 63;
};

class BpeModel {
 public:
  // `vocab` holds the token text (byte-level characters) of each id. Every
  // merge's two sides and their concatenation must be tokens; a pair listed
  // twice takes the rank of its last listing, as HF's merge map does.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      const std::vector<std::string>& vocab,
      const std::vector<std::pair<std::string, std::string>>& merges,
      const BpeModelOptions& options);

  // Appends the ids of one pre-tokenized piece, given as raw bytes.
  void Encode(absl::string_view piece, std::vector<int64_t>* ids) const;

  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

 private:
  BpeModel() = default;
  // The symbols of `piece` before any merge (unknown bytes handled).
  void InitialSymbols(absl::string_view piece,
                      std::vector<int32_t>* symbols) const;
  // Merges `symbols` in place: by scanning all pairs for the best one when
  // there are few symbols (most words), with a heap of candidate merges
  // when there are more (long runs stay O(n log n)).
  void MergeAll(std::vector<int32_t>* symbols) const;
  void MergeByScanning(std::vector<int32_t>* symbols) const;
  void MergeWithHeap(std::vector<int32_t>* symbols) const;
  static constexpr size_t kMaxScannedSymbols = 16;

  BpeModelOptions options_;
  std::array<int32_t, 256> byte_ids_{};  // -1: not in the vocab
  MergeTable merges_;
  absl::flat_hash_map<std::string, int32_t> token_ids_;  // for ignore_merges

  // Pieces seen before, bounded: cleared when full. Only short pieces: words
  // repeat, long runs of CJK text between punctuation rarely do.
  static constexpr size_t kCacheCapacity = 1 << 16;
  static constexpr size_t kMaxCachedPieceBytes = 32;
  mutable absl::Mutex cache_mutex_;
  mutable absl::flat_hash_map<std::string, std::vector<int32_t>> cache_
      ABSL_GUARDED_BY(cache_mutex_);
};

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TOKENIZER_BPE_MODEL_H_
