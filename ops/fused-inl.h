// Per-target SIMD kernels of the fused family: RMSNorm forward and backward
// (rows of the last axis) and SwiGLU forward and backward (elementwise).
// Included once per Highway target by fused.cc through foreach_target.h,
// hence the toggling include guard instead of a plain one.
#if defined(MINIGRAPH_OPS_FUSED_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_FUSED_INL_H_
#undef MINIGRAPH_OPS_FUSED_INL_H_
#else
#define MINIGRAPH_OPS_FUSED_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "framework/thread_pool.h"
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- RMSNorm ----------------------------------------------------------------

// Below this many elements per thread the rows stay on one thread: a float32
// element costs about 0.15 ns forward and 0.2 ns backward on one thread
// (L2-resident rows of 512, measured), so a thread gets 10 to 13 us of work,
// about what waking a sleeping pool costs.
constexpr int64_t kRmsNormMinElementsPerThread = 64 * 1024;
// dweight sums over rows; rows are summed in blocks of this many, each block
// into its own partial row, and the partials in block order, so the result
// does not depend on how blocks are shared between threads.
constexpr size_t kRmsNormRowsPerBlock = 32;

// 1 / sqrt(sum_squares / n + eps), in double: once per row.
inline double RmsNormScale(double sum_squares, size_t n, double eps) {
  return 1.0 / std::sqrt(sum_squares / static_cast<double>(n) + eps);
}

// sum x^2 over n contiguous values: four accumulators, then a scalar tail.
template <typename T>
HWY_INLINE T RmsNormSumSquares(const T* HWY_RESTRICT x, size_t n) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    const auto v0 = hn::LoadU(d, x + i);
    const auto v1 = hn::LoadU(d, x + i + lanes);
    const auto v2 = hn::LoadU(d, x + i + 2 * lanes);
    const auto v3 = hn::LoadU(d, x + i + 3 * lanes);
    a0 = hn::MulAdd(v0, v0, a0);
    a1 = hn::MulAdd(v1, v1, a1);
    a2 = hn::MulAdd(v2, v2, a2);
    a3 = hn::MulAdd(v3, v3, a3);
  }
  for (; i + lanes <= n; i += lanes) {
    const auto v = hn::LoadU(d, x + i);
    a0 = hn::MulAdd(v, v, a0);
  }
  T sum =
      hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) sum += x[i] * x[i];
  return sum;
}

// y_r = (x_r * r) * w with r = rsqrt(mean(x_r^2) + eps), for `rows`
// contiguous rows of n.
template <typename T>
void RmsNormForwardKernel(const T* HWY_RESTRICT x, const T* HWY_RESTRICT w,
                          size_t rows, size_t n, double eps,
                          T* HWY_RESTRICT y) {
  const int64_t per_row = std::max<int64_t>(static_cast<int64_t>(n), 1);
  ParallelFor(static_cast<int64_t>(rows),
              (kRmsNormMinElementsPerThread + per_row - 1) / per_row,
              [&](int64_t begin, int64_t end) HWY_ATTR {
                const hn::ScalableTag<T> d;
                const size_t lanes = hn::Lanes(d);
                for (int64_t r = begin; r < end; ++r) {
                  const T* HWY_RESTRICT in = x + r * n;
                  T* HWY_RESTRICT out = y + r * n;
                  const T scale = static_cast<T>(
                      RmsNormScale(RmsNormSumSquares(in, n), n, eps));
                  const auto vscale = hn::Set(d, scale);
                  size_t i = 0;
                  for (; i + lanes <= n; i += lanes) {
                    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, in + i), vscale),
                                       hn::LoadU(d, w + i)),
                               d, out + i);
                  }
                  for (; i < n; ++i) out[i] = in[i] * scale * w[i];
                }
              });
}

// Per row, with r = rsqrt(mean(x^2) + eps) and c = r^3 mean(w dy x):
// dx = r (w dy) - c x, and the row's dy x r added to its block's partial
// dweight; then dweight = sum of the partials in block order. One pass for
// the two sums, one for the outputs (the row is in L1 by then).
template <typename T>
void RmsNormBackwardKernel(const T* HWY_RESTRICT x, const T* HWY_RESTRICT w,
                           const T* HWY_RESTRICT dy, size_t rows, size_t n,
                           double eps, T* HWY_RESTRICT dx, T* HWY_RESTRICT dw) {
  const size_t blocks =
      (rows + kRmsNormRowsPerBlock - 1) / kRmsNormRowsPerBlock;
  std::vector<T> partial(blocks * n, T{0});
  const int64_t per_block =
      std::max<int64_t>(static_cast<int64_t>(n * kRmsNormRowsPerBlock), 1);
  ParallelFor(
      static_cast<int64_t>(blocks),
      (kRmsNormMinElementsPerThread + per_block - 1) / per_block,
      [&](int64_t begin, int64_t end) HWY_ATTR {
        const hn::ScalableTag<T> d;
        const size_t lanes = hn::Lanes(d);
        for (int64_t b = begin; b < end; ++b) {
          T* HWY_RESTRICT dw_block = partial.data() + b * n;
          const size_t row_end = std::min(
              rows, (static_cast<size_t>(b) + 1) * kRmsNormRowsPerBlock);
          for (size_t r = b * kRmsNormRowsPerBlock; r < row_end; ++r) {
            const T* HWY_RESTRICT xr = x + r * n;
            const T* HWY_RESTRICT dyr = dy + r * n;
            T* HWY_RESTRICT dxr = dx + r * n;
            auto sq0 = hn::Zero(d), sq1 = hn::Zero(d);
            auto dot0 = hn::Zero(d), dot1 = hn::Zero(d);
            size_t i = 0;
            for (; i + 2 * lanes <= n; i += 2 * lanes) {
              const auto x0 = hn::LoadU(d, xr + i);
              const auto x1 = hn::LoadU(d, xr + i + lanes);
              sq0 = hn::MulAdd(x0, x0, sq0);
              sq1 = hn::MulAdd(x1, x1, sq1);
              dot0 = hn::MulAdd(
                  hn::Mul(hn::LoadU(d, w + i), hn::LoadU(d, dyr + i)), x0,
                  dot0);
              dot1 = hn::MulAdd(hn::Mul(hn::LoadU(d, w + i + lanes),
                                        hn::LoadU(d, dyr + i + lanes)),
                                x1, dot1);
            }
            for (; i + lanes <= n; i += lanes) {
              const auto x0 = hn::LoadU(d, xr + i);
              sq0 = hn::MulAdd(x0, x0, sq0);
              dot0 = hn::MulAdd(
                  hn::Mul(hn::LoadU(d, w + i), hn::LoadU(d, dyr + i)), x0,
                  dot0);
            }
            T sum_squares = hn::GetLane(hn::SumOfLanes(d, hn::Add(sq0, sq1)));
            T dot = hn::GetLane(hn::SumOfLanes(d, hn::Add(dot0, dot1)));
            for (; i < n; ++i) {
              sum_squares += xr[i] * xr[i];
              dot += w[i] * dyr[i] * xr[i];
            }
            const double scale = RmsNormScale(sum_squares, n, eps);
            const T r_t = static_cast<T>(scale);
            const T c_t = static_cast<T>(scale * scale * scale *
                                         static_cast<double>(dot) /
                                         static_cast<double>(n));
            const auto vr = hn::Set(d, r_t);
            const auto vc = hn::Set(d, c_t);
            for (i = 0; i + lanes <= n; i += lanes) {
              const auto xv = hn::LoadU(d, xr + i);
              const auto dyv = hn::LoadU(d, dyr + i);
              const auto wdy = hn::Mul(hn::LoadU(d, w + i), dyv);
              hn::StoreU(hn::Sub(hn::Mul(vr, wdy), hn::Mul(vc, xv)), d,
                         dxr + i);
              hn::StoreU(
                  hn::MulAdd(hn::Mul(dyv, xv), vr, hn::LoadU(d, dw_block + i)),
                  d, dw_block + i);
            }
            for (; i < n; ++i) {
              dxr[i] = r_t * (w[i] * dyr[i]) - c_t * xr[i];
              dw_block[i] += dyr[i] * xr[i] * r_t;
            }
          }
        }
      });
  for (size_t i = 0; i < n; ++i) dw[i] = T{0};
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  for (size_t b = 0; b < blocks; ++b) {
    const T* HWY_RESTRICT p = partial.data() + b * n;
    size_t i = 0;
    for (; i + lanes <= n; i += lanes) {
      hn::StoreU(hn::Add(hn::LoadU(d, dw + i), hn::LoadU(d, p + i)), d, dw + i);
    }
    for (; i < n; ++i) dw[i] += p[i];
  }
}

// ---- SwiGLU -----------------------------------------------------------------

// Elementwise work below this many elements per thread stays on one thread:
// about 0.45 ns per float32 element forward and 0.5 ns backward (an exp and a
// divide; L2-resident, measured), so a thread gets ~15 us.
constexpr int64_t kSwiGluMinElementsPerThread = 32 * 1024;

// sigmoid(x) = 1 / (1 + e^-x) from e = e^-|x| <= 1, so neither branch
// overflows: x >= 0 -> 1 / (1 + e), x < 0 -> e / (1 + e). Exp is 1 ULP
// (Highway contrib/math) and gives 0 below its range, where sigmoid is 0 or 1
// to working precision.
template <class D, class V>
HWY_INLINE V SwiGluSigmoid(D d, V x) {
  using T = hn::TFromD<D>;
  const V one = hn::Set(d, T{1});
  const V e = hn::Exp(d, hn::Neg(hn::Abs(x)));
  return hn::Div(hn::IfThenElse(hn::Lt(x, hn::Zero(d)), e, one),
                 hn::Add(one, e));
}

// y = (g sigmoid(g)) u over lanes of d at offset i.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void SwiGluForwardAt(D d, const T* HWY_RESTRICT gate,
                                const T* HWY_RESTRICT up, T* HWY_RESTRICT y,
                                size_t i) {
  const auto g = hn::LoadU(d, gate + i);
  const auto silu = hn::Mul(g, SwiGluSigmoid(d, g));
  hn::StoreU(hn::Mul(silu, hn::LoadU(d, up + i)), d, y + i);
}

// With s = sigmoid(g): dgate = dy u s (1 + g (1 - s)), dup = dy g s.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void SwiGluBackwardAt(D d, const T* HWY_RESTRICT gate,
                                 const T* HWY_RESTRICT up,
                                 const T* HWY_RESTRICT dy,
                                 T* HWY_RESTRICT dgate, T* HWY_RESTRICT dup,
                                 size_t i) {
  const auto one = hn::Set(d, T{1});
  const auto g = hn::LoadU(d, gate + i);
  const auto s = SwiGluSigmoid(d, g);
  const auto dyv = hn::LoadU(d, dy + i);
  const auto silu_grad = hn::Mul(s, hn::MulAdd(g, hn::Sub(one, s), one));
  hn::StoreU(hn::Mul(hn::Mul(dyv, hn::LoadU(d, up + i)), silu_grad), d,
             dgate + i);
  hn::StoreU(hn::Mul(dyv, hn::Mul(g, s)), d, dup + i);
}

// Full vectors, then one-lane vectors for the tail so that every element
// sees the same exp; split between threads in contiguous chunks.
template <typename T, class Step>
HWY_INLINE void SwiGluMap(size_t n, const Step& step) {
  ParallelFor(static_cast<int64_t>(n), kSwiGluMinElementsPerThread,
              [&](int64_t begin, int64_t end) HWY_ATTR {
                const hn::ScalableTag<T> d;
                const hn::CappedTag<T, 1> d1;
                const size_t lanes = hn::Lanes(d);
                size_t i = static_cast<size_t>(begin);
                const size_t stop = static_cast<size_t>(end);
                for (; i + lanes <= stop; i += lanes) step(d, i);
                for (; i < stop; ++i) step(d1, i);
              });
}

template <typename T>
void SwiGluForwardKernel(const T* HWY_RESTRICT gate, const T* HWY_RESTRICT up,
                         size_t n, T* HWY_RESTRICT y) {
  SwiGluMap<T>(n, [&](auto d, size_t i)
                      HWY_ATTR { SwiGluForwardAt(d, gate, up, y, i); });
}

template <typename T>
void SwiGluBackwardKernel(const T* HWY_RESTRICT gate, const T* HWY_RESTRICT up,
                          const T* HWY_RESTRICT dy, size_t n,
                          T* HWY_RESTRICT dgate, T* HWY_RESTRICT dup) {
  SwiGluMap<T>(n, [&](auto d, size_t i) HWY_ATTR {
    SwiGluBackwardAt(d, gate, up, dy, dgate, dup, i);
  });
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
void RmsNormForwardF32(const float* x, const float* w, size_t rows, size_t n,
                       double eps, float* y) {
  RmsNormForwardKernel(x, w, rows, n, eps, y);
}
void RmsNormForwardF64(const double* x, const double* w, size_t rows, size_t n,
                       double eps, double* y) {
  RmsNormForwardKernel(x, w, rows, n, eps, y);
}
void RmsNormBackwardF32(const float* x, const float* w, const float* dy,
                        size_t rows, size_t n, double eps, float* dx,
                        float* dw) {
  RmsNormBackwardKernel(x, w, dy, rows, n, eps, dx, dw);
}
void RmsNormBackwardF64(const double* x, const double* w, const double* dy,
                        size_t rows, size_t n, double eps, double* dx,
                        double* dw) {
  RmsNormBackwardKernel(x, w, dy, rows, n, eps, dx, dw);
}
void SwiGluForwardF32(const float* gate, const float* up, size_t n, float* y) {
  SwiGluForwardKernel(gate, up, n, y);
}
void SwiGluForwardF64(const double* gate, const double* up, size_t n,
                      double* y) {
  SwiGluForwardKernel(gate, up, n, y);
}
void SwiGluBackwardF32(const float* gate, const float* up, const float* dy,
                       size_t n, float* dgate, float* dup) {
  SwiGluBackwardKernel(gate, up, dy, n, dgate, dup);
}
void SwiGluBackwardF64(const double* gate, const double* up, const double* dy,
                       size_t n, double* dgate, double* dup) {
  SwiGluBackwardKernel(gate, up, dy, n, dgate, dup);
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_FUSED_INL_H_
