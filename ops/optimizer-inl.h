// Per-target SIMD kernels of the optimizer family: the fused AdamW and SGD
// updates, and the sum of squares and scaling behind gradient clipping.
// Included once per Highway target by optimizer.cc through foreach_target.h,
// hence the toggling include guard instead of a plain one.
//
// Bit reproducibility: every element goes through the same vector
// instructions, whether it sits in the main loop or in the tail (the tail is
// copied into a padded buffer and run through the same code), so a chunk
// boundary anywhere gives the same bits. Multiply-adds are spelled out as
// MulAdd where ATen's vectorized CPU kernels use an FMA (add with alpha is
// fmadd(other, alpha, self)) and kept apart elsewhere (Rounded() below), so
// the compiler fuses nothing on its own. On targets with FMA (AVX2, AVX3)
// the updates then round exactly as PyTorch 1.13's vectorized CPU kernels
// do.
#if defined(MINIGRAPH_OPS_OPTIMIZER_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_OPTIMIZER_INL_H_
#undef MINIGRAPH_OPS_OPTIMIZER_INL_H_
#else
#define MINIGRAPH_OPS_OPTIMIZER_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "framework/thread_pool.h"
#include "hwy/highway.h"
#include "ops/optimizer.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Elements per thread-pool chunk at least: below this the wake-up costs
// more than the work.
constexpr int64_t kOptimizerMinChunk = int64_t{1} << 14;

// v itself, made opaque to the optimizer. GCC's C++ default,
// -ffp-contract=fast, would fuse a product that PyTorch rounds on its own
// (p * (1 - lr*wd)) into the subtract that follows, changing the last bits.
// Targets without FMA (HWY_SCALAR, HWY_EMU128) have nothing to fuse, and
// clang contracts only within one expression.
template <class V>
HWY_INLINE V Rounded(V v) {
#if HWY_COMPILER_GCC_ACTUAL && HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && \
    HWY_TARGET != HWY_EMU128
  asm("" : "+x"(v.raw));
#endif
  return v;
}

// ---- AdamW ------------------------------------------------------------------

// The step's scalars converted once to T, the parameter's dtype, as ATen
// converts a Python float operand to the tensor's dtype.
template <class D>
struct AdamWLanes {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  AdamWLanes(D d, const AdamWStepScalars& s)
      : param_decay(hn::Set(d, static_cast<T>(s.param_decay))),
        beta1(hn::Set(d, static_cast<T>(s.beta1))),
        one_minus_beta1(hn::Set(d, static_cast<T>(s.one_minus_beta1))),
        beta2(hn::Set(d, static_cast<T>(s.beta2))),
        one_minus_beta2(hn::Set(d, static_cast<T>(s.one_minus_beta2))),
        bias_correction2_sqrt(
            hn::Set(d, static_cast<T>(s.bias_correction2_sqrt))),
        eps(hn::Set(d, static_cast<T>(s.eps))),
        step_size(hn::Set(d, static_cast<T>(s.step_size))) {}
  V param_decay, beta1, one_minus_beta1, beta2, one_minus_beta2,
      bias_correction2_sqrt, eps, step_size;
};

// One vector of AdamW, in PyTorch 1.13's order:
//   p = p * (1 - lr*wd)
//   m = fma(g, 1 - b1, m * b1)                 (mul_, add_ with alpha)
//   v = fma((1 - b2) * g, g, v * b2)           (mul_, addcmul_: fused in
//                                               torch's AVX2 build too)
//   p = p - (step_size * m) / (sqrt(v) / sqrt(bc2) + eps)   (addcdiv_)
// sqrt(bc2) divides, as torch's tensor / float does (a multiply by its
// reciprocal would round differently).
template <class D>
HWY_INLINE void AdamWVector(
    D d, const AdamWLanes<D>& k, const hn::TFromD<D>* param,
    const hn::TFromD<D>* grad, const hn::TFromD<D>* exp_avg,
    const hn::TFromD<D>* exp_avg_sq, hn::TFromD<D>* param_out,
    hn::TFromD<D>* exp_avg_out, hn::TFromD<D>* exp_avg_sq_out) {
  const auto g = hn::LoadU(d, grad);
  const auto p = Rounded(hn::Mul(hn::LoadU(d, param), k.param_decay));
  const auto m =
      hn::MulAdd(g, k.one_minus_beta1, hn::Mul(hn::LoadU(d, exp_avg), k.beta1));
  const auto v = hn::MulAdd(hn::Mul(k.one_minus_beta2, g), g,
                            hn::Mul(hn::LoadU(d, exp_avg_sq), k.beta2));
  const auto denom =
      hn::Add(hn::Div(hn::Sqrt(v), k.bias_correction2_sqrt), k.eps);
  hn::StoreU(hn::Sub(p, hn::Div(hn::Mul(k.step_size, m), denom)), d, param_out);
  hn::StoreU(m, d, exp_avg_out);
  hn::StoreU(v, d, exp_avg_sq_out);
}

// Elements [begin, end). Inputs are all read before outputs are written at
// each position, so an output may alias its own input.
template <typename T>
void AdamWRange(const AdamWArrays<T>& a, size_t begin, size_t end,
                const AdamWStepScalars& scalars) {
  using D = hn::ScalableTag<T>;
  const D d;
  const size_t lanes = hn::Lanes(d);
  const AdamWLanes<D> k(d, scalars);
  size_t i = begin;
  for (; i + lanes <= end; i += lanes) {
    AdamWVector(d, k, a.param + i, a.grad + i, a.exp_avg + i, a.exp_avg_sq + i,
                a.param_out + i, a.exp_avg_out + i, a.exp_avg_sq_out + i);
  }
  if (i == end) return;
  // The tail through padded buffers (zeros beyond `count`), so no lane
  // reads or writes past the arrays.
  const size_t count = end - i;
  HWY_ALIGN T param[hn::MaxLanes(d)] = {};
  HWY_ALIGN T grad[hn::MaxLanes(d)] = {};
  HWY_ALIGN T exp_avg[hn::MaxLanes(d)] = {};
  HWY_ALIGN T exp_avg_sq[hn::MaxLanes(d)] = {};
  std::memcpy(param, a.param + i, count * sizeof(T));
  std::memcpy(grad, a.grad + i, count * sizeof(T));
  std::memcpy(exp_avg, a.exp_avg + i, count * sizeof(T));
  std::memcpy(exp_avg_sq, a.exp_avg_sq + i, count * sizeof(T));
  AdamWVector(d, k, param, grad, exp_avg, exp_avg_sq, param, exp_avg,
              exp_avg_sq);
  std::memcpy(a.param_out + i, param, count * sizeof(T));
  std::memcpy(a.exp_avg_out + i, exp_avg, count * sizeof(T));
  std::memcpy(a.exp_avg_sq_out + i, exp_avg_sq, count * sizeof(T));
}

template <typename T>
void AdamWParallel(const AdamWArrays<T>& arrays, int64_t n,
                   const AdamWStepScalars& scalars) {
  ParallelFor(n, kOptimizerMinChunk, [&](int64_t begin, int64_t end) {
    AdamWRange(arrays, static_cast<size_t>(begin), static_cast<size_t>(end),
               scalars);
  });
}

// ---- SGD --------------------------------------------------------------------

template <class D>
struct SgdLanes {
  using T = hn::TFromD<D>;
  using V = hn::Vec<D>;
  SgdLanes(D d, const SgdStepScalars& s)
      : minus_lr(hn::Set(d, static_cast<T>(-s.lr))),
        momentum(hn::Set(d, static_cast<T>(s.momentum))),
        one_minus_dampening(hn::Set(d, static_cast<T>(s.one_minus_dampening))),
        weight_decay(hn::Set(d, static_cast<T>(s.weight_decay))),
        use_momentum(s.momentum != 0.0),
        use_weight_decay(s.weight_decay != 0.0),
        nesterov(s.nesterov),
        first_step(s.first_step) {}
  V minus_lr, momentum, one_minus_dampening, weight_decay;
  bool use_momentum, use_weight_decay, nesterov, first_step;
};

// One vector of SGD, in PyTorch 1.13's order (each an add with alpha, which
// ATen computes as an FMA):
//   g = fma(p, wd, g)                                  if wd != 0
//   buf = first ? g : fma(g, 1 - dampening, buf * mu)  if mu != 0
//   g = nesterov ? fma(buf, mu, g) : buf               if mu != 0
//   p = fma(g, -lr, p)
template <class D>
HWY_INLINE void SgdVector(D d, const SgdLanes<D>& k, const hn::TFromD<D>* param,
                          const hn::TFromD<D>* grad,
                          const hn::TFromD<D>* momentum_buffer,
                          hn::TFromD<D>* param_out,
                          hn::TFromD<D>* momentum_buffer_out) {
  const auto p = hn::LoadU(d, param);
  auto g = hn::LoadU(d, grad);
  if (k.use_weight_decay) g = hn::MulAdd(p, k.weight_decay, g);
  if (k.use_momentum) {
    const auto buf =
        k.first_step
            ? g
            : hn::MulAdd(g, k.one_minus_dampening,
                         hn::Mul(hn::LoadU(d, momentum_buffer), k.momentum));
    hn::StoreU(buf, d, momentum_buffer_out);
    g = k.nesterov ? hn::MulAdd(buf, k.momentum, g) : buf;
  }
  hn::StoreU(hn::MulAdd(g, k.minus_lr, p), d, param_out);
}

template <typename T>
void SgdRange(const SgdArrays<T>& a, size_t begin, size_t end,
              const SgdStepScalars& scalars) {
  using D = hn::ScalableTag<T>;
  const D d;
  const size_t lanes = hn::Lanes(d);
  const SgdLanes<D> k(d, scalars);
  // Without momentum the buffer is neither read nor written (and may be
  // null); the padded buffer stands in for it.
  HWY_ALIGN T buffer[hn::MaxLanes(d)] = {};
  size_t i = begin;
  for (; i + lanes <= end; i += lanes) {
    if (k.use_momentum) {
      SgdVector(d, k, a.param + i, a.grad + i, a.momentum_buffer + i,
                a.param_out + i, a.momentum_buffer_out + i);
    } else {
      SgdVector(d, k, a.param + i, a.grad + i, buffer, a.param_out + i, buffer);
    }
  }
  if (i == end) return;
  const size_t count = end - i;
  HWY_ALIGN T param[hn::MaxLanes(d)] = {};
  HWY_ALIGN T grad[hn::MaxLanes(d)] = {};
  std::memcpy(param, a.param + i, count * sizeof(T));
  std::memcpy(grad, a.grad + i, count * sizeof(T));
  if (k.use_momentum && !k.first_step) {
    std::memcpy(buffer, a.momentum_buffer + i, count * sizeof(T));
  }
  SgdVector(d, k, param, grad, buffer, param, buffer);
  std::memcpy(a.param_out + i, param, count * sizeof(T));
  if (k.use_momentum) {
    std::memcpy(a.momentum_buffer_out + i, buffer, count * sizeof(T));
  }
}

template <typename T>
void SgdParallel(const SgdArrays<T>& arrays, int64_t n,
                 const SgdStepScalars& scalars) {
  ParallelFor(n, kOptimizerMinChunk, [&](int64_t begin, int64_t end) {
    SgdRange(arrays, static_cast<size_t>(begin), static_cast<size_t>(end),
             scalars);
  });
}

// ---- gradient clipping --------------------------------------------------

// Elements per partial sum. Fixed, so that the order of additions depends
// only on n, never on the thread count.
constexpr int64_t kSumOfSquaresBlock = int64_t{1} << 14;

// Lanes(dd) elements of T from p, as doubles.
template <class DD, class DT>
HWY_INLINE hn::Vec<DD> LoadAsDouble(DD dd, DT dt, const hn::TFromD<DT>* p) {
  if constexpr (std::is_same<hn::TFromD<DT>, double>::value) {
    return hn::LoadU(dd, p);
  } else {
    return hn::PromoteTo(dd, hn::LoadU(dt, p));
  }
}

// sum(double(x[i])^2) over [begin, end): four per-lane double accumulators
// over whole groups, then one over single vectors and the zero-padded tail,
// then the accumulators added in a fixed order.
template <typename T>
double SumOfSquaresRange(const T* HWY_RESTRICT x, size_t begin, size_t end) {
  const hn::ScalableTag<double> dd;
  // As many T lanes as double lanes: float elements are loaded half a
  // vector at a time and promoted.
  const hn::Rebind<T, decltype(dd)> dt;
  const size_t lanes = hn::Lanes(dd);
  auto acc0 = hn::Zero(dd);
  auto acc1 = hn::Zero(dd);
  auto acc2 = hn::Zero(dd);
  auto acc3 = hn::Zero(dd);
  auto load = [&](const T* p) { return LoadAsDouble(dd, dt, p); };
  size_t i = begin;
  for (; i + 4 * lanes <= end; i += 4 * lanes) {
    const auto v0 = load(x + i);
    const auto v1 = load(x + i + lanes);
    const auto v2 = load(x + i + 2 * lanes);
    const auto v3 = load(x + i + 3 * lanes);
    acc0 = hn::MulAdd(v0, v0, acc0);
    acc1 = hn::MulAdd(v1, v1, acc1);
    acc2 = hn::MulAdd(v2, v2, acc2);
    acc3 = hn::MulAdd(v3, v3, acc3);
  }
  for (; i + lanes <= end; i += lanes) {
    const auto v = load(x + i);
    acc0 = hn::MulAdd(v, v, acc0);
  }
  if (i < end) {
    HWY_ALIGN T tail[hn::MaxLanes(dd)] = {};
    std::memcpy(tail, x + i, (end - i) * sizeof(T));
    const auto v = LoadAsDouble(dd, dt, tail);
    acc0 = hn::MulAdd(v, v, acc0);
  }
  const auto sum = hn::Add(hn::Add(acc0, acc1), hn::Add(acc2, acc3));
  return hn::GetLane(hn::SumOfLanes(dd, sum));
}

template <typename T>
double SumOfSquaresBlocked(const T* x, int64_t n) {
  if (n <= 0) return 0.0;
  const int64_t blocks = (n + kSumOfSquaresBlock - 1) / kSumOfSquaresBlock;
  std::vector<double> partial(static_cast<size_t>(blocks));
  ParallelFor(blocks, 4, [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const int64_t begin = b * kSumOfSquaresBlock;
      const int64_t end =
          begin + kSumOfSquaresBlock < n ? begin + kSumOfSquaresBlock : n;
      partial[b] = SumOfSquaresRange(x, static_cast<size_t>(begin),
                                     static_cast<size_t>(end));
    }
  });
  double total = 0.0;
  for (const double p : partial) total += p;
  return total;
}

// x[i] = x[i] * scale over [begin, end).
template <typename T>
void ScaleRange(T* HWY_RESTRICT x, size_t begin, size_t end, T scale) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const auto factor = hn::Set(d, scale);
  size_t i = begin;
  for (; i + lanes <= end; i += lanes) {
    hn::StoreU(hn::Mul(hn::LoadU(d, x + i), factor), d, x + i);
  }
  for (; i < end; ++i) x[i] *= scale;  // a lone multiply rounds the same
}

template <typename T>
void ScaleParallel(T* x, int64_t n, double scale) {
  const T factor = static_cast<T>(scale);
  ParallelFor(n, kOptimizerMinChunk, [&](int64_t begin, int64_t end) {
    ScaleRange(x, static_cast<size_t>(begin), static_cast<size_t>(end), factor);
  });
}

// ---- exported entry points (HWY_EXPORT needs plain functions) -------------

void AdamWUpdateF32(const AdamWArrays<float>& arrays, int64_t n,
                    const AdamWStepScalars& scalars) {
  AdamWParallel(arrays, n, scalars);
}
void AdamWUpdateF64(const AdamWArrays<double>& arrays, int64_t n,
                    const AdamWStepScalars& scalars) {
  AdamWParallel(arrays, n, scalars);
}
void SgdUpdateF32(const SgdArrays<float>& arrays, int64_t n,
                  const SgdStepScalars& scalars) {
  SgdParallel(arrays, n, scalars);
}
void SgdUpdateF64(const SgdArrays<double>& arrays, int64_t n,
                  const SgdStepScalars& scalars) {
  SgdParallel(arrays, n, scalars);
}
double SumOfSquaresF32(const float* x, int64_t n) {
  return SumOfSquaresBlocked(x, n);
}
double SumOfSquaresF64(const double* x, int64_t n) {
  return SumOfSquaresBlocked(x, n);
}
void ScaleF32(float* x, int64_t n, double scale) { ScaleParallel(x, n, scale); }
void ScaleF64(double* x, int64_t n, double scale) {
  ScaleParallel(x, n, scale);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_OPTIMIZER_INL_H_
