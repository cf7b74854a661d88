// Autograd semantics: accumulation, fan-out, no-grad, detach, retain_graph,
// Gradients() without side effects, create_graph and a Hessian-vector product
// against finite differences.
#include "framework/autograd.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

Tensor Leaf(std::vector<double> values, Shape shape) {
  Tensor t = Tensor::FromData(values, shape);
  t.set_requires_grad(true);
  return t;
}

TEST(AutogradTest, ScalarBackwardGivesAnalyticGradient) {
  // f = sum(x * x + 3 x) -> df/dx = 2x + 3
  Tensor x = Leaf({1, -2, 0.5}, {3});
  const Tensor f = Sum(x * x + x * 3.0);
  ASSERT_TRUE(f.Backward().ok());
  EXPECT_THAT(x.grad().ToVector<double>(), ElementsAre(5, -1, 4));
}

TEST(AutogradTest, FanOutAccumulatesAndCallsAccumulate) {
  // y = x * x uses x twice; two backward passes add up.
  Tensor x = Leaf({3}, {1});
  ASSERT_TRUE(Sum(Mul(x, x)).Backward().ok());
  EXPECT_EQ(x.grad().item(), 6);
  ASSERT_TRUE(Sum(Mul(x, x)).Backward().ok());
  EXPECT_EQ(x.grad().item(), 12);
  x.ZeroGrad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(AutogradTest, BroadcastGradientIsReducedToInputShape) {
  // y = a + b with a [2, 3], b [3]: db = column sums of g.
  Tensor a = Leaf({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Leaf({0, 0, 0}, {3});
  const Tensor g = Tensor::FromData<double>({1, 2, 3, 10, 20, 30}, {2, 3});
  ASSERT_TRUE((a + b).Backward(g).ok());
  EXPECT_EQ(b.grad().shape(), (Shape{3}));
  EXPECT_THAT(b.grad().ToVector<double>(), ElementsAre(11, 22, 33));
  EXPECT_THAT(a.grad().ToVector<double>(), ElementsAre(1, 2, 3, 10, 20, 30));
}

TEST(AutogradTest, NonScalarNeedsExplicitGradient) {
  Tensor x = Leaf({1, 2}, {2});
  const absl::Status s = (x * 2.0).Backward();
  EXPECT_THAT(s.message(), HasSubstr("pass grad_output"));
  const absl::Status wrong =
      (x * 2.0).Backward(Tensor::Ones({3}, DType::kFloat64));
  EXPECT_THAT(wrong.message(), HasSubstr("float64[3]"));
}

TEST(AutogradTest, NoGradScopeRecordsNothing) {
  Tensor x = Leaf({1, 2}, {2});
  Tensor y;
  {
    NoGradGuard no_grad;
    y = x * 2.0;
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  EXPECT_THAT(Sum(y).Backward().message(), HasSubstr("does not require grad"));
  EXPECT_TRUE(IsGradEnabled());
}

TEST(AutogradTest, DetachCutsTheGraph) {
  Tensor x = Leaf({2}, {1});
  const Tensor y = x * x;
  const Tensor d = y.Detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.SharesStorageWith(y));
  // z = d * x: only the direct path counts -> dz/dx = d = 4.
  ASSERT_TRUE(Sum(d * x).Backward().ok());
  EXPECT_EQ(x.grad().item(), 4);
}

TEST(AutogradTest, ReleasedGraphGivesClearError) {
  Tensor x = Leaf({1, 2}, {2});
  const Tensor f = Sum(Exp(x));
  ASSERT_TRUE(f.Backward().ok());
  const absl::Status again = f.Backward();
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.message(), HasSubstr("retain_graph"));
}

TEST(AutogradTest, RetainGraphAllowsASecondPass) {
  Tensor x = Leaf({1, 2}, {2});
  const Tensor f = Sum(Exp(x));
  ASSERT_TRUE(f.Backward(Tensor(), /*retain_graph=*/true).ok());
  ASSERT_TRUE(f.Backward().ok());
  EXPECT_THAT(
      x.grad().ToVector<double>(),
      Pointwise(DoubleNear(1e-12), {2 * std::exp(1.0), 2 * std::exp(2.0)}));
}

TEST(AutogradTest, GradientsLeavesGradUntouchedAndReachesIntermediates) {
  Tensor x = Leaf({1, 2, 3}, {3});
  const Tensor h = x * x;         // intermediate
  const Tensor f = Sum(h * 2.0);  // df/dh = 2, df/dx = 4x
  absl::StatusOr<std::vector<Tensor>> grads = Gradients({f}, {x, h});
  ASSERT_TRUE(grads.ok()) << grads.status();
  EXPECT_THAT((*grads)[0].ToVector<double>(), ElementsAre(4, 8, 12));
  EXPECT_THAT((*grads)[1].ToVector<double>(), ElementsAre(2, 2, 2));
  EXPECT_FALSE(x.grad().defined());
}

TEST(AutogradTest, GradientsReportsUnusedInputs) {
  Tensor x = Leaf({1}, {1});
  Tensor unused = Leaf({1}, {1});
  const Tensor f = Sum(x * 2.0);
  BackwardOptions retain;
  retain.retain_graph = true;
  absl::StatusOr<std::vector<Tensor>> strict =
      Gradients({f}, {unused}, {}, retain);
  EXPECT_THAT(strict.status().message(), HasSubstr("not reached"));
  absl::StatusOr<std::vector<Tensor>> lenient =
      Gradients({f}, {unused}, {}, retain, /*allow_unused=*/true);
  ASSERT_TRUE(lenient.ok());
  EXPECT_EQ((*lenient)[0].item(), 0);
}

TEST(AutogradTest, CreateGraphGivesSecondDerivative) {
  // f = sum(x^3): f' = 3x^2, f'' = 6x.
  Tensor x = Leaf({1, -2}, {2});
  BackwardOptions create;
  create.create_graph = true;
  absl::StatusOr<std::vector<Tensor>> first =
      Gradients({Sum(Pow(x, 3.0))}, {x}, {}, create);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE((*first)[0].requires_grad());
  EXPECT_THAT((*first)[0].ToVector<double>(), ElementsAre(3, 12));
  absl::StatusOr<std::vector<Tensor>> second =
      Gradients({Sum((*first)[0])}, {x});
  ASSERT_TRUE(second.ok());
  EXPECT_THAT((*second)[0].ToVector<double>(), ElementsAre(6, -12));
}

// f(x) = sum(sin(x) * x^2 * exp(-x)) over a vector, mixing ops so that the
// Hessian is dense enough to be a meaningful check.
Tensor HvpFunction(const Tensor& x) {
  return Sum(Sin(x) * Pow(x, 2.0) * Exp(-x) + Log(x * x + 1.0) * Sum(x));
}

TEST(AutogradTest, HessianVectorProductMatchesFiniteDifferences) {
  const std::vector<double> x0 = {0.3, -0.7, 1.1, 0.5};
  const std::vector<double> v = {1.0, -0.5, 0.25, 2.0};
  Tensor x = Leaf(x0, {4});
  BackwardOptions create;
  create.create_graph = true;
  absl::StatusOr<std::vector<Tensor>> grad =
      Gradients({HvpFunction(x)}, {x}, {}, create);
  ASSERT_TRUE(grad.ok());
  // Hv = d/dx <grad f(x), v>
  const Tensor direction = Tensor::FromData(v, {4});
  absl::StatusOr<std::vector<Tensor>> hvp =
      Gradients({Sum((*grad)[0] * direction)}, {x});
  ASSERT_TRUE(hvp.ok());
  // Finite differences of the gradient along v: (g(x + eps v) - g(x - eps v)) /
  // 2 eps
  auto gradient_at = [](const std::vector<double>& point) {
    Tensor p = Leaf(point, {4});
    return (*Gradients({HvpFunction(p)}, {p}))[0].ToVector<double>();
  };
  const double eps = 1e-6;
  std::vector<double> plus = x0, minus = x0;
  for (int i = 0; i < 4; ++i) {
    plus[i] += eps * v[i];
    minus[i] -= eps * v[i];
  }
  const std::vector<double> gp = gradient_at(plus), gm = gradient_at(minus);
  const std::vector<double> analytic = (*hvp)[0].ToVector<double>();
  for (int i = 0; i < 4; ++i) {
    const double numeric = (gp[i] - gm[i]) / (2 * eps);
    EXPECT_NEAR(analytic[i], numeric, 1e-6 + 1e-5 * std::abs(numeric)) << i;
  }
}

TEST(AutogradTest, NodesCarryOpNamesAndScopes) {
  Tensor x = Leaf({1}, {1});
  Tensor y;
  {
    NameScope scope("block");
    y = Exp(x);
  }
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_EQ(y.grad_fn()->op().name, "exp");
  EXPECT_THAT(y.grad_fn()->name(), HasSubstr("block/exp_"));
  EXPECT_EQ(y.grad_fn()->inputs().size(), 1u);
}

TEST(AutogradTest, ModelScriptMismatchDiesWithTheOpMessage) {
  const Tensor a = Tensor::Zeros({2, 3});
  const Tensor b = Tensor::Zeros({4, 3});
  EXPECT_DEATH(Add(a, b),
               "add \\(node 'add_[0-9]+'\\).*\\[2, 3\\] and \\[4, 3\\]");
}

}  // namespace
}  // namespace minigraph
