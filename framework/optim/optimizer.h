// Optimizers that update parameters in place: AdamW and SGD with PyTorch
// 1.13's semantics (torch.optim.AdamW and torch.optim.SGD, single-tensor,
// non-amsgrad, non-maximize), so runs compare with PyTorch's.
//
//   NamedTensors params = ...;  // the model's parameters, by name
//   std::unique_ptr<Optimizer> optimizer = MakeAdamW(params, AdamWOptions());
//   for (int64_t step = 1; step <= total; ++step) {
//     MG_RETURN_IF_ERROR(loss.Backward());
//     ClipGradNorm(params, 1.0);
//     MG_RETURN_IF_ERROR(optimizer->Step(LearningRateAt(schedule, step)));
//     optimizer->ZeroGrad();
//   }
//
// The object only holds state; the arithmetic is the adamw_update and
// sgd_update ops' kernels (ops/optimizer.h), run in place on the parameter
// and state buffers, so a captured update op gives the same bits.
#ifndef MINIGRAPH_FRAMEWORK_OPTIM_OPTIMIZER_H_
#define MINIGRAPH_FRAMEWORK_OPTIM_OPTIMIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "framework/safetensors.h"
#include "framework/tensor.h"

namespace minigraph {

// Parameters by name; the names are the checkpoint's names.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// torch.optim.AdamW's defaults (also MiniMind's: it passes only lr).
struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

// torch.optim.SGD's defaults.
struct SgdOptions {
  double momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a grad, in place, at learning
  // rate lr; increments step_count() first (so the first Step uses step 1).
  // Returns an error naming the parameter if a grad's shape or dtype does
  // not match its parameter, and errors for invalid options, a bad lr, or
  // parameters that are undefined, not float, not contiguous or listed
  // twice. Everything is checked before anything changes.
  //
  // Like PyTorch, each parameter counts its own steps (bias correction and
  // SGD's first-step buffer use that count): a parameter without a grad is
  // skipped and its count stays behind.
  virtual absl::Status Step(double lr) = 0;
  // Sets every parameter's grad to undefined (like
  // zero_grad(set_to_none=True)).
  void ZeroGrad();
  int64_t step_count() const { return step_count_; }
  const NamedTensors& parameters() const { return params_; }

  // State as safetensors tensors named "<param name>.exp_avg",
  // "<param name>.exp_avg_sq" (AdamW) or "<param name>.momentum_buffer" (SGD
  // with momentum), copies of the live buffers, plus metadata {"optimizer":
  // "adamw"|"sgd", "step": "<n>", every hyperparameter (as "%.17g", which
  // reads back to the same double), and "step.<param name>" for each
  // parameter whose own count differs from "step"}.
  virtual SafetensorsFile StateDict() const = 0;
  // Restores state saved by StateDict of the same kind over the same
  // parameters with the same hyperparameters; every mismatch (kind, missing
  // or unexpected tensor, shape, dtype, missing or bad metadata, a
  // hyperparameter that differs) is an error naming `source` and the tensor
  // or key, and leaves this optimizer unchanged. Loads bit-exactly (tensors
  // are copied, never converted).
  virtual absl::Status LoadStateDict(const SafetensorsFile& state,
                                     absl::string_view source) = 0;

 protected:
  explicit Optimizer(NamedTensors params) : params_(std::move(params)) {}

  NamedTensors params_;
  int64_t step_count_ = 0;
};

std::unique_ptr<Optimizer> MakeAdamW(NamedTensors params, AdamWOptions options);
std::unique_ptr<Optimizer> MakeSgd(NamedTensors params, SgdOptions options);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_OPTIM_OPTIMIZER_H_
