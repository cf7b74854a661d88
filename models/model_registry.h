// Named models that tools can build by name (`minigraph dump --model
// attention`): each registers a builder that makes parameters and example
// inputs and returns a forward function written with ops.
#ifndef MINIGRAPH_MODELS_MODEL_REGISTRY_H_
#define MINIGRAPH_MODELS_MODEL_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/tensor.h"

namespace minigraph {

struct ModelOptions {
  int64_t batch = 1;
  int64_t seq = 8;
  DType dtype = DType::kFloat32;
  uint64_t seed = 0;
  // Model-specific settings by name ("heads" -> "8", "flash" -> "true").
  std::map<std::string, std::string> settings;
};

struct ModelInstance {
  // Example inputs and their names ("x").
  std::vector<Tensor> inputs;
  std::vector<std::string> input_names;
  // Symbolic dimension names per input, e.g. {"B", "T", "512"}: a name that
  // is not a number marks a dimension free in a captured graph.
  std::vector<std::vector<std::string>> input_dims;
  // Parameters (leaves that require grad), named as in a checkpoint.
  std::vector<Tensor> parameters;
  std::vector<std::string> parameter_names;
  // outputs = forward(inputs); the parameters are captured inside.
  std::function<std::vector<Tensor>(const std::vector<Tensor>&)> forward;
  std::vector<std::string> output_names;
};

using ModelBuilder =
    std::function<absl::StatusOr<ModelInstance>(const ModelOptions&)>;

struct ModelEntry {
  std::string name;
  std::string summary;
  ModelBuilder build;
};

bool RegisterModel(ModelEntry entry);
const ModelEntry* FindModel(const std::string& name);
std::vector<const ModelEntry*> AllModels();

}  // namespace minigraph

#define MG_REGISTER_MODEL(identifier, summary, builder)                     \
  [[maybe_unused]] static const bool mg_model_registered_##identifier =      \
      ::minigraph::RegisterModel({#identifier, summary, builder})

#endif  // MINIGRAPH_MODELS_MODEL_REGISTRY_H_
