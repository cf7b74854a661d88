// The training loop behind `minigraph train`: MiniMind's causal LM, a batch
// source, an optimizer with its schedule, gradient accumulation and clipping,
// metrics, evaluation and checkpoints that resume bit for bit.
//
// A run is defined by its plan (TrainPlan), which every checkpoint stores in
// trainer_state.json: resuming reads the plan back and runs it to its end, so
// an interrupted run and one that never stopped end with the same bits.
#ifndef MINIGRAPH_MODELS_TRAIN_TRAINER_H_
#define MINIGRAPH_MODELS_TRAIN_TRAINER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "framework/dtype.h"
#include "framework/optim/optim.h"

namespace minigraph {

struct TrainPlan {
  // The model: a checkpoint directory (config.json + model.safetensors), or
  // a preset when model_dir is empty.
  std::string model_dir;
  std::string preset = "tiny";
  // See DataOptions::path; "" is the default corpus.
  std::string data_path;
  // tokenizer.json (or a directory holding one) that encodes the text; ""
  // takes model_dir's tokenizer when it has one, else the byte-level
  // tokenizer. The checkpoint carries the tokenizer it was trained with.
  std::string tokenizer_path;
  int64_t steps = 3000;  // optimizer steps in the whole run
  int64_t batch = 16;
  int64_t seq = 128;
  int64_t accum = 1;                // micro-batches per optimizer step
  std::string optimizer = "adamw";  // "adamw" | "sgd"
  Schedule schedule;                // lr, kind, warmup, min_lr
  AdamWOptions adamw;
  SgdOptions sgd;
  double grad_clip = 1.0;  // <= 0: no clipping (the norm is still logged)
  DType dtype = DType::kFloat32;
  uint64_t seed = 0;
  int64_t eval_every = 250;  // 0: never (the last step still evaluates)
  int64_t eval_batches = 8;
  int64_t checkpoint_every = 0;  // 0: only at the end
};

// Checks every field; the message names the flag.
absl::Status ValidatePlan(const TrainPlan& plan);

// trainer_state.json <-> plan and step. Doubles are written with 17
// significant digits so they read back exactly.
std::string TrainerStateToJson(const TrainPlan& plan, int64_t step,
                               int64_t batches_consumed);
struct TrainerState {
  TrainPlan plan;
  int64_t step = 0;
};
absl::StatusOr<TrainerState> ParseTrainerState(absl::string_view json,
                                               absl::string_view source);

struct TrainOptions {
  std::string out_dir;
  // Continue the run saved in this directory (its plan wins over the one
  // given); out_dir may equal it.
  std::string resume_dir;
  // End the run after this step with a checkpoint, as an interruption would,
  // without changing the plan; 0 runs to the end.
  int64_t stop_after = 0;
  // Set from a signal handler: finish the current step, checkpoint, return.
  const std::atomic<bool>* interrupted = nullptr;
  // Progress lines go here (stdout for the CLI); nullptr is silent.
  FILE* log = nullptr;
  // A live line on a terminal instead of periodic lines.
  bool live_progress = false;
};

struct TrainResult {
  int64_t last_step = 0;     // the step the last checkpoint holds
  bool finished = false;     // the plan ran to its end
  bool interrupted = false;  // stopped by `interrupted` or stop_after
  double last_loss = 0.0;
  double first_loss = 0.0;
};

// Runs (or resumes) a plan. Errors: bad plan or data, unreadable model or
// checkpoint, unwritable out_dir, a non-finite loss or gradient (the message
// names the step and the first parameter whose gradient went non-finite; the
// last good checkpoint is left as it was).
absl::StatusOr<TrainResult> RunTraining(const TrainPlan& plan,
                                        const TrainOptions& options);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_TRAIN_TRAINER_H_
