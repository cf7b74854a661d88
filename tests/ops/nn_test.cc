// Tests of the nn family: dropout, causal_mask, embedding and
// embedding_scatter_add. Expected values are written out by hand or
// recomputed here from their definitions, never taken from the kernels.
#include "ops/nn.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/autograd.h"
#include "framework/op_registry.h"
#include "framework/random.h"
#include "framework/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace minigraph {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor Indices(const std::vector<int64_t>& values, const Shape& shape) {
  return Tensor::FromData<int64_t>(values, shape);
}

// The mask as dropout defines it, recomputed from the counter hash.
std::vector<bool> KeepMask(uint64_t seed, double p, int64_t n) {
  std::vector<bool> keep(n);
  for (int64_t i = 0; i < n; ++i) {
    keep[i] = BitsToUnit(CounterHash(seed, static_cast<uint64_t>(i))) >= p;
  }
  return keep;
}

// ---- dropout -------------------------------------------------------------

TEST(DropoutTest, SameSeedSameOutputDifferentSeedDifferentOutput) {
  const Tensor x = Tensor::Ones({64});
  const std::vector<float> a = Dropout(x, 0.5, 42).ToVector<float>();
  const std::vector<float> b = Dropout(x, 0.5, 42).ToVector<float>();
  const std::vector<float> c = Dropout(x, 0.5, 43).ToVector<float>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(DropoutTest, MatchesTheCounterHashMaskFloat64) {
  const double p = 0.25;
  const uint64_t seed = 9;
  const Tensor x = Tensor::Arange(1, 21, 1, DType::kFloat64);
  const Tensor y = Dropout(x, p, seed);
  ASSERT_EQ(y.dtype(), DType::kFloat64);
  ASSERT_EQ(y.shape(), Shape({20}));
  const std::vector<bool> keep = KeepMask(seed, p, 20);
  const std::vector<double> got = y.ToVector<double>();
  for (int i = 0; i < 20; ++i) {
    // x[i] = i + 1; kept values scale by 1 / 0.75 = 4 / 3.
    EXPECT_DOUBLE_EQ(got[i], keep[i] ? (i + 1) * 4.0 / 3.0 : 0.0) << i;
  }
}

TEST(DropoutTest, FractionOfZerosIsNearPAndKeptValuesScale) {
  const double p = 0.3;
  const int64_t n = 200000;
  const Tensor y = Dropout(Tensor::Ones({n}), p, 2024);
  const std::vector<float> values = y.ToVector<float>();
  int64_t zeros = 0;
  for (float v : values) {
    if (v == 0.0f) {
      ++zeros;
    } else {
      // 1 / (1 - 0.3) in float32.
      EXPECT_FLOAT_EQ(v, static_cast<float>(1.0 / 0.7));
    }
  }
  // The standard deviation of the fraction is sqrt(0.21 / n) ~ 0.001.
  EXPECT_NEAR(static_cast<double>(zeros) / n, p, 0.01);
}

TEST(DropoutTest, MaskFollowsRowMajorIndexOfNonContiguousView) {
  // base [3, 4] = 0..11; its transpose [4, 3] reads base[j, i].
  const Tensor base = Tensor::Arange(0, 12, 1, DType::kFloat32);
  const Tensor transposed = MakeView(base, {4, 3}, {1, 4}, 0);
  ASSERT_FALSE(transposed.is_contiguous());
  const double p = 0.5;
  const Tensor y = Dropout(transposed, p, 5);
  const std::vector<bool> keep = KeepMask(5, p, 12);
  const std::vector<float> got = y.ToVector<float>();
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 3; ++j) {
      const int linear = i * 3 + j;
      const float x = static_cast<float>(j * 4 + i);
      EXPECT_EQ(got[linear], keep[linear] ? 2.0f * x : 0.0f) << linear;
    }
  }
  EXPECT_FALSE(y.SharesStorageWith(base));
}

TEST(DropoutTest, ZeroProbabilityCopies) {
  const Tensor x = Tensor::FromData<float>({1.5f, -2.0f, 3.25f}, {3});
  const Tensor y = Dropout(x, 0.0, 1);
  EXPECT_THAT(y.ToVector<float>(), ElementsAre(1.5f, -2.0f, 3.25f));
  EXPECT_FALSE(y.SharesStorageWith(x));
}

TEST(DropoutTest, EmptyAndScalarInputs) {
  const Tensor empty = Dropout(Tensor::Zeros({0, 3}), 0.5, 1);
  EXPECT_EQ(empty.shape(), Shape({0, 3}));
  const Tensor scalar = Dropout(Tensor::Scalar(2.0, DType::kFloat64), 0.5, 3);
  EXPECT_EQ(scalar.shape(), Shape({}));
  const bool keep = BitsToUnit(CounterHash(3, 0)) >= 0.5;
  EXPECT_EQ(scalar.item(), keep ? 4.0 : 0.0);
}

TEST(DropoutTest, RejectsProbabilityOutsideHalfOpenUnitInterval) {
  const Tensor x = Tensor::Ones({3});
  for (double p : {1.0, -0.1, 1.5}) {
    absl::StatusOr<std::vector<Tensor>> r =
        CallOp("dropout", {x}, Attrs{{"p", p}, {"seed", int64_t{1}}});
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_THAT(r.status().message(), HasSubstr("dropout"));
    EXPECT_THAT(r.status().message(), HasSubstr("p must be in [0, 1)"));
    EXPECT_THAT(r.status().message(), HasSubstr("float32[3]"));
  }
}

TEST(DropoutTest, RejectsIntegerInputAndMissingSeed) {
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("dropout", {Indices({1, 2}, {2})},
             Attrs{{"p", 0.5}, {"seed", int64_t{1}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("dropout"));
  EXPECT_THAT(r.status().message(), HasSubstr("int64[2]"));
  r = CallOp("dropout", {Tensor::Ones({2})}, Attrs{{"p", 0.5}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("seed"));
}

TEST(DropoutTest, BackwardAppliesTheSameMask) {
  const double p = 0.4;
  const uint64_t seed = 77;
  Tensor x = Tensor::Arange(0, 10, 1, DType::kFloat64);
  x.set_requires_grad(true);
  const Tensor y = Dropout(x, p, seed);
  const Tensor g = Tensor::Arange(1, 11, 1, DType::kFloat64);
  ASSERT_TRUE(y.Backward(g).ok());
  const std::vector<bool> keep = KeepMask(seed, p, 10);
  const std::vector<double> grad = x.grad().ToVector<double>();
  for (int i = 0; i < 10; ++i) {
    // dy_i / dx_i = keep_i / (1 - p); the gradient is g_i times that.
    EXPECT_NEAR(grad[i], keep[i] ? (i + 1) / 0.6 : 0.0, 1e-12) << i;
  }
}

// ---- causal_mask ---------------------------------------------------------

TEST(CausalMaskTest, SquareOffsetZero) {
  const Tensor m = CausalMask(4, 4, 0);
  ASSERT_EQ(m.dtype(), DType::kFloat32);
  ASSERT_EQ(m.shape(), Shape({4, 4}));
  EXPECT_THAT(m.ToVector<double>(),
              ElementsAreArray({0.0, -kInf, -kInf, -kInf,  //
                                0.0, 0.0, -kInf, -kInf,    //
                                0.0, 0.0, 0.0, -kInf,      //
                                0.0, 0.0, 0.0, 0.0}));
}

TEST(CausalMaskTest, KeyCacheOffsetFloat64) {
  const Tensor m = CausalMask(3, 5, 2, DType::kFloat64);
  ASSERT_EQ(m.dtype(), DType::kFloat64);
  EXPECT_THAT(m.ToVector<double>(),
              ElementsAreArray({0.0, 0.0, 0.0, -kInf, -kInf,  //
                                0.0, 0.0, 0.0, 0.0, -kInf,    //
                                0.0, 0.0, 0.0, 0.0, 0.0}));
}

TEST(CausalMaskTest, NegativeAndExtremeOffsets) {
  // offset -1 hides the diagonal too: row 0 sees nothing.
  EXPECT_THAT(CausalMask(3, 3, -1).ToVector<double>(),
              ElementsAreArray({-kInf, -kInf, -kInf,  //
                                0.0, -kInf, -kInf,    //
                                0.0, 0.0, -kInf}));
  EXPECT_THAT(
      CausalMask(2, 2, std::numeric_limits<int64_t>::max()).ToVector<double>(),
      ElementsAre(0.0, 0.0, 0.0, 0.0));
  EXPECT_THAT(
      CausalMask(2, 2, std::numeric_limits<int64_t>::min()).ToVector<double>(),
      ElementsAre(-kInf, -kInf, -kInf, -kInf));
  // A row longer than any vector: 19 columns, row 0 sees keys 0..10.
  const std::vector<double> wide = CausalMask(1, 19, 10).ToVector<double>();
  for (int c = 0; c < 19; ++c) EXPECT_EQ(wide[c], c <= 10 ? 0.0 : -kInf) << c;
}

TEST(CausalMaskTest, EmptyShapes) {
  EXPECT_EQ(CausalMask(0, 4, 0).shape(), Shape({0, 4}));
  EXPECT_EQ(CausalMask(3, 0, 0).shape(), Shape({3, 0}));
}

TEST(CausalMaskTest, RejectsNegativeSizesAndIntegerDType) {
  absl::StatusOr<std::vector<Tensor>> r = CallOp(
      "causal_mask", {}, Attrs{{"rows", int64_t{-1}}, {"cols", int64_t{3}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("causal_mask"));
  EXPECT_THAT(r.status().message(), HasSubstr("rows=-1, cols=3"));
  r = CallOp("causal_mask", {},
             Attrs{{"rows", int64_t{2}},
                   {"cols", int64_t{2}},
                   {"dtype", DType::kInt64}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("causal_mask"));
  EXPECT_THAT(r.status().message(), HasSubstr("got int64"));
}

// ---- embedding -----------------------------------------------------------

// weight[v, d] = 10 v + d for a [4, 3] table.
Tensor Table(DType dtype) {
  return ConvertDType(
      Tensor::FromData<double>({0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32},
                               {4, 3}),
      dtype);
}

TEST(EmbeddingTest, GathersRowsFloat32) {
  const Tensor y =
      Embedding(Table(DType::kFloat32), Indices({3, 0, 3, 1}, {2, 2}));
  ASSERT_EQ(y.dtype(), DType::kFloat32);
  ASSERT_EQ(y.shape(), Shape({2, 2, 3}));
  EXPECT_THAT(y.ToVector<float>(),
              ElementsAre(30, 31, 32, 0, 1, 2, 30, 31, 32, 10, 11, 12));
}

TEST(EmbeddingTest, GathersRowsFloat64AndScalarIndex) {
  const Tensor y = Embedding(Table(DType::kFloat64), Indices({2}, {}));
  ASSERT_EQ(y.dtype(), DType::kFloat64);
  ASSERT_EQ(y.shape(), Shape({3}));
  EXPECT_THAT(y.ToVector<double>(), ElementsAre(20, 21, 22));
  const Tensor none = Embedding(Table(DType::kFloat64), Indices({}, {0}));
  EXPECT_EQ(none.shape(), Shape({0, 3}));
}

TEST(EmbeddingTest, NonContiguousWeightAndIndices) {
  // A [3, 4] buffer read transposed is the [4, 3] table: base[d, v] = 10 v + d.
  const Tensor base = Tensor::FromData<float>(
      {0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32}, {3, 4});
  const Tensor weight = MakeView(base, {4, 3}, {1, 4}, 0);
  // Every other element of [1, 9, 2, 9, 0]: indices [1, 2, 0].
  const Tensor strided_indices =
      MakeView(Indices({1, 9, 2, 9, 0}, {5}), {3}, {2}, 0);
  const Tensor y = Embedding(weight, strided_indices);
  EXPECT_THAT(y.ToVector<float>(),
              ElementsAre(10, 11, 12, 20, 21, 22, 0, 1, 2));
  EXPECT_FALSE(y.SharesStorageWith(base));
  // An expanded table (row stride 0) repeats its one row for any index 0.
  const Tensor row = Tensor::FromData<float>({5, 6}, {1, 2});
  const Tensor expanded = MakeView(row, {3, 2}, {0, 1}, 0);
  EXPECT_THAT(Embedding(expanded, Indices({2, 0}, {2})).ToVector<float>(),
              ElementsAre(5, 6, 5, 6));
}

TEST(EmbeddingTest, RepeatedIndicesAccumulateGradient) {
  Tensor weight = Table(DType::kFloat64);
  weight.set_requires_grad(true);
  const Tensor indices = Indices({3, 0, 3, 3}, {4});
  const Tensor y = Embedding(weight, indices);
  const Tensor g =
      Tensor::FromData<double>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {4, 3});
  ASSERT_TRUE(y.Backward(g).ok());
  // Row 3 gets g rows 0, 2, 3; row 0 gets g row 1; rows 1 and 2 get none.
  EXPECT_THAT(weight.grad().ToVector<double>(),
              ElementsAre(4, 5, 6, 0, 0, 0, 0, 0, 0, 1 + 7 + 10, 2 + 8 + 11,
                          3 + 9 + 12));
}

TEST(EmbeddingTest, DoubleBackwardGathersTheGradientsGradient) {
  Tensor weight = Table(DType::kFloat64);
  weight.set_requires_grad(true);
  const Tensor indices = Indices({1, 1, 2}, {3});
  const Tensor y = Embedding(weight, indices);
  Tensor g = Tensor::FromData<double>({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3});
  g.set_requires_grad(true);
  BackwardOptions options;
  options.create_graph = true;
  absl::StatusOr<std::vector<Tensor>> dw =
      Gradients({y}, {weight}, {g}, options);
  ASSERT_TRUE(dw.ok()) << dw.status();
  EXPECT_THAT((*dw)[0].ToVector<double>(),
              ElementsAre(0, 0, 0, 5, 7, 9, 7, 8, 9, 0, 0, 0));
  // d<h, dW>/dg = h[indices]: rows 1, 1, 2 of h.
  const Tensor h =
      Tensor::FromData<double>({1, 1, 1, 2, 3, 4, 5, 6, 7, -1, -1, -1}, {4, 3});
  ASSERT_TRUE((*dw)[0].Backward(h).ok());
  EXPECT_THAT(g.grad().ToVector<double>(),
              ElementsAre(2, 3, 4, 2, 3, 4, 5, 6, 7));
}

TEST(EmbeddingDeathTest, OutOfRangeIndexDiesWithMessage) {
  const Tensor weight = Table(DType::kFloat32);
  EXPECT_DEATH(Embedding(weight, Indices({0, 1, 7, 2}, {2, 2})),
               "embedding: index 7 at position \\[1, 0\\] of indices "
               "int64\\[2, 2\\] is out of range for 4 rows");
  EXPECT_DEATH(Embedding(weight, Indices({-1}, {1})),
               "embedding: index -1 at position \\[0\\]");
  EXPECT_DEATH(
      EmbeddingScatterAdd(Tensor::Ones({2, 3}), Indices({0, 3}, {2}), 3),
      "embedding_scatter_add: index 3 at position \\[1\\].*3 rows");
}

TEST(EmbeddingTest, RejectsFloatIndicesAndBadWeight) {
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("embedding", {Table(DType::kFloat32), Tensor::Zeros({2})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("embedding"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("indices must be int64, got float32[2]"));
  r = CallOp("embedding", {Tensor::Zeros({4}), Indices({0}, {1})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("weight must be [num_rows, dim]"));
  EXPECT_THAT(r.status().message(), HasSubstr("[4]"));
  r = CallOp("embedding", {Indices({0, 1}, {1, 2}), Indices({0}, {1})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("weight must be float32 or "
                                              "float64, got int64[1, 2]"));
}

// ---- embedding_scatter_add -------------------------------------------------

TEST(EmbeddingScatterAddTest, AccumulatesRepeatedRows) {
  // Rows 2, 0, 2 of a [3, 2] output; width 2 keeps to the scalar tail, width
  // 19 below crosses full vectors too.
  const Tensor grad = Tensor::FromData<float>({1, 2, 3, 4, 5, 6}, {1, 3, 2});
  const Tensor y = EmbeddingScatterAdd(grad, Indices({2, 0, 2}, {1, 3}), 3);
  ASSERT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_THAT(y.ToVector<float>(), ElementsAre(3, 4, 0, 0, 6, 8));

  std::vector<double> wide(2 * 19);
  for (int i = 0; i < 38; ++i) wide[i] = i;
  const Tensor y64 = EmbeddingScatterAdd(
      Tensor::FromData<double>(wide, {2, 19}), Indices({1, 1}, {2}), 2);
  const std::vector<double> got = y64.ToVector<double>();
  for (int j = 0; j < 19; ++j) {
    EXPECT_EQ(got[j], 0.0);
    EXPECT_EQ(got[19 + j], j + (19.0 + j)) << j;
  }
}

TEST(EmbeddingScatterAddTest, NonContiguousGrad) {
  // The transpose of [[1, 2], [3, 4]] is [[1, 3], [2, 4]].
  const Tensor base = Tensor::FromData<float>({1, 2, 3, 4}, {2, 2});
  const Tensor grad = MakeView(base, {2, 2}, {1, 2}, 0);
  const Tensor y = EmbeddingScatterAdd(grad, Indices({0, 0}, {2}), 1);
  EXPECT_THAT(y.ToVector<float>(), ElementsAre(3, 7));
}

TEST(EmbeddingScatterAddTest, RejectsMismatchedShapesAndDTypes) {
  absl::StatusOr<std::vector<Tensor>> r = CallOp(
      "embedding_scatter_add", {Tensor::Zeros({2, 3}), Indices({0}, {1})},
      Attrs{{"num_rows", int64_t{4}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("embedding_scatter_add"));
  EXPECT_THAT(r.status().message(), HasSubstr("grad [2, 3] vs indices [1]"));
  r = CallOp("embedding_scatter_add",
             {Tensor::Zeros({2, 3}), Tensor::Zeros({2}, DType::kFloat64)},
             Attrs{{"num_rows", int64_t{4}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("indices must be int64, got float64[2]"));
  r = CallOp("embedding_scatter_add",
             {Tensor::Zeros({2, 3}), Indices({0, 1}, {2})},
             Attrs{{"num_rows", int64_t{-2}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("num_rows must be >= 0, got -2"));
}

TEST(EmbeddingScatterAddTest, BackwardGathers) {
  Tensor grad = Tensor::FromData<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  grad.set_requires_grad(true);
  const Tensor y = EmbeddingScatterAdd(grad, Indices({1, 0, 1}, {3}), 2);
  const Tensor g = Tensor::FromData<double>({10, 20, 30, 40}, {2, 2});
  ASSERT_TRUE(y.Backward(g).ok());
  // d<g, y>/d grad[n] = g[indices[n]].
  EXPECT_THAT(grad.grad().ToVector<double>(),
              ElementsAre(30, 40, 10, 20, 30, 40));
}

}  // namespace
}  // namespace minigraph
