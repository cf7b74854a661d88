// MiniMindForCausalLM::LoadDir and SaveDir: the HF checkpoint directory
// (config.json + model.safetensors) that MiniMind and transformers read.
#include <string>

#include "framework/file_io.h"
#include "framework/safetensors.h"
#include "framework/status_macros.h"
#include "models/minimind_lm.h"

namespace minigraph {
namespace {

constexpr char kConfigFile[] = "config.json";
constexpr char kWeightsFile[] = "model.safetensors";

}  // namespace

absl::StatusOr<MiniMindForCausalLM> MiniMindForCausalLM::LoadDir(
    const std::string& dir, DType dtype) {
  MG_ASSIGN_OR_RETURN(const MiniMindConfig config,
                      ReadConfigJson(JoinPath(dir, kConfigFile)));
  const std::string weights_path = JoinPath(dir, kWeightsFile);
  MG_ASSIGN_OR_RETURN(const SafetensorsFile state,
                      ReadSafetensors(weights_path));
  return FromStateDict(config, state, weights_path, dtype);
}

absl::Status MiniMindForCausalLM::SaveDir(const std::string& dir) const {
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        "MiniMindForCausalLM::SaveDir: the directory name is empty");
  }
  // Everything that can fail without touching the disk first.
  SafetensorsFile state = StateDict(*this);
  // transformers checks this metadata when it loads safetensors weights.
  state.metadata["format"] = "pt";
  MG_ASSIGN_OR_RETURN(const std::string weights, SerializeSafetensors(state));
  const std::string config = ConfigToJson(config_);
  MG_RETURN_IF_ERROR(MakeDirectories(dir));
  // The weights first: a config.json never describes weights that are not
  // there yet.
  return WriteFilesAtomically({{JoinPath(dir, kWeightsFile), weights},
                               {JoinPath(dir, kConfigFile), config}});
}

}  // namespace minigraph
