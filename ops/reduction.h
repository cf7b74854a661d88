// Reductions over axes and the fused, numerically stable softmax family.
#ifndef MINIGRAPH_OPS_REDUCTION_H_
#define MINIGRAPH_OPS_REDUCTION_H_

#include <cstdint>
#include <vector>

#include "framework/tensor.h"

namespace minigraph {

// Over `axes` (negative count from the end; empty means all axes). keepdim
// keeps reduced dimensions with size 1.
Tensor Sum(const Tensor& x, const std::vector<int64_t>& axes = {},
           bool keepdim = false);
Tensor Mean(const Tensor& x, const std::vector<int64_t>& axes = {},
            bool keepdim = false);
// Ties share the gradient evenly.
Tensor Max(const Tensor& x, const std::vector<int64_t>& axes = {},
           bool keepdim = false);
// exp(x - max) / sum(exp(x - max)) along one axis; -inf entries give 0.
Tensor Softmax(const Tensor& x, int64_t axis = -1);
// x - max - log(sum(exp(x - max))) along one axis.
Tensor LogSoftmax(const Tensor& x, int64_t axis = -1);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_REDUCTION_H_
