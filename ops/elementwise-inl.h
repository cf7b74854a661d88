// Per-target SIMD kernels of the elementwise family. Included once per
// Highway target by elementwise.cc through foreach_target.h, hence the
// toggling include guard instead of a plain one.
#if defined(MINIGRAPH_OPS_ELEMENTWISE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_ELEMENTWISE_INL_H_
#undef MINIGRAPH_OPS_ELEMENTWISE_INL_H_
#else
#define MINIGRAPH_OPS_ELEMENTWISE_INL_H_
#endif

#include <cmath>
#include <cstring>
#include <limits>

#include "framework/thread_pool.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "ops/elementwise.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The output may be the input's own buffer (an executor writing in place):
// every output element comes from the same element of the inputs, read
// before it is written, so no pointer here is restrict-qualified.
//
// Applies `fn(d, v)` over n contiguous elements. The tail goes through a
// padded vector so that every element sees the same vector math.
template <class D, class Fn, typename T = hn::TFromD<D>>
HWY_INLINE void MapUnary(D d, const T* in, T* out, size_t n, const Fn& fn) {
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(fn(d, hn::LoadU(d, in + i)), d, out + i);
  }
  if (i < n) {
    HWY_ALIGN T buffer[hn::MaxLanes(d)] = {};
    std::memcpy(buffer, in + i, (n - i) * sizeof(T));
    hn::Store(fn(d, hn::Load(d, buffer)), d, buffer);
    std::memcpy(out + i, buffer, (n - i) * sizeof(T));
  }
}

// exp(x), 1 ULP (Highway contrib/math). Highway's valid range starts at the
// lowest finite value, so -inf (a masked score) is clamped there: exp -> 0.
template <class D, class V>
HWY_INLINE V ExpWithMinusInf(D d, V x) {
  using T = hn::TFromD<D>;
  return hn::Exp(d, hn::Max(x, hn::Set(d, std::numeric_limits<T>::lowest())));
}

// log(x), 4 ULP on (0, max]; log(0) = -inf and log(x < 0) = nan as in libm.
template <class D, class V>
HWY_INLINE V LogWithEdges(D d, V x) {
  using T = hn::TFromD<D>;
  const V zero = hn::Zero(d);
  const V safe = hn::IfThenElse(hn::Gt(x, zero), x, hn::Set(d, T{1}));
  V y = hn::Log(d, safe);
  y = hn::IfThenElse(hn::Eq(x, zero),
                     hn::Set(d, -std::numeric_limits<T>::infinity()), y);
  return hn::IfThenElse(hn::Lt(x, zero),
                        hn::Set(d, std::numeric_limits<T>::quiet_NaN()), y);
}

// sigmoid(x) = 1 / (1 + e^-x), computed from e = exp(-|x|) <= 1 so neither
// branch overflows: x >= 0 -> 1 / (1 + e), x < 0 -> e / (1 + e).
template <class D, class V>
HWY_INLINE V StableSigmoid(D d, V x) {
  using T = hn::TFromD<D>;
  const V one = hn::Set(d, T{1});
  const V e = hn::Exp(d, hn::Neg(hn::Abs(x)));
  const V denominator = hn::Add(one, e);
  return hn::Div(hn::IfThenElse(hn::Lt(x, hn::Zero(d)), e, one), denominator);
}

// x^p. Integer exponents up to 64 use exact repeated squaring (so negative
// bases work); others use exp(p log x), which is nan for x < 0.
template <class D, class V>
HWY_INLINE V PowScalarExponent(D d, V x, double exponent) {
  using T = hn::TFromD<D>;
  const V one = hn::Set(d, T{1});
  if (exponent == std::floor(exponent) && std::abs(exponent) <= 64) {
    int64_t k = static_cast<int64_t>(std::abs(exponent));
    V result = one;
    V base = x;
    while (k > 0) {
      if (k & 1) result = hn::Mul(result, base);
      base = hn::Mul(base, base);
      k >>= 1;
    }
    return exponent < 0 ? hn::Div(one, result) : result;
  }
  if (exponent == 0.5) return hn::Sqrt(x);
  const V zero = hn::Zero(d);
  const V powered = ExpWithMinusInf(
      d, hn::Mul(hn::Set(d, static_cast<T>(exponent)), LogWithEdges(d, x)));
  // 0^p: 0 for p > 0, inf for p < 0 (the log path gives exp(-inf * p)).
  const V at_zero =
      hn::Set(d, exponent > 0 ? T{0} : std::numeric_limits<T>::infinity());
  return hn::IfThenElse(hn::Eq(x, zero), at_zero, powered);
}

// Elementwise work is split between threads in contiguous chunks; every
// element is computed the same way whichever chunk it lands in (all the math
// is lane by lane), so the split never changes a result. A split pays when
// each thread gets more work than waking the pool costs: 0.3 us while its
// threads still spin, ~10 us or more once they sleep (measured on this
// machine). Measured single-threaded float32 costs: exp 0.36 ns and add
// 0.12 ns per element (L2-resident), so these minimums give each thread
// about 10 us.
constexpr int64_t kUnaryMinElementsPerThread = 32 * 1024;
constexpr int64_t kBinaryMinElementsPerThread = 64 * 1024;

template <typename T>
void UnaryRange(UnaryKind kind, double param, const T* in, T* out, size_t n);

template <typename T>
void UnaryKernel(UnaryKind kind, double param, const T* in, T* out, size_t n) {
  ParallelFor(static_cast<int64_t>(n), kUnaryMinElementsPerThread,
              [&](int64_t begin, int64_t end) HWY_ATTR {
                UnaryRange(kind, param, in + begin, out + begin,
                           static_cast<size_t>(end - begin));
              });
}

template <typename T>
void UnaryRange(UnaryKind kind, double param, const T* in, T* out, size_t n) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  switch (kind) {
    case UnaryKind::kNeg:  // y = -x
      return MapUnary(d, in, out, n, [](auto d, V x) { return hn::Neg(x); });
    case UnaryKind::kExp:  // y = e^x
      return MapUnary(d, in, out, n,
                      [](auto d, V x) { return ExpWithMinusInf(d, x); });
    case UnaryKind::kLog:  // y = ln x
      return MapUnary(d, in, out, n,
                      [](auto d, V x) { return LogWithEdges(d, x); });
    case UnaryKind::kSqrt:  // y = sqrt(x), correctly rounded
      return MapUnary(d, in, out, n, [](auto d, V x) { return hn::Sqrt(x); });
    case UnaryKind::kRsqrt:  // y = 1 / sqrt(x), exact divide (not the estimate)
      return MapUnary(d, in, out, n, [](auto d, V x) {
        return hn::Div(hn::Set(d, T{1}), hn::Sqrt(x));
      });
    case UnaryKind::kSin:  // y = sin x, 3 ULP on [-39000, 39000]
      return MapUnary(d, in, out, n, [](auto d, V x) { return hn::Sin(d, x); });
    case UnaryKind::kCos:  // y = cos x, 3 ULP on [-39000, 39000]
      return MapUnary(d, in, out, n, [](auto d, V x) { return hn::Cos(d, x); });
    case UnaryKind::kSigmoid:  // y = 1 / (1 + e^-x)
      return MapUnary(d, in, out, n,
                      [](auto d, V x) { return StableSigmoid(d, x); });
    case UnaryKind::kSilu:  // y = x * sigmoid(x)
      return MapUnary(d, in, out, n, [](auto d, V x) {
        return hn::Mul(x, StableSigmoid(d, x));
      });
    case UnaryKind::kPow:  // y = x^p
      return MapUnary(d, in, out, n, [param](auto d, V x) {
        return PowScalarExponent(d, x, param);
      });
  }
}

// Binary functors: the vector form and the scalar form give identical bits
// (all are single IEEE operations), so rows may mix them.
struct AddOp {
  template <class D, class V>
  V operator()(D, V a, V b) const {
    return hn::Add(a, b);
  }
  template <typename T>
  T operator()(T a, T b) const {
    return a + b;
  }
};
struct SubOp {
  template <class D, class V>
  V operator()(D, V a, V b) const {
    return hn::Sub(a, b);
  }
  template <typename T>
  T operator()(T a, T b) const {
    return a - b;
  }
};
struct MulOp {
  template <class D, class V>
  V operator()(D, V a, V b) const {
    return hn::Mul(a, b);
  }
  template <typename T>
  T operator()(T a, T b) const {
    return a * b;
  }
};
struct DivOp {
  template <class D, class V>
  V operator()(D, V a, V b) const {
    return hn::Div(a, b);
  }
  template <typename T>
  T operator()(T a, T b) const {
    return a / b;
  }
};
struct MaxOp {
  template <class D, class V>
  V operator()(D, V a, V b) const {
    return hn::Max(a, b);
  }
  template <typename T>
  T operator()(T a, T b) const {
    return a > b ? a : b;
  }
};
struct EqualOp {
  template <class D, class V>
  V operator()(D d, V a, V b) const {
    return hn::IfThenElseZero(hn::Eq(a, b), hn::Set(d, hn::TFromD<D>{1}));
  }
  template <typename T>
  T operator()(T a, T b) const {
    return a == b ? T{1} : T{0};
  }
};
struct GreaterOp {
  template <class D, class V>
  V operator()(D d, V a, V b) const {
    return hn::IfThenElseZero(hn::Gt(a, b), hn::Set(d, hn::TFromD<D>{1}));
  }
  template <typename T>
  T operator()(T a, T b) const {
    return a > b ? T{1} : T{0};
  }
};

// One row of n outputs; a and b advance by sa and sb elements (0 = repeated
// scalar). Vector paths for (1, 1), (1, 0) and (0, 1); other strides loop.
template <class Op, typename T>
HWY_INLINE void BinaryRow(const Op& op, const T* a, int64_t sa, const T* b,
                          int64_t sb, T* out, size_t n) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  if (sa == 1 && sb == 1) {
    for (; i + lanes <= n; i += lanes) {
      hn::StoreU(op(d, hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
    }
  } else if (sa == 1 && sb == 0) {
    const auto vb = hn::Set(d, *b);
    for (; i + lanes <= n; i += lanes) {
      hn::StoreU(op(d, hn::LoadU(d, a + i), vb), d, out + i);
    }
  } else if (sa == 0 && sb == 1) {
    const auto va = hn::Set(d, *a);
    for (; i + lanes <= n; i += lanes) {
      hn::StoreU(op(d, va, hn::LoadU(d, b + i)), d, out + i);
    }
  }
  for (; i < n; ++i) out[i] = op(a[i * sa], b[i * sb]);
}

// Rows [row_begin, row_end) (a row: all dimensions but the last) of the
// broadcast shape, row by row.
template <class Op, typename T>
void BinaryRows(const Op& op, const BinaryPlan& plan, const T* a, const T* b,
                T* out, int64_t row_begin, int64_t row_end) {
  const int last = plan.rank - 1;
  const size_t row = static_cast<size_t>(plan.shape[last]);
  int64_t index[16] = {0};  // rank is at most 16 (checked at inference)
  int64_t offset_a = 0, offset_b = 0;
  for (int64_t rest = row_begin, axis = last - 1; axis >= 0; --axis) {
    index[axis] = rest % plan.shape[axis];
    rest /= plan.shape[axis];
    offset_a += index[axis] * plan.a_strides[axis];
    offset_b += index[axis] * plan.b_strides[axis];
  }
  for (int64_t r = row_begin; r < row_end; ++r) {
    BinaryRow(op, a + offset_a, plan.a_strides[last], b + offset_b,
              plan.b_strides[last], out + r * row, row);
    for (int axis = last - 1; axis >= 0; --axis) {
      offset_a += plan.a_strides[axis];
      offset_b += plan.b_strides[axis];
      if (++index[axis] < plan.shape[axis]) break;
      offset_a -= plan.a_strides[axis] * plan.shape[axis];
      offset_b -= plan.b_strides[axis] * plan.shape[axis];
      index[axis] = 0;
    }
  }
}

// Walks the broadcast shape row by row, splitting rows between threads (or,
// for fewer rows than threads, the columns of each row).
template <class Op, typename T>
void BinaryStridedKernel(const Op& op, const BinaryPlan& plan, const T* a,
                         const T* b, T* out) {
  if (plan.rank == 0) {
    out[0] = op(a[0], b[0]);
    return;
  }
  const int last = plan.rank - 1;
  const int64_t row = plan.shape[last];
  int64_t rows = 1;
  for (int axis = 0; axis < last; ++axis) rows *= plan.shape[axis];
  if (row == 0 || rows == 0) return;
  if (rows * row < 2 * kBinaryMinElementsPerThread) {
    BinaryRows(op, plan, a, b, out, 0, rows);
    return;
  }
  if (rows >= NumThreads()) {
    const int64_t min_rows = (kBinaryMinElementsPerThread + row - 1) / row;
    ParallelFor(rows, min_rows, [&](int64_t begin, int64_t end) HWY_ATTR {
      BinaryRows(op, plan, a, b, out, begin, end);
    });
    return;
  }
  // Few long rows (a 1-D tensor is one row): split the columns. A chunk may
  // start or end off a vector boundary; the scalar and vector forms of every
  // op give the same bits, so that changes nothing.
  const int64_t sa = plan.a_strides[last], sb = plan.b_strides[last];
  ParallelFor(row, kBinaryMinElementsPerThread,
              [&](int64_t begin, int64_t end) HWY_ATTR {
                for (int64_t r = 0; r < rows; ++r) {
                  int64_t offset_a = 0, offset_b = 0;
                  for (int64_t rest = r, axis = last - 1; axis >= 0; --axis) {
                    const int64_t i = rest % plan.shape[axis];
                    rest /= plan.shape[axis];
                    offset_a += i * plan.a_strides[axis];
                    offset_b += i * plan.b_strides[axis];
                  }
                  BinaryRow(op, a + offset_a + begin * sa, sa,
                            b + offset_b + begin * sb, sb,
                            out + r * row + begin,
                            static_cast<size_t>(end - begin));
                }
              });
}

template <typename T>
void BinaryKernel(BinaryKind kind, const BinaryPlan& plan, const T* a,
                  const T* b, T* out) {
  switch (kind) {
    case BinaryKind::kAdd:  // y = a + b
      return BinaryStridedKernel(AddOp(), plan, a, b, out);
    case BinaryKind::kSub:  // y = a - b
      return BinaryStridedKernel(SubOp(), plan, a, b, out);
    case BinaryKind::kMul:  // y = a * b
      return BinaryStridedKernel(MulOp(), plan, a, b, out);
    case BinaryKind::kDiv:  // y = a / b
      return BinaryStridedKernel(DivOp(), plan, a, b, out);
    case BinaryKind::kMax:  // y = max(a, b)
      return BinaryStridedKernel(MaxOp(), plan, a, b, out);
    case BinaryKind::kEqual:  // y = [a == b]
      return BinaryStridedKernel(EqualOp(), plan, a, b, out);
    case BinaryKind::kGreater:  // y = [a > b]
      return BinaryStridedKernel(GreaterOp(), plan, a, b, out);
  }
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
void UnaryF32(UnaryKind kind, double param, const float* in, float* out,
              size_t n) {
  UnaryKernel(kind, param, in, out, n);
}
void UnaryF64(UnaryKind kind, double param, const double* in, double* out,
              size_t n) {
  UnaryKernel(kind, param, in, out, n);
}
void BinaryF32(BinaryKind kind, const BinaryPlan& plan, const float* a,
               const float* b, float* out) {
  BinaryKernel(kind, plan, a, b, out);
}
void BinaryF64(BinaryKind kind, const BinaryPlan& plan, const double* a,
               const double* b, double* out) {
  BinaryKernel(kind, plan, a, b, out);
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_ELEMENTWISE_INL_H_
