// Gradient checking as a library: autograd's gradients against central finite
// differences in float64.
//
//   GradcheckReport r = *Gradcheck(
//       [](const std::vector<Tensor>& x) { return std::vector{Exp(x[0])}; },
//       {Tensor::Randn({3, 4}, gen, DType::kFloat64)});
//   std::cout << r.ToString();
//
// Full mode compares every Jacobian entry (one backward pass per output
// element, two forward passes per input element). Fast mode compares random
// projections u^T J v, one backward and two forward passes per projection,
// for inputs too large for the full Jacobian.
#ifndef MINIGRAPH_FRAMEWORK_GRADCHECK_H_
#define MINIGRAPH_FRAMEWORK_GRADCHECK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/tensor.h"

namespace minigraph {

// Maps inputs to outputs by calling ops; must be deterministic.
using DifferentiableFn =
    std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  // PyTorch's float64 defaults.
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  // Random projections instead of the full Jacobian.
  bool fast_mode = false;
  int num_projections = 3;
  uint64_t seed = 1234;
  // Which inputs to check; empty means every floating-point input.
  std::vector<bool> check_input;
  // Called with (done, total) steps on long checks; may be empty.
  std::function<void(int64_t, int64_t)> progress;
};

struct InputGradReport {
  int input_index = 0;
  std::string shape;
  int64_t entries_compared = 0;
  double max_abs_error = 0.0;
  // |analytic - numeric| / max(|numeric|, atol): relative where it means
  // something, absolute near zero.
  double max_rel_error = 0.0;
  bool passed = true;
};

struct GradcheckReport {
  bool passed = true;
  std::string
      mode;  // "full", "fast" (and "second-order ..." for GradGradcheck)
  std::vector<InputGradReport> inputs;
  // One line per input: index, shape, entries, max abs, max rel, PASS/FAIL.
  std::string ToString() const;
};

// Checks d(outputs)/d(inputs) for float64 inputs. Errors (not failures) are
// for unusable arguments: non-float64 inputs, ops that fail.
absl::StatusOr<GradcheckReport> Gradcheck(const DifferentiableFn& fn,
                                          const std::vector<Tensor>& inputs,
                                          const GradcheckOptions& options = {});

// Second order: checks the gradient of the gradient. With random output
// weights u, g(x, u) = d<u, fn(x)>/dx is computed by autograd with
// create_graph, and g is gradchecked with respect to x and u.
absl::StatusOr<GradcheckReport> GradGradcheck(
    const DifferentiableFn& fn, const std::vector<Tensor>& inputs,
    const GradcheckOptions& options = {});

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRADCHECK_H_
