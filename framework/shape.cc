#include "framework/shape.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace minigraph {

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

int64_t NumElements(absl::Span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape ContiguousStrides(absl::Span<const int64_t> shape) {
  Shape strides(shape.size());
  int64_t stride = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = stride;
    stride *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

absl::StatusOr<Shape> BroadcastShapes(absl::Span<const int64_t> a,
                                      absl::Span<const int64_t> b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot broadcast shapes ", ShapeToString(a), " and ",
          ShapeToString(b), " (dimension ", i, ": ", da, " vs ", db, ")"));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank) {
  // A 0-d tensor accepts axis 0 and -1, as in PyTorch.
  const int64_t normalized = axis < 0 ? axis + std::max(rank, 1) : axis;
  if (normalized < 0 || normalized >= std::max(rank, 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "axis ", axis, " is out of range for a tensor of rank ", rank));
  }
  return static_cast<int>(normalized);
}

absl::Status ValidateShape(absl::Span<const int64_t> shape) {
  // The bound is on the product of the nonzero dimensions, not only on the
  // element count: an empty tensor [0, 2^50, 2^50] has no elements, but its
  // strides (which skip zeros) would overflow.
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape ", ShapeToString(shape), " has a negative dimension"));
    }
    if (d != 0 && n > kMaxElements / d) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape),
                       " has more than 2^40 elements (zero dimensions aside)"));
    }
    n *= std::max<int64_t>(d, 1);
  }
  return absl::OkStatus();
}

}  // namespace minigraph
