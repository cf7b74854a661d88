// A training checkpoint directory, in the layout MiniMind and Hugging Face
// read: config.json and model.safetensors (MiniMind's parameter names), plus
// optimizer.safetensors and trainer_state.json for resuming. Every file is
// written to a temporary name and renamed into place, trainer_state.json
// last; model and optimizer files carry the step in their metadata, so a
// checkpoint torn between two renames is refused on resume, not misread.
#ifndef MINIGRAPH_MODELS_TRAIN_CHECKPOINT_H_
#define MINIGRAPH_MODELS_TRAIN_CHECKPOINT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "framework/optim/optim.h"
#include "models/minimind_lm.h"
#include "models/train/trainer.h"

namespace minigraph {

inline constexpr char kTrainerStateFile[] = "trainer_state.json";
inline constexpr char kOptimizerFile[] = "optimizer.safetensors";

// dir + "/" + name.
std::string PathIn(const std::string& dir, absl::string_view name);

// Creates `dir` (and its parents) if needed and checks that a file can be
// written there.
absl::Status PrepareOutputDir(const std::string& dir);

// Takes an exclusive lock on `dir` (a lock file inside it) for as long as
// the returned descriptor stays open, so two runs never write one
// checkpoint; an error names the directory when another run holds it.
absl::StatusOr<int> LockOutputDir(const std::string& dir);

absl::Status SaveCheckpoint(const std::string& dir,
                            const MiniMindForCausalLM& model,
                            const Optimizer& optimizer, const TrainPlan& plan,
                            int64_t step);

// The optimizer a plan asks for, over the model's parameters.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(
    const TrainPlan& plan, const MiniMindForCausalLM& model);

struct LoadedCheckpoint {
  TrainerState state;
  std::optional<MiniMindForCausalLM> model;
  std::unique_ptr<Optimizer> optimizer;
};

// Reads everything a resume needs; every error names the file and the key
// or tensor.
absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& dir);

// The step saved in `dir`'s trainer_state.json, or 0 when it has none.
int64_t CheckpointStep(const std::string& dir);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_TRAIN_CHECKPOINT_H_
