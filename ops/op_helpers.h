// Small pieces shared by op definitions: inference rules, scalar reference
// loops and sample makers. Nothing here is an op.
#ifndef MINIGRAPH_OPS_OP_HELPERS_H_
#define MINIGRAPH_OPS_OP_HELPERS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "framework/op_registry.h"
#include "framework/tensor.h"

namespace minigraph {

// ---- inference ----------------------------------------------------------
// Output i is shaped and typed like input `input`.
InferFn SameAsInput(int input);
// Both inputs float and of one dtype.
absl::Status CheckSameFloatDType(const TensorMeta& a, const TensorMeta& b);
// numpy broadcast of two inputs of one dtype; the error shows both shapes.
absl::StatusOr<TensorMeta> BroadcastMetas(const TensorMeta& a,
                                          const TensorMeta& b);
absl::Status CheckFloat(const TensorMeta& meta, absl::string_view what);

// ---- strided iteration ----------------------------------------------------
// Strides that read `t` as if expanded to `shape` (0 on broadcast dims).
Shape BroadcastStrides(const Tensor& t, const Shape& shape);
// Row-major index of a linear position.
std::vector<int64_t> UnravelIndex(int64_t linear, const Shape& shape);

// ---- scalar references (plain loops, computed in double) ---------------
// y[i] = f(x[i]), stored in x's dtype.
template <typename Fn>
Tensor ReferenceUnary(const Tensor& x, Fn f);
// y = f(a, b) with numpy broadcasting.
template <typename Fn>
Tensor ReferenceBinary(const Tensor& a, const Tensor& b, DType out_dtype, Fn f);

// ---- samples ------------------------------------------------------------
// Seeded float64 uniform values in [low, high).
Tensor SampleUniform(const Shape& shape, double low, double high,
                     uint64_t seed);
// Seeded float64 values whose magnitudes lie in [low, high) and whose signs
// are random: away from 0, where kinks and poles live.
Tensor SampleAwayFromZero(const Shape& shape, double low, double high,
                          uint64_t seed);

// A scalar tensor of `like`'s dtype (for `x * 2.0`).
Tensor ScalarLike(double value, const Tensor& like);

// ---- template definitions -------------------------------------------------

template <typename Fn>
Tensor ReferenceUnary(const Tensor& x, Fn f) {
  const std::vector<double> in = x.ToVector<double>();
  std::vector<double> out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = f(in[i]);
  return ConvertDType(Tensor::FromData(out, x.shape()), x.dtype());
}

template <typename Fn>
Tensor ReferenceBinary(const Tensor& a, const Tensor& b, DType out_dtype,
                       Fn f) {
  const Shape shape = ValueOrDie(BroadcastShapes(a.shape(), b.shape()));
  std::vector<double> out(NumElements(shape));
  const int rank = static_cast<int>(shape.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const std::vector<int64_t> index = UnravelIndex(i, shape);
    std::vector<int64_t> ia(a.dim()), ib(b.dim());
    for (int d = 0; d < a.dim(); ++d) {
      const int64_t j = index[rank - a.dim() + d];
      ia[d] = a.shape()[d] == 1 ? 0 : j;
    }
    for (int d = 0; d < b.dim(); ++d) {
      const int64_t j = index[rank - b.dim() + d];
      ib[d] = b.shape()[d] == 1 ? 0 : j;
    }
    out[i] = f(a.ValueAt(ia), b.ValueAt(ib));
  }
  return ConvertDType(Tensor::FromData(out, shape), out_dtype);
}

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_OP_HELPERS_H_
