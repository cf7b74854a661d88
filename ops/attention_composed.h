// The parts of the fused attention ops' definitions that do not use the fused
// kernels: scalar references (plain loops in double), conformance samples,
// and flash_attention_backward's own backward rule, composed of primitive
// registered ops so that it can be differentiated once more.
#ifndef MINIGRAPH_OPS_ATTENTION_COMPOSED_H_
#define MINIGRAPH_OPS_ATTENTION_COMPOSED_H_

#include <vector>

#include "absl/types/span.h"
#include "framework/attrs.h"
#include "framework/op_registry.h"
#include "framework/tensor.h"

namespace minigraph {

// flash_attention's outputs {y, lse} from the definition, row by row.
std::vector<Tensor> AttentionForwardReference(absl::Span<const Tensor> inputs,
                                              const Attrs& attrs);
// flash_attention_backward's outputs {dq, dk, dv} from the definition.
std::vector<Tensor> AttentionBackwardReference(absl::Span<const Tensor> inputs,
                                               const Attrs& attrs);

std::vector<OpSample> AttentionForwardSamples();
std::vector<OpSample> AttentionBackwardSamples();

// Vector-Jacobian product of flash_attention_backward, (g_dq, g_dk, g_dv) ->
// gradients for (q, k, v, y, lse, dy, dlse), in matmul, exp, sum and
// broadcasting arithmetic on the repeated key/value heads.
Grads FlashAttentionBackwardVjp(const GradContext& c);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_ATTENTION_COMPOSED_H_
