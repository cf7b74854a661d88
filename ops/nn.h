// Neural-network building blocks: seeded dropout, causal masks, embedding
// lookup (and its scatter-add gradient).
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
// y[..., :] = weight[indices[...], :]; indices int64 of any shape.
Tensor Embedding(const Tensor& weight, const Tensor& indices);
// Gradient of Embedding: zeros [num_rows, D] with grad[..., :] added at row
// indices[...] (repeated indices accumulate).
Tensor EmbeddingScatterAdd(const Tensor& grad, const Tensor& indices,
                           int64_t num_rows);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_NN_H_
