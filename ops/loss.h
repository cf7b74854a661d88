// Loss ops: the fused cross-entropy (log-softmax + negative log-likelihood
// over the last axis, PyTorch's F.cross_entropy), its backward op, and the
// one_hot helper its second-order rule is written with.
//
// Each function records a node when gradients are tracked and dies with the
// op's message on bad input; CallOp() gives the same as absl::Status,
// including a target outside [0, C), which is found while the kernel reads
// the targets.
#ifndef MINIGRAPH_OPS_LOSS_H_
#define MINIGRAPH_OPS_LOSS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/tensor.h"

namespace minigraph {

// How the per-target losses are combined: the mean over targets that are not
// ignored (NaN when all are), their sum, or none (one loss per target, 0 at
// ignored positions).
enum class LossReduction { kMean, kSum, kNone };

// "mean", "sum", "none": the op's `reduction` attribute.
const char* LossReductionName(LossReduction reduction);
absl::StatusOr<LossReduction> ParseLossReduction(absl::string_view name);

// PyTorch's F.cross_entropy over the last axis: logits float [..., C],
// targets int64 [...]; loss_i = logsumexp(logits_i) - logits_i[targets_i]
// for every i whose target is not ignore_index. Returns a scalar (mean, sum)
// or a tensor shaped like targets (none). Targets carry no gradient.
Tensor CrossEntropy(const Tensor& logits, const Tensor& targets,
                    int64_t ignore_index = -100,
                    LossReduction reduction = LossReduction::kMean);

// The gradient of CrossEntropy with respect to the logits for the incoming
// gradient `grad` (a scalar for mean and sum, shaped like targets for none):
// (softmax(logits) - one_hot(targets)) * valid * grad (/ count for mean).
Tensor CrossEntropyBackward(const Tensor& logits, const Tensor& targets,
                            const Tensor& grad, int64_t ignore_index,
                            LossReduction reduction);

// [..., num_classes] with 1 at indices[...] and 0 elsewhere, in `dtype`;
// indices equal to ignore_index give a row of zeros. No gradient.
Tensor OneHot(const Tensor& indices, int64_t num_classes,
              DType dtype = DType::kFloat32, int64_t ignore_index = -100);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_LOSS_H_
