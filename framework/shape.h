// Shapes, strides and numpy broadcasting.
#ifndef MINIGRAPH_FRAMEWORK_SHAPE_H_
#define MINIGRAPH_FRAMEWORK_SHAPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace minigraph {

using Shape = std::vector<int64_t>;

// "[2, 3, 4]"; "[]" for a scalar.
std::string ShapeToString(absl::Span<const int64_t> shape);
// Product of the dimensions; 1 for a scalar.
int64_t NumElements(absl::Span<const int64_t> shape);
// Row-major strides in elements.
Shape ContiguousStrides(absl::Span<const int64_t> shape);
// numpy rules: align on the right, a dimension of 1 stretches.
absl::StatusOr<Shape> BroadcastShapes(absl::Span<const int64_t> a,
                                      absl::Span<const int64_t> b);
// Maps a possibly negative axis into [0, rank); error names the axis and rank.
absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank);

// Largest number of elements any tensor may have (2^40): guards allocations
// driven by untrusted shapes.
inline constexpr int64_t kMaxElements = int64_t{1} << 40;
// Checks every dimension is >= 0 and the product of the nonzero dimensions
// (the element count, and the largest stride) is at most kMaxElements.
absl::Status ValidateShape(absl::Span<const int64_t> shape);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_SHAPE_H_
