// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_.
#ifndef MINIGRAPH_FRAMEWORK_OPTIM_CLIP_GRAD_H_
#define MINIGRAPH_FRAMEWORK_OPTIM_CLIP_GRAD_H_

#include "framework/optim/optimizer.h"

namespace minigraph {

// total = sqrt(sum over params of ||grad||^2), each square and the sum in
// double (in a fixed order: the same bits for every thread count). If
// max_norm > 0 and coef = max_norm / (total + 1e-6) < 1, every grad is
// multiplied by coef (converted to the grad's dtype) in place. Returns total;
// when it is inf or nan the grads are left as they are and the caller
// decides. Parameters without a grad are skipped.
//
// A grad whose storage something else also holds (autograd may hand the
// same tensor to two parameters) is replaced by a scaled copy instead of
// being written through, so no other tensor changes.
double ClipGradNorm(const NamedTensors& params, double max_norm);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_OPTIM_CLIP_GRAD_H_
