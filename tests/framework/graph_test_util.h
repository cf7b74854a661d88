// Helpers shared by the graph tests: a small model script with fan-out,
// broadcasting, constants and several op families, and bitwise comparison.
#ifndef MINIGRAPH_TESTS_FRAMEWORK_GRAPH_TEST_UTIL_H_
#define MINIGRAPH_TESTS_FRAMEWORK_GRAPH_TEST_UTIL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "framework/tensor.h"

namespace minigraph::testing {

// "" when a and b have the same dtype, shape and element bits; else what
// differs first.
std::string BitDifference(const Tensor& a, const Tensor& b);

// y = sum(silu(x @ w1^T + b) * (x @ w2^T) * 0.5, axis -1) over x of shape
// [batch, seq, 6] with parameters w1, w2 [4, 6] and b [4]: x fans out to two
// matmuls, b broadcasts, 0.5 is a constant.
struct TinyModel {
  Tensor x;
  Tensor w1, w2, b;
  std::vector<Tensor> Forward(const std::vector<Tensor>& inputs) const;
};
TinyModel MakeTinyModel(int64_t batch, int64_t seq, DType dtype, uint64_t seed);

// Captures TinyModel with x declared as [B, T, 6].
absl::StatusOr<Graph> CaptureTinyModel(const TinyModel& model);

}  // namespace minigraph::testing

#endif  // MINIGRAPH_TESTS_FRAMEWORK_GRAPH_TEST_UTIL_H_
