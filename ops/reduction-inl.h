// Per-target SIMD kernels of the reduction family: sum, mean and max over any
// set of axes, and the fused softmax / log_softmax along one axis.
//
// The plan types below are shared by every target, so they sit behind a
// plain include guard; the kernels follow behind the toggling guard that
// foreach_target.h needs to compile them once per Highway target.
#ifndef MINIGRAPH_OPS_REDUCTION_INL_PLAN_H_
#define MINIGRAPH_OPS_REDUCTION_INL_PLAN_H_

#include <cstddef>
#include <cstdint>

namespace minigraph {

enum class ReduceKind : int { kSum, kMean, kMax };

// A reduction as one loop nest over the input: every input element is folded
// into out[sum of index * out_strides], where a reduced dimension has output
// stride 0. The dimensions are ordered outermost first (the plan builder
// sorts and merges them so that the innermost one is usually unit-stride).
struct ReducePlan {
  int rank;
  const int64_t* sizes;
  const int64_t* in_strides;
  const int64_t* out_strides;
  int64_t out_size;  // elements of the contiguous output
  double count;      // elements folded into each output (mean divides by it)
};

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_REDUCTION_INL_PLAN_H_

#if defined(MINIGRAPH_OPS_REDUCTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_REDUCTION_INL_H_
#undef MINIGRAPH_OPS_REDUCTION_INL_H_
#else
#define MINIGRAPH_OPS_REDUCTION_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "framework/thread_pool.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- folding rules ----------------------------------------------------------
//
// Sums accumulate in the tensor's own dtype (float32 stays float32, as in
// PyTorch on CPU); the contiguous path keeps 4 x lanes partial sums, which
// also shortens the rounding chain by that factor.

struct SumFold {
  template <typename T>
  static T Identity() {
    return T{0};
  }
  template <typename T>
  static T Scalar(T acc, T x) {
    return acc + x;
  }
  template <class D, class V>
  static V Vector(D, V acc, V x) {
    return hn::Add(acc, x);
  }
  // Folds the lanes of v into a single value.
  template <class D, class V>
  static hn::TFromD<D> Lanes(D d, V v) {
    return hn::GetLane(hn::SumOfLanes(d, v));
  }
};

// max that propagates NaN: once a NaN is seen it stays (a NaN compares false
// with everything, so neither branch below replaces it). IsNaN, not
// Ne(x, x): Highway's Ne is an ordered compare on x86, false for NaN.
struct MaxFold {
  template <typename T>
  static T Identity() {
    return -std::numeric_limits<T>::infinity();
  }
  template <typename T>
  static T Scalar(T acc, T x) {
    return (x > acc || x != x) ? x : acc;
  }
  template <class D, class V>
  static V Vector(D, V acc, V x) {
    return hn::IfThenElse(hn::Or(hn::Gt(x, acc), hn::IsNaN(x)), x, acc);
  }
  // Through memory, because MaxOfLanes leaves the order of NaNs unspecified.
  template <class D, class V>
  static hn::TFromD<D> Lanes(D d, V v) {
    using T = hn::TFromD<D>;
    HWY_ALIGN T lanes[hn::MaxLanes(d)];
    hn::Store(v, d, lanes);
    T acc = Identity<T>();
    for (size_t i = 0; i < hn::Lanes(d); ++i) acc = Scalar(acc, lanes[i]);
    return acc;
  }
};

// fold(x[0], ..., x[n - 1]) over contiguous x: four independent vector
// accumulators, then the lanes, then a scalar tail.
template <class Fold, typename T>
HWY_INLINE T FoldContiguous(const T* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const auto identity = hn::Set(d, Fold::template Identity<T>());
  auto acc0 = identity, acc1 = identity, acc2 = identity, acc3 = identity;
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    acc0 = Fold::Vector(d, acc0, hn::LoadU(d, x + i));
    acc1 = Fold::Vector(d, acc1, hn::LoadU(d, x + i + lanes));
    acc2 = Fold::Vector(d, acc2, hn::LoadU(d, x + i + 2 * lanes));
    acc3 = Fold::Vector(d, acc3, hn::LoadU(d, x + i + 3 * lanes));
  }
  for (; i + lanes <= n; i += lanes) {
    acc0 = Fold::Vector(d, acc0, hn::LoadU(d, x + i));
  }
  acc0 = Fold::Vector(d, acc0, acc1);
  acc2 = Fold::Vector(d, acc2, acc3);
  T result = Fold::Lanes(d, Fold::Vector(d, acc0, acc2));
  for (; i < n; ++i) result = Fold::Scalar(result, x[i]);
  return result;
}

// out[j] = fold(out[j], x[j]) for j < n, both contiguous.
template <class Fold, typename T>
HWY_INLINE void FoldRows(const T* HWY_RESTRICT x, T* HWY_RESTRICT out,
                         size_t n) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  size_t j = 0;
  for (; j + lanes <= n; j += lanes) {
    hn::StoreU(Fold::Vector(d, hn::LoadU(d, out + j), hn::LoadU(d, x + j)), d,
               out + j);
  }
  for (; j < n; ++j) out[j] = Fold::Scalar(out[j], x[j]);
}

// The innermost dimension of the plan: a contiguous reduction into one
// output (SIMD across the row), a contiguous fold into a row of outputs (SIMD
// down the columns), or a strided loop.
template <class Fold, typename T>
HWY_INLINE void FoldInnermost(const T* HWY_RESTRICT x, int64_t in_stride,
                              T* HWY_RESTRICT out, int64_t out_stride,
                              int64_t n) {
  if (in_stride == 1 && out_stride == 0) {
    *out = Fold::Scalar(*out, FoldContiguous<Fold>(x, n));
  } else if (in_stride == 1 && out_stride == 1) {
    FoldRows<Fold>(x, out, n);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      out[i * out_stride] = Fold::Scalar(out[i * out_stride], x[i * in_stride]);
    }
  }
}

// Folds every element of the plan into `out` (already holding identities).
template <class Fold, typename T>
void FoldRange(const ReducePlan& plan, const T* HWY_RESTRICT x,
               T* HWY_RESTRICT out) {
  const int last = plan.rank - 1;
  int64_t rows = 1;
  for (int axis = 0; axis < last; ++axis) rows *= plan.sizes[axis];
  if (rows == 0 || plan.sizes[last] == 0) return;
  std::vector<int64_t> index(plan.rank, 0);
  int64_t in_offset = 0, out_offset = 0;
  for (int64_t r = 0; r < rows; ++r) {
    FoldInnermost<Fold>(x + in_offset, plan.in_strides[last], out + out_offset,
                        plan.out_strides[last], plan.sizes[last]);
    // Odometer step over the outer dimensions.
    for (int axis = last - 1; axis >= 0; --axis) {
      in_offset += plan.in_strides[axis];
      out_offset += plan.out_strides[axis];
      if (++index[axis] < plan.sizes[axis]) break;
      in_offset -= plan.in_strides[axis] * plan.sizes[axis];
      out_offset -= plan.out_strides[axis] * plan.sizes[axis];
      index[axis] = 0;
    }
  }
}

// Reductions below this many input elements per thread stay on one thread:
// a float32 row sum costs 0.05 to 0.13 ns per element (measured), so a
// thread gets ~10 us of work, what waking a sleeping pool costs.
constexpr int64_t kReduceMinElementsPerThread = 128 * 1024;
// A whole contiguous run folded into one output is summed in blocks of this
// many elements whose partial results are then folded in order, so the
// rounding does not depend on how the blocks are shared between threads.
constexpr int64_t kReduceBlock = 16 * 1024;

// Splits the plan between threads only along a dimension that is kept in the
// output (the outermost dimension, or the innermost when only it is kept), so
// each output is folded by one thread in the order it would be alone; a single
// contiguous run into one output is folded block by block instead.
template <class Fold, typename T>
void FoldPlan(const ReducePlan& plan, const T* HWY_RESTRICT x,
              T* HWY_RESTRICT out) {
  for (int64_t i = 0; i < plan.out_size; ++i) {
    out[i] = Fold::template Identity<T>();
  }
  if (plan.rank == 0) {  // a single element
    out[0] = Fold::Scalar(out[0], x[0]);
    return;
  }
  const int last = plan.rank - 1;
  int64_t total = 1;
  for (int axis = 0; axis < plan.rank; ++axis) total *= plan.sizes[axis];
  if (total == 0) return;
  if (plan.rank == 1 && plan.out_strides[0] == 0 && plan.in_strides[0] == 1 &&
      total > kReduceBlock) {
    const int64_t blocks = (total + kReduceBlock - 1) / kReduceBlock;
    std::vector<T> partial(blocks);
    ParallelFor(blocks, kReduceMinElementsPerThread / kReduceBlock,
                [&](int64_t begin, int64_t end) HWY_ATTR {
                  for (int64_t b = begin; b < end; ++b) {
                    const int64_t start = b * kReduceBlock;
                    const int64_t n = std::min(kReduceBlock, total - start);
                    partial[b] = FoldContiguous<Fold>(x + start, n);
                  }
                });
    for (int64_t b = 0; b < blocks; ++b)
      out[0] = Fold::Scalar(out[0], partial[b]);
    return;
  }
  // The dimension to split: the outermost if kept, else the innermost if
  // kept; otherwise stay on one thread.
  int split = -1;
  if (plan.out_strides[0] != 0) {
    split = 0;
  } else if (plan.out_strides[last] != 0) {
    split = last;
  }
  const int64_t size = split < 0 ? 1 : plan.sizes[split];
  const int64_t per_index = total / std::max<int64_t>(size, 1);
  const int64_t min_chunk =
      (kReduceMinElementsPerThread + per_index - 1) / per_index;
  if (split < 0 || size < 2 * min_chunk) {
    FoldRange<Fold>(plan, x, out);
    return;
  }
  ParallelFor(size, min_chunk, [&](int64_t begin, int64_t end) HWY_ATTR {
    std::vector<int64_t> sizes(plan.sizes, plan.sizes + plan.rank);
    sizes[split] = end - begin;
    ReducePlan part = plan;
    part.sizes = sizes.data();
    FoldRange<Fold>(part, x + begin * plan.in_strides[split],
                    out + begin * plan.out_strides[split]);
  });
}

template <typename T>
void ReduceKernel(ReduceKind kind, const ReducePlan& plan,
                  const T* HWY_RESTRICT x, T* HWY_RESTRICT out) {
  switch (kind) {
    case ReduceKind::kSum:  // y = sum x
      return FoldPlan<SumFold>(plan, x, out);
    case ReduceKind::kMean: {  // y = sum x / count
      FoldPlan<SumFold>(plan, x, out);
      const T count = static_cast<T>(plan.count);
      for (int64_t i = 0; i < plan.out_size; ++i) out[i] /= count;
      return;
    }
    case ReduceKind::kMax:  // y = max x (NaN if any is NaN)
      return FoldPlan<MaxFold>(plan, x, out);
  }
}

// ---- softmax ----------------------------------------------------------------

// e^x for the shifted scores x - max, which lie in [-inf, 0]: 1 ULP (Highway
// contrib/math, valid on [-FLT_MAX, +104] for float32 and [-DBL_MAX, +706]
// for float64). -inf is outside that range, so it is clamped to the lowest
// finite value first, whose exponential is exactly 0; kClamp = false is for
// rows known to have finite scores only.
template <bool kClamp = true, class D, class V>
HWY_INLINE V ExpOfShifted(D d, V x) {
  using T = hn::TFromD<D>;
  if (kClamp) x = hn::Max(x, hn::Set(d, std::numeric_limits<T>::lowest()));
  return hn::Exp(d, x);
}

// Whether the lanes of v are usable scores for the clamp-free exp: on
// AVX-512 one fpclass tells whether they are finite, as cheaply as a NaN
// test; elsewhere only NaN is ruled out (one ordered compare), and rows go
// through the clamping exp.
#if HWY_TARGET <= HWY_AVX3
constexpr bool kSoftmaxFiniteTest = true;
template <class D, class V>
HWY_INLINE hn::Mask<D> SoftmaxGoodLanes(D, V v) {
  return hn::IsFinite(v);
}
#else
constexpr bool kSoftmaxFiniteTest = false;
template <class D, class V>
HWY_INLINE hn::Mask<D> SoftmaxGoodLanes(D, V v) {
  return hn::Eq(v, v);  // ordered: false only for NaN
}
#endif

// What the first pass over a softmax row finds.
template <typename T>
struct SoftmaxRowScan {
  T max;            // NaN if any element is NaN
  bool all_finite;  // every element finite (known on AVX-512 only)
};

// max(x[0..n)) of a softmax row: plain vector maxima plus a mask of good
// lanes, folded in registers (folding the lanes one by one through memory,
// as MaxFold does for the reduction op, cost about a sixth of a 512-wide
// float32 row). Which of -0 and +0 comes out does not matter here, since
// e^(x - 0) = e^(x + 0).
template <typename T>
HWY_INLINE SoftmaxRowScan<T> ScanSoftmaxRow(const T* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const auto lowest = hn::Set(d, -std::numeric_limits<T>::infinity());
  auto max0 = lowest, max1 = lowest, max2 = lowest, max3 = lowest;
  auto good = hn::Eq(lowest, lowest);  // all true
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    const auto v0 = hn::LoadU(d, x + i);
    const auto v1 = hn::LoadU(d, x + i + lanes);
    const auto v2 = hn::LoadU(d, x + i + 2 * lanes);
    const auto v3 = hn::LoadU(d, x + i + 3 * lanes);
    max0 = hn::Max(max0, v0);
    max1 = hn::Max(max1, v1);
    max2 = hn::Max(max2, v2);
    max3 = hn::Max(max3, v3);
    good = hn::And(
        good,
        hn::And(hn::And(SoftmaxGoodLanes(d, v0), SoftmaxGoodLanes(d, v1)),
                hn::And(SoftmaxGoodLanes(d, v2), SoftmaxGoodLanes(d, v3))));
  }
  for (; i + lanes <= n; i += lanes) {
    const auto v = hn::LoadU(d, x + i);
    max0 = hn::Max(max0, v);
    good = hn::And(good, SoftmaxGoodLanes(d, v));
  }
  T max = hn::GetLane(
      hn::MaxOfLanes(d, hn::Max(hn::Max(max0, max1), hn::Max(max2, max3))));
  bool all_good = hn::AllTrue(d, good);
  for (size_t j = i; j < n; ++j) {
    all_good = all_good &&
               (kSoftmaxFiniteTest ? std::isfinite(x[j]) : !std::isnan(x[j]));
    max = x[j] > max ? x[j] : max;
  }
  if (all_good) return {max, kSoftmaxFiniteTest};
  if (!kSoftmaxFiniteTest) return {std::numeric_limits<T>::quiet_NaN(), false};
  // Some element is infinite or NaN (e.g. masked scores): look for a NaN.
  auto nan = hn::Lt(lowest, lowest);  // all false
  for (i = 0; i + lanes <= n; i += lanes) {
    nan = hn::Or(nan, hn::IsNaN(hn::LoadU(d, x + i)));
  }
  bool any_nan = !hn::AllFalse(d, nan);
  for (; i < n; ++i) any_nan = any_nan || std::isnan(x[i]);
  return {any_nan ? std::numeric_limits<T>::quiet_NaN() : max, false};
}

// e = exp(in - max) over the first `end` elements (whole vectors) of a row,
// stored (log: the shifted scores), and their sum; with kPending, also the
// last step of the previous row: pending = pending * scale (log: - scale).
template <bool kLog, bool kClamp, bool kPending, class D, typename T,
          class V = hn::Vec<D>>
HWY_INLINE V SoftmaxExpVectors(D d, const T* HWY_RESTRICT in,
                               T* HWY_RESTRICT out, size_t end, V vmax,
                               T* HWY_RESTRICT pending, V vscale) {
  const size_t lanes = hn::Lanes(d);
  V vsum = hn::Zero(d);
  for (size_t i = 0; i < end; i += lanes) {
    const V shifted = hn::Sub(hn::LoadU(d, in + i), vmax);
    const V e = ExpOfShifted<kClamp>(d, shifted);
    vsum = hn::Add(vsum, e);
    hn::StoreU(kLog ? shifted : e, d, out + i);
    if (kPending) {
      const V p = hn::LoadU(d, pending + i);
      hn::StoreU(kLog ? hn::Sub(p, vscale) : hn::Mul(p, vscale), d,
                 pending + i);
    }
  }
  return vsum;
}

// Softmax of Lanes(d) independent columns that sit `stride` elements apart
// row after row (n rows): row max, then e = exp(x - max) and its sum, then
// y = e / sum or y = (x - max) - log(sum). Rows of all -inf give 0 (log:
// -inf); a column whose max is NaN or +inf gives NaN.
template <bool kLog, class D, typename T = hn::TFromD<D>>
HWY_INLINE void SoftmaxColumns(D d, const T* HWY_RESTRICT x, T* HWY_RESTRICT y,
                               size_t n, size_t stride) {
  using V = hn::Vec<D>;
  V max = hn::Set(d, -std::numeric_limits<T>::infinity());
  for (size_t r = 0; r < n; ++r) {
    max = MaxFold::Vector(d, max, hn::LoadU(d, x + r * stride));
  }
  // Columns whose max is not finite are overwritten below; zeroing their
  // shifted scores keeps inf - inf and NaN away from Exp.
  const auto finite = hn::IsFinite(max);
  V sum = hn::Zero(d);
  for (size_t r = 0; r < n; ++r) {
    const V shifted =
        hn::IfThenElseZero(finite, hn::Sub(hn::LoadU(d, x + r * stride), max));
    const V e = ExpOfShifted(d, shifted);
    sum = hn::Add(sum, e);
    hn::StoreU(kLog ? shifted : e, d, y + r * stride);
  }
  // What a column whose max is not finite turns into.
  const V special = hn::IfThenElse(
      hn::Eq(max, hn::Set(d, -std::numeric_limits<T>::infinity())),
      kLog ? max : hn::Zero(d),
      hn::Set(d, std::numeric_limits<T>::quiet_NaN()));
  // sum >= 1 in every column (the max, or a zeroed score, contributes e^0),
  // so the log is safe. One reciprocal per column and a multiply per element
  // (<= 1 ULP more than dividing each element).
  const V scale = kLog ? hn::Log(d, sum) : hn::Div(hn::Set(d, T{1}), sum);
  for (size_t r = 0; r < n; ++r) {
    const V v = hn::LoadU(d, y + r * stride);
    const V out = kLog ? hn::Sub(v, scale) : hn::Mul(v, scale);
    hn::StoreU(hn::IfThenElse(finite, out, special), d, y + r * stride);
  }
}

// Softmax of `rows` contiguous rows of n elements, each in the same three
// steps, SIMD across the row: max, then e = exp(x - max) stored with its sum,
// then y = e / sum (or y = (x - max) - log(sum)). The last step of a row is
// done inside the exp loop of the next one: otherwise every row ends with the
// processor waiting for the sum before any scaling can start (7% of the time
// on 512-wide float32 rows, measured); each element still sees the same
// operations.
// The tail goes through one-lane vectors so every element sees the same exp.
template <bool kLog, typename T>
HWY_INLINE void SoftmaxRows(const T* HWY_RESTRICT x, T* HWY_RESTRICT y,
                            size_t rows, size_t n) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 1> d1;
  const size_t lanes = hn::Lanes(d);
  // The previous row, still to be scaled (y = e * scale or y = shifted -
  // scale), or nullptr.
  T* HWY_RESTRICT pending = nullptr;
  T pending_scale = T{0};
  for (size_t r = 0; r < rows; ++r) {
    const T* HWY_RESTRICT in = x + r * n;
    T* HWY_RESTRICT out = y + r * n;
    const SoftmaxRowScan<T> scan = ScanSoftmaxRow(in, n);
    const T max = scan.max;
    if (!std::isfinite(max)) {
      const T fill = max == -std::numeric_limits<T>::infinity()
                         ? (kLog ? max : T{0})
                         : std::numeric_limits<T>::quiet_NaN();
      for (size_t i = 0; i < n; ++i) out[i] = fill;
      continue;
    }
    // With every score finite and max < 1e30, x - max >= -FLT_MAX - 1e30
    // rounds to a finite value (the spacing of floats near FLT_MAX is 2^104),
    // so Exp sees its valid range without the clamp: one operation fewer per
    // vector of the costliest loop.
    const bool clamp = !(scan.all_finite && max < static_cast<T>(1e30));
    const auto vmax = hn::Set(d, max);
    const auto vscale = hn::Set(d, pending_scale);
    const size_t end = n / lanes * lanes;
    hn::Vec<decltype(d)> vsum;
    if (pending != nullptr) {
      vsum = clamp ? SoftmaxExpVectors<kLog, true, true>(d, in, out, end, vmax,
                                                         pending, vscale)
                   : SoftmaxExpVectors<kLog, false, true>(d, in, out, end, vmax,
                                                          pending, vscale);
      for (size_t j = end; j < n; ++j) {
        pending[j] =
            kLog ? pending[j] - pending_scale : pending[j] * pending_scale;
      }
    } else {
      vsum = clamp ? SoftmaxExpVectors<kLog, true, false>(d, in, out, end, vmax,
                                                          pending, vscale)
                   : SoftmaxExpVectors<kLog, false, false>(
                         d, in, out, end, vmax, pending, vscale);
    }
    size_t i = end;
    T sum = hn::GetLane(hn::SumOfLanes(d, vsum));
    for (; i < n; ++i) {
      const auto shifted = hn::Sub(hn::LoadU(d1, in + i), hn::Set(d1, max));
      const auto e = ExpOfShifted(d1, shifted);
      sum += hn::GetLane(e);
      hn::StoreU(kLog ? shifted : e, d1, out + i);
    }
    // log(sum) once per row; sum >= 1 because the max contributes e^0.
    pending = out;
    pending_scale = kLog ? static_cast<T>(std::log(sum)) : T{1} / sum;
  }
  if (pending == nullptr) return;
  const auto vscale = hn::Set(d, pending_scale);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto p = hn::LoadU(d, pending + i);
    hn::StoreU(kLog ? hn::Sub(p, vscale) : hn::Mul(p, vscale), d, pending + i);
  }
  for (; i < n; ++i) {
    pending[i] = kLog ? pending[i] - pending_scale : pending[i] * pending_scale;
  }
}

// x is contiguous [outer, n, inner] and the softmax runs over n. inner == 1
// is a row per outer index; otherwise the rows are `inner` apart and SIMD
// runs across the inner columns, with one-lane vectors for the last few.
// Softmax is split between threads by outer index: every row (or column
// group) is computed by one thread exactly as it would be alone, so results
// do not depend on the thread count. Below this many elements per thread the
// loop stays on one thread: softmax costs about 0.5 ns per float32 element
// (measured), so a thread gets ~8 us, about what waking a sleeping pool
// costs.
constexpr int64_t kSoftmaxMinElementsPerThread = 16 * 1024;

template <bool kLog, typename T>
void SoftmaxOuterRange(const T* HWY_RESTRICT x, T* HWY_RESTRICT y,
                       size_t outer_begin, size_t outer_end, size_t n,
                       size_t inner) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 1> d1;
  const size_t lanes = hn::Lanes(d);
  if (inner == 1) {
    SoftmaxRows<kLog>(x + outer_begin * n, y + outer_begin * n,
                      outer_end - outer_begin, n);
    return;
  }
  for (size_t o = outer_begin; o < outer_end; ++o) {
    const T* in = x + o * n * inner;
    T* out = y + o * n * inner;
    size_t j = 0;
    for (; j + lanes <= inner; j += lanes) {
      SoftmaxColumns<kLog>(d, in + j, out + j, n, inner);
    }
    for (; j < inner; ++j) {
      SoftmaxColumns<kLog>(d1, in + j, out + j, n, inner);
    }
  }
}

template <typename T>
void SoftmaxKernel(bool log, const T* HWY_RESTRICT x, T* HWY_RESTRICT y,
                   size_t outer, size_t n, size_t inner) {
  if (n == 0 || outer == 0) return;
  const int64_t per_outer = static_cast<int64_t>(n * inner);
  const int64_t min_outer =
      (kSoftmaxMinElementsPerThread + per_outer - 1) / per_outer;
  // log is a template argument below so that the inner loops carry no
  // select between the two results (it compiled to a round trip through
  // the stack per vector).
  ParallelFor(static_cast<int64_t>(outer), min_outer,
              [&](int64_t begin, int64_t end) HWY_ATTR {
                const size_t b = static_cast<size_t>(begin);
                const size_t e = static_cast<size_t>(end);
                if (log) {
                  SoftmaxOuterRange<true>(x, y, b, e, n, inner);
                } else {
                  SoftmaxOuterRange<false>(x, y, b, e, n, inner);
                }
              });
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
void ReduceF32(ReduceKind kind, const ReducePlan& plan, const float* x,
               float* out) {
  ReduceKernel(kind, plan, x, out);
}
void ReduceF64(ReduceKind kind, const ReducePlan& plan, const double* x,
               double* out) {
  ReduceKernel(kind, plan, x, out);
}
void SoftmaxF32(bool log, const float* x, float* y, size_t outer, size_t n,
                size_t inner) {
  SoftmaxKernel(log, x, y, outer, n, inner);
}
void SoftmaxF64(bool log, const double* x, double* y, size_t outer, size_t n,
                size_t inner) {
  SoftmaxKernel(log, x, y, outer, n, inner);
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_REDUCTION_INL_H_
