// ClipGradNorm: the total norm, clipping and not clipping, parameters
// without grads, inf and nan norms, grads shared between parameters or
// strided, and the same bits for every thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "framework/optim/optim.h"
#include "framework/thread_pool.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "tests/framework/optim/optim_test_util.h"

namespace minigraph {
namespace {

using testing_util::RandomTensor;
using testing_util::SameBits;
using testing_util::SetGrad;

// A parameter of `dtype` and shape [n] whose grad holds `grad`.
Tensor ParamWithGrad(const std::vector<double>& grad, DType dtype) {
  const int64_t n = static_cast<int64_t>(grad.size());
  Tensor p = Tensor::Zeros({n}, dtype);
  p.set_requires_grad(true);
  SetGrad(p, ConvertDType(Tensor::FromData(grad, {n}), dtype));
  return p;
}

class ClipGradDTypeTest : public ::testing::TestWithParam<DType> {};

INSTANTIATE_TEST_SUITE_P(Float, ClipGradDTypeTest,
                         ::testing::Values(DType::kFloat64, DType::kFloat32),
                         [](const auto& info) {
                           return std::string(DTypeName(info.param));
                         });

// Grads (3, 4) and (12): norms 5 and 12, total sqrt(25 + 144) = 13 exactly.
TEST_P(ClipGradDTypeTest, ClipsToMaxNorm) {
  const DType dtype = GetParam();
  const NamedTensors params = {{"a", ParamWithGrad({3, 4}, dtype)},
                               {"b", ParamWithGrad({12}, dtype)}};
  EXPECT_EQ(ClipGradNorm(params, 1.3), 13.0);
  // Every grad times coef = 1.3 / (13 + 1e-6), rounded to the dtype.
  const double coef = 1.3 / (13.0 + 1e-6);
  auto scaled = [&](double g) {
    return dtype == DType::kFloat32
               ? static_cast<double>(static_cast<float>(g) *
                                     static_cast<float>(coef))
               : g * coef;
  };
  EXPECT_EQ(params[0].second.grad().ToVector<double>(),
            (std::vector<double>{scaled(3), scaled(4)}));
  EXPECT_EQ(params[1].second.grad().ToVector<double>(),
            (std::vector<double>{scaled(12)}));
  // The clipped grads have (almost) max_norm as their total.
  EXPECT_NEAR(ClipGradNorm(params, 0.0), 1.3, 1e-6);
}

TEST_P(ClipGradDTypeTest, LeavesGradsAloneBelowMaxNormOrWithoutOne) {
  const DType dtype = GetParam();
  const Tensor a = ParamWithGrad({3, 4}, dtype);
  const Tensor a_grad = CopyToContiguous(a.grad());
  const NamedTensors params = {{"a", a}};
  // coef = 5.1 / (5 + 1e-6) >= 1: no change.
  EXPECT_EQ(ClipGradNorm(params, 5.1), 5.0);
  EXPECT_TRUE(SameBits(a.grad(), a_grad));
  // max_norm <= 0 only measures.
  EXPECT_EQ(ClipGradNorm(params, 0.0), 5.0);
  EXPECT_EQ(ClipGradNorm(params, -1.0), 5.0);
  EXPECT_TRUE(SameBits(a.grad(), a_grad));
}

TEST(ClipGradTest, SkipsParametersWithoutGrads) {
  Tensor no_grad = Tensor::Ones({4}, DType::kFloat32);
  no_grad.set_requires_grad(true);
  const NamedTensors params = {{"none", no_grad},
                               {"a", ParamWithGrad({6, 8}, DType::kFloat32)}};
  EXPECT_EQ(ClipGradNorm(params, 5.0), 10.0);
  EXPECT_FALSE(no_grad.grad().defined());
  EXPECT_EQ(
      params[1].second.grad().ToVector<double>(),
      (std::vector<double>{
          static_cast<float>(6) * static_cast<float>(5.0 / (10.0 + 1e-6)),
          static_cast<float>(8) * static_cast<float>(5.0 / (10.0 + 1e-6))}));
  EXPECT_EQ(ClipGradNorm({{"none", no_grad}}, 1.0), 0.0);
}

TEST(ClipGradTest, InfOrNanNormLeavesGradsAsTheyAre) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor a = ParamWithGrad({1, inf, 2}, DType::kFloat32);
  const Tensor b = ParamWithGrad({3}, DType::kFloat32);
  const Tensor a_grad = CopyToContiguous(a.grad());
  const Tensor b_grad = CopyToContiguous(b.grad());
  EXPECT_EQ(ClipGradNorm({{"a", a}, {"b", b}}, 1.0), inf);
  EXPECT_TRUE(SameBits(a.grad(), a_grad));
  EXPECT_TRUE(SameBits(b.grad(), b_grad));
  const Tensor c = ParamWithGrad({1, std::nan(""), 2}, DType::kFloat64);
  EXPECT_TRUE(std::isnan(ClipGradNorm({{"c", c}, {"b", b}}, 1.0)));
  EXPECT_TRUE(SameBits(b.grad(), b_grad));
}

// Autograd may hand one tensor to two parameters: each is scaled once, and
// a tensor the caller still holds keeps its values. A strided grad works too.
TEST(ClipGradTest, SharedAndStridedGradsAreEachScaledOnce) {
  const Tensor shared = Tensor::FromData<double>({3, 4}, {2});
  Tensor a = Tensor::Zeros({2}, DType::kFloat64);
  Tensor b = Tensor::Zeros({2}, DType::kFloat64);
  SetGrad(a, shared);
  SetGrad(b, shared);
  Tensor c = Tensor::Zeros({3, 2}, DType::kFloat64);
  SetGrad(
      c, Transpose(Tensor::FromData<double>({1, 2, 3, 4, 5, 6}, {2, 3}), 0, 1));
  // 25 + 25 + 91 = 141.
  const double total = std::sqrt(141.0);
  const NamedTensors params = {{"a", a}, {"b", b}, {"c", c}};
  EXPECT_EQ(ClipGradNorm(params, 1.0), total);
  const double coef = 1.0 / (total + 1e-6);
  EXPECT_EQ(a.grad().ToVector<double>(),
            (std::vector<double>{3 * coef, 4 * coef}));
  EXPECT_EQ(b.grad().ToVector<double>(),
            (std::vector<double>{3 * coef, 4 * coef}));
  EXPECT_EQ(shared.ToVector<double>(), (std::vector<double>{3, 4}));
  EXPECT_EQ(c.grad().ToVector<double>(),
            (std::vector<double>{1 * coef, 4 * coef, 2 * coef, 5 * coef,
                                 3 * coef, 6 * coef}));
}

// A long grad: the norm against a plain sequential double sum (a different
// order of additions, so equal up to rounding: n additions of relative
// error 2^-53 each), and the same bits for every thread count.
TEST(ClipGradTest, LongGradsSameBitsForEveryThreadCount) {
  const Tensor grad = RandomTensor({300007}, -1, 1, 11, DType::kFloat32);
  double sequential = 0.0;
  for (const double g : grad.ToVector<double>()) sequential += g * g;
  std::vector<double> totals;
  std::vector<Tensor> clipped;
  for (int threads = 1; threads <= 3; ++threads) {
    ASSERT_TRUE(SetNumThreads(threads).ok());
    Tensor p = Tensor::Zeros({300007}, DType::kFloat32);
    SetGrad(p, CopyToContiguous(grad));
    totals.push_back(ClipGradNorm({{"p", p}}, 1.0));
    clipped.push_back(p.grad());
  }
  ASSERT_TRUE(SetNumThreads(2).ok());
  EXPECT_NEAR(totals[0], std::sqrt(sequential),
              std::sqrt(sequential) * 300007 * 0x1p-53);
  for (size_t i = 1; i < totals.size(); ++i) {
    EXPECT_EQ(totals[i], totals[0]);
    EXPECT_TRUE(SameBits(clipped[i], clipped[0]));
  }
}

}  // namespace
}  // namespace minigraph
