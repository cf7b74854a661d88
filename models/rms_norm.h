// RMSNorm composed of primitive ops, as MiniMind defines it:
//   RMSNorm(x) = x * rsqrt(mean(x^2, -1, keepdim) + eps) * weight
// Its gradient (and its gradient's gradient) comes from the ops' rules.
#ifndef MINIGRAPH_MODELS_RMS_NORM_H_
#define MINIGRAPH_MODELS_RMS_NORM_H_

#include "framework/tensor.h"

namespace minigraph {

// Normalises over the last axis; `weight` has the last axis's size.
Tensor RmsNorm(const Tensor& x, const Tensor& weight, double eps);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_RMS_NORM_H_
