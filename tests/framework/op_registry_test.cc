// CallOp's checks before any kernel runs, and what the registry holds.
#include "framework/op_registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "ops/op_helpers.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

TEST(OpRegistryTest, EveryOpIsCompleteAndFindable) {
  const std::vector<const OpDef*> ops = AllOps();
  EXPECT_GE(ops.size(), 30u);
  for (const OpDef* def : ops) {
    EXPECT_EQ(FindOp(def->name), def);
    EXPECT_FALSE(def->summary.empty()) << def->name;
  }
  for (const char* name :
       {"add",         "sub",     "mul",        "div",         "neg",
        "exp",         "log",     "sqrt",       "rsqrt",       "pow",
        "where",       "maximum", "sin",        "cos",         "sigmoid",
        "silu",        "sum",     "mean",       "max",         "softmax",
        "log_softmax", "matmul",  "reshape",    "permute",     "expand",
        "slice",       "concat",  "contiguous", "causal_mask", "dropout",
        "embedding"}) {
    EXPECT_NE(FindOp(name), nullptr) << name;
  }
}

TEST(OpRegistryTest, UnknownOp) {
  auto r = CallOp("no_such_op", {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("unknown op 'no_such_op'"));
}

TEST(OpRegistryTest, WrongArityNamesOpAndNode) {
  auto r = CallOp("add", {Tensor::Ones({2})}, {}, "my_add");
  EXPECT_THAT(
      r.status().message(),
      HasSubstr("add (node 'my_add'): expects 2 input(s) (a, b), got 1"));
}

TEST(OpRegistryTest, ShapeErrorNamesOpNodeAndBothShapes) {
  auto r = CallOp("mul", {Tensor::Ones({2, 3}), Tensor::Ones({4, 3})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("mul (node 'mul_"));
  EXPECT_THAT(r.status().message(), HasSubstr("[2, 3] and [4, 3]"));
}

TEST(OpRegistryTest, DTypeMismatchIsAnError) {
  auto r =
      CallOp("add", {Tensor::Ones({2}), Tensor::Ones({2}, DType::kFloat64)});
  EXPECT_THAT(r.status().message(),
              HasSubstr("dtype mismatch: float32[2] vs float64[2]"));
}

TEST(OpRegistryTest, AttributesAreCheckedAgainstTheDefinition) {
  const Tensor x = Tensor::Ones({2});
  EXPECT_THAT(CallOp("pow", {x}).status().message(),
              HasSubstr("missing required attribute 'exponent' of type float"));
  EXPECT_THAT(
      CallOp("pow", {x}, {{"exponent", std::string("two")}}).status().message(),
      HasSubstr("attribute 'exponent' must be float, got string"));
  EXPECT_THAT(
      CallOp("pow", {x}, {{"exponent", 2.0}, {"base", 1.0}}).status().message(),
      HasSubstr("unknown attribute 'base' (declared: exponent)"));
  // An int widens to a float attribute.
  auto r = CallOp("pow", {x}, {{"exponent", int64_t{2}}});
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST(OpRegistryTest, DuplicateRegistrationIsRejected) {
  OpDef def = *FindOp("neg");
  EXPECT_EQ(RegisterOp(def).code(), absl::StatusCode::kAlreadyExists);
  OpDef incomplete;
  incomplete.name = "test_incomplete";
  EXPECT_THAT(RegisterOp(incomplete).message(), HasSubstr("lacks one of"));
}

TEST(OpRegistryTest, KernelMayReturnItsInputWithoutAliasingGraphLinks) {
  Tensor x = Tensor::Ones({2, 2});
  x.set_requires_grad(true);
  const Tensor y = CallOpOrDie("contiguous", {x});
  EXPECT_NE(y.impl(), x.impl());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(y.is_leaf());
}

}  // namespace
}  // namespace minigraph
