#include "models/rms_norm.h"

#include "framework/op_registry.h"
#include "ops/all_ops.h"

namespace minigraph {

Tensor RmsNorm(const Tensor& x, const Tensor& weight, double eps) {
  NameScope scope("rms_norm");
  const Tensor mean_square = Mean(x * x, {-1}, /*keepdim=*/true);
  return x * Rsqrt(mean_square + eps) * weight;
}

}  // namespace minigraph
