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
#include "framework/tokenizer/tokenizer.h"
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

// Writes model, optimizer, config, the tokenizer (tokenizer.json and
// tokenizer_config.json) and, last, trainer_state.json.
absl::Status SaveCheckpoint(const std::string& dir,
                            const MiniMindForCausalLM& model,
                            const Tokenizer& tokenizer,
                            const Optimizer& optimizer, const TrainPlan& plan,
                            int64_t step);

// The tokenizer a run encodes its text with: the file or directory `path`
// names, else `model_dir`'s tokenizer.json when it has one, else the
// byte-level tokenizer (models/train/byte_tokenizer.h).
absl::StatusOr<Tokenizer> ResolveTokenizer(const std::string& path,
                                           const std::string& model_dir);

// The optimizer a plan asks for, over the model's parameters.
absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(
    const TrainPlan& plan, const MiniMindForCausalLM& model);

struct LoadedCheckpoint {
  TrainerState state;
  std::optional<MiniMindForCausalLM> model;
  std::optional<Tokenizer> tokenizer;
  std::unique_ptr<Optimizer> optimizer;
};

// Reads everything a resume needs; every error names the file and the key
// or tensor.
absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& dir);

// The step saved in `dir`'s trainer_state.json, or 0 when it has none.
int64_t CheckpointStep(const std::string& dir);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_TRAIN_CHECKPOINT_H_
