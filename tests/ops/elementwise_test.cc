// Elementwise kernels against libm in double, edge values, broadcasting,
// strided inputs, and the op-level API.
#include "ops/elementwise.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "ops/op_helpers.h"

namespace minigraph {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

struct UnaryCase {
  UnaryKind kind;
  double param;
  double low, high;
  double (*expected)(double, double);
};

// Every length from 0 to 70 (past 3 vectors of 16 floats) and a misaligned
// start, so vector bodies, tails and unaligned loads all run.
TEST(ElementwiseKernelTest, UnaryMatchesLibmForAllLengthsAndAlignments) {
  const UnaryCase cases[] = {
      {UnaryKind::kNeg, 0, -5, 5, [](double x, double) { return -x; }},
      {UnaryKind::kExp, 0, -20, 20,
       [](double x, double) { return std::exp(x); }},
      {UnaryKind::kLog, 0, 1e-3, 1e3,
       [](double x, double) { return std::log(x); }},
      {UnaryKind::kSqrt, 0, 0, 100,
       [](double x, double) { return std::sqrt(x); }},
      {UnaryKind::kRsqrt, 0, 0.01, 100,
       [](double x, double) { return 1 / std::sqrt(x); }},
      {UnaryKind::kSin, 0, -100, 100,
       [](double x, double) { return std::sin(x); }},
      {UnaryKind::kCos, 0, -100, 100,
       [](double x, double) { return std::cos(x); }},
      {UnaryKind::kSigmoid, 0, -30, 30,
       [](double x, double) { return 1 / (1 + std::exp(-x)); }},
      {UnaryKind::kSilu, 0, -30, 30,
       [](double x, double) { return x / (1 + std::exp(-x)); }},
      {UnaryKind::kPow, 3, -3, 3,
       [](double x, double p) { return std::pow(x, p); }},
      {UnaryKind::kPow, 1.7, 0.1, 3,
       [](double x, double p) { return std::pow(x, p); }},
  };
  for (const UnaryCase& c : cases) {
    const Tensor input = SampleUniform({71 + 1}, c.low, c.high, 99);
    const std::vector<double> in64 = input.ToVector<double>();
    const std::vector<float> in32 = input.ToVector<float>();
    for (size_t misalign = 0; misalign < 2; ++misalign) {
      for (size_t n = 0; n + misalign <= 71; ++n) {
        std::vector<double> out64(n + 1, 123.0);
        std::vector<float> out32(n + 1, 123.0f);
        UnaryContiguous(c.kind, c.param, in64.data() + misalign, out64.data(),
                        n);
        UnaryContiguous(c.kind, c.param, in32.data() + misalign, out32.data(),
                        n);
        for (size_t i = 0; i < n; ++i) {
          const double want64 = c.expected(in64[i + misalign], c.param);
          const double want32 = c.expected(in32[i + misalign], c.param);
          ASSERT_NEAR(out64[i], want64, 1e-13 * std::max(1.0, std::abs(want64)))
              << static_cast<int>(c.kind) << " n=" << n << " i=" << i;
          ASSERT_NEAR(out32[i], want32, 4e-6 * std::max(1.0, std::abs(want32)))
              << static_cast<int>(c.kind) << " n=" << n << " i=" << i;
        }
        // Nothing past the end is written.
        EXPECT_EQ(out64[n], 123.0);
        EXPECT_EQ(out32[n], 123.0f);
      }
    }
  }
}

TEST(ElementwiseKernelTest, EdgeValues) {
  const Tensor x = Tensor::FromData<float>(
      {-std::numeric_limits<float>::infinity(), 0.0f, -1.0f, 1.0f}, {4});
  EXPECT_THAT(Exp(x).ToVector<double>(),
              ElementsAre(0.0, 1.0, std::exp(-1.0f), std::exp(1.0f)));
  const std::vector<double> logs = Log(x).ToVector<double>();
  EXPECT_TRUE(std::isnan(logs[0]));
  EXPECT_EQ(logs[1], -kInf);
  EXPECT_TRUE(std::isnan(logs[2]));
  EXPECT_EQ(logs[3], 0.0);
  // Sigmoid saturates without overflow in either direction.
  const Tensor big = Tensor::FromData<float>({-200.0f, 200.0f}, {2});
  EXPECT_THAT(Sigmoid(big).ToVector<double>(), ElementsAre(0.0, 1.0));
  // Integer powers of negative bases are exact; fractional ones are nan.
  const Tensor neg = Tensor::FromData<double>({-2.0, 0.0}, {2});
  EXPECT_THAT(Pow(neg, 3.0).ToVector<double>(), ElementsAre(-8.0, 0.0));
  EXPECT_THAT(Pow(neg, -2.0).ToVector<double>(), ElementsAre(0.25, kInf));
  EXPECT_TRUE(std::isnan(Pow(neg, 0.5).ToVector<double>()[0]));
}

TEST(ElementwiseOpTest, BinaryBroadcastsLikeNumpy) {
  const Tensor a = Tensor::FromData<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor row = Tensor::FromData<float>({10, 20, 30}, {3});
  const Tensor column = Tensor::FromData<float>({100, 200}, {2, 1});
  EXPECT_THAT((a + row).ToVector<double>(),
              ElementsAre(11, 22, 33, 14, 25, 36));
  EXPECT_THAT((a * column).ToVector<double>(),
              ElementsAre(100, 200, 300, 800, 1000, 1200));
  EXPECT_THAT((row - column).ToVector<double>(),
              ElementsAre(-90, -80, -70, -190, -180, -170));
  EXPECT_THAT((a / 2.0).ToVector<double>(),
              ElementsAre(0.5, 1, 1.5, 2, 2.5, 3));
  EXPECT_THAT((1.0 - a).ToVector<double>(), ElementsAre(0, -1, -2, -3, -4, -5));
  EXPECT_THAT(Maximum(a, Tensor::Scalar(3.5)).ToVector<double>(),
              ElementsAre(3.5, 3.5, 3.5, 4, 5, 6));
  EXPECT_THAT(Equal(a, Tensor::Scalar(2.0)).ToVector<double>(),
              ElementsAre(0, 1, 0, 0, 0, 0));
  EXPECT_THAT(Greater(a, Tensor::Scalar(4.0)).ToVector<double>(),
              ElementsAre(0, 0, 0, 0, 1, 1));
}

TEST(ElementwiseOpTest, StridedAndExpandedOperands) {
  const Tensor base = Tensor::Arange(0, 12, 1, DType::kFloat64);
  // Transposed 3x4 -> 4x3 view: element (i, j) = 4 j + i.
  const Tensor transposed = MakeView(base, {4, 3}, {1, 4}, 0);
  const Tensor ones = Tensor::Ones({4, 3}, DType::kFloat64);
  const std::vector<double> sum = (transposed + ones).ToVector<double>();
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(sum[i * 3 + j], 4 * j + i + 1);
  }
  // Unary on a non-contiguous view.
  const std::vector<double> negated = Neg(transposed).ToVector<double>();
  EXPECT_EQ(negated[1], -4);
  // Stride-0 expansion on the inner axis and a strided (step 2) row.
  const Tensor every_other =
      MakeView(base, {2, 3}, {6, 2}, 1);                      // 1 3 5 / 7 9 11
  const Tensor repeated = MakeView(base, {2, 3}, {1, 0}, 2);  // 2 2 2 / 3 3 3
  EXPECT_THAT((every_other * repeated).ToVector<double>(),
              ElementsAre(2, 6, 10, 21, 27, 33));
}

TEST(ElementwiseOpTest, EmptyAndScalarTensors) {
  const Tensor empty = Tensor::Zeros({0, 3});
  EXPECT_EQ((empty + Tensor::Ones({3})).shape(), (Shape{0, 3}));
  EXPECT_EQ(Exp(empty).numel(), 0);
  EXPECT_EQ((Tensor::Scalar(2.0) * Tensor::Scalar(4.0)).item(), 8.0);
}

TEST(ElementwiseOpTest, WhereMaskedFillFullCast) {
  const Tensor condition = Tensor::FromData<int64_t>({1, 0, 1}, {3});
  const Tensor a = Tensor::FromData<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = Tensor::FromData<float>({-1, -2}, {2, 1});
  EXPECT_THAT(Where(condition, a, b).ToVector<double>(),
              ElementsAre(1, -1, 3, 4, -2, 6));
  const Tensor mask = Tensor::FromData<float>({0, 1, 0}, {3});
  const std::vector<double> filled =
      MaskedFill(a, mask, -kInf).ToVector<double>();
  EXPECT_THAT(filled, ElementsAre(1, -kInf, 3, 4, -kInf, 6));
  const Tensor full = Full({2, 2}, 7.0, DType::kFloat64);
  EXPECT_EQ(full.dtype(), DType::kFloat64);
  EXPECT_THAT(full.ToVector<double>(), ElementsAre(7, 7, 7, 7));
  EXPECT_THAT(FullLike(a, 1.0).shape(), ElementsAre(2, 3));
  EXPECT_EQ(Cast(a, DType::kFloat64).dtype(), DType::kFloat64);
}

TEST(ElementwiseOpTest, GradientsThroughWhereAndMaximum) {
  Tensor a = Tensor::FromData<double>({1, 5, 2}, {3});
  Tensor b = Tensor::FromData<double>({4, 3, 2}, {3});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  ASSERT_TRUE(Sum(Maximum(a, b)).Backward().ok());
  // Winner takes the gradient; the tie at index 2 splits it.
  EXPECT_THAT(a.grad().ToVector<double>(), ElementsAre(0, 1, 0.5));
  EXPECT_THAT(b.grad().ToVector<double>(), ElementsAre(1, 0, 0.5));
  Tensor x = Tensor::FromData<double>({1, 2, 3}, {3});
  x.set_requires_grad(true);
  const Tensor keep = Tensor::FromData<double>({1, 0, 1}, {3});
  ASSERT_TRUE(Sum(Where(keep, x * 3.0, Tensor::Scalar(0.0, DType::kFloat64)))
                  .Backward()
                  .ok());
  EXPECT_THAT(x.grad().ToVector<double>(), ElementsAre(3, 0, 3));
}

TEST(ElementwiseOpTest, ErrorsNameOpAndInputs) {
  auto r = CallOp("exp", {Tensor::FromData<int64_t>({1}, {1})});
  EXPECT_THAT(r.status().message(), HasSubstr("exp (node 'exp_"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("must be float32 or float64, got int64[1]"));
  auto w = CallOp("where",
                  {Tensor::Ones({2}), Tensor::Ones({3}), Tensor::Ones({3})});
  EXPECT_THAT(w.status().message(),
              HasSubstr("cannot broadcast shapes [2] and [3]"));
}

}  // namespace
}  // namespace minigraph
