// Rotary position embedding (RoPE) in the rotate-half form MiniMind uses:
//
//   inv_freq[i] = theta^(-2i/d)              for i < d/2
//   angle[t, i] = t * inv_freq[i]            for positions t
//   cos[t] = concat(cos(angle[t]), cos(angle[t]))   (likewise sin), [T, d]
//   rotate_half(x) = concat(-x[d/2:], x[:d/2])
//   rope(x) = x * cos + rotate_half(x) * sin
//
// which rotates each pair (x[i], x[i + d/2]) by angle[t, i]. Everything that
// touches x is a primitive op, so gradients come from the ops' rules.
#ifndef MINIGRAPH_MODELS_ROTARY_H_
#define MINIGRAPH_MODELS_ROTARY_H_

#include <cstdint>

#include "framework/tensor.h"
#include "ops/nn.h"

namespace minigraph {

// Tables ([count, head_dim] cos and sin) for positions start, ...,
// start + count - 1 made by the rotary_tables op (RotaryCosSin): MiniMind's
// precompute_freqs_cis in float32 whatever `dtype` is, so a float64 model
// rotates by exactly the angles a MiniMind checkpoint was trained with. A
// graph capture records the op call, so a captured graph computes the
// tables from its length instead of storing them. head_dim even.
RotaryTables MakeRotaryTables(int64_t head_dim, double theta, int64_t start,
                              int64_t count, DType dtype);

// concat(-x2, x1) over the last axis, where x1 and x2 are its two halves.
Tensor RotateHalf(const Tensor& x);

// x: [B, T, heads, head_dim]; tables for the T positions of x.
Tensor ApplyRotary(const Tensor& x, const RotaryTables& tables);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_ROTARY_H_
