// Per-target tests of the cross-entropy kernels (ops/loss-inl.h): forward
// losses and backward rows against double-precision references for row
// lengths 1 to 5 vectors + 1 (the four-vector blocks, single vectors and the
// one-lane tail), misaligned rows, float32 and float64, ignored rows, per-row
// and shared weights, and rows with NaN, +inf or -inf wherever they fall;
// the backward writes nothing past its rows.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/ops/loss_kernel_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "ops/loss-inl.h"
#include "tests/ops/kernel_test_util.h"

#ifndef MINIGRAPH_TESTS_OPS_LOSS_KERNEL_TEST_ONCE_
#define MINIGRAPH_TESTS_OPS_LOSS_KERNEL_TEST_ONCE_
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
HWY_NOINLINE void Forward(const T* x, const int64_t* t, size_t rows, size_t n,
                          int64_t ignore_index, double* losses) {
  CrossEntropyForwardKernel(x, t, rows, n, ignore_index, losses);
}
template <typename T>
HWY_NOINLINE void Backward(const T* x, const int64_t* t, const T* w,
                           size_t weight_stride, size_t rows, size_t n,
                           int64_t ignore_index, T* dx) {
  CrossEntropyBackwardKernel(x, t, w, weight_stride, rows, n, ignore_index, dx);
}

constexpr int64_t kIgnore = -100;

// log(sum e^x) of a row in double as max + log_sum, kept apart so that
// x - lse = (x - max) - log_sum stays exact for rows near 1e4; log_sum is NaN
// for NaN, +inf or all -inf.
struct RowLse {
  double max;
  double log_sum;
};
RowLse LogSumExp(const double* x, size_t n) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double max = -std::numeric_limits<double>::infinity();
  for (size_t c = 0; c < n; ++c) {
    if (std::isnan(x[c])) return {nan, nan};
    max = std::max(max, x[c]);
  }
  if (!std::isfinite(max)) return {nan, nan};
  double sum = 0.0;
  for (size_t c = 0; c < n; ++c) sum += std::exp(x[c] - max);
  return {max, std::log(sum)};
}

// Checks `rows` rows of n logits held in `x` (as T) with targets `t` against
// the references; weights are per row.
template <typename T>
void CheckRows(const std::vector<double>& values, const std::vector<int64_t>& t,
               size_t n, size_t misalign, const char* what) {
  const size_t rows = t.size();
  const double eps = std::numeric_limits<T>::epsilon();
  MisalignedBuffer<T> x(rows * n, misalign);
  std::vector<double> rounded(rows * n);
  for (size_t i = 0; i < rows * n; ++i) {
    x[i] = static_cast<T>(values[i]);
    rounded[i] = x[i];
  }
  std::vector<double> losses(rows, -1.0);
  Forward(x.data(), t.data(), rows, n, kIgnore, losses.data());
  MisalignedBuffer<T> weights(rows, misalign);
  for (size_t r = 0; r < rows; ++r) weights[r] = static_cast<T>(0.5 + r);
  MisalignedBuffer<T> dx(rows * n + 1, misalign);
  const T sentinel = static_cast<T>(12345);
  dx[rows * n] = sentinel;
  Backward(x.data(), t.data(), weights.data(), 1, rows, n, kIgnore, dx.data());
  EXPECT_EQ(dx[rows * n], sentinel) << what << " n=" << n;
  for (size_t r = 0; r < rows; ++r) {
    const double* row = &rounded[r * n];
    if (t[r] == kIgnore) {
      EXPECT_EQ(losses[r], 0.0) << what << " n=" << n << " row " << r;
      for (size_t c = 0; c < n; ++c) EXPECT_EQ(dx[r * n + c], T{0});
      continue;
    }
    const RowLse lse = LogSumExp(row, n);
    const double loss = (lse.max - row[t[r]]) + lse.log_sum;
    // Exponentials of 1 ULP summed in T per lane, and the loss formed as
    // (max - x_t) + log(sum): a few eps per term of a lane's sum, relative to
    // the loss (not to the log-sum-exp, which may be 1e4).
    const double tol = (8 + static_cast<double>(n) / 4) * eps;
    if (std::isnan(loss) || std::isinf(loss)) {
      EXPECT_TRUE(std::isnan(loss) ? std::isnan(losses[r]) : losses[r] == loss)
          << what << " n=" << n << " row " << r << ": " << losses[r];
    } else {
      EXPECT_NEAR(losses[r], loss, tol * std::max(1.0, std::fabs(loss)))
          << what << " n=" << n << " row " << r;
    }
    for (size_t c = 0; c < n; ++c) {
      const double expected = (std::exp((row[c] - lse.max) - lse.log_sum) -
                               (static_cast<int64_t>(c) == t[r])) *
                              weights[r];
      const T got = dx[r * n + c];
      if (std::isnan(expected)) {
        EXPECT_TRUE(std::isnan(got)) << what << " n=" << n << " c=" << c;
      } else {
        EXPECT_NEAR(got, expected, tol * weights[r])
            << what << " n=" << n << " row " << r << " c=" << c;
      }
    }
  }
}

template <typename T>
void CheckLengths() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> dist(-6, 6);
  for (size_t misalign : {0, 1, 3}) {
    for (size_t n = 1; n <= 5 * lanes + 1; ++n) {
      // Row 1 ignored; row 2 shifted by 1e4, which a naive exp overflows.
      std::vector<double> values(4 * n);
      for (double& v : values) v = dist(rng);
      for (size_t c = 0; c < n; ++c) values[2 * n + c] += 1e4;
      const std::vector<int64_t> t = {static_cast<int64_t>(n - 1), kIgnore,
                                      static_cast<int64_t>(n / 2), 0};
      CheckRows<T>(values, t, n, misalign, "random");
    }
  }
}

void TestLengths() {
  CheckLengths<float>();
  CheckLengths<double>();
}

// One special value placed at every position of a row long enough for every
// loop (blocks, single vectors, tail), the target elsewhere or on it.
template <typename T>
void CheckSpecialValues() {
  const hn::ScalableTag<T> d;
  const size_t n = 5 * hn::Lanes(d) + 3;
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity()};
  for (double special : specials) {
    for (size_t at = 0; at < n; ++at) {
      std::vector<double> values(2 * n);
      for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.7 * i);
      values[at] = special;
      values[n + at] = special;
      const std::vector<int64_t> t = {static_cast<int64_t>((at + 1) % n),
                                      static_cast<int64_t>(at)};
      CheckRows<T>(values, t, n, 1, "special");
    }
  }
  // All -inf: NaN, as PyTorch.
  std::vector<double> all(n, -std::numeric_limits<double>::infinity());
  CheckRows<T>(all, {0}, n, 0, "all -inf");
}

void TestSpecialValues() {
  CheckSpecialValues<float>();
  CheckSpecialValues<double>();
}

// One weight for every row (stride 0), and rows of zero length when every
// target is ignored.
template <typename T>
void CheckSharedWeightAndEmptyRows() {
  const size_t n = 9, rows = 3;
  std::vector<T> x(rows * n);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(std::cos(i));
  const std::vector<int64_t> t = {4, 8, 0};
  const T weight = static_cast<T>(0.25);
  std::vector<T> dx(rows * n);
  Backward(x.data(), t.data(), &weight, 0, rows, n, kIgnore, dx.data());
  const double eps = std::numeric_limits<T>::epsilon();
  for (size_t r = 0; r < rows; ++r) {
    std::vector<double> row(x.begin() + r * n, x.begin() + (r + 1) * n);
    const RowLse lse = LogSumExp(row.data(), n);
    for (size_t c = 0; c < n; ++c) {
      const double expected = (std::exp((row[c] - lse.max) - lse.log_sum) -
                               (static_cast<int64_t>(c) == t[r])) *
                              0.25;
      EXPECT_NEAR(dx[r * n + c], expected, 16 * eps);
    }
  }
  const std::vector<int64_t> ignored = {kIgnore, kIgnore};
  std::vector<double> losses = {-1.0, -1.0};
  Forward(x.data(), ignored.data(), 2, 0, kIgnore, losses.data());
  EXPECT_EQ(losses[0], 0.0);
  EXPECT_EQ(losses[1], 0.0);
}

void TestSharedWeightAndEmptyRows() {
  CheckSharedWeightAndEmptyRows<float>();
  CheckSharedWeightAndEmptyRows<double>();
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace minigraph {
HWY_BEFORE_TEST(LossKernelTest);
HWY_EXPORT_AND_TEST_P(LossKernelTest, TestLengths);
HWY_EXPORT_AND_TEST_P(LossKernelTest, TestSpecialValues);
HWY_EXPORT_AND_TEST_P(LossKernelTest, TestSharedWeightAndEmptyRows);
}  // namespace minigraph
#endif
