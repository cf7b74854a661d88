// Per-target tests of the fused kernels (ops/fused-inl.h): RMSNorm forward
// and backward rows against double-precision references for row lengths 0
// to 5 vectors + 1 and row counts around the dweight block size, SwiGLU
// forward and backward for lengths 0 to 3 vectors + 1, misaligned buffers,
// float32 and float64; nothing is written past the outputs.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/ops/fused_kernel_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "ops/fused-inl.h"
#include "tests/ops/kernel_test_util.h"

#ifndef MINIGRAPH_TESTS_OPS_FUSED_KERNEL_TEST_ONCE_
#define MINIGRAPH_TESTS_OPS_FUSED_KERNEL_TEST_ONCE_
#include <cmath>
#include <limits>
#include <random>
#include <vector>
#endif

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {

using kernel_test::MisalignedBuffer;

// Non-inlined wrappers: inlined into the large test functions, whose locals
// AddressSanitizer moves to its own stack, GCC spills vectors to slots that
// stack does not align.
template <typename T>
HWY_NOINLINE void NormForward(const T* x, const T* w, size_t rows, size_t n,
                              double eps, T* y) {
  RmsNormForwardKernel(x, w, rows, n, eps, y);
}
template <typename T>
HWY_NOINLINE void NormBackward(const T* x, const T* w, const T* dy, size_t rows,
                               size_t n, double eps, T* dx, T* dw) {
  RmsNormBackwardKernel(x, w, dy, rows, n, eps, dx, dw);
}
template <typename T>
HWY_NOINLINE void GluForward(const T* g, const T* u, size_t n, T* y) {
  SwiGluForwardKernel(g, u, n, y);
}
template <typename T>
HWY_NOINLINE void GluBackward(const T* g, const T* u, const T* dy, size_t n,
                              T* dg, T* du) {
  SwiGluBackwardKernel(g, u, dy, n, dg, du);
}

template <typename T>
void Fill(MisalignedBuffer<T>& buffer, size_t count, double low, double high,
          std::mt19937_64& rng) {
  std::uniform_real_distribution<double> dist(low, high);
  for (size_t i = 0; i < count; ++i) buffer[i] = static_cast<T>(dist(rng));
}

// y, dx and dweight of `rows` rows of n against loops in double.
template <typename T>
void CheckRmsNorm(size_t rows, size_t n, size_t misalign,
                  std::mt19937_64& rng) {
  const double eps = 1e-5;
  const double ulp = std::numeric_limits<T>::epsilon();
  const size_t count = rows * n;
  MisalignedBuffer<T> x(count, misalign), w(n, misalign), dy(count, misalign);
  Fill(x, count, -2, 2, rng);
  Fill(w, n, 0.5, 1.5, rng);
  Fill(dy, count, -1, 1, rng);
  const T sentinel = static_cast<T>(777);
  MisalignedBuffer<T> y(count + 1, misalign), dx(count + 1, misalign),
      dw(n + 1, misalign);
  y[count] = dx[count] = dw[n] = sentinel;
  NormForward(x.data(), w.data(), rows, n, eps, y.data());
  NormBackward(x.data(), w.data(), dy.data(), rows, n, eps, dx.data(),
               dw.data());
  EXPECT_EQ(y[count], sentinel);
  EXPECT_EQ(dx[count], sentinel);
  EXPECT_EQ(dw[n], sentinel);
  std::vector<double> dw_ref(n, 0.0), dw_abs(n, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    double sum = 0.0, dot = 0.0;
    for (size_t i = 0; i < n; ++i) {
      sum += static_cast<double>(x[r * n + i]) * x[r * n + i];
      dot += static_cast<double>(w[i]) * dy[r * n + i] * x[r * n + i];
    }
    const double scale = 1.0 / std::sqrt(sum / n + eps);
    const double c = scale * scale * scale * dot / n;
    for (size_t i = 0; i < n; ++i) {
      const size_t at = r * n + i;
      // Row sums in T: about n eps relative to the row's scale.
      const double tol = (4 + static_cast<double>(n)) * ulp * 4;
      EXPECT_NEAR(y[at], x[at] * scale * w[i], tol)
          << "rows=" << rows << " n=" << n << " at " << at;
      EXPECT_NEAR(dx[at], scale * w[i] * dy[at] - c * x[at], 4 * tol)
          << "rows=" << rows << " n=" << n << " at " << at;
      dw_ref[i] += static_cast<double>(dy[at]) * x[at] * scale;
      dw_abs[i] += std::fabs(static_cast<double>(dy[at]) * x[at] * scale);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(dw[i], dw_ref[i], (8 + rows) * ulp * (1 + dw_abs[i]))
        << "rows=" << rows << " n=" << n << " i=" << i;
  }
}

void TestRmsNorm() {
  std::mt19937_64 rng(11);
  const hn::ScalableTag<float> df;
  const hn::ScalableTag<double> dd;
  for (size_t misalign : {0, 1, 3}) {
    for (size_t n = 0; n <= 5 * hn::Lanes(df) + 1; ++n) {
      CheckRmsNorm<float>(3, n, misalign, rng);
    }
    for (size_t n = 0; n <= 5 * hn::Lanes(dd) + 1; ++n) {
      CheckRmsNorm<double>(3, n, misalign, rng);
    }
  }
  // Around the dweight block of rows, and no rows at all.
  for (size_t rows : {size_t{0}, kRmsNormRowsPerBlock - 1, kRmsNormRowsPerBlock,
                      2 * kRmsNormRowsPerBlock + 5}) {
    CheckRmsNorm<float>(rows, 19, 1, rng);
    CheckRmsNorm<double>(rows, 19, 1, rng);
  }
}

template <typename T>
void CheckSwiGlu(size_t n, size_t misalign, std::mt19937_64& rng) {
  const double ulp = std::numeric_limits<T>::epsilon();
  MisalignedBuffer<T> g(n, misalign), u(n, misalign), dy(n, misalign);
  Fill(g, n, -12, 12, rng);
  Fill(u, n, -2, 2, rng);
  Fill(dy, n, -1, 1, rng);
  const T sentinel = static_cast<T>(555);
  MisalignedBuffer<T> y(n + 1, misalign), dg(n + 1, misalign),
      du(n + 1, misalign);
  y[n] = dg[n] = du[n] = sentinel;
  GluForward(g.data(), u.data(), n, y.data());
  GluBackward(g.data(), u.data(), dy.data(), n, dg.data(), du.data());
  EXPECT_EQ(y[n], sentinel);
  EXPECT_EQ(dg[n], sentinel);
  EXPECT_EQ(du[n], sentinel);
  for (size_t i = 0; i < n; ++i) {
    const double gi = g[i];
    const double s = 1.0 / (1.0 + std::exp(-gi));
    // A 1-ULP exp, a divide and a few products: under 16 eps relative to
    // each product's magnitude (|gate| <= 12).
    const double tol = 16 * ulp * 12 * 2;
    EXPECT_NEAR(y[i], gi * s * u[i], tol) << "n=" << n << " i=" << i;
    EXPECT_NEAR(dg[i], dy[i] * u[i] * s * (1 + gi * (1 - s)), tol)
        << "n=" << n << " i=" << i;
    EXPECT_NEAR(du[i], dy[i] * gi * s, tol) << "n=" << n << " i=" << i;
  }
}

void TestSwiGlu() {
  std::mt19937_64 rng(13);
  const hn::ScalableTag<float> df;
  const hn::ScalableTag<double> dd;
  for (size_t misalign : {0, 1, 3}) {
    for (size_t n = 0; n <= 3 * hn::Lanes(df) + 1; ++n) {
      CheckSwiGlu<float>(n, misalign, rng);
    }
    for (size_t n = 0; n <= 3 * hn::Lanes(dd) + 1; ++n) {
      CheckSwiGlu<double>(n, misalign, rng);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace minigraph {
HWY_BEFORE_TEST(FusedKernelTest);
HWY_EXPORT_AND_TEST_P(FusedKernelTest, TestRmsNorm);
HWY_EXPORT_AND_TEST_P(FusedKernelTest, TestSwiGlu);
}  // namespace minigraph
#endif
