#include "models/train/checkpoint.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "framework/graph_io.h"
#include "framework/safetensors.h"
#include "framework/status_macros.h"
#include "models/train/byte_tokenizer.h"

namespace minigraph {
namespace {

constexpr int64_t kMaxStateBytes = int64_t{1} << 20;
constexpr char kModelFile[] = "model.safetensors";
constexpr char kConfigFile[] = "config.json";

bool Exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

// The "step" entry of a safetensors file's metadata must match the
// checkpoint's step.
absl::Status CheckStepMetadata(const SafetensorsFile& file,
                               const std::string& path, int64_t step) {
  auto it = file.metadata.find("step");
  int64_t saved = -1;
  if (it == file.metadata.end() || !absl::SimpleAtoi(it->second, &saved) ||
      saved != step) {
    return absl::DataLossError(absl::StrCat(
        path, ": metadata 'step' is ",
        it == file.metadata.end() ? std::string("missing") : it->second,
        ", but trainer_state.json holds step ", step,
        " (the checkpoint was not written completely)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string PathIn(const std::string& dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name);
}

absl::Status PrepareOutputDir(const std::string& dir) {
  if (dir.empty()) {
    return absl::InvalidArgumentError("--out is required (a directory)");
  }
  // mkdir -p.
  for (size_t at = 1; at <= dir.size(); ++at) {
    if (at != dir.size() && dir[at] != '/') continue;
    const std::string prefix = dir.substr(0, at);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat(dir, ": cannot create directory ", prefix, " (",
                       std::strerror(errno), ")"));
    }
  }
  struct stat info;
  if (stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": --out exists and is not a directory"));
  }
  if (access(dir.c_str(), W_OK) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        dir, ": --out is not writable (", std::strerror(errno), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> LockOutputDir(const std::string& dir) {
  const std::string path = PathIn(dir, ".train.lock");
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": cannot create the lock file (", std::strerror(errno), ")"));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " is in use by another training run (", path, " is locked)"));
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<Optimizer>> MakeOptimizer(
    const TrainPlan& plan, const MiniMindForCausalLM& model) {
  if (plan.optimizer == "adamw") {
    return MakeAdamW(model.NamedParameters(), plan.adamw);
  }
  if (plan.optimizer == "sgd") {
    return MakeSgd(model.NamedParameters(), plan.sgd);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--optimizer must be adamw or sgd, got '", plan.optimizer, "'"));
}

absl::Status SaveCheckpoint(const std::string& dir,
                            const MiniMindForCausalLM& model,
                            const Tokenizer& tokenizer,
                            const Optimizer& optimizer, const TrainPlan& plan,
                            int64_t step) {
  SafetensorsFile weights = StateDict(model);
  weights.metadata["format"] = "pt";
  weights.metadata["step"] = absl::StrCat(step);
  MG_RETURN_IF_ERROR(WriteSafetensors(PathIn(dir, kModelFile), weights));
  SafetensorsFile state = optimizer.StateDict();
  state.metadata["step"] = absl::StrCat(step);
  MG_RETURN_IF_ERROR(WriteSafetensors(PathIn(dir, kOptimizerFile), state));
  MG_RETURN_IF_ERROR(WriteFileAtomically(PathIn(dir, kConfigFile),
                                         ConfigToJson(model.config())));
  MG_RETURN_IF_ERROR(tokenizer.Save(dir));
  // Last: a checkpoint exists once its state names its step.
  return WriteFileAtomically(PathIn(dir, kTrainerStateFile),
                             TrainerStateToJson(plan, step, step * plan.accum));
}

absl::StatusOr<Tokenizer> ResolveTokenizer(const std::string& path,
                                           const std::string& model_dir) {
  if (!path.empty()) return Tokenizer::Load(path);
  if (!model_dir.empty() && Exists(PathIn(model_dir, "tokenizer.json"))) {
    return Tokenizer::Load(model_dir);
  }
  return Tokenizer::FromSpec(ByteTokenizerSpec());
}

int64_t CheckpointStep(const std::string& dir) {
  absl::StatusOr<std::string> json =
      ReadFileToString(PathIn(dir, kTrainerStateFile), kMaxStateBytes);
  if (!json.ok()) return 0;
  absl::StatusOr<TrainerState> state =
      ParseTrainerState(*json, PathIn(dir, kTrainerStateFile));
  return state.ok() ? state->step : 0;
}

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& dir) {
  const std::string state_path = PathIn(dir, kTrainerStateFile);
  if (!Exists(state_path)) {
    return absl::NotFoundError(absl::StrCat(
        dir, ": not a training checkpoint (no ", kTrainerStateFile, ")"));
  }
  MG_ASSIGN_OR_RETURN(const std::string json,
                      ReadFileToString(state_path, kMaxStateBytes));
  LoadedCheckpoint loaded;
  MG_ASSIGN_OR_RETURN(loaded.state, ParseTrainerState(json, state_path));
  const int64_t step = loaded.state.step;
  MG_ASSIGN_OR_RETURN(const MiniMindConfig config,
                      ReadConfigJson(PathIn(dir, kConfigFile)));
  const std::string model_path = PathIn(dir, kModelFile);
  MG_ASSIGN_OR_RETURN(const SafetensorsFile weights,
                      ReadSafetensors(model_path));
  MG_RETURN_IF_ERROR(CheckStepMetadata(weights, model_path, step));
  MG_ASSIGN_OR_RETURN(
      MiniMindForCausalLM model,
      MiniMindForCausalLM::FromStateDict(config, weights, model_path,
                                         loaded.state.plan.dtype));
  loaded.model.emplace(std::move(model));
  // Checkpoints from before tokenizers were saved were trained byte-level.
  MG_ASSIGN_OR_RETURN(Tokenizer tokenizer, ResolveTokenizer("", dir));
  loaded.tokenizer.emplace(std::move(tokenizer));
  MG_ASSIGN_OR_RETURN(loaded.optimizer,
                      MakeOptimizer(loaded.state.plan, *loaded.model));
  const std::string optimizer_path = PathIn(dir, kOptimizerFile);
  MG_ASSIGN_OR_RETURN(const SafetensorsFile state,
                      ReadSafetensors(optimizer_path));
  MG_RETURN_IF_ERROR(CheckStepMetadata(state, optimizer_path, step));
  MG_RETURN_IF_ERROR(loaded.optimizer->LoadStateDict(state, optimizer_path));
  if (loaded.optimizer->step_count() != step) {
    return absl::DataLossError(
        absl::StrCat(optimizer_path, ": the optimizer has taken ",
                     loaded.optimizer->step_count(),
                     " steps, but trainer_state.json holds ", step));
  }
  return loaded;
}

}  // namespace minigraph
