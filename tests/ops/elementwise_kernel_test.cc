// Per-target tests of the elementwise kernels (ops/elementwise-inl.h): every
// compiled Highway target runs every unary and binary kernel against a scalar
// reference, for lengths 0 to 3 vectors + 1 and misaligned pointers, in
// float32 and float64.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/ops/elementwise_kernel_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "ops/elementwise-inl.h"
#include "tests/ops/kernel_test_util.h"

// ---- target-independent pieces (compiled once) -----------------------------
#ifndef MINIGRAPH_TESTS_OPS_ELEMENTWISE_KERNEL_TEST_ONCE_
#define MINIGRAPH_TESTS_OPS_ELEMENTWISE_KERNEL_TEST_ONCE_

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace minigraph {
namespace elementwise_kernel_test {

struct UnaryCase {
  const char* name;
  UnaryKind kind;
  double param;
  double low, high;  // inputs drawn from [low, high)
  double (*exact)(double x, double param);
  // Largest allowed error in ULP of the result, from the kernel's stated
  // accuracy (Highway contrib/math) and the roundings that follow it. A
  // negative bound instead allows |error| <= -bound * eps * (|p ln x| + 1)
  // relative, the propagated error of exp(p log x).
  double max_ulp;
};

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

const std::vector<UnaryCase>& UnaryCases() {
  static const auto* cases = new std::vector<UnaryCase>{
      {"neg", UnaryKind::kNeg, 0, -5, 5, [](double x, double) { return -x; },
       0},
      // Exp: 1 ULP.
      {"exp", UnaryKind::kExp, 0, -20, 20,
       [](double x, double) { return std::exp(x); }, 1},
      // Log: 4 ULP on (0, max].
      {"log", UnaryKind::kLog, 0, 0.01, 100,
       [](double x, double) { return std::log(x); }, 4},
      // Sqrt is correctly rounded.
      {"sqrt", UnaryKind::kSqrt, 0, 0, 100,
       [](double x, double) { return std::sqrt(x); }, 0},
      // 1 / sqrt: two correctly rounded steps.
      {"rsqrt", UnaryKind::kRsqrt, 0, 0.01, 100,
       [](double x, double) { return 1.0 / std::sqrt(x); }, 1},
      // Sin, cos: 3 ULP on [-39000, 39000].
      {"sin", UnaryKind::kSin, 0, -100, 100,
       [](double x, double) { return std::sin(x); }, 3},
      {"cos", UnaryKind::kCos, 0, -100, 100,
       [](double x, double) { return std::cos(x); }, 3},
      // exp (1 ULP), an add and a divide (0.5 each): at most 2.
      {"sigmoid", UnaryKind::kSigmoid, 0, -15, 15,
       [](double x, double) { return Sigmoid(x); }, 2},
      // sigmoid (2) and a multiply (0.5).
      {"silu", UnaryKind::kSilu, 0, -15, 15,
       [](double x, double) { return x * Sigmoid(x); }, 3},
      // x^3 as two multiplies (repeated squaring): 0.5 ULP each.
      {"pow_3", UnaryKind::kPow, 3, -3, 3,
       [](double x, double p) { return std::pow(x, p); }, 1},
      {"pow_1.7", UnaryKind::kPow, 1.7, 0.1, 4,
       [](double x, double p) { return std::pow(x, p); }, -6},
  };
  return *cases;
}

}  // namespace elementwise_kernel_test
}  // namespace minigraph

#endif  // MINIGRAPH_TESTS_OPS_ELEMENTWISE_KERNEL_TEST_ONCE_

// ---- per-target tests
// ---------------------------------------------------------
HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {

using elementwise_kernel_test::UnaryCase;
using elementwise_kernel_test::UnaryCases;
using kernel_test::MisalignedBuffer;
using kernel_test::UlpDistance;

// The kernels are called through these non-inlined wrappers: inlined into
// the large test functions, whose locals AddressSanitizer moves to its
// separate stack for use-after-return checks, GCC spills 64-byte vectors to
// slots that stack does not align to 64 bytes.
template <typename T>
HWY_NOINLINE void Unary(UnaryKind kind, double param, const T* in, T* out,
                        size_t n) {
  UnaryKernel(kind, param, in, out, n);
}
template <class Op, typename T>
HWY_NOINLINE void Row(const Op& op, const T* a, int64_t sa, const T* b,
                      int64_t sb, T* out, size_t n) {
  BinaryRow(op, a, sa, b, sb, out, n);
}
template <typename T>
HWY_NOINLINE void Binary(BinaryKind kind, const BinaryPlan& plan, const T* a,
                         const T* b, T* out) {
  BinaryKernel(kind, plan, a, b, out);
}

template <typename T>
void CheckUnary(const UnaryCase& c) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> dist(c.low, c.high);
  const double eps = std::numeric_limits<T>::epsilon();
  for (size_t misalign : {0, 1, 3}) {
    for (size_t n = 0; n <= 3 * lanes + 1; ++n) {
      MisalignedBuffer<T> in(n, misalign), out(n, misalign + 1);
      for (size_t i = 0; i < n; ++i) in[i] = static_cast<T>(dist(rng));
      Unary(c.kind, c.param, in.data(), out.data(), n);
      for (size_t i = 0; i < n; ++i) {
        const double exact = c.exact(in[i], c.param);
        if (c.max_ulp >= 0) {
          EXPECT_LE(UlpDistance(out[i], exact), c.max_ulp)
              << c.name << " n=" << n << " misalign=" << misalign
              << " x=" << in[i] << " got " << out[i] << " want " << exact;
        } else {
          const double bound =
              -c.max_ulp * eps * (std::fabs(c.param * std::log(in[i])) + 1);
          EXPECT_LE(std::fabs(out[i] - exact), bound * std::fabs(exact))
              << c.name << " x=" << in[i];
        }
      }
    }
  }
}

void TestUnaryKernels() {
  for (const UnaryCase& c : UnaryCases()) {
    CheckUnary<float>(c);
    CheckUnary<double>(c);
  }
}

// Edges the ops promise: exp(-inf) = 0 (masked scores), log(0) = -inf,
// log(x < 0) = NaN, sigmoid saturates without NaN.
template <typename T>
void CheckUnaryEdges() {
  const T inf = std::numeric_limits<T>::infinity();
  const T in[4] = {-inf, T{0}, T{-1}, T{-1000}};
  T out[4];
  Unary(UnaryKind::kExp, 0.0, in, out, 1);
  EXPECT_EQ(out[0], T{0});
  Unary(UnaryKind::kLog, 0.0, in + 1, out, 2);
  EXPECT_EQ(out[0], -inf);
  EXPECT_TRUE(std::isnan(out[1]));
  Unary(UnaryKind::kSigmoid, 0.0, in + 3, out, 1);
  EXPECT_FALSE(std::isnan(out[0]));
  EXPECT_GE(out[0], T{0});
  EXPECT_LT(out[0], T{1e-30});
}

void TestUnaryEdges() {
  CheckUnaryEdges<float>();
  CheckUnaryEdges<double>();
}

// Every binary op is a single IEEE operation (or a comparison), so the
// kernel must match the scalar expression exactly on every path: both
// contiguous, a repeated scalar on either side, and a strided operand.
template <typename T, class Op>
void CheckBinaryRows(const char* name, const Op& op, T (*scalar)(T, T)) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> dist(-4, 4);
  const struct {
    int64_t sa, sb;
  } layouts[] = {{1, 1}, {0, 1}, {1, 0}, {2, 1}, {1, 3}};
  for (const auto& layout : layouts) {
    for (size_t misalign : {0, 1}) {
      for (size_t n = 0; n <= 3 * lanes + 1; ++n) {
        MisalignedBuffer<T> a(3 * n + 1, misalign), b(3 * n + 1, misalign + 2),
            out(n, misalign + 1);
        for (size_t i = 0; i < 3 * n + 1; ++i) {
          a[i] = static_cast<T>(dist(rng));
          // Some ties, so equal / greater / max see both outcomes.
          b[i] = (i % 5 == 0) ? a[i] : static_cast<T>(dist(rng));
        }
        Row(op, a.data(), layout.sa, b.data(), layout.sb, out.data(), n);
        for (size_t i = 0; i < n; ++i) {
          const T want = scalar(a[i * layout.sa], b[i * layout.sb]);
          EXPECT_EQ(out[i], want)
              << name << " sa=" << layout.sa << " sb=" << layout.sb
              << " n=" << n << " i=" << i;
        }
      }
    }
  }
}

template <typename T>
void CheckAllBinaryRows() {
  CheckBinaryRows<T>("add", AddOp(), [](T a, T b) { return a + b; });
  CheckBinaryRows<T>("sub", SubOp(), [](T a, T b) { return a - b; });
  CheckBinaryRows<T>("mul", MulOp(), [](T a, T b) { return a * b; });
  CheckBinaryRows<T>("div", DivOp(), [](T a, T b) { return a / b; });
  CheckBinaryRows<T>("max", MaxOp(), [](T a, T b) { return a > b ? a : b; });
  CheckBinaryRows<T>("equal", EqualOp(),
                     [](T a, T b) { return a == b ? T{1} : T{0}; });
  CheckBinaryRows<T>("greater", GreaterOp(),
                     [](T a, T b) { return a > b ? T{1} : T{0}; });
}

void TestBinaryRows() {
  CheckAllBinaryRows<float>();
  CheckAllBinaryRows<double>();
}

// The strided walk over a whole broadcast shape: y[i, j, k] = a[i, 0, k] -
// b[j, k] (a row-broadcast and an outer broadcast at once).
template <typename T>
void CheckBinaryBroadcastPlan() {
  const hn::ScalableTag<T> d;
  const int64_t cols = static_cast<int64_t>(2 * hn::Lanes(d) + 3);
  const int64_t shape[3] = {3, 4, cols};
  const int64_t a_strides[3] = {cols, 0, 1};
  const int64_t b_strides[3] = {0, cols, 1};
  std::vector<T> a(3 * cols), b(4 * cols), out(3 * 4 * cols);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<T>(i * 0.25);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<T>(i * 0.5 - 3);
  const BinaryPlan plan{3, shape, a_strides, b_strides};
  Binary(BinaryKind::kSub, plan, a.data(), b.data(), out.data());
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 4; ++j) {
      for (int64_t k = 0; k < cols; ++k) {
        EXPECT_EQ(out[(i * 4 + j) * cols + k],
                  a[i * cols + k] - b[j * cols + k]);
      }
    }
  }
}

void TestBinaryBroadcastPlan() {
  CheckBinaryBroadcastPlan<float>();
  CheckBinaryBroadcastPlan<double>();
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace minigraph {
HWY_BEFORE_TEST(ElementwiseKernelTest);
HWY_EXPORT_AND_TEST_P(ElementwiseKernelTest, TestUnaryKernels);
HWY_EXPORT_AND_TEST_P(ElementwiseKernelTest, TestUnaryEdges);
HWY_EXPORT_AND_TEST_P(ElementwiseKernelTest, TestBinaryRows);
HWY_EXPORT_AND_TEST_P(ElementwiseKernelTest, TestBinaryBroadcastPlan);
}  // namespace minigraph
#endif
