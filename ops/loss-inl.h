// Per-target SIMD kernels of the loss family: the fused cross-entropy forward
// (one pass per row: running max, rescaled sum of exponentials) and its
// backward (the same pass again, then softmax - one_hot scaled per row).
// Included once per Highway target by loss.cc through foreach_target.h, hence
// the toggling include guard instead of a plain one.
#if defined(MINIGRAPH_OPS_LOSS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_LOSS_INL_H_
#undef MINIGRAPH_OPS_LOSS_INL_H_
#else
#define MINIGRAPH_OPS_LOSS_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "framework/thread_pool.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// e^x for x <= 0: 1 ULP (Highway contrib/math, valid on [-FLT_MAX, +104] for
// float32 and [-DBL_MAX, +706] for float64). x may have overflowed to -inf
// (the difference of two huge finite values), which is outside that range,
// so it is clamped to the lowest finite value first, whose e^x is exactly 0.
template <class D, class V>
HWY_INLINE V CrossEntropyExp(D d, V x) {
  using T = hn::TFromD<D>;
  return hn::Exp(d, hn::Max(x, hn::Set(d, std::numeric_limits<T>::lowest())));
}

// e^x of one value through a one-lane vector, so that row tails see the
// same exp as the vector body.
template <typename T>
HWY_INLINE T CrossEntropyExpScalar(T x) {
  const hn::CappedTag<T, 1> d1;
  return hn::GetLane(CrossEntropyExp(d1, hn::Set(d1, x)));
}

// log(sum_c e^(x_c)) of one row as max + log_sum, with max the row's largest
// value. `finite` is false when some value is infinite or NaN: those rows go
// through CrossEntropyRowLseScalar instead.
template <typename T>
struct CrossEntropyRowLse {
  T max;
  double log_sum;
  bool finite;
};

// One pass over n contiguous values: every lane keeps a running max m and
// s = sum e^(x - m); a block of four vectors whose max exceeds m in some lane
// first rescales s by e^(m - m_new) (rare once the row's large values have
// been seen), then adds its four exponentials. The lanes are merged at the
// end: max = max_l m_l, sum = sum_l s_l e^(m_l - max). Sums accumulate in
// T, per lane (a float32 row of 6400 is 400 terms of at most 1 per lane of
// AVX-512, relative error ~1e-5 at worst). Non-finite values are caught by
// flag += (sum of the block) * 0, which turns NaN on inf or NaN (and on a
// block sum that overflows, a false alarm that only costs the scalar path).
template <typename T>
HWY_INLINE CrossEntropyRowLse<T> CrossEntropyScanRow(const T* HWY_RESTRICT x,
                                                     size_t n) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const size_t lanes = hn::Lanes(d);
  const V zero = hn::Zero(d);
  V max = hn::Set(d, std::numeric_limits<T>::lowest());
  V sum = zero;
  V flag = zero;
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    const V v0 = hn::LoadU(d, x + i);
    const V v1 = hn::LoadU(d, x + i + lanes);
    const V v2 = hn::LoadU(d, x + i + 2 * lanes);
    const V v3 = hn::LoadU(d, x + i + 3 * lanes);
    flag = hn::MulAdd(hn::Add(hn::Add(v0, v1), hn::Add(v2, v3)), zero, flag);
    const V block_max = hn::Max(hn::Max(v0, v1), hn::Max(v2, v3));
    if (HWY_UNLIKELY(!hn::AllFalse(d, hn::Gt(block_max, max)))) {
      const V new_max = hn::Max(max, block_max);
      sum = hn::Mul(sum, CrossEntropyExp(d, hn::Sub(max, new_max)));
      max = new_max;
    }
    const V e01 = hn::Add(CrossEntropyExp(d, hn::Sub(v0, max)),
                          CrossEntropyExp(d, hn::Sub(v1, max)));
    const V e23 = hn::Add(CrossEntropyExp(d, hn::Sub(v2, max)),
                          CrossEntropyExp(d, hn::Sub(v3, max)));
    sum = hn::Add(sum, hn::Add(e01, e23));
  }
  for (; i + lanes <= n; i += lanes) {
    const V v = hn::LoadU(d, x + i);
    flag = hn::MulAdd(v, zero, flag);
    if (!hn::AllFalse(d, hn::Gt(v, max))) {
      const V new_max = hn::Max(max, v);
      sum = hn::Mul(sum, CrossEntropyExp(d, hn::Sub(max, new_max)));
      max = new_max;
    }
    sum = hn::Add(sum, CrossEntropyExp(d, hn::Sub(v, max)));
  }
  // The tail, one value at a time with the same update.
  T tail_max = std::numeric_limits<T>::lowest();
  T tail_sum = T{0};
  bool finite = hn::AllTrue(d, hn::Eq(flag, zero));
  for (; i < n; ++i) {
    const T v = x[i];
    finite = finite && std::isfinite(v);
    if (v > tail_max) {
      tail_sum *= CrossEntropyExpScalar<T>(tail_max - v);
      tail_max = v;
    }
    tail_sum += CrossEntropyExpScalar<T>(v - tail_max);
  }
  T row_max = hn::GetLane(hn::MaxOfLanes(d, max));
  if (tail_max > row_max) row_max = tail_max;
  const T row_sum =
      hn::GetLane(hn::SumOfLanes(
          d, hn::Mul(sum,
                     CrossEntropyExp(d, hn::Sub(max, hn::Set(d, row_max)))))) +
      tail_sum * CrossEntropyExpScalar<T>(tail_max - row_max);
  // row_sum >= 1: the max contributes e^0.
  return {row_max, std::log(static_cast<double>(row_sum)), finite};
}

// log(sum_c e^(x_c)) in double for a row with an infinite or NaN value: NaN
// when some value is NaN, some is +inf or all are -inf (PyTorch's log_softmax
// gives NaN there too); otherwise -inf values contribute e^-inf = 0.
template <typename T>
double CrossEntropyRowLseScalar(const T* x, size_t n) {
  double max = -std::numeric_limits<double>::infinity();
  for (size_t c = 0; c < n; ++c) {
    if (std::isnan(x[c])) return std::numeric_limits<double>::quiet_NaN();
    max = std::max(max, static_cast<double>(x[c]));
  }
  if (!std::isfinite(max)) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0;
  for (size_t c = 0; c < n; ++c) sum += std::exp(x[c] - max);
  return max + std::log(sum);
}

// Rows per thread: below this many logits per thread the rows stay on one
// thread. A float32 logit costs about 0.5 ns forward and 1.1 ns backward on
// one thread (measured on [2048, 6400]; up to 1.1 and 1.8 ns on rows of 64),
// so a thread gets 8 to 30 us of work, more than waking a sleeping pool
// costs.
constexpr int64_t kCrossEntropyMinElementsPerThread = 16 * 1024;

inline int64_t CrossEntropyMinRows(size_t n) {
  const int64_t per_row = n == 0 ? 1 : static_cast<int64_t>(n);
  return (kCrossEntropyMinElementsPerThread + per_row - 1) / per_row;
}

// losses[r] = logsumexp(x_r) - x_r[t_r] for each of `rows` contiguous rows of
// n logits, 0 where t_r == ignore_index; targets already range-checked.
// Each row is computed by one thread exactly as it would be alone, so the
// result does not depend on the thread count.
template <typename T>
void CrossEntropyForwardKernel(const T* HWY_RESTRICT logits,
                               const int64_t* HWY_RESTRICT targets, size_t rows,
                               size_t n, int64_t ignore_index,
                               double* HWY_RESTRICT losses) {
  ParallelFor(static_cast<int64_t>(rows), CrossEntropyMinRows(n),
              [&](int64_t begin, int64_t end) HWY_ATTR {
                for (int64_t r = begin; r < end; ++r) {
                  const int64_t t = targets[r];
                  if (t == ignore_index) {
                    losses[r] = 0.0;
                    continue;
                  }
                  const T* HWY_RESTRICT x = logits + r * n;
                  const CrossEntropyRowLse<T> lse = CrossEntropyScanRow(x, n);
                  const double target = static_cast<double>(x[t]);
                  losses[r] = lse.finite
                                  ? (static_cast<double>(lse.max) - target) +
                                        lse.log_sum
                                  : CrossEntropyRowLseScalar(x, n) - target;
                }
              });
}

// dx_r = (e^(x_r - lse_r) - one_hot(t_r)) * w_r for each row, w_r =
// weights[r * weight_stride] (stride 0: one weight for all rows), and
// dx_r = 0 where t_r == ignore_index. p = e^((x - max) - log_sum) keeps the
// exact difference x - max apart from the rounded log.
template <typename T>
void CrossEntropyBackwardKernel(const T* HWY_RESTRICT logits,
                                const int64_t* HWY_RESTRICT targets,
                                const T* HWY_RESTRICT weights,
                                size_t weight_stride, size_t rows, size_t n,
                                int64_t ignore_index, T* HWY_RESTRICT dx) {
  ParallelFor(
      static_cast<int64_t>(rows), CrossEntropyMinRows(n),
      [&](int64_t begin, int64_t end) HWY_ATTR {
        const hn::ScalableTag<T> d;
        const hn::CappedTag<T, 1> d1;
        const size_t lanes = hn::Lanes(d);
        for (int64_t r = begin; r < end; ++r) {
          const T* HWY_RESTRICT x = logits + r * n;
          T* HWY_RESTRICT out = dx + r * n;
          const int64_t t = targets[r];
          if (t == ignore_index) {
            for (size_t c = 0; c < n; ++c) out[c] = T{0};
            continue;
          }
          const T w = weights[r * weight_stride];
          const CrossEntropyRowLse<T> lse = CrossEntropyScanRow(x, n);
          if (!lse.finite) {
            const double full = CrossEntropyRowLseScalar(x, n);
            for (size_t c = 0; c < n; ++c) {
              const double p = std::exp(x[c] - full);
              out[c] = static_cast<T>(
                  (p - (static_cast<int64_t>(c) == t ? 1.0 : 0.0)) * w);
            }
            continue;
          }
          const T log_sum = static_cast<T>(lse.log_sum);
          const auto vmax = hn::Set(d, lse.max);
          const auto vlog = hn::Set(d, log_sum);
          const auto vw = hn::Set(d, w);
          size_t c = 0;
          for (; c + lanes <= n; c += lanes) {
            const auto shifted =
                hn::Sub(hn::Sub(hn::LoadU(d, x + c), vmax), vlog);
            hn::StoreU(hn::Mul(CrossEntropyExp(d, shifted), vw), d, out + c);
          }
          for (; c < n; ++c) {
            const auto shifted =
                hn::Sub(hn::Sub(hn::LoadU(d1, x + c), hn::Set(d1, lse.max)),
                        hn::Set(d1, log_sum));
            hn::StoreU(hn::Mul(CrossEntropyExp(d1, shifted), hn::Set(d1, w)),
                       d1, out + c);
          }
          out[t] -= w;  // the one_hot term
        }
      });
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
void CrossEntropyForwardF32(const float* logits, const int64_t* targets,
                            size_t rows, size_t n, int64_t ignore_index,
                            double* losses) {
  CrossEntropyForwardKernel(logits, targets, rows, n, ignore_index, losses);
}
void CrossEntropyForwardF64(const double* logits, const int64_t* targets,
                            size_t rows, size_t n, int64_t ignore_index,
                            double* losses) {
  CrossEntropyForwardKernel(logits, targets, rows, n, ignore_index, losses);
}
void CrossEntropyBackwardF32(const float* logits, const int64_t* targets,
                             const float* weights, size_t weight_stride,
                             size_t rows, size_t n, int64_t ignore_index,
                             float* dx) {
  CrossEntropyBackwardKernel(logits, targets, weights, weight_stride, rows, n,
                             ignore_index, dx);
}
void CrossEntropyBackwardF64(const double* logits, const int64_t* targets,
                             const double* weights, size_t weight_stride,
                             size_t rows, size_t n, int64_t ignore_index,
                             double* dx) {
  CrossEntropyBackwardKernel(logits, targets, weights, weight_stride, rows, n,
                             ignore_index, dx);
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_LOSS_INL_H_
