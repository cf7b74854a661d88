// Tests of the loss family: cross_entropy against a double-precision loop
// written here (every reduction, ignore_index, [B, T, V] logits, logits of
// 1e4 that would overflow a naive exp, non-finite rows with PyTorch's
// results), its gradient against softmax - one_hot computed here, float64
// finite-difference gradchecks of first and second order, error messages,
// strided inputs and bitwise results across thread counts; one_hot by hand.
#include "ops/loss.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/autograd.h"
#include "framework/gradcheck.h"
#include "framework/op_registry.h"
#include "framework/random.h"
#include "framework/tensor.h"
#include "framework/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor Targets(const std::vector<int64_t>& values, const Shape& shape) {
  return Tensor::FromData<int64_t>(values, shape);
}

Tensor RandomLogits(const Shape& shape, uint64_t seed, DType dtype,
                    double scale = 3.0) {
  Generator gen(seed);
  return Tensor::Uniform(shape, -scale, scale, gen, dtype);
}

// Targets uniform in [0, classes), every `ignore_every`-th one replaced by
// ignore_index (0: none ignored).
Tensor RandomTargets(const Shape& shape, int64_t classes, uint64_t seed,
                     int64_t ignore_every = 0, int64_t ignore_index = -100) {
  Generator gen(seed);
  std::vector<int64_t> values(NumElements(shape));
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<int64_t>(gen.NextBits() % classes);
    if (ignore_every > 0 && i % ignore_every == 1) values[i] = ignore_index;
  }
  return Targets(values, shape);
}

// ---- the double-precision oracle -----------------------------------------

// Per-row losses in double (0 where ignored) and their count, from the
// definition: -log(e^x_t / sum_c e^x_c) with the max factored out.
struct Expected {
  std::vector<double> losses;
  std::vector<double> dlogits_of_sum;  // d(sum of losses) / d logits
  int64_t count = 0;
  double Sum() const {
    double total = 0.0;
    for (double l : losses) total += l;
    return total;
  }
};

Expected ExpectedLosses(const Tensor& logits, const Tensor& targets,
                        int64_t ignore_index) {
  const int64_t classes = logits.shape().back();
  const std::vector<double> x = logits.ToVector<double>();
  const std::vector<int64_t> t = targets.ToVector<int64_t>();
  Expected e;
  e.losses.assign(t.size(), 0.0);
  e.dlogits_of_sum.assign(x.size(), 0.0);
  for (size_t r = 0; r < t.size(); ++r) {
    if (t[r] == ignore_index) continue;
    const double* row = &x[r * classes];
    double max = row[0];
    for (int64_t c = 1; c < classes; ++c) max = std::max(max, row[c]);
    double sum = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(row[c] - max);
    e.losses[r] = -(row[t[r]] - max - std::log(sum));
    for (int64_t c = 0; c < classes; ++c) {
      e.dlogits_of_sum[r * classes + c] =
          std::exp(row[c] - max) / sum - (c == t[r] ? 1.0 : 0.0);
    }
    ++e.count;
  }
  return e;
}

// Tolerance for a kernel value against the oracle: float32 sums exponentials
// in float32.
double Tolerance(DType dtype, double expected) {
  const double rel = dtype == DType::kFloat32 ? 2e-6 : 1e-13;
  return rel * std::max(1.0, std::abs(expected));
}

void ExpectNear(const std::vector<double>& got,
                const std::vector<double>& expected, DType dtype) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected[i], Tolerance(dtype, expected[i])) << i;
  }
}

class CrossEntropyTest : public ::testing::TestWithParam<DType> {};

TEST_P(CrossEntropyTest, EveryReductionMatchesTheDoubleLoop) {
  const DType dtype = GetParam();
  // 77 classes: full vectors, a tail, and blocks of four vectors.
  const Tensor logits = RandomLogits({9, 77}, 1, dtype);
  const Tensor targets = RandomTargets({9}, 77, 2, /*ignore_every=*/4);
  const Expected e = ExpectedLosses(logits, targets, -100);
  ASSERT_EQ(e.count, 7);

  const Tensor none = CrossEntropy(logits, targets, -100, LossReduction::kNone);
  EXPECT_EQ(none.dtype(), dtype);
  EXPECT_EQ(none.shape(), Shape({9}));
  ExpectNear(none.ToVector<double>(), e.losses, dtype);
  EXPECT_EQ(none.ToVector<double>()[1], 0.0);  // ignored
  EXPECT_EQ(none.ToVector<double>()[5], 0.0);

  const Tensor sum = CrossEntropy(logits, targets, -100, LossReduction::kSum);
  EXPECT_EQ(sum.shape(), Shape({}));
  EXPECT_NEAR(sum.item(), e.Sum(), Tolerance(dtype, e.Sum()));

  const Tensor mean = CrossEntropy(logits, targets);  // mean by default
  EXPECT_EQ(mean.shape(), Shape({}));
  EXPECT_NEAR(mean.item(), e.Sum() / 7, Tolerance(dtype, e.Sum() / 7));
}

TEST_P(CrossEntropyTest, BatchTimeVocabLogits) {
  const DType dtype = GetParam();
  const Tensor logits = RandomLogits({2, 5, 40}, 3, dtype);
  const Tensor targets = RandomTargets({2, 5}, 40, 4, 3);
  const Expected e = ExpectedLosses(logits, targets, -100);
  const Tensor none = CrossEntropy(logits, targets, -100, LossReduction::kNone);
  EXPECT_EQ(none.shape(), Shape({2, 5}));
  ExpectNear(none.ToVector<double>(), e.losses, dtype);
  const double mean = CrossEntropy(logits, targets).item();
  EXPECT_NEAR(mean, e.Sum() / e.count, Tolerance(dtype, mean));
}

// e^1e4 overflows float32 and float64; the loss does not depend on a shift
// of the row. Rows of equal logits lose log(C); a row with a gap of 2e4
// loses 0 at the top and 2e4 at the bottom.
TEST_P(CrossEntropyTest, LargeLogitsDoNotOverflow) {
  const DType dtype = GetParam();
  std::vector<double> values;
  for (int c = 0; c < 40; ++c) values.push_back(1e4);                  // row 0
  for (int c = 0; c < 40; ++c) values.push_back(c == 7 ? 1e4 : -1e4);  // row 1
  for (int c = 0; c < 40; ++c) values.push_back(c == 7 ? 1e4 : -1e4);  // row 2
  const Tensor logits = ConvertDType(Tensor::FromData(values, {3, 40}), dtype);
  const Tensor targets = Targets({3, 7, 0}, {3});
  const std::vector<double> losses =
      CrossEntropy(logits, targets, -100, LossReduction::kNone)
          .ToVector<double>();
  EXPECT_NEAR(losses[0], std::log(40.0), Tolerance(dtype, 4.0));
  EXPECT_NEAR(losses[1], 0.0, 1e-12);
  EXPECT_NEAR(losses[2], 2e4, Tolerance(dtype, 2e4));

  // The gradient stays finite too: softmax of the equal row is 1 / 40.
  Tensor x = logits.Detach();
  x.set_requires_grad(true);
  MG_CHECK_OK(CrossEntropy(x, targets, -100, LossReduction::kSum).Backward());
  const std::vector<double> grad = x.grad().ToVector<double>();
  EXPECT_NEAR(grad[0], 1.0 / 40, 1e-6);
  EXPECT_NEAR(grad[3], 1.0 / 40 - 1.0, 1e-6);
  EXPECT_NEAR(grad[40 + 7], 0.0, 1e-6);
  EXPECT_NEAR(grad[80 + 0], -1.0, 1e-6);
  EXPECT_NEAR(grad[80 + 7], 1.0, 1e-6);
}

TEST_P(CrossEntropyTest, IgnoreIndexMaySpellAClass) {
  const DType dtype = GetParam();
  const Tensor logits = RandomLogits({4, 6}, 5, dtype);
  const Tensor targets = Targets({0, 3, 0, 5}, {4});
  const Expected e = ExpectedLosses(logits, targets, /*ignore_index=*/0);
  ASSERT_EQ(e.count, 2);
  const double mean = CrossEntropy(logits, targets, 0).item();
  EXPECT_NEAR(mean, (e.losses[1] + e.losses[3]) / 2, Tolerance(dtype, mean));
}

// PyTorch: the mean of no targets is 0 / 0 = NaN, their sum 0, and the
// gradient 0 whatever the reduction.
TEST_P(CrossEntropyTest, AllIgnored) {
  const DType dtype = GetParam();
  Tensor logits = RandomLogits({3, 5}, 6, dtype);
  logits.set_requires_grad(true);
  const Tensor targets = Targets({-100, -100, -100}, {3});
  const Tensor mean = CrossEntropy(logits, targets);
  EXPECT_TRUE(std::isnan(mean.item()));
  EXPECT_EQ(CrossEntropy(logits, targets, -100, LossReduction::kSum).item(),
            0.0);
  EXPECT_THAT(CrossEntropy(logits, targets, -100, LossReduction::kNone)
                  .ToVector<double>(),
              ElementsAre(0.0, 0.0, 0.0));
  MG_CHECK_OK(mean.Backward());
  for (double g : logits.grad().ToVector<double>()) EXPECT_EQ(g, 0.0);
}

// Rows with non-finite logits give what PyTorch gives: NaN for a NaN or +inf
// anywhere in the row, -inf logits drop out of the sum, a target at -inf
// costs +inf. Other rows are unaffected.
TEST_P(CrossEntropyTest, NonFiniteRows) {
  const DType dtype = GetParam();
  const int64_t c = 37;
  std::vector<double> values(5 * c, 0.0);
  values[0 * c + 20] = kNaN;
  values[1 * c + 3] = kInf;
  for (int64_t j = 0; j < c; ++j) values[2 * c + j] = j < 30 ? -kInf : 1.0;
  values[3 * c + 5] = -kInf;
  const Tensor logits = ConvertDType(Tensor::FromData(values, {5, c}), dtype);
  const Tensor targets = Targets({1, 1, 31, 5, 2}, {5});
  const std::vector<double> losses =
      CrossEntropy(logits, targets, -100, LossReduction::kNone)
          .ToVector<double>();
  EXPECT_TRUE(std::isnan(losses[0]));
  EXPECT_TRUE(std::isnan(losses[1]));
  EXPECT_NEAR(losses[2], std::log(7.0), Tolerance(dtype, 2.0));  // 7 left
  EXPECT_EQ(losses[3], kInf);
  EXPECT_NEAR(losses[4], std::log(37.0), Tolerance(dtype, 4.0));
}

// Autograd's gradient of every reduction against softmax - one_hot from the
// oracle, on rows long enough and many enough to be split between threads.
TEST_P(CrossEntropyTest, GradientIsSoftmaxMinusOneHot) {
  const DType dtype = GetParam();
  const Tensor base = RandomLogits({64, 515}, 7, dtype);
  const Tensor targets = RandomTargets({64}, 515, 8, 5);
  const Expected e = ExpectedLosses(base, targets, -100);
  Generator gen(9);
  const Tensor g_none = Tensor::Uniform({64}, 0.5, 1.5, gen, dtype);
  const std::vector<double> g_rows = g_none.ToVector<double>();
  for (LossReduction reduction :
       {LossReduction::kMean, LossReduction::kSum, LossReduction::kNone}) {
    SCOPED_TRACE(LossReductionName(reduction));
    Tensor x = base.Detach();
    x.set_requires_grad(true);
    const Tensor loss = CrossEntropy(x, targets, -100, reduction);
    const Tensor g = reduction == LossReduction::kNone
                         ? g_none
                         : Tensor::Scalar(0.75, dtype);
    MG_CHECK_OK(loss.Backward(g));
    std::vector<double> expected = e.dlogits_of_sum;
    for (size_t i = 0; i < expected.size(); ++i) {
      const size_t row = i / 515;
      double w = reduction == LossReduction::kNone ? g_rows[row] : 0.75;
      if (reduction == LossReduction::kMean) w /= e.count;
      expected[i] *= w;
    }
    const std::vector<double> got = x.grad().ToVector<double>();
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], expected[i], dtype == DType::kFloat32 ? 1e-7 : 1e-15)
          << i;
    }
  }
}

// Next-token targets are a slice of the token ids, and logits may come
// transposed: views go in as they are.
TEST_P(CrossEntropyTest, StridedInputs) {
  const DType dtype = GetParam();
  const Tensor ids = RandomTargets({3, 9}, 11, 10);
  const Tensor targets = Slice(ids, 1, 1, 9);  // [3, 8], not contiguous
  ASSERT_FALSE(targets.is_contiguous());
  const Tensor logits =
      Transpose(RandomLogits({3, 11, 8}, 11, dtype), 1, 2);  // [3, 8, 11]
  ASSERT_FALSE(logits.is_contiguous());
  const Expected e = ExpectedLosses(logits, targets, -100);
  ExpectNear(CrossEntropy(logits, targets, -100, LossReduction::kNone)
                 .ToVector<double>(),
             e.losses, dtype);
}

INSTANTIATE_TEST_SUITE_P(BothFloatTypes, CrossEntropyTest,
                         ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

// ---- finite differences -----------------------------------------------------

DifferentiableFn LossOf(const Tensor& targets, int64_t ignore_index,
                        LossReduction reduction) {
  return [=](const std::vector<Tensor>& x) {
    return std::vector<Tensor>{
        CrossEntropy(x[0], targets, ignore_index, reduction)};
  };
}

TEST(CrossEntropyGradcheckTest, FirstAndSecondOrderFloat64) {
  const Tensor logits = RandomLogits({2, 3, 7}, 12, DType::kFloat64);
  const Tensor targets = Targets({6, -100, 0, 3, 3, 1}, {2, 3});
  for (LossReduction reduction :
       {LossReduction::kMean, LossReduction::kSum, LossReduction::kNone}) {
    SCOPED_TRACE(LossReductionName(reduction));
    const DifferentiableFn fn = LossOf(targets, -100, reduction);
    const GradcheckReport first = ValueOrDie(Gradcheck(fn, {logits}));
    EXPECT_TRUE(first.passed) << first.ToString();
    const GradcheckReport second = ValueOrDie(GradGradcheck(fn, {logits}));
    EXPECT_TRUE(second.passed) << second.ToString();
  }
}

// The fused backward op on its own, with respect to logits and the incoming
// gradient (its rule is what second-order gradients run through).
TEST(CrossEntropyGradcheckTest, BackwardOpFirstAndSecondOrderFloat64) {
  const Tensor logits = RandomLogits({4, 9}, 13, DType::kFloat64);
  const Tensor targets = Targets({8, 2, -100, 0}, {4});
  Generator gen(14);
  const Tensor g_rows = Tensor::Uniform({4}, 0.5, 1.5, gen, DType::kFloat64);
  const Tensor g_scalar = Tensor::Scalar(1.3, DType::kFloat64);
  for (LossReduction reduction :
       {LossReduction::kMean, LossReduction::kSum, LossReduction::kNone}) {
    SCOPED_TRACE(LossReductionName(reduction));
    const DifferentiableFn fn = [=](const std::vector<Tensor>& x) {
      return std::vector<Tensor>{
          CrossEntropyBackward(x[0], targets, x[1], -100, reduction)};
    };
    const Tensor g = reduction == LossReduction::kNone ? g_rows : g_scalar;
    const GradcheckReport first = ValueOrDie(Gradcheck(fn, {logits, g}));
    EXPECT_TRUE(first.passed) << first.ToString();
    const GradcheckReport second = ValueOrDie(GradGradcheck(fn, {logits, g}));
    EXPECT_TRUE(second.passed) << second.ToString();
  }
}

// ---- errors -----------------------------------------------------------------

TEST(CrossEntropyErrorTest, TargetOutOfRangeNamesOpNodePositionAndValue) {
  const Tensor logits = RandomLogits({2, 3, 5}, 15, DType::kFloat32);
  const Tensor targets = Targets({0, 4, -100, 1, 7, 2}, {2, 3});
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("cross_entropy", {logits, targets}, {}, "loss");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(r.status().message(), HasSubstr("cross_entropy (node 'loss')"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("target 7 at position [1, 1] of targets int64[2, 3]"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("out of range for 5 classes (valid: 0 to 4, or "
                        "ignore_index -100)"));

  // A negative target other than ignore_index is out of range as well, and
  // so is a bad target handed to the backward op and to one_hot.
  const Tensor negative = Targets({0, -1, 2, 1, 1, 2}, {2, 3});
  r = CallOp("cross_entropy", {logits, negative});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("target -1 at position [0, 1]"));
  r = CallOp("cross_entropy_backward", {logits, targets, Tensor::Scalar(1.0)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("cross_entropy_backward"));
  EXPECT_THAT(r.status().message(), HasSubstr("target 7 at position [1, 1]"));
  r = CallOp("one_hot", {targets}, {{"num_classes", int64_t{5}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("one_hot"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("index 7 at position [1, 1] of indices"));
}

TEST(CrossEntropyErrorTest, ShapesDTypesAndReductionAreChecked) {
  const Tensor logits = RandomLogits({4, 5}, 16, DType::kFloat32);
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("cross_entropy", {logits, Targets({0, 1, 2}, {3})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("cross_entropy (node '"));
  EXPECT_THAT(r.status().message(), HasSubstr("targets must be [4]"));
  EXPECT_THAT(r.status().message(), HasSubstr("got [3]"));

  r = CallOp("cross_entropy", {logits, Tensor::Zeros({4})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("targets must be int64, got float32[4]"));

  r = CallOp("cross_entropy", {Targets({0, 1}, {1, 2}), Targets({0}, {1})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("logits must be float32 or"));

  r = CallOp("cross_entropy", {logits, Targets({0, 1, 2, 3}, {4})},
             {{"reduction", std::string("average")}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("reduction must be \"mean\", \"sum\" or \"none\", got "
                        "\"average\""));

  r = CallOp("cross_entropy_backward",
             {logits, Targets({0, 1, 2, 3}, {4}), Tensor::Zeros({4})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("grad must be float32[] (the loss's dtype and shape "
                        "for reduction \"mean\"), got float32[4]"));
}

TEST(LossReductionTest, NamesRoundTrip) {
  for (LossReduction reduction :
       {LossReduction::kMean, LossReduction::kSum, LossReduction::kNone}) {
    EXPECT_EQ(ValueOrDie(ParseLossReduction(LossReductionName(reduction))),
              reduction);
  }
  EXPECT_FALSE(ParseLossReduction("Mean").ok());
}

// ---- threads ----------------------------------------------------------------

std::vector<char> Bytes(const Tensor& t) {
  const Tensor c = CopyToContiguous(t);
  const char* data = static_cast<const char*>(c.storage()->data()) +
                     c.offset() * DTypeSize(c.dtype());
  return std::vector<char>(data, data + c.numel() * DTypeSize(c.dtype()));
}

// Rows are split between threads (well above the threshold here); each is
// computed alone and the batch is summed in row order afterwards.
TEST(CrossEntropyThreadingTest, SameBitsWithOneAndTwoThreads) {
  const int original = NumThreads();
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Tensor logits = RandomLogits({256, 1000}, 17, dtype);
    const Tensor targets = RandomTargets({256}, 1000, 18, 7);
    auto run = [&](int threads) {
      EXPECT_TRUE(SetNumThreads(threads).ok());
      Tensor x = logits.Detach();
      x.set_requires_grad(true);
      const Tensor mean = CrossEntropy(x, targets);
      MG_CHECK_OK(mean.Backward());
      return std::vector<std::vector<char>>{
          Bytes(mean),
          Bytes(CrossEntropy(logits, targets, -100, LossReduction::kNone)),
          Bytes(x.grad())};
    };
    const std::vector<std::vector<char>> one = run(1);
    const std::vector<std::vector<char>> two = run(2);
    for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(one[i] == two[i]) << i;
  }
  ASSERT_TRUE(SetNumThreads(original).ok());
}

// ---- one_hot ----------------------------------------------------------------

TEST(OneHotTest, RowsByHand) {
  const Tensor y = OneHot(Targets({2, -100, 0}, {3}), 3, DType::kFloat64);
  EXPECT_EQ(y.shape(), Shape({3, 3}));
  EXPECT_EQ(y.dtype(), DType::kFloat64);
  EXPECT_THAT(y.ToVector<double>(), ElementsAre(0, 0, 1, 0, 0, 0, 1, 0, 0));
  const Tensor z = OneHot(Targets({1, 1}, {2, 1}), 2, DType::kFloat32, 1);
  EXPECT_EQ(z.shape(), Shape({2, 1, 2}));
  EXPECT_THAT(z.ToVector<float>(), ElementsAre(0, 0, 0, 0));
}

}  // namespace
}  // namespace minigraph
