// The one shared way to handle a model's parameters: every module lists its
// parameters by the names a checkpoint uses, switches train/eval for itself
// and the modules it holds, and a state dict (name -> tensor) is saved and
// loaded through those lists. No registry, no macros: a module is a plain
// struct of tensors that can say what it holds.
#ifndef MINIGRAPH_MODELS_MODULE_H_
#define MINIGRAPH_MODELS_MODULE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "framework/safetensors.h"
#include "framework/tensor.h"

namespace minigraph {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  Module() = default;
  Module(const Module&) = default;
  Module& operator=(const Module&) = default;
  Module(Module&&) = default;
  Module& operator=(Module&&) = default;
  virtual ~Module() = default;

  // Every distinct parameter tensor once, named as in the checkpoint, in a
  // stable order (PyTorch's named_parameters() order).
  virtual NamedTensors NamedParameters() const = 0;
  // What a state dict holds: the parameters, plus any other name of a
  // shared tensor (a tied lm_head.weight). Same tensors, not copies.
  virtual NamedTensors StateDictEntries() const { return NamedParameters(); }

  // Dropout on in training mode; reaches every module this one holds.
  void SetTraining(bool training);
  bool training() const { return training_; }

 protected:
  // The modules this one holds, for SetTraining; none by default.
  virtual std::vector<Module*> Children() { return {}; }

  bool training_ = false;
};

// `named` with `prefix` put before every name ("model.layers.0." + ...).
NamedTensors WithPrefix(absl::string_view prefix, NamedTensors named);

// name -> tensor of every state dict entry (the tensors themselves).
SafetensorsFile StateDict(const Module& module);

// Copies values (converted to each parameter's dtype) into the existing
// parameters in place, outside autograd. Every parameter must be present
// and no unknown name may be, unless strict is false; shapes must match
// either way. Nothing is written unless every check passes. Errors name
// `source`, the tensor, its shape and the expected shape.
absl::Status LoadStateDict(const Module& module, const SafetensorsFile& state,
                           absl::string_view source, bool strict = true);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_MODULE_H_
