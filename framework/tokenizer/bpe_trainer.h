// Trains a byte-level BPE tokenizer as HF's BpeTrainer does with the
// ByteLevel pre-tokenizer and initial_alphabet = ByteLevel.alphabet():
// special tokens take ids 0.., the 256 byte characters follow in code point
// order, then each merge adds the most frequent adjacent pair of the
// pre-tokenized words (ties: the pair of smaller ids), until the vocabulary
// has vocab_size tokens or no pair is seen max(1, min_frequency) times.
//
// The merge loop is HF's: pair counts changed only around each merge (the
// merged pair's own count is left alone), a max-heap whose popped entry goes
// back with the current count when it is out of date. Where HF rescans the
// words holding a pair, this keeps the places each pair starts, so a merge
// costs its occurrences rather than the length of those words. With no
// subword prefix, suffix or length limit, as here, HF's bookkeeping equals a
// recount of every pair after each merge: a merge reaches every occurrence
// of its pair, and merges apply in one global order inside any token's
// bytes, so no token is built by two different pairs and no pair is merged
// twice (the tests check this against a recounting trainer).
//
// Pre-tokenization differs from HF's train_from_iterator in one chosen way:
// special tokens in the training text are split out (as encoding does) and
// not counted; split_special_tokens = false counts them as text, as HF does.
#ifndef MINIGRAPH_FRAMEWORK_TOKENIZER_BPE_TRAINER_H_
#define MINIGRAPH_FRAMEWORK_TOKENIZER_BPE_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/tokenizer/tokenizer.h"

namespace minigraph {

struct BpeTrainerOptions {
  int64_t vocab_size = 6400;
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>",
                                             "<|im_end|>"};
  int64_t min_frequency = 0;  // pairs seen fewer times are never merged
  bool add_prefix_space = false;
  // Special tokens in fed text are cut out, not counted (false: counted as
  // ordinary text, as HF's trainer does).
  bool split_special_tokens = true;
  // Threads that pre-tokenize and count (the result does not depend on it).
  int threads = 2;
  // Called now and then with (merges done, merges wanted).
  std::function<void(int64_t, int64_t)> progress;
};

// What a training run saw and how long its phases took.
struct BpeTrainStats {
  int64_t bytes = 0;         // text fed
  int64_t words = 0;         // pre-tokenized pieces counted
  int64_t unique_words = 0;  // distinct pieces
  int64_t merge_steps = 0;   // merges made (a pair merged twice counts twice)
  int64_t merges = 0;        // merges in the result
  int64_t vocab_size = 0;
  double count_seconds = 0;  // pre-tokenizing and counting
  double merge_seconds = 0;  // building the words and the merge loop
};

// Counts the words of texts fed one at a time, then learns the merges.
class BpeTrainer {
 public:
  explicit BpeTrainer(BpeTrainerOptions options);
  ~BpeTrainer();
  BpeTrainer(const BpeTrainer&) = delete;
  BpeTrainer& operator=(const BpeTrainer&) = delete;

  // Pre-tokenizes `text` as one training text: special tokens are split out
  // (not counted), each stretch between them gets the optional prefix space
  // and the GPT-2 split. A long text is counted in pieces cut where the
  // split is known not to change, so any text size gives the same counts.
  void Feed(absl::string_view text);
  // Counts `count` occurrences of one pre-tokenized word (raw bytes).
  void AddWord(absl::string_view word, int64_t count = 1);

  // The learned tokenizer. Errors: a special token empty or repeated,
  // vocab_size below the special tokens plus the 256 bytes, nothing counted.
  absl::StatusOr<TokenizerSpec> Train(BpeTrainStats* stats = nullptr) const;
  // Train, then a Tokenizer whose tokenizer_config.json names MiniMind's
  // bos "<|im_start|>", eos "<|im_end|>" and pad/unk "<|endoftext|>" when
  // those are special tokens.
  absl::StatusOr<Tokenizer> TrainTokenizer(
      BpeTrainStats* stats = nullptr) const;

  int64_t bytes_fed() const { return bytes_fed_; }

 private:
  using WordCounts = absl::flat_hash_map<std::string, int64_t>;
  // A piece of fed text waiting to be counted: [begin, end) of pending_text_.
  struct PendingText {
    size_t begin;
    size_t end;
  };

  void FeedStretch(absl::string_view stretch);
  void CountPending();
  void CountPendingInto(std::vector<WordCounts>* counts,
                        std::vector<int64_t>* words) const;
  void CountTexts(const PendingText* texts, size_t n, WordCounts* counts,
                  int64_t* words) const;
  WordCounts MergedCounts(int64_t* words) const;

  BpeTrainerOptions options_;
  // Counted words, one map per counting thread (summed by Train).
  std::vector<WordCounts> counts_;
  std::vector<int64_t> words_counted_;
  // Fed text not counted yet, counted in batches across the threads.
  std::string pending_text_;
  std::vector<PendingText> pending_;
  int64_t bytes_fed_ = 0;
  double count_seconds_ = 0;
};

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TOKENIZER_BPE_TRAINER_H_
