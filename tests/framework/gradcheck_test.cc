// The gradient checker itself: it passes correct gradients, and it fails a
// deliberately wrong backward rule registered here (a check that cannot fail
// would prove nothing).
#include "framework/gradcheck.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "ops/op_helpers.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

// square_with_wrong_grad: y = x^2 whose backward claims dx = g x (half the
// truth). Registered only in this test binary.
MG_REGISTER_OP(square_with_wrong_grad) {
  OpDef def;
  def.name = "test_square_with_wrong_grad";
  def.inputs = {"x"};
  def.infer = SameAsInput(0);
  def.forward = [](const KernelContext& ctx) {
    return std::vector<Tensor>{
        Mul(ctx.inputs[0].Detach(), ctx.inputs[0].Detach())};
  };
  def.backward = [](const GradContext& c) {
    return Grads{Mul(c.grad_output(0), c.input(0))};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs&) {
    return std::vector<Tensor>{
        ReferenceUnary(in[0], [](double x) { return x * x; })};
  };
  def.samples = [] { return std::vector<OpSample>{}; };
  return def;
}

// square_with_detached_grad: y = x^2 whose backward 2 g x is right in value
// but detaches x, so the gradient of the gradient is lost (reads as 0).
MG_REGISTER_OP(square_with_detached_grad) {
  OpDef def = *FindOp("test_square_with_wrong_grad");
  def.name = "test_square_with_detached_grad";
  def.backward = [](const GradContext& c) {
    return Grads{Mul(c.grad_output(0), c.input(0).Detach() * 2.0)};
  };
  return def;
}

DifferentiableFn WrongSquare() {
  return [](const std::vector<Tensor>& x) {
    return ValueOrDie(CallOp("test_square_with_wrong_grad", {x[0]}));
  };
}

Tensor Input(Shape shape, uint64_t seed) {
  return SampleUniform(shape, 0.5, 1.5, seed);
}

TEST(GradcheckTest, PassesCorrectGradientsInFullMode) {
  DifferentiableFn fn = [](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{Exp(x[0]) * x[1], Sum(Sin(x[0]))};
  };
  absl::StatusOr<GradcheckReport> r =
      Gradcheck(fn, {Input({2, 3}, 1), Input({3}, 2)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->passed) << r->ToString();
  ASSERT_EQ(r->inputs.size(), 2u);
  // 7 outputs x 6 entries, 7 outputs x 3 entries.
  EXPECT_EQ(r->inputs[0].entries_compared, 42);
  EXPECT_EQ(r->inputs[1].entries_compared, 21);
  EXPECT_LT(r->inputs[0].max_abs_error, 1e-8);
}

TEST(GradcheckTest, FailsAWrongBackwardRule) {
  absl::StatusOr<GradcheckReport> full =
      Gradcheck(WrongSquare(), {Input({4}, 3)});
  ASSERT_TRUE(full.ok());
  EXPECT_FALSE(full->passed);
  EXPECT_GT(full->inputs[0].max_abs_error, 0.2);
  EXPECT_THAT(full->ToString(), HasSubstr("FAIL"));
  GradcheckOptions fast;
  fast.fast_mode = true;
  absl::StatusOr<GradcheckReport> projected =
      Gradcheck(WrongSquare(), {Input({4}, 3)}, fast);
  ASSERT_TRUE(projected.ok());
  EXPECT_FALSE(projected->passed);
}

TEST(GradcheckTest, FastModeChecksLargeInputs) {
  DifferentiableFn fn = [](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{Softmax(x[0] * x[0], -1)};
  };
  GradcheckOptions fast;
  fast.fast_mode = true;
  fast.num_projections = 4;
  absl::StatusOr<GradcheckReport> r = Gradcheck(fn, {Input({16, 64}, 4)}, fast);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->passed) << r->ToString();
  EXPECT_EQ(r->inputs[0].entries_compared, 4);
  EXPECT_EQ(r->mode, "fast");
}

TEST(GradcheckTest, SecondOrderPassesAndCatchesWrongRules) {
  DifferentiableFn fn = [](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{Sigmoid(x[0]) * Log(x[1])};
  };
  absl::StatusOr<GradcheckReport> good =
      GradGradcheck(fn, {Input({3}, 5), Input({3}, 6)});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_TRUE(good->passed) << good->ToString();
  EXPECT_EQ(good->mode, "second-order full");
  // A rule right in value but cut from the graph passes first order and
  // fails second order.
  DifferentiableFn detached = [](const std::vector<Tensor>& x) {
    return ValueOrDie(CallOp("test_square_with_detached_grad", {x[0]}));
  };
  absl::StatusOr<GradcheckReport> first = Gradcheck(detached, {Input({3}, 7)});
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->passed) << first->ToString();
  absl::StatusOr<GradcheckReport> bad =
      GradGradcheck(detached, {Input({3}, 7)});
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->passed);
}

TEST(GradcheckTest, RejectsFloat32Inputs) {
  DifferentiableFn fn = [](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{Exp(x[0])};
  };
  absl::StatusOr<GradcheckReport> r = Gradcheck(fn, {Tensor::Ones({2})});
  EXPECT_THAT(r.status().message(), HasSubstr("float64"));
}

TEST(GradcheckTest, ReportsProgress) {
  DifferentiableFn fn = [](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{Exp(x[0])};
  };
  int64_t last = 0, total = 0;
  GradcheckOptions options;
  options.progress = [&](int64_t done, int64_t all) {
    EXPECT_EQ(done, last + 1);
    last = done;
    total = all;
  };
  ASSERT_TRUE(Gradcheck(fn, {Input({5}, 8)}, options).ok());
  EXPECT_EQ(total, 10);  // 5 backward rows + 5 perturbed inputs
  EXPECT_EQ(last, total);
}

}  // namespace
}  // namespace minigraph
