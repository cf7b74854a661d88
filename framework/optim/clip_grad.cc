#include "framework/optim/clip_grad.h"

#include <cmath>
#include <memory>

#include "ops/optimizer.h"

namespace minigraph {
namespace {

// The grad's elements in row-major order, contiguous (a copy if needed).
Tensor ContiguousGrad(const Tensor& grad) {
  return grad.is_contiguous() ? grad : CopyToContiguous(grad);
}

double SumOfSquares(const Tensor& grad) {
  const Tensor g = ContiguousGrad(grad);
  switch (g.dtype()) {
    case DType::kFloat32:
      return SumOfSquaresKernel(g.data<float>(), g.numel());
    case DType::kFloat64:
      return SumOfSquaresKernel(g.data<double>(), g.numel());
    case DType::kInt64:
      break;  // parameters are float; an int64 grad cannot arise
  }
  return 0.0;
}

void Scale(const Tensor& t, double coef) {
  if (t.dtype() == DType::kFloat32) {
    ScaleKernel(t.data<float>(), t.numel(), coef);
  } else if (t.dtype() == DType::kFloat64) {
    ScaleKernel(t.data<double>(), t.numel(), coef);
  }
}

}  // namespace

double ClipGradNorm(const NamedTensors& params, double max_norm) {
  double sum_of_squares = 0.0;
  for (const auto& [name, param] : params) {
    if (!param.defined() || !param.grad().defined()) continue;
    sum_of_squares += SumOfSquares(param.grad());
  }
  const double total = std::sqrt(sum_of_squares);
  if (!std::isfinite(total) || !(max_norm > 0)) return total;
  const double coef = max_norm / (total + 1e-6);
  if (!(coef < 1.0)) return total;
  for (const auto& [name, param] : params) {
    if (!param.defined()) continue;
    std::shared_ptr<TensorImpl>& grad = param.impl()->grad;
    if (grad == nullptr) continue;
    // Written through only when this parameter alone holds the grad and
    // the grad alone holds its storage; otherwise a scaled copy replaces
    // it, so that nothing else sharing the buffer changes.
    const bool exclusive = grad.use_count() == 1 &&
                           grad->storage.use_count() == 1 &&
                           Tensor(grad).is_contiguous();
    if (exclusive) {
      Scale(Tensor(grad), coef);
    } else {
      const Tensor copy = CopyToContiguous(Tensor(grad));
      Scale(copy, coef);
      grad = copy.impl_ptr();
    }
  }
  return total;
}

}  // namespace minigraph
