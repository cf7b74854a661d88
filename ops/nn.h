// Neural-network building blocks: seeded dropout, causal masks, rotary
// position tables, embedding lookup (and its scatter-add gradient).
#ifndef MINIGRAPH_OPS_NN_H_
#define MINIGRAPH_OPS_NN_H_

#include <cstdint>

#include "framework/tensor.h"

namespace minigraph {

// y = x * keep / (1 - p) where keep[i] = BitsToUnit(CounterHash(seed, i)) >= p
// over the row-major index i of x: the same seed gives the same mask. p = 0 is
// the identity.
Tensor Dropout(const Tensor& x, double p, uint64_t seed);
// [rows, cols] of 0 where key j may be seen by query i (j <= i + offset) and
// -inf above: offset = cols - rows aligns the diagonal to the end, as when
// keys include a KV cache.
Tensor CausalMask(int64_t rows, int64_t cols, int64_t offset,
                  DType dtype = DType::kFloat32);

// The cos and sin tables of rotary position embedding (RoPE), [count,
// head_dim] each, for positions start, ..., start + count - 1.
struct RotaryTables {
  Tensor cos;
  Tensor sin;
};
// The rotary_tables op: made as MiniMind's precompute_freqs_cis makes them,
// in float32 whatever `dtype` is (inv_freq = 1 / theta^(float(2i) / d) and
// angle = float(t) * inv_freq, each rounded to float32; cos and sin of the
// angle rounded to float32; duplicated over both halves of the row), then
// stored as `dtype` (float32 or float64). head_dim even. Being an op, it is
// recorded by a graph capture rather than stored as a constant.
RotaryTables RotaryCosSin(int64_t head_dim, double theta, int64_t start,
                          int64_t count, DType dtype = DType::kFloat32);
// y[..., :] = weight[indices[...], :]; indices int64 of any shape.
Tensor Embedding(const Tensor& weight, const Tensor& indices);
// Gradient of Embedding: zeros [num_rows, D] with grad[..., :] added at row
// indices[...] (repeated indices accumulate).
Tensor EmbeddingScatterAdd(const Tensor& grad, const Tensor& indices,
                           int64_t num_rows);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_NN_H_
