// Shape ops: views that share storage where strides allow (reshape, permute,
// expand, slice), and copies where they cannot (contiguous, concat).
#ifndef MINIGRAPH_OPS_SHAPE_OPS_H_
#define MINIGRAPH_OPS_SHAPE_OPS_H_

#include <cstdint>
#include <vector>

#include "framework/tensor.h"

namespace minigraph {

// One dimension may be -1 (inferred). A view when x's strides allow it
// (always for contiguous x), else a copy.
Tensor Reshape(const Tensor& x, const Shape& shape);
// y.shape[i] = x.shape[dims[i]]; always a view.
Tensor Permute(const Tensor& x, const std::vector<int64_t>& dims);
// Swaps two axes (negative axes count from the end); a permute.
Tensor Transpose(const Tensor& x, int64_t axis0, int64_t axis1);
// Broadcasts size-1 (or missing leading) dimensions to `shape`; -1 keeps a
// dimension. A view with stride 0.
Tensor Expand(const Tensor& x, const Shape& shape);
// Elements start, start + step, ... < end along `axis` (negative start/end
// count from the end, clamped like Python). A view.
Tensor Slice(const Tensor& x, int64_t axis, int64_t start, int64_t end,
             int64_t step = 1);
// Zeros of `shape` with `x` written at Slice(axis, start, end, step): the
// gradient of slice.
Tensor SliceScatter(const Tensor& x, const Shape& shape, int64_t axis,
                    int64_t start, int64_t end, int64_t step = 1);
// Joins along `axis`; all other dimensions equal.
Tensor Concat(const std::vector<Tensor>& xs, int64_t axis);
// x itself (a new handle) when already contiguous, else a contiguous copy.
Tensor Contiguous(const Tensor& x);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_SHAPE_OPS_H_
