#include "ops/op_helpers.h"

#include "absl/strings/str_cat.h"
#include "framework/random.h"

namespace minigraph {

InferFn SameAsInput(int input) {
  return
      [input](
          const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
        return std::vector<TensorMeta>{ctx.inputs[input]};
      };
}

absl::Status CheckFloat(const TensorMeta& meta, absl::string_view what) {
  if (!IsFloating(meta.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be float32 or float64, got ",
                     DTypeName(meta.dtype), ShapeToString(meta.shape)));
  }
  return absl::OkStatus();
}

absl::Status CheckSameFloatDType(const TensorMeta& a, const TensorMeta& b) {
  MG_RETURN_IF_ERROR(CheckFloat(a, "input 0"));
  MG_RETURN_IF_ERROR(CheckFloat(b, "input 1"));
  if (a.dtype != b.dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype mismatch: ", DTypeName(a.dtype),
                     ShapeToString(a.shape), " vs ", DTypeName(b.dtype),
                     ShapeToString(b.shape), " (convert one with cast)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorMeta> BroadcastMetas(const TensorMeta& a,
                                          const TensorMeta& b) {
  MG_RETURN_IF_ERROR(CheckSameFloatDType(a, b));
  MG_ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(a.shape, b.shape));
  return TensorMeta{a.dtype, std::move(shape)};
}

Shape BroadcastStrides(const Tensor& t, const Shape& shape) {
  const int rank = static_cast<int>(shape.size());
  const int lead = rank - t.dim();
  Shape strides(rank, 0);
  for (int d = 0; d < t.dim(); ++d) {
    strides[lead + d] = t.shape()[d] == 1 ? 0 : t.strides()[d];
  }
  return strides;
}

std::vector<int64_t> UnravelIndex(int64_t linear, const Shape& shape) {
  std::vector<int64_t> index(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    index[d] = shape[d] == 0 ? 0 : linear % shape[d];
    linear = shape[d] == 0 ? 0 : linear / shape[d];
  }
  return index;
}

Tensor SampleUniform(const Shape& shape, double low, double high,
                     uint64_t seed) {
  Generator generator(seed);
  return Tensor::Uniform(shape, low, high, generator, DType::kFloat64);
}

Tensor SampleAwayFromZero(const Shape& shape, double low, double high,
                          uint64_t seed) {
  Generator generator(seed);
  Tensor t = Tensor::Empty(shape, DType::kFloat64);
  double* data = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double magnitude = low + (high - low) * generator.NextUnit();
    data[i] = (generator.NextBits() & 1) ? magnitude : -magnitude;
  }
  return t;
}

Tensor ScalarLike(double value, const Tensor& like) {
  return Tensor::Scalar(value, like.dtype());
}

}  // namespace minigraph
