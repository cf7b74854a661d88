// Fused ops for the MiniMind block's elementwise chains: RMSNorm and SwiGLU,
// each one pass forward and one pass backward (the backward is a registered
// op too, whose own backward rule is written in primitive ops, so second
// derivatives work).
//
// Each function records a node when gradients are tracked and dies with the
// op's message on bad input; CallOp() gives the same as absl::Status.
#ifndef MINIGRAPH_OPS_FUSED_H_
#define MINIGRAPH_OPS_FUSED_H_

#include "framework/tensor.h"

namespace minigraph {

// y = x * rsqrt(mean(x^2, -1) + eps) * weight over the last axis of x
// [..., D]; weight [D]. MiniMind's RMSNorm.
Tensor RmsNormFused(const Tensor& x, const Tensor& weight, double eps);

struct RmsNormGrads {
  Tensor dx;       // [..., D]
  Tensor dweight;  // [D]
};
// The gradients of <dy, RmsNormFused(x, weight, eps)>: with r =
// rsqrt(mean(x^2) + eps) per row, dx = r (w dy) - x r^3 mean(w dy x) and
// dweight = sum over rows of dy x r.
RmsNormGrads RmsNormBackward(const Tensor& x, const Tensor& weight,
                             const Tensor& dy, double eps);

// y = silu(gate) * up = gate * sigmoid(gate) * up, gate and up of one shape.
Tensor SwiGlu(const Tensor& gate, const Tensor& up);

struct SwiGluGrads {
  Tensor dgate;
  Tensor dup;
};
// The gradients of <dy, SwiGlu(gate, up)>: with s = sigmoid(gate),
// dgate = dy up s (1 + gate (1 - s)) and dup = dy gate s.
SwiGluGrads SwiGluBackward(const Tensor& gate, const Tensor& up,
                           const Tensor& dy);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_FUSED_H_
