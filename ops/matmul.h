// Matrix multiplication: batched, with numpy broadcasting of batch dimensions
// and the NN, NT, TN and TT forms, so backward never materialises a
// transpose.
#ifndef MINIGRAPH_OPS_MATMUL_H_
#define MINIGRAPH_OPS_MATMUL_H_

#include "framework/tensor.h"

namespace minigraph {

// y[..., m, n] = sum_k op(a)[..., m, k] op(b)[..., k, n], where op transposes
// the last two dimensions when asked. Both operands have rank >= 2.
Tensor Matmul(const Tensor& a, const Tensor& b, bool transpose_a = false,
              bool transpose_b = false);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_MATMUL_H_
