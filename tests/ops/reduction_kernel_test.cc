// Per-target tests of the reduction kernels (ops/reduction-inl.h): sums and
// maxima over contiguous runs, rows and strided plans, and softmax /
// log_softmax along rows and across columns, against double-precision
// references, for lengths 0 to 3 vectors + 1, misaligned pointers, float32
// and float64; softmax writes nothing past the end of its output.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/ops/reduction_kernel_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "ops/reduction-inl.h"
#include "tests/ops/kernel_test_util.h"

#ifndef MINIGRAPH_TESTS_OPS_REDUCTION_KERNEL_TEST_ONCE_
#define MINIGRAPH_TESTS_OPS_REDUCTION_KERNEL_TEST_ONCE_
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>
#endif

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {

using kernel_test::MisalignedBuffer;

// The kernels are called through these non-inlined wrappers: inlined into
// the large test functions, whose locals AddressSanitizer moves to its
// separate stack for use-after-return checks, GCC spills 64-byte vectors to
// slots that stack does not align to 64 bytes.
template <class F, typename T>
HWY_NOINLINE T FoldRun(const T* x, size_t n) {
  return FoldContiguous<F>(x, n);
}
template <typename T>
HWY_NOINLINE void Reduce(ReduceKind kind, const ReducePlan& plan, const T* x,
                         T* out) {
  ReduceKernel(kind, plan, x, out);
}
template <typename T>
HWY_NOINLINE void Softmax(bool log, const T* x, T* y, size_t outer, size_t n,
                          size_t inner) {
  SoftmaxKernel(log, x, y, outer, n, inner);
}

template <typename T>
void CheckFoldContiguous() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const double eps = std::numeric_limits<T>::epsilon();
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> dist(-3, 3);
  for (size_t misalign : {0, 1, 3}) {
    // Past 4 vectors too: the 4-accumulator main loop.
    for (size_t n = 0; n <= 5 * lanes + 1; ++n) {
      MisalignedBuffer<T> x(n, misalign);
      double sum = 0, abs_sum = 0;
      T max = -std::numeric_limits<T>::infinity();
      for (size_t i = 0; i < n; ++i) {
        x[i] = static_cast<T>(dist(rng));
        sum += x[i];
        abs_sum += std::fabs(x[i]);
        max = std::max(max, x[i]);
      }
      // Recursive summation in T: |error| <= (n - 1) eps sum |x|.
      EXPECT_LE(std::fabs(FoldRun<SumFold>(x.data(), n) - sum),
                n * eps * abs_sum + 1e-300)
          << "n=" << n;
      EXPECT_EQ(FoldRun<MaxFold>(x.data(), n), max) << "n=" << n;
    }
  }
  // A NaN anywhere (main loop, tail) makes the max NaN.
  for (size_t at : {size_t{0}, lanes, 4 * lanes + 1}) {
    std::vector<T> x(4 * lanes + 2, T{1});
    x[at] = std::numeric_limits<T>::quiet_NaN();
    EXPECT_TRUE(std::isnan(FoldRun<MaxFold>(x.data(), x.size())))
        << "NaN at " << at;
  }
}

void TestFoldContiguous() {
  CheckFoldContiguous<float>();
  CheckFoldContiguous<double>();
}

// A plan over [rows, cols] reducing either axis, and a strided plan, against
// plain loops in double.
template <typename T>
void CheckReducePlans() {
  const hn::ScalableTag<T> d;
  const int64_t cols = static_cast<int64_t>(3 * hn::Lanes(d) + 1);
  const int64_t rows = 5;
  const double eps = std::numeric_limits<T>::epsilon();
  std::vector<T> x(rows * cols);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<T>(std::sin(0.37 * i) * 2);
  }
  const int64_t sizes[2] = {rows, cols};
  // Sum over columns (one output per row) and over rows (one per column).
  const int64_t in_strides[2] = {cols, 1};
  const int64_t per_row[2] = {1, 0};
  const int64_t per_col[2] = {0, 1};
  std::vector<T> out(std::max(rows, cols));
  Reduce(ReduceKind::kSum,
         ReducePlan{2, sizes, in_strides, per_row, rows,
                    static_cast<double>(cols)},
         x.data(), out.data());
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0, abs_sum = 0;
    for (int64_t c = 0; c < cols; ++c) {
      sum += x[r * cols + c];
      abs_sum += std::fabs(x[r * cols + c]);
    }
    EXPECT_NEAR(out[r], sum, cols * eps * abs_sum) << "row " << r;
  }
  Reduce(ReduceKind::kMean,
         ReducePlan{2, sizes, in_strides, per_col, cols,
                    static_cast<double>(rows)},
         x.data(), out.data());
  for (int64_t c = 0; c < cols; ++c) {
    double sum = 0, abs_sum = 0;
    for (int64_t r = 0; r < rows; ++r) {
      sum += x[r * cols + c];
      abs_sum += std::fabs(x[r * cols + c]);
    }
    EXPECT_NEAR(out[c], sum / rows, (rows + 1) * eps * abs_sum / rows)
        << "column " << c;
  }
  // Max over rows read through a stride of 2 columns (every other column).
  const int64_t half = (cols + 1) / 2;
  const int64_t strided_sizes[2] = {rows, half};
  const int64_t strided_in[2] = {cols, 2};
  Reduce(ReduceKind::kMax,
         ReducePlan{2, strided_sizes, strided_in, per_col, half, 0.0}, x.data(),
         out.data());
  for (int64_t c = 0; c < half; ++c) {
    T max = -std::numeric_limits<T>::infinity();
    for (int64_t r = 0; r < rows; ++r) max = std::max(max, x[r * cols + 2 * c]);
    EXPECT_EQ(out[c], max) << "column " << c;
  }
}

void TestReducePlans() {
  CheckReducePlans<float>();
  CheckReducePlans<double>();
}

// Softmax of each of `outer` rows of n (inner == 1), or of `inner` columns
// (inner > 1, SIMD across columns), against double. Error bound per element,
// relative: the shift x - max rounds (0.5 eps |x - max|, which exp turns into
// a relative error), exp adds 1 ULP, the sum of n positive terms n eps, the
// reciprocal and product 1 ULP each. log_softmax: absolute error of the shift
// plus the log of the sum.
template <typename T>
void CheckSoftmax(bool log, size_t n, size_t inner, size_t misalign) {
  const double eps = std::numeric_limits<T>::epsilon();
  const size_t outer = 2;
  const size_t count = outer * n * inner;
  std::mt19937_64 rng(n * 31 + inner);
  std::uniform_real_distribution<double> dist(-6, 6);
  MisalignedBuffer<T> x(count, misalign), y(count, misalign + 1);
  for (size_t i = 0; i < count; ++i) x[i] = static_cast<T>(dist(rng));
  // Past the end of y: must stay untouched (for n = 0, all of y).
  constexpr size_t kGuard = 16;
  const T sentinel = static_cast<T>(12345.5);
  for (size_t i = count; i < count + kGuard; ++i) y[i] = sentinel;
  Softmax(log, x.data(), y.data(), outer, n, inner);
  for (size_t i = count; i < count + kGuard; ++i) {
    EXPECT_EQ(y[i], sentinel) << "n=" << n << " wrote past the end at " << i;
  }
  for (size_t o = 0; o < outer; ++o) {
    for (size_t j = 0; j < inner; ++j) {
      auto at = [&](size_t r) { return (o * n + r) * inner + j; };
      double max = -std::numeric_limits<double>::infinity();
      for (size_t r = 0; r < n; ++r) max = std::max<double>(max, x[at(r)]);
      double sum = 0;
      for (size_t r = 0; r < n; ++r) sum += std::exp(x[at(r)] - max);
      for (size_t r = 0; r < n; ++r) {
        const double shifted = x[at(r)] - max;
        if (log) {
          const double want = shifted - std::log(sum);
          const double bound =
              eps * (std::fabs(shifted) + (n + 4) * (1 + std::log(sum)));
          EXPECT_NEAR(y[at(r)], want, bound) << "n=" << n << " r=" << r;
        } else {
          const double want = std::exp(shifted) / sum;
          const double bound = eps * (0.5 * std::fabs(shifted) + n + 4) * want;
          EXPECT_NEAR(y[at(r)], want, bound) << "n=" << n << " r=" << r;
        }
      }
    }
  }
}

void TestSoftmax() {
  const hn::ScalableTag<float> df;
  const hn::ScalableTag<double> dd;
  for (bool log : {false, true}) {
    for (size_t misalign : {0, 1}) {
      // n = 0: empty rows, nothing to write.
      for (size_t n = 0; n <= 3 * hn::Lanes(df) + 1; ++n) {
        CheckSoftmax<float>(log, n, 1, misalign);
      }
      for (size_t n = 0; n <= 3 * hn::Lanes(dd) + 1; ++n) {
        CheckSoftmax<double>(log, n, 1, misalign);
      }
      // Across columns: a full vector of columns plus a few one-lane ones;
      // and empty columns.
      for (size_t n : {size_t{0}, size_t{7}}) {
        CheckSoftmax<float>(log, n, hn::Lanes(df) + 3, misalign);
        CheckSoftmax<double>(log, n, hn::Lanes(dd) + 3, misalign);
      }
    }
  }
}

// Rows of all -inf (fully masked) give 0 (log: -inf); a NaN gives NaN.
template <typename T>
void CheckSoftmaxSpecialRows() {
  const T inf = std::numeric_limits<T>::infinity();
  const T x[6] = {-inf, -inf, -inf, T{1}, std::numeric_limits<T>::quiet_NaN(),
                  T{2}};
  T y[6];
  Softmax(false, x, y, 2, 3, 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(y[i], T{0});
  for (int i = 3; i < 6; ++i) EXPECT_TRUE(std::isnan(y[i]));
  Softmax(true, x, y, 1, 3, 1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(y[i], -inf);
}

// Special rows between ordinary ones, with rows long enough for full vectors
// and a tail: each row is handled on its own (the kernel may overlap one
// row's last step with the next row's work, and may take a faster path for
// rows whose values are all finite), so the finite rows match double and the
// special rows keep their conventions.
template <typename T>
void CheckSoftmaxMixedRows(bool log, size_t n) {
  const T inf = std::numeric_limits<T>::infinity();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const double eps = std::numeric_limits<T>::epsilon();
  enum Kind { kFinite, kPartlyMasked, kAllMasked, kNanTail, kHuge, kPlusInf };
  const Kind kinds[] = {kFinite,  kPartlyMasked, kFinite, kAllMasked, kFinite,
                        kNanTail, kHuge,         kFinite, kPlusInf,   kFinite};
  const size_t rows = sizeof(kinds) / sizeof(kinds[0]);
  std::mt19937_64 rng(n);
  std::uniform_real_distribution<double> dist(-6, 6);
  std::vector<T> x(rows * n), y(rows * n);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < n; ++i) {
      T& v = x[r * n + i];
      v = static_cast<T>(dist(rng));
      if (kinds[r] == kPartlyMasked && i % 3 == 1) v = -inf;
      if (kinds[r] == kAllMasked) v = -inf;
      if (kinds[r] == kNanTail && i == n - 1) v = nan;
      if (kinds[r] == kHuge) v = static_cast<T>(v * 1e30 / 6);
      if (kinds[r] == kPlusInf && i == n / 2) v = inf;
    }
  }
  Softmax(log, x.data(), y.data(), rows, n, 1);
  for (size_t r = 0; r < rows; ++r) {
    const T* xr = &x[r * n];
    const T* yr = &y[r * n];
    if (kinds[r] == kNanTail || kinds[r] == kPlusInf) {
      for (size_t i = 0; i < n; ++i) {
        EXPECT_TRUE(std::isnan(yr[i])) << "row " << r << " i=" << i;
      }
      continue;
    }
    if (kinds[r] == kAllMasked) {
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(yr[i], log ? -inf : T{0});
      continue;
    }
    double max = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < n; ++i) max = std::max<double>(max, xr[i]);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += std::exp(xr[i] - max);
    for (size_t i = 0; i < n; ++i) {
      const double shifted = xr[i] - max;
      if (std::isinf(shifted)) {
        EXPECT_EQ(yr[i], log ? -inf : T{0}) << "row " << r << " i=" << i;
      } else if (log) {
        const double bound =
            eps * (std::fabs(shifted) + (n + 4) * (1 + std::log(sum)));
        EXPECT_NEAR(yr[i], shifted - std::log(sum), bound)
            << "row " << r << " i=" << i;
      } else {
        const double want = std::exp(shifted) / sum;
        const double bound = eps * (0.5 * std::fabs(shifted) + n + 4) * want;
        EXPECT_NEAR(yr[i], want, bound) << "row " << r << " i=" << i;
      }
    }
  }
}

void TestSoftmaxSpecialRows() {
  CheckSoftmaxSpecialRows<float>();
  CheckSoftmaxSpecialRows<double>();
  const hn::ScalableTag<float> df;
  const hn::ScalableTag<double> dd;
  for (bool log : {false, true}) {
    for (size_t n : {size_t{3}, 3 * hn::Lanes(df) + 5}) {
      CheckSoftmaxMixedRows<float>(log, n);
    }
    for (size_t n : {size_t{3}, 3 * hn::Lanes(dd) + 5}) {
      CheckSoftmaxMixedRows<double>(log, n);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace minigraph {
HWY_BEFORE_TEST(ReductionKernelTest);
HWY_EXPORT_AND_TEST_P(ReductionKernelTest, TestFoldContiguous);
HWY_EXPORT_AND_TEST_P(ReductionKernelTest, TestReducePlans);
HWY_EXPORT_AND_TEST_P(ReductionKernelTest, TestSoftmax);
HWY_EXPORT_AND_TEST_P(ReductionKernelTest, TestSoftmaxSpecialRows);
}  // namespace minigraph
#endif
