// Reductions and softmax: hand-computed values, every loop-nest shape of the
// reduction kernel (contiguous rows, column folds, strided and broadcast
// views), size-0 and 0-d edges, -inf / NaN handling, error messages, and
// gradients against finite differences (first and second order).
#include "ops/reduction.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "framework/autograd.h"
#include "framework/op_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "ops/all_ops.h"
#include "ops/op_helpers.h"

namespace minigraph {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::Pointwise;

constexpr double kInf = std::numeric_limits<double>::infinity();

// 0, 1, 2, ... in `shape`.
Tensor Iota(const Shape& shape, DType dtype = DType::kFloat64) {
  const int64_t n = NumElements(shape);
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<double>(i);
  return ConvertDType(Tensor::FromData(values, shape), dtype);
}

Tensor Data(const std::vector<double>& values, const Shape& shape,
            DType dtype = DType::kFloat64) {
  return ConvertDType(Tensor::FromData(values, shape), dtype);
}

std::vector<double> Values(const Tensor& t) { return t.ToVector<double>(); }

// The transpose of a contiguous 2-d tensor, as a strided view.
Tensor TransposedView(const Tensor& x) {
  return MakeView(x, {x.shape()[1], x.shape()[0]},
                  {x.strides()[1], x.strides()[0]}, x.offset());
}

// Softmax of one row, computed directly in double; a row of all -inf gives
// zeros, the kernel's convention.
std::vector<double> RowSoftmax(const std::vector<double>& row) {
  double max = -kInf;
  for (double v : row) max = std::max(max, v);
  if (max == -kInf) return std::vector<double>(row.size(), 0.0);
  double sum = 0;
  for (double v : row) sum += std::exp(v - max);
  std::vector<double> out;
  for (double v : row) out.push_back(std::exp(v - max) / sum);
  return out;
}

constexpr DType kDTypes[] = {DType::kFloat32, DType::kFloat64};

// ---- sum --------------------------------------------------------------------

TEST(SumTest, AllAxesByDefault) {
  for (DType dtype : kDTypes) {
    const Tensor y = Sum(Iota({2, 3}, dtype) + 1.0);
    EXPECT_EQ(y.shape(), Shape{});
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_EQ(y.item(), 21.0);  // 1 + ... + 6
  }
}

TEST(SumTest, MiddleAxisWithKeepdim) {
  for (DType dtype : kDTypes) {
    // x[a, b, c] = 12a + 4b + c; summing b gives 36a + 12 + 3c.
    const Tensor y = Sum(Iota({2, 3, 4}, dtype), {1}, /*keepdim=*/true);
    EXPECT_EQ(y.shape(), (Shape{2, 1, 4}));
    EXPECT_THAT(Values(y), ElementsAre(12, 15, 18, 21, 48, 51, 54, 57));
  }
}

TEST(SumTest, TwoAxesAndNegativeAxis) {
  for (DType dtype : kDTypes) {
    const Tensor x = Iota({2, 3, 4}, dtype);
    // Over a and c: 60 + 32b.
    EXPECT_THAT(Values(Sum(x, {0, 2})), ElementsAre(60, 92, 124));
    EXPECT_THAT(Values(Sum(x, {-1, 0})), ElementsAre(60, 92, 124));
    // Over c: 48a + 16b + 6.
    const Tensor y = Sum(x, {-1});
    EXPECT_EQ(y.shape(), (Shape{2, 3}));
    EXPECT_THAT(Values(y), ElementsAre(6, 22, 38, 54, 70, 86));
  }
}

TEST(SumTest, LongRowsAndColumnsCoverTheSimdTails) {
  for (DType dtype : kDTypes) {
    for (int64_t n : {1, 2, 3, 15, 16, 17, 63, 64, 65, 1000}) {
      SCOPED_TRACE(n);
      // 1 + 2 + ... + n along a contiguous row (exact in float32 too).
      EXPECT_EQ(Sum(Iota({n}, dtype) + 1.0).item(), n * (n + 1) / 2.0);
      // Column sums of [3, n]: rows 0..n-1, n..2n-1, 2n..3n-1 -> 3j + 3n.
      const std::vector<double> columns = Values(Sum(Iota({3, n}, dtype), {0}));
      ASSERT_EQ(columns.size(), static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) EXPECT_EQ(columns[j], 3.0 * j + 3.0 * n);
    }
  }
}

TEST(SumTest, TransposedViewIsReadThroughItsStrides) {
  for (DType dtype : kDTypes) {
    const Tensor x = Iota({3, 4}, dtype);  // x[i, j] = 4i + j
    const Tensor t = TransposedView(x);    // t[j, i] = 4i + j
    ASSERT_FALSE(t.is_contiguous());
    // Sum over i: 12 + 3j.
    EXPECT_THAT(Values(Sum(t, {1})), ElementsAre(12, 15, 18, 21));
    // Sum over j: 16i + 6.
    EXPECT_THAT(Values(Sum(t, {0})), ElementsAre(6, 22, 38));
    EXPECT_EQ(Sum(t).item(), 66.0);
    // The input is untouched and the output is a fresh buffer.
    EXPECT_FALSE(Sum(t, {0}).SharesStorageWith(x));
    EXPECT_EQ(x.ValueAt({2, 3}), 11.0);
  }
}

TEST(SumTest, BroadcastAndOffsetViews) {
  for (DType dtype : kDTypes) {
    const Tensor row = Iota({1, 3}, dtype);  // 0 1 2
    // Stride 0 along the first axis: four copies of the row.
    const Tensor expanded = MakeView(row, {4, 3}, {0, 1}, 0);
    EXPECT_EQ(Sum(expanded).item(), 12.0);
    EXPECT_THAT(Values(Sum(expanded, {0})), ElementsAre(0, 4, 8));
    EXPECT_THAT(Values(Sum(expanded, {1})), ElementsAre(3, 3, 3, 3));
    // Rows 1..2 of a [3, 5] tensor, columns 1, 3: offset 6, strides {5, 2}.
    const Tensor x = Iota({3, 5}, dtype);
    const Tensor picked = MakeView(x, {2, 2}, {5, 2}, 6);  // 6 8 / 11 13
    EXPECT_THAT(Values(Sum(picked, {1})), ElementsAre(14, 24));
    EXPECT_THAT(Values(Sum(picked, {0})), ElementsAre(17, 21));
  }
}

TEST(SumTest, ZeroDimensionalAndSizeOneEdges) {
  const Tensor s = Tensor::Scalar(2.5, DType::kFloat64);
  EXPECT_EQ(Sum(s).item(), 2.5);
  EXPECT_EQ(Sum(s, {0}).item(), 2.5);
  EXPECT_EQ(Sum(s, {-1}, true).shape(), Shape{});
  const Tensor x = Iota({1, 3, 1});
  EXPECT_EQ(Sum(x, {0, 2}).shape(), Shape{3});
  EXPECT_THAT(Values(Sum(x, {0, 2})), ElementsAre(0, 1, 2));
  EXPECT_EQ(Sum(x, {}, true).shape(), (Shape{1, 1, 1}));
}

TEST(SumTest, EmptyReductionsGiveZeros) {
  const Tensor x = Tensor::Zeros({2, 0, 3}, DType::kFloat32);
  const Tensor y = Sum(x, {1});
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_THAT(Values(y), ElementsAre(0, 0, 0, 0, 0, 0));
  EXPECT_EQ(Sum(x, {0}).shape(), (Shape{0, 3}));
  EXPECT_EQ(Sum(x).item(), 0.0);
}

TEST(SumTest, ErrorsNameTheOpTheAxesAndTheShape) {
  const Tensor x = Iota({2, 3, 4});
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("sum", {x}, Attrs{{"axes", std::vector<int64_t>{1, -2}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("sum (node"));
  EXPECT_THAT(r.status().message(), HasSubstr("axes [1, -2]"));
  EXPECT_THAT(r.status().message(), HasSubstr("more than once"));
  EXPECT_THAT(r.status().message(), HasSubstr("[2, 3, 4]"));

  r = CallOp("sum", {x}, Attrs{{"axes", std::vector<int64_t>{3}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("axis 3 is out of range"));
  EXPECT_THAT(r.status().message(), HasSubstr("[2, 3, 4]"));

  r = CallOp("sum", {Tensor::Arange(0, 4, 1, DType::kInt64)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("float32 or float64"));

  r = CallOp("sum", {x}, Attrs{{"axes", int64_t{1}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("axes"));
}

// ---- mean -------------------------------------------------------------------

TEST(MeanTest, DividesByTheReducedCount) {
  for (DType dtype : kDTypes) {
    const Tensor x = Iota({2, 3, 4}, dtype);
    EXPECT_EQ(Mean(x).item(), 11.5);
    // Over b: 12a + 4 + c.
    const Tensor y = Mean(x, {1}, true);
    EXPECT_EQ(y.shape(), (Shape{2, 1, 4}));
    EXPECT_THAT(Values(y), ElementsAre(4, 5, 6, 7, 16, 17, 18, 19));
    // Over a and c: 7.5 + 4b.
    EXPECT_THAT(Values(Mean(x, {0, -1})), ElementsAre(7.5, 11.5, 15.5));
    EXPECT_THAT(Values(Mean(TransposedView(Iota({3, 4}, dtype)), {1})),
                ElementsAre(4, 5, 6, 7));
  }
}

TEST(MeanTest, EmptyMeanIsNan) {
  const Tensor y = Mean(Tensor::Zeros({0, 2}, DType::kFloat64), {0});
  ASSERT_EQ(y.shape(), Shape{2});
  EXPECT_TRUE(std::isnan(y.ValueAt({0})));
  EXPECT_TRUE(std::isnan(y.ValueAt({1})));
}

// ---- max --------------------------------------------------------------------

TEST(MaxTest, OverAxesAndViews) {
  for (DType dtype : kDTypes) {
    const Tensor x =
        Data({3, -1, 7, 2, 5, -4, 0, 6, 1, -2, 8, -9}, {3, 4}, dtype);
    EXPECT_EQ(Max(x).item(), 8.0);
    EXPECT_THAT(Values(Max(x, {1})), ElementsAre(7, 6, 8));
    const Tensor y = Max(x, {0}, true);
    EXPECT_EQ(y.shape(), (Shape{1, 4}));
    EXPECT_THAT(Values(y), ElementsAre(5, -1, 8, 6));
    EXPECT_THAT(Values(Max(TransposedView(x), {0})), ElementsAre(7, 6, 8));
    // All negative: the identity is -inf, not 0.
    EXPECT_EQ(Max(Data({-3, -2, -5}, {3}, dtype)).item(), -2.0);
  }
}

TEST(MaxTest, LongRowsAndColumns) {
  for (DType dtype : kDTypes) {
    for (int64_t n : {1, 7, 16, 17, 100}) {
      SCOPED_TRACE(n);
      // The largest element last, in the middle and first.
      EXPECT_EQ(Max(Iota({n}, dtype)).item(), n - 1.0);
      EXPECT_EQ(Max(Iota({n}, dtype) * -1.0).item(), 0.0);
      EXPECT_THAT(Values(Max(Iota({2, n}, dtype), {0})),
                  ElementsAreArray(Values(Iota({n}) + static_cast<double>(n))));
    }
  }
}

TEST(MaxTest, NanPropagatesAndInfinitiesAreValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dtype : kDTypes) {
    for (int64_t position : {0, 5, 19}) {
      std::vector<double> values(20, 1.0);
      values[position] = nan;
      const Tensor y = Max(Data(values, {20}, dtype));
      EXPECT_TRUE(std::isnan(y.item())) << position;
    }
    EXPECT_EQ(Max(Data({-kInf, -kInf}, {2}, dtype)).item(), -kInf);
    EXPECT_EQ(Max(Data({1, kInf}, {2}, dtype)).item(), kInf);
  }
}

TEST(MaxTest, EmptyAxisIsAnError) {
  const Tensor x = Tensor::Zeros({3, 0}, DType::kFloat32);
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("max", {x}, Attrs{{"axes", std::vector<int64_t>{1}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("max (node"));
  EXPECT_THAT(r.status().message(), HasSubstr("axis 1 of size 0"));
  EXPECT_THAT(r.status().message(), HasSubstr("[3, 0]"));
  // Reducing the non-empty axis is fine: an empty result.
  EXPECT_EQ(Max(x, {0}).shape(), Shape{0});
}

// ---- softmax ----------------------------------------------------------------

TEST(SoftmaxTest, HandComputedRow) {
  for (DType dtype : kDTypes) {
    const double tol = dtype == DType::kFloat32 ? 1e-6 : 1e-15;
    // e^-2, e^-1, 1 over their sum.
    const double s = std::exp(-2.0) + std::exp(-1.0) + 1.0;
    const Tensor y = Softmax(Data({1, 2, 3}, {3}, dtype));
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_THAT(Values(y),
                Pointwise(DoubleNear(tol),
                          {std::exp(-2.0) / s, std::exp(-1.0) / s, 1.0 / s}));
    EXPECT_THAT(Values(LogSoftmax(Data({1, 2, 3}, {3}, dtype))),
                Pointwise(DoubleNear(tol * 4),
                          {-2 - std::log(s), -1 - std::log(s), -std::log(s)}));
  }
}

TEST(SoftmaxTest, LargeScoresDoNotOverflow) {
  for (DType dtype : kDTypes) {
    EXPECT_THAT(Values(Softmax(Data({1000, 1000}, {2}, dtype))),
                ElementsAre(0.5, 0.5));
    EXPECT_THAT(Values(LogSoftmax(Data({1000, 0}, {2}, dtype))),
                Pointwise(DoubleNear(1e-4), {0.0, -1000.0}));
    EXPECT_THAT(Values(Softmax(Data({-2000, 0}, {2}, dtype))),
                ElementsAre(0.0, 1.0));
  }
}

// Rows along the last axis of every length around the vector widths, and
// the same data along a middle axis (columns), checked against a direct
// double computation.
TEST(SoftmaxTest, AnyLengthAndAnyAxis) {
  for (DType dtype : kDTypes) {
    const double tol = dtype == DType::kFloat32 ? 2e-6 : 1e-14;
    for (int64_t n : {1, 2, 7, 8, 15, 16, 17, 33, 100}) {
      SCOPED_TRACE(n);
      const Tensor x64 = SampleUniform({3, n}, -4, 4, n);
      const std::vector<double> x = Values(x64);
      const std::vector<double> y = Values(Softmax(ConvertDType(x64, dtype)));
      const std::vector<double> ly =
          Values(LogSoftmax(ConvertDType(x64, dtype)));
      for (int64_t r = 0; r < 3; ++r) {
        const std::vector<double> expected =
            RowSoftmax({x.begin() + r * n, x.begin() + (r + 1) * n});
        for (int64_t j = 0; j < n; ++j) {
          EXPECT_NEAR(y[r * n + j], expected[j], tol);
          EXPECT_NEAR(ly[r * n + j], std::log(expected[j]), 4 * tol);
        }
      }
      // Along axis 0 of [3, n] (n columns of 3) and along a middle axis of
      // [2, 3, n]: compare against the transposed row computation.
      const std::vector<double> yc =
          Values(Softmax(ConvertDType(x64, dtype), 0));
      const std::vector<double> lyc =
          Values(LogSoftmax(ConvertDType(x64, dtype), -2));
      for (int64_t j = 0; j < n; ++j) {
        const std::vector<double> expected =
            RowSoftmax({x[j], x[n + j], x[2 * n + j]});
        for (int64_t r = 0; r < 3; ++r) {
          EXPECT_NEAR(yc[r * n + j], expected[r], tol);
          EXPECT_NEAR(lyc[r * n + j], std::log(expected[r]), 4 * tol);
        }
      }
      // Two outer blocks of the same columns, along the middle axis.
      const Tensor x3 =
          Expand(Reshape(ConvertDType(x64, dtype), {1, 3, n}), {2, 3, n});
      std::vector<double> twice = yc;
      twice.insert(twice.end(), yc.begin(), yc.end());
      EXPECT_THAT(Values(Softmax(x3, 1)), Pointwise(DoubleNear(0), twice));
    }
  }
}

TEST(SoftmaxTest, NonContiguousInput) {
  for (DType dtype : kDTypes) {
    const Tensor x = Data({0, 1, 2, 3, 4, 5}, {2, 3}, dtype);
    const Tensor t = TransposedView(x);  // [[0, 3], [1, 4], [2, 5]]
    const std::vector<double> pair = RowSoftmax({0, 3});
    EXPECT_THAT(Values(Softmax(t)),
                Pointwise(DoubleNear(1e-6), {pair[0], pair[1], pair[0], pair[1],
                                             pair[0], pair[1]}));
    const std::vector<double> triple = RowSoftmax({0, 1, 2});
    EXPECT_THAT(Values(Softmax(t, 0)),
                Pointwise(DoubleNear(1e-6), {triple[0], triple[0], triple[1],
                                             triple[1], triple[2], triple[2]}));
  }
}

TEST(SoftmaxTest, MinusInfinityEntriesGetExactlyZero) {
  for (DType dtype : kDTypes) {
    // Along the last axis, through the row kernel (long and short rows).
    for (int64_t n : {3, 37}) {
      std::vector<double> values(n, 0.0);
      values[1] = -kInf;
      const std::vector<double> y = Values(Softmax(Data(values, {n}, dtype)));
      EXPECT_EQ(y[1], 0.0);
      EXPECT_NEAR(y[0], 1.0 / (n - 1), 1e-7);
      const std::vector<double> ly =
          Values(LogSoftmax(Data(values, {n}, dtype)));
      EXPECT_EQ(ly[1], -kInf);
      EXPECT_NEAR(ly[0], -std::log(n - 1.0), 1e-6);
    }
    // Along axis 0, through the column kernel: column 1 has a -inf.
    const Tensor x = Data({0, -kInf, 0, 0}, {2, 2}, dtype);
    EXPECT_THAT(Values(Softmax(x, 0)), ElementsAre(0.5, 0, 0.5, 1));
  }
}

// A row of all -inf (a fully masked attention row) is an empty distribution:
// softmax gives zeros (PyTorch gives NaN) and log_softmax gives -inf. A NaN or
// +inf anywhere in a row makes the whole row NaN.
TEST(SoftmaxTest, RowsWithoutAFiniteMax) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (DType dtype : kDTypes) {
    for (int64_t axis : {-1, 0}) {
      SCOPED_TRACE(axis);
      // Three rows (axis -1) or columns (axis 0): all -inf, NaN, +inf.
      const std::vector<double> rows = {-kInf, -kInf, -kInf, -kInf,  //
                                        1.0,   nan,   2.0,   3.0,    //
                                        1.0,   kInf,  2.0,   3.0};
      Tensor x = Data(rows, {3, 4}, dtype);
      if (axis == 0) x = CopyToContiguous(TransposedView(x));
      const Tensor y = Softmax(x, axis);
      const Tensor ly = LogSoftmax(x, axis);
      for (int64_t j = 0; j < 4; ++j) {
        const std::vector<int64_t> first =
            axis == 0 ? std::vector<int64_t>{j, 0} : std::vector<int64_t>{0, j};
        const std::vector<int64_t> second =
            axis == 0 ? std::vector<int64_t>{j, 1} : std::vector<int64_t>{1, j};
        const std::vector<int64_t> third =
            axis == 0 ? std::vector<int64_t>{j, 2} : std::vector<int64_t>{2, j};
        EXPECT_EQ(y.ValueAt(first), 0.0);
        EXPECT_EQ(ly.ValueAt(first), -kInf);
        EXPECT_TRUE(std::isnan(y.ValueAt(second)));
        EXPECT_TRUE(std::isnan(ly.ValueAt(second)));
        EXPECT_TRUE(std::isnan(y.ValueAt(third)));
        EXPECT_TRUE(std::isnan(ly.ValueAt(third)));
      }
    }
    // Long rows and wide columns take the full-vector paths.
    std::vector<double> values = Values(SampleUniform({3, 37}, -1, 1, 5));
    values[37 + 20] = nan;
    const Tensor x = Data(values, {3, 37}, dtype);
    const std::vector<double> rows = Values(Softmax(x));
    const std::vector<double> columns = Values(Softmax(x, 0));
    for (int64_t j = 0; j < 37; ++j) {
      EXPECT_FALSE(std::isnan(rows[j]));
      EXPECT_TRUE(std::isnan(rows[37 + j]));
      EXPECT_EQ(std::isnan(columns[37 + j]), j == 20) << j;
    }
  }
}

TEST(SoftmaxTest, EdgesAndErrors) {
  // 0-d: one element, probability 1.
  EXPECT_EQ(Softmax(Tensor::Scalar(3.0, DType::kFloat64)).item(), 1.0);
  EXPECT_EQ(LogSoftmax(Tensor::Scalar(3.0, DType::kFloat64)).item(), 0.0);
  // Size-1 axis and empty tensors.
  EXPECT_THAT(Values(Softmax(Iota({3, 1}), 1)), ElementsAre(1, 1, 1));
  EXPECT_EQ(Softmax(Tensor::Zeros({0, 4}), 1).shape(), (Shape{0, 4}));
  EXPECT_EQ(Softmax(Tensor::Zeros({4, 0}), 1).shape(), (Shape{4, 0}));

  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("softmax", {Iota({2, 3})}, Attrs{{"axis", int64_t{2}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("softmax (node"));
  EXPECT_THAT(r.status().message(), HasSubstr("axis 2 is out of range"));
  EXPECT_THAT(r.status().message(), HasSubstr("[2, 3]"));
  r = CallOp("log_softmax", {Tensor::Arange(0, 3, 1, DType::kInt64)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("log_softmax (node"));
  EXPECT_THAT(r.status().message(), HasSubstr("float32 or float64"));
}

// ---- every SIMD target ------------------------------------------------------

// Reruns the kernels on every compiled Highway target this CPU supports
// (AVX3, AVX2, SSE4 and the static fallback): their vector widths differ, so
// each length below lands differently on the full-vector loops and the tails.
TEST(AllTargetsTest, KernelsAgreeWithDirectComputation) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    for (DType dtype : kDTypes) {
      const double tol = dtype == DType::kFloat32 ? 2e-6 : 1e-14;
      for (int64_t n = 1; n <= 70; n += 3) {
        SCOPED_TRACE(n);
        // Row sums and column sums (exact in both dtypes).
        EXPECT_EQ(Sum(Iota({n}, dtype) + 1.0).item(), n * (n + 1) / 2.0);
        const std::vector<double> columns =
            Values(Sum(Iota({2, n}, dtype), {0}));
        for (int64_t j = 0; j < n; ++j) EXPECT_EQ(columns[j], 2.0 * j + n);
        // Row maxima, and NaN at the last position.
        const Tensor x_max =
            ConvertDType(SampleUniform({2, n}, -4, 4, n), dtype);
        std::vector<double> values = Values(x_max);  // rounded to dtype
        for (int64_t r = 0; r < 2; ++r) {
          EXPECT_EQ(Max(x_max, {1}).ValueAt({r}),
                    *std::max_element(values.begin() + r * n,
                                      values.begin() + (r + 1) * n));
        }
        std::vector<double> with_nan = values;
        with_nan[n - 1] = nan;
        EXPECT_TRUE(std::isnan(Max(Data(with_nan, {2, n}, dtype)).item()));
        // Softmax along rows (row kernel) and along columns (column kernel),
        // with one -inf entry in the first row.
        values[n / 2] = -kInf;
        const Tensor x = Data(values, {2, n}, dtype);
        const std::vector<double> rows = Values(Softmax(x));
        const std::vector<double> cols = Values(Softmax(x, 0));
        EXPECT_EQ(rows[n / 2], 0.0);
        EXPECT_EQ(cols[n / 2], 0.0);
        for (int64_t r = 0; r < 2; ++r) {
          const std::vector<double> expected = RowSoftmax(
              {values.begin() + r * n, values.begin() + (r + 1) * n});
          for (int64_t j = 0; j < n; ++j) {
            EXPECT_NEAR(rows[r * n + j], expected[j], tol);
          }
        }
        for (int64_t j = 0; j < n; ++j) {
          const std::vector<double> expected =
              RowSoftmax({values[j], values[n + j]});
          EXPECT_NEAR(cols[j], expected[0], tol);
          EXPECT_NEAR(cols[n + j], expected[1], tol);
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// ---- gradients --------------------------------------------------------------

// d/dx of sum(w * f(x)) by float64 central differences.
std::vector<double> NumericGradient(const std::function<Tensor(Tensor)>& f,
                                    const Tensor& x, const Tensor& w) {
  NoGradGuard no_grad;
  const double h = 1e-6;
  std::vector<double> grad(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    Tensor plus = CopyToContiguous(x);
    Tensor minus = CopyToContiguous(x);
    plus.data<double>()[i] += h;
    minus.data<double>()[i] -= h;
    grad[i] = (Sum(f(plus) * w).item() - Sum(f(minus) * w).item()) / (2 * h);
  }
  return grad;
}

// Backward of sum(w * f(x)) against central differences, for random w.
void ExpectGradientMatches(const std::function<Tensor(Tensor)>& f,
                           const Tensor& x0) {
  Tensor x = CopyToContiguous(x0);
  x.set_requires_grad(true);
  const Tensor y = f(x);
  const Tensor w = SampleUniform(y.shape(), -1, 1, 99);
  ASSERT_TRUE(y.Backward(w).ok());
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().shape(), x.shape());
  EXPECT_THAT(Values(x.grad()),
              Pointwise(DoubleNear(1e-7), NumericGradient(f, x0, w)));
}

TEST(GradientTest, SumMeanMax) {
  const Tensor x = SampleUniform({2, 3, 5}, -2, 2, 7);
  ExpectGradientMatches([](Tensor t) { return Sum(t); }, x);
  ExpectGradientMatches([](Tensor t) { return Sum(t, {1}, true); }, x);
  ExpectGradientMatches([](Tensor t) { return Sum(t, {0, -1}); }, x);
  ExpectGradientMatches([](Tensor t) { return Mean(t, {2}); }, x);
  ExpectGradientMatches([](Tensor t) { return Mean(t, {}, true); }, x);
  ExpectGradientMatches([](Tensor t) { return Max(t, {1}); }, x);
  ExpectGradientMatches([](Tensor t) { return Max(t, {0, 2}, true); }, x);
}

TEST(GradientTest, SumOfAllDirectly) {
  // d sum(x) / dx = 1 everywhere; d mean(x) / dx = 1 / n.
  Tensor x = Iota({2, 3});
  x.set_requires_grad(true);
  ASSERT_TRUE(Sum(x).Backward().ok());
  EXPECT_THAT(Values(x.grad()), ElementsAre(1, 1, 1, 1, 1, 1));
  x.ZeroGrad();
  ASSERT_TRUE(Mean(x, {1}).Backward(Data({3, 6}, {2})).ok());
  EXPECT_THAT(Values(x.grad()), ElementsAre(1, 1, 1, 2, 2, 2));
}

TEST(GradientTest, MaxTiesShareTheGradientEvenly) {
  Tensor x = Data({1, 3, 3, 2, 5, 5, 5, 0}, {2, 4});
  x.set_requires_grad(true);
  ASSERT_TRUE(Max(x, {1}).Backward(Data({1, 6}, {2})).ok());
  EXPECT_THAT(Values(x.grad()), ElementsAre(0, 0.5, 0.5, 0, 2, 2, 2, 0));
}

TEST(GradientTest, SoftmaxAndLogSoftmax) {
  const Tensor x = SampleUniform({2, 5, 3}, -3, 3, 8);
  for (int64_t axis : {-1, 1, 0}) {
    SCOPED_TRACE(axis);
    ExpectGradientMatches([axis](Tensor t) { return Softmax(t, axis); }, x);
    ExpectGradientMatches([axis](Tensor t) { return LogSoftmax(t, axis); }, x);
  }
}

// Second order: the gradient of <v, d sum(w softmax(x)) / dx> compared with
// central differences of the first-order gradient.
TEST(GradientTest, SoftmaxSecondOrder) {
  const Tensor x0 = SampleUniform({2, 4}, -2, 2, 11);
  const Tensor w = SampleUniform({2, 4}, -1, 1, 12);
  const Tensor v = SampleUniform({2, 4}, -1, 1, 13);
  auto first = [&](const Tensor& x_in, bool create_graph) {
    Tensor x = x_in;
    const Tensor y = Sum(Softmax(x) * w);
    BackwardOptions options;
    options.create_graph = create_graph;
    return ValueOrDie(Gradients({y}, {x}, {}, options))[0];
  };
  Tensor x = CopyToContiguous(x0);
  x.set_requires_grad(true);
  const Tensor g = first(x, /*create_graph=*/true);
  const Tensor gg = ValueOrDie(Gradients({Sum(g * v)}, {x}))[0];
  const double h = 1e-5;
  std::vector<double> expected(x0.numel());
  for (int64_t i = 0; i < x0.numel(); ++i) {
    Tensor plus = CopyToContiguous(x0);
    Tensor minus = CopyToContiguous(x0);
    plus.data<double>()[i] += h;
    minus.data<double>()[i] -= h;
    plus.set_requires_grad(true);
    minus.set_requires_grad(true);
    const double fp = Sum(first(plus, false) * v).item();
    const double fm = Sum(first(minus, false) * v).item();
    expected[i] = (fp - fm) / (2 * h);
  }
  EXPECT_THAT(Values(gg), Pointwise(DoubleNear(1e-6), expected));
}

}  // namespace
}  // namespace minigraph
