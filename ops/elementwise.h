// Elementwise ops: unary math, binary arithmetic with numpy broadcasting,
// comparisons, where, fills and dtype casts.
//
// Each function records a node when gradients are tracked and dies with the
// op's message on bad input; CallOp() gives the same as absl::Status.
#ifndef MINIGRAPH_OPS_ELEMENTWISE_H_
#define MINIGRAPH_OPS_ELEMENTWISE_H_

#include <cstddef>
#include <cstdint>

#include "framework/tensor.h"

namespace minigraph {

Tensor Add(const Tensor& a, const Tensor& b);
Tensor Sub(const Tensor& a, const Tensor& b);
Tensor Mul(const Tensor& a, const Tensor& b);
Tensor Div(const Tensor& a, const Tensor& b);
Tensor Maximum(const Tensor& a, const Tensor& b);
// 1 where a == b (a > b), else 0, in the inputs' dtype; no gradient.
Tensor Equal(const Tensor& a, const Tensor& b);
Tensor Greater(const Tensor& a, const Tensor& b);

Tensor Neg(const Tensor& x);
Tensor Exp(const Tensor& x);
Tensor Log(const Tensor& x);
Tensor Sqrt(const Tensor& x);
Tensor Rsqrt(const Tensor& x);
Tensor Sin(const Tensor& x);
Tensor Cos(const Tensor& x);
Tensor Sigmoid(const Tensor& x);
Tensor Silu(const Tensor& x);
Tensor Pow(const Tensor& x, double exponent);

// condition != 0 ? a : b, all three broadcast together; no gradient flows
// into the condition.
Tensor Where(const Tensor& condition, const Tensor& a, const Tensor& b);
// x with `value` wherever mask != 0 (mask broadcasts to x).
Tensor MaskedFill(const Tensor& x, const Tensor& mask, double value);

// A tensor of `shape` filled with `value` (recorded as an op, so backward
// graphs that need zeros stay graphs).
Tensor Full(const Shape& shape, double value, DType dtype);
Tensor FullLike(const Tensor& x, double value);
Tensor Cast(const Tensor& x, DType dtype);

// Operators with tensors and with plain numbers (converted to x's dtype).
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// ---- kernels (dispatched through Highway; used by the op definitions) -----

enum class UnaryKind : int {
  kNeg,
  kExp,
  kLog,
  kSqrt,
  kRsqrt,
  kSin,
  kCos,
  kSigmoid,
  kSilu,
  kPow,
};
enum class BinaryKind : int { kAdd, kSub, kMul, kDiv, kMax, kEqual, kGreater };

// out[i] = f(in[i]) over n contiguous elements; `param` is pow's exponent.
void UnaryContiguous(UnaryKind kind, double param, const float* in, float* out,
                     size_t n);
void UnaryContiguous(UnaryKind kind, double param, const double* in,
                     double* out, size_t n);

// out = f(a, b) where a and b are read through broadcast strides (0 on
// broadcast dimensions) over `rank` dimensions of `shape`; out contiguous.
struct BinaryPlan {
  int rank;
  const int64_t* shape;
  const int64_t* a_strides;
  const int64_t* b_strides;
};
void BinaryStrided(BinaryKind kind, const BinaryPlan& plan, const float* a,
                   const float* b, float* out);
void BinaryStrided(BinaryKind kind, const BinaryPlan& plan, const double* a,
                   const double* b, double* out);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_ELEMENTWISE_H_
