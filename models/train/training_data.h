// Where a training run's batches come from: text (a UTF-8 file, MiniMind's
// JSONL pretraining format, or the default corpus) tokenized by the run's
// tokenizer (byte-level unless a tokenizer.json is given) and cut into random
// windows, or ready-made batches of ids in a safetensors
// file, taken in order.
//
// A batch depends only on (seed, step, micro-batch): no generator state is
// carried from one step to the next, so a resumed run sees exactly the
// batches of the run that never stopped.
#ifndef MINIGRAPH_MODELS_TRAIN_TRAINING_DATA_H_
#define MINIGRAPH_MODELS_TRAIN_TRAINING_DATA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/tensor.h"
#include "framework/tokenizer/tokenizer.h"

namespace minigraph {

struct TokenBatch {
  Tensor input_ids;  // int64 [B, T]
  Tensor labels;     // int64 [B, T]; -100 where no loss is taken
};

struct DataOptions {
  // A .safetensors file of batches, a .jsonl file with a "text" field per
  // line, any other file as plain text, or "" for the default corpus.
  std::string path;
  int64_t batch = 4;
  int64_t seq = 256;
  int64_t accum = 1;  // micro-batches per optimizer step
  uint64_t seed = 0;
  int64_t vocab_size = 0;  // every id must be below it
  // Documents (JSONL lines, fortunes) are wrapped as bos + text + eos.
  int64_t bos_id = 1;
  int64_t eos_id = 2;
  int64_t eval_batches = 8;  // held-out batches per evaluation (text only)
  // Encodes text; must outlive OpenTrainingData. Null: the byte-level
  // tokenizer (models/train/byte_tokenizer.h).
  const Tokenizer* tokenizer = nullptr;
};

class TrainingData {
 public:
  virtual ~TrainingData() = default;
  // Micro-batch `micro` (0-based) of optimizer step `step` (1-based).
  virtual absl::StatusOr<TokenBatch> TrainBatch(int64_t step,
                                                int64_t micro) const = 0;
  // Held-out batches, the same on every call; 0 when there is no split.
  virtual int64_t NumEvalBatches() const = 0;
  virtual TokenBatch EvalBatch(int64_t index) const = 0;
  // Optimizer steps the data holds, or 0 when it is unbounded (windows).
  virtual int64_t NumSteps() const { return 0; }
  // [B, T] of every batch (a safetensors file's own, not the options').
  virtual int64_t batch() const = 0;
  virtual int64_t seq() const = 0;
  // One line: what was read and how it was split.
  virtual std::string Describe() const = 0;
};

absl::StatusOr<std::unique_ptr<TrainingData>> OpenTrainingData(
    const DataOptions& options);

// Where the default corpus comes from (the fortunes package's files).
inline constexpr char kDefaultCorpusDir[] = "/usr/share/games/fortunes";

// Appends the ids of `text` (null tokenizer: byte-level) to `ids`, encoding
// pieces of about `piece_bytes` so that no id vector of a whole large text is
// needed at once. A piece ends after a newline between two printable ASCII
// characters other than space: the split pattern ends a piece there in the
// whole text too, so the ids equal those of encoding the text in one go (a
// tokenizer that adds a prefix space encodes the text whole).
void AppendTextIds(absl::string_view text, const Tokenizer* tokenizer,
                   std::vector<int32_t>* ids,
                   size_t piece_bytes = size_t{1} << 20);

// Token streams cut into windows; exposed for tests and model scripts.
// `train` and `eval` are id streams (int32 keeps big corpora at 4 bytes per
// byte); eval may be empty.
std::unique_ptr<TrainingData> MakeWindowData(std::vector<int32_t> train,
                                             std::vector<int32_t> eval,
                                             const DataOptions& options,
                                             std::string description);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_TRAIN_TRAINING_DATA_H_
