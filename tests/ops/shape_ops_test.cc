// Shape ops: hand-computed values, which results are views of their input,
// non-contiguous and broadcast inputs, size-0 and size-1 edges, int64 data,
// error messages, and gradients (first and second order).
#include "ops/shape_ops.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "framework/autograd.h"
#include "framework/op_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr int64_t kToEnd = std::numeric_limits<int64_t>::max();

// 0, 1, 2, ... in `shape`.
Tensor Iota(const Shape& shape, DType dtype = DType::kFloat64) {
  const int64_t n = NumElements(shape);
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<double>(i);
  return ConvertDType(Tensor::FromData(values, shape), dtype);
}

std::vector<double> Values(const Tensor& t) { return t.ToVector<double>(); }

// ---- reshape ----------------------------------------------------------------

TEST(ReshapeTest, ContiguousInputGivesAViewWithInferredDimension) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const Tensor x = Iota({2, 3, 4}, dtype);
    const Tensor y = Reshape(x, {4, -1});
    EXPECT_EQ(y.shape(), (Shape{4, 6}));
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_TRUE(y.SharesStorageWith(x));
    EXPECT_TRUE(y.is_contiguous());
    EXPECT_EQ(y.ValueAt({3, 5}), 23.0);
    EXPECT_EQ(y.ValueAt({1, 2}), 8.0);
  }
}

TEST(ReshapeTest, TransposedInputIsCopiedInRowMajorOrder) {
  // t[i][j] = x[j][i] = 4 j + i.
  const Tensor t = Transpose(Iota({3, 4}), 0, 1);
  const Tensor y = Reshape(t, {12});
  EXPECT_FALSE(y.SharesStorageWith(t));
  EXPECT_TRUE(y.is_contiguous());
  EXPECT_THAT(Values(y), ElementsAre(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11));
}

TEST(ReshapeTest, SplittingAPermutedAxisStaysAView) {
  // p = permute([3, 4, 5], {1, 0, 2}) has strides [5, 20, 1]; splitting axis
  // 0 into 2 x 2 needs strides [10, 5, 20, 1], no copy.
  const Tensor x = Iota({3, 4, 5});
  const Tensor p = Permute(x, {1, 0, 2});
  const Tensor y = Reshape(p, {2, 2, 3, 5});
  EXPECT_TRUE(y.SharesStorageWith(x));
  EXPECT_EQ(y.strides(), (Shape{10, 5, 20, 1}));
  // y[a][b][c][d] = p[2a + b][c][d] = x[c][2a + b][d] = 20 c + 5 (2a + b) + d.
  EXPECT_EQ(y.ValueAt({1, 0, 2, 3}), 20 * 2 + 5 * 2 + 3);
  EXPECT_EQ(y.ValueAt({1, 1, 1, 4}), 20 * 1 + 5 * 3 + 4);
  // Merging axes 1 and 2 of p (strides 20 and 1) cannot be a view.
  const Tensor z = Reshape(p, {4, 15});
  EXPECT_FALSE(z.SharesStorageWith(x));
  EXPECT_EQ(z.ValueAt({1, 7}), 20 * 1 + 5 * 1 + 2);  // p[1][1][2]
}

TEST(ReshapeTest, SlicedRowsMergeAsAView) {
  // Rows 1..2 of a [4, 6] tensor are one contiguous block.
  const Tensor x = Iota({4, 6});
  const Tensor rows = Slice(x, 0, 1, 3);
  const Tensor y = Reshape(rows, {3, 4});
  EXPECT_TRUE(y.SharesStorageWith(x));
  EXPECT_THAT(Values(y),
              ElementsAre(6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17));
  // Every other column of a [4, 6] tensor: strides [6, 2] still flatten
  // into one stride-2 run. Of a [4, 7] tensor: strides [7, 2] split as a
  // view but flatten only by a copy.
  const Tensor even = Slice(x, 1, 0, kToEnd, 2);
  const Tensor even_flat = Reshape(even, {12});
  EXPECT_TRUE(even_flat.SharesStorageWith(x));
  EXPECT_EQ(even_flat.strides(), (Shape{2}));
  EXPECT_THAT(Values(even_flat),
              ElementsAre(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22));
  const Tensor wide = Iota({4, 7});
  const Tensor cols = Slice(wide, 1, 0, kToEnd, 2);  // [4, 4]
  EXPECT_TRUE(Reshape(cols, {2, 2, 4}).SharesStorageWith(wide));
  const Tensor flat = Reshape(cols, {16});
  EXPECT_FALSE(flat.SharesStorageWith(wide));
  EXPECT_THAT(Values(flat), ElementsAreArray({0, 2, 4, 6, 7, 9, 11, 13, 14, 16,
                                              18, 20, 21, 23, 25, 27}));
}

TEST(ReshapeTest, ExpandedInputIsCopied) {
  const Tensor x = Tensor::FromData<double>({1, 2, 3}, {3, 1});
  const Tensor e = Expand(x, {3, 2});
  const Tensor y = Reshape(e, {6});
  EXPECT_FALSE(y.SharesStorageWith(x));
  EXPECT_THAT(Values(y), ElementsAre(1, 1, 2, 2, 3, 3));
}

TEST(ReshapeTest, ScalarsAndEmptyTensors) {
  const Tensor s = Tensor::Scalar(7.5, DType::kFloat64);
  const Tensor m = Reshape(s, {1, 1});
  EXPECT_EQ(m.shape(), (Shape{1, 1}));
  EXPECT_TRUE(m.SharesStorageWith(s));
  const Tensor back = Reshape(m, {});
  EXPECT_EQ(back.dim(), 0);
  EXPECT_EQ(back.item(), 7.5);
  const Tensor empty = Tensor::Zeros({0, 3});
  EXPECT_EQ(Reshape(empty, {3, 0, 5}).shape(), (Shape{3, 0, 5}));
}

TEST(ReshapeTest, ErrorsNameTheOpAndBothShapes) {
  absl::StatusOr<std::vector<Tensor>> r = CallOp(
      "reshape", {Tensor::Zeros({2, 3})}, Attrs{{"shape", ShapeAttr{{4, 2}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("reshape"));
  EXPECT_THAT(r.status().message(), HasSubstr("[2, 3]"));
  EXPECT_THAT(r.status().message(), HasSubstr("[4, 2]"));
  EXPECT_THAT(r.status().message(), HasSubstr("6 elements"));

  r = CallOp("reshape", {Tensor::Zeros({2, 3})},
             Attrs{{"shape", ShapeAttr{{-1, -1}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("only one dimension may be -1"));

  r = CallOp("reshape", {Tensor::Zeros({2, 3})},
             Attrs{{"shape", ShapeAttr{{4, -1}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("[4, -1]"));
  EXPECT_THAT(r.status().message(), HasSubstr("cannot be inferred"));
}

// ---- permute and transpose --------------------------------------------------

TEST(PermuteTest, RotatesAxesAsAView) {
  const Tensor x = Iota({2, 3, 4});
  const Tensor y = Permute(x, {2, 0, 1});
  EXPECT_EQ(y.shape(), (Shape{4, 2, 3}));
  EXPECT_TRUE(y.SharesStorageWith(x));
  EXPECT_FALSE(y.is_contiguous());
  // y[i][j][k] = x[j][k][i] = 12 j + 4 k + i.
  EXPECT_THAT(Values(y),
              ElementsAreArray({0, 4, 8,  12, 16, 20, 1, 5, 9,  13, 17, 21,
                                2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23}));
  // Negative axes name the same permutation.
  EXPECT_EQ(Values(Permute(x, {-1, 0, -2})), Values(y));
}

TEST(PermuteTest, TransposeSwapsTwoAxesInFloat32) {
  const Tensor x = Iota({2, 3}, DType::kFloat32);
  const Tensor t = Transpose(x, -1, 0);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_THAT(t.ToVector<float>(), ElementsAre(0, 3, 1, 4, 2, 5));
  // Transposing back gives the original layout.
  EXPECT_TRUE(Transpose(t, 0, 1).is_contiguous());
}

TEST(PermuteTest, RejectsNonPermutations) {
  for (const std::vector<int64_t>& dims :
       {std::vector<int64_t>{0, 0, 1}, std::vector<int64_t>{0, 1},
        std::vector<int64_t>{0, 1, 3}}) {
    absl::StatusOr<std::vector<Tensor>> r =
        CallOp("permute", {Tensor::Zeros({2, 3, 4})}, Attrs{{"dims", dims}});
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), HasSubstr("permute"));
    EXPECT_THAT(r.status().message(), HasSubstr("not a permutation"));
    EXPECT_THAT(r.status().message(), HasSubstr("[2, 3, 4]"));
  }
}

// ---- expand -----------------------------------------------------------------

TEST(ExpandTest, AddsLeadingDimsAndStretchesWithStrideZero) {
  const Tensor x = Tensor::FromData<double>({1, 2, 3}, {3, 1});
  const Tensor y = Expand(x, {2, 3, 4});
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(y.strides(), (Shape{0, 1, 0}));
  EXPECT_TRUE(y.SharesStorageWith(x));
  EXPECT_THAT(Values(y),
              ElementsAreArray({1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
                                1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}));
  // -1 keeps a dimension; a size-1 dimension may also become 0.
  const Tensor row = Tensor::FromData<float>({5, 6}, {1, 2});
  EXPECT_THAT(Expand(row, {3, -1}).ToVector<float>(),
              ElementsAre(5, 6, 5, 6, 5, 6));
  EXPECT_EQ(Expand(row, {0, 2}).numel(), 0);
}

TEST(ExpandTest, ErrorsNameTheShapes) {
  absl::StatusOr<std::vector<Tensor>> r = CallOp(
      "expand", {Tensor::Zeros({3, 2})}, Attrs{{"shape", ShapeAttr{{3, 4}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("expand"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("cannot expand [3, 2] to [3, 4]"));
  r = CallOp("expand", {Tensor::Zeros({3, 2})},
             Attrs{{"shape", ShapeAttr{{2}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("fewer dimensions"));
  r = CallOp("expand", {Tensor::Zeros({2})},
             Attrs{{"shape", ShapeAttr{{-1, 2}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("leading dimension 0"));
}

// ---- slice ------------------------------------------------------------------

TEST(SliceTest, NegativeStartAndStepTwoAsAView) {
  const Tensor x = Iota({2, 7});
  const Tensor y = Slice(x, 1, -6, kToEnd, 2);  // columns 1, 3, 5
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_TRUE(y.SharesStorageWith(x));
  EXPECT_THAT(Values(y), ElementsAre(1, 3, 5, 8, 10, 12));
  // Negative axis and negative end.
  EXPECT_THAT(Values(Slice(x, -2, 1, 2)), ElementsAre(7, 8, 9, 10, 11, 12, 13));
  EXPECT_THAT(Values(Slice(x, -1, 2, -3)), ElementsAre(2, 3, 9, 10));
}

TEST(SliceTest, ClampsLikePythonAndAllowsEmptyResults) {
  const Tensor x = Iota({5}, DType::kFloat32);
  EXPECT_THAT(Slice(x, 0, -100, 100).ToVector<float>(),
              ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(Slice(x, 0, 3, 100, 4).ToVector<float>(), ElementsAre(3));
  EXPECT_EQ(Slice(x, 0, 4, 2).numel(), 0);
  EXPECT_EQ(Slice(x, 0, 9, kToEnd).shape(), (Shape{0}));
  // Slicing an empty slice again stays empty.
  EXPECT_EQ(Slice(Slice(x, 0, 5, 5), 0, 0, 1).numel(), 0);
}

TEST(SliceTest, RejectsBadStepAxisAndScalars) {
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("slice", {Tensor::Zeros({4})},
             Attrs{{"axis", int64_t{0}}, {"step", int64_t{0}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("slice"));
  EXPECT_THAT(r.status().message(), HasSubstr("step must be >= 1, got 0"));
  r = CallOp("slice", {Tensor::Zeros({4})}, Attrs{{"axis", int64_t{1}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("axis 1 is out of range"));
  r = CallOp("slice", {Tensor::Scalar(1)}, Attrs{{"axis", int64_t{0}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("0-d"));
}

// ---- slice_scatter ----------------------------------------------------------

TEST(SliceScatterTest, PlacesValuesIntoZeros) {
  const Tensor x = Tensor::FromData<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  const Tensor y = SliceScatter(x, {3, 5}, 1, 1, 5, 2);  // columns 1 and 3
  EXPECT_EQ(y.shape(), (Shape{3, 5}));
  EXPECT_THAT(Values(y),
              ElementsAreArray({0, 1, 0, 2, 0, 0, 3, 0, 4, 0, 0, 5, 0, 6, 0}));
  // A non-contiguous source, float32, along axis 0 from the end.
  const Tensor t = Transpose(Iota({2, 3}, DType::kFloat32), 0, 1);  // [3, 2]
  const Tensor z = SliceScatter(t, {4, 2}, 0, -3, kToEnd);
  EXPECT_THAT(z.ToVector<float>(), ElementsAre(0, 0, 0, 3, 1, 4, 2, 5));
}

TEST(SliceScatterTest, RejectsAValueOfTheWrongShape) {
  Attrs attrs{{"shape", ShapeAttr{{3, 5}}},
              {"axis", int64_t{1}},
              {"start", int64_t{1}},
              {"end", int64_t{5}},
              {"step", int64_t{2}}};
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("slice_scatter", {Tensor::Zeros({3, 3})}, attrs);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("slice_scatter"));
  EXPECT_THAT(r.status().message(), HasSubstr("[3, 3]"));
  EXPECT_THAT(r.status().message(), HasSubstr("[3, 2]"));
}

// ---- concat -----------------------------------------------------------------

TEST(ConcatTest, JoinsThreeInputsAlongAxisOne) {
  const Tensor a = Tensor::FromData<double>({1, 2}, {2, 1});
  const Tensor b = Tensor::FromData<double>({3, 4, 5, 6}, {2, 2});
  const Tensor c = Tensor::FromData<double>({7, 8, 9, 10, 11, 12}, {2, 3});
  const Tensor y = Concat({a, b, c}, 1);
  EXPECT_EQ(y.shape(), (Shape{2, 6}));
  EXPECT_THAT(Values(y),
              ElementsAreArray({1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12}));
  EXPECT_EQ(Values(Concat({a, b, c}, -1)), Values(y));
}

TEST(ConcatTest, StridedAndEmptyInputsInFloat32) {
  const Tensor t = Transpose(Iota({2, 3}, DType::kFloat32), 0, 1);  // [3, 2]
  const Tensor e = Expand(Tensor::FromData<float>({9}, {1, 1}), {2, 2});
  const Tensor none = Tensor::Zeros({0, 2}, DType::kFloat32);
  const Tensor y = Concat({t, none, e}, 0);
  EXPECT_EQ(y.shape(), (Shape{5, 2}));
  EXPECT_THAT(y.ToVector<float>(), ElementsAre(0, 3, 1, 4, 2, 5, 9, 9, 9, 9));
  // One input is a copy.
  const Tensor single = Concat({t}, 1);
  EXPECT_FALSE(single.SharesStorageWith(t));
  EXPECT_THAT(single.ToVector<float>(), ElementsAre(0, 3, 1, 4, 2, 5));
}

TEST(ConcatTest, ErrorsNameTheMismatchingInput) {
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("concat",
             {Tensor::Zeros({2, 4, 3}), Tensor::Zeros({2, 1, 3}),
              Tensor::Zeros({2, 4, 4})},
             Attrs{{"axis", int64_t{1}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("concat"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("input 2 has shape [2, 4, 4] but input 0 has shape "
                        "[2, 4, 3]"));

  r = CallOp("concat", {Tensor::Zeros({2}), Tensor::Zeros({2, 1})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("input 1 has shape [2, 1]"));

  r = CallOp("concat",
             {Tensor::Zeros({2}), Tensor::Zeros({2}, DType::kFloat64)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("input 1 is float64[2]"));

  r = CallOp("concat", {});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("at least 1 input"));
}

// ---- contiguous -------------------------------------------------------------

TEST(ContiguousTest, ContiguousInputIsANewHandleOnTheSameData) {
  const Tensor x = Iota({2, 3});
  const Tensor y = Contiguous(x);
  EXPECT_TRUE(y.SharesStorageWith(x));
  EXPECT_NE(y.impl(), x.impl());
  EXPECT_EQ(y.offset(), x.offset());
  // A sliced block of rows is contiguous too, at an offset.
  const Tensor rows = Slice(x, 0, 1, 2);
  const Tensor z = Contiguous(rows);
  EXPECT_TRUE(z.SharesStorageWith(x));
  EXPECT_EQ(z.offset(), 3);
}

TEST(ContiguousTest, TransposedAndBroadcastInputsAreCopied) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    // Odd sizes, so the gather path runs whole vectors and a tail.
    const Tensor x = Iota({37, 19}, dtype);
    const Tensor y = Contiguous(Transpose(x, 0, 1));
    ASSERT_EQ(y.shape(), (Shape{19, 37}));
    EXPECT_TRUE(y.is_contiguous());
    EXPECT_FALSE(y.SharesStorageWith(x));
    const std::vector<double> v = Values(y);
    for (int64_t i = 0; i < 19; ++i) {
      for (int64_t j = 0; j < 37; ++j) {
        ASSERT_EQ(v[i * 37 + j], 19.0 * j + i) << i << "," << j;
      }
    }
    // A stride-0 row.
    const Tensor column = Iota({5, 1}, dtype);
    const std::vector<double> b = Values(Contiguous(Expand(column, {5, 23})));
    for (int64_t i = 0; i < 5; ++i) {
      for (int64_t j = 0; j < 23; ++j) ASSERT_EQ(b[i * 23 + j], i);
    }
  }
}

// ---- int64 data -------------------------------------------------------------

TEST(Int64Test, IndicesPassThroughViewsAndCopies) {
  const Tensor x = Tensor::FromData<int64_t>({0, 1, 2, 3, 4, 5}, {2, 3});
  const Tensor t = Transpose(x, 0, 1);
  const Tensor flat = Reshape(t, {6});
  EXPECT_EQ(flat.dtype(), DType::kInt64);
  EXPECT_THAT(flat.ToVector<int64_t>(), ElementsAre(0, 3, 1, 4, 2, 5));
  EXPECT_THAT(Contiguous(t).ToVector<int64_t>(), ElementsAre(0, 3, 1, 4, 2, 5));
  EXPECT_THAT(Slice(x, 1, 1, kToEnd).ToVector<int64_t>(),
              ElementsAre(1, 2, 4, 5));
  const Tensor joined = Concat({t, Reshape(x, {3, 2})}, -1);
  EXPECT_EQ(joined.dtype(), DType::kInt64);
  EXPECT_THAT(joined.ToVector<int64_t>(),
              ElementsAre(0, 3, 0, 1, 1, 4, 2, 3, 2, 5, 4, 5));
  EXPECT_THAT(Concat({x, x}, 1).ToVector<int64_t>(),
              ElementsAre(0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5));
}

// ---- gradients --------------------------------------------------------------

TEST(ShapeGradTest, ReshapeOfTransposeScattersBack) {
  Tensor x = Iota({3, 4});
  x.set_requires_grad(true);
  const Tensor y = Reshape(Transpose(x, 0, 1), {12});
  // y[m] = x[m % 3][m / 3], so dx[r][c] = u[3 c + r].
  ASSERT_TRUE(y.Backward(Iota({12})).ok());
  EXPECT_THAT(Values(x.grad()),
              ElementsAre(0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11));
}

TEST(ShapeGradTest, PermuteUsesTheInversePermutation) {
  Tensor x = Iota({2, 3, 4});
  x.set_requires_grad(true);
  const Tensor y = Permute(x, {2, 0, 1});
  // dx[j][k][i] = u[i][j][k] = 6 i + 3 j + k.
  ASSERT_TRUE(y.Backward(Iota({4, 2, 3})).ok());
  EXPECT_THAT(Values(x.grad()),
              ElementsAreArray({0, 6, 12, 18, 1, 7,  13, 19, 2, 8,  14, 20,
                                3, 9, 15, 21, 4, 10, 16, 22, 5, 11, 17, 23}));
}

TEST(ShapeGradTest, SliceGradientIsScatteredIntoZeros) {
  Tensor x = Iota({2, 7});
  x.set_requires_grad(true);
  const Tensor y = Slice(x, 1, -6, kToEnd, 2);
  ASSERT_TRUE(
      y.Backward(Tensor::FromData<double>({1, 2, 3, 4, 5, 6}, {2, 3})).ok());
  EXPECT_THAT(Values(x.grad()),
              ElementsAreArray({0, 1, 0, 2, 0, 3, 0, 0, 4, 0, 5, 0, 6, 0}));
}

TEST(ShapeGradTest, ConcatSplitsTheGradient) {
  Tensor a = Iota({2, 1}), b = Iota({2, 2}), c = Iota({2, 3});
  for (Tensor* t : {&a, &b, &c}) t->set_requires_grad(true);
  const Tensor y = Concat({a, b, c}, 1);
  ASSERT_TRUE(y.Backward(Iota({2, 6})).ok());
  EXPECT_THAT(Values(a.grad()), ElementsAre(0, 6));
  EXPECT_THAT(Values(b.grad()), ElementsAre(1, 2, 7, 8));
  EXPECT_THAT(Values(c.grad()), ElementsAre(3, 4, 5, 9, 10, 11));
}

TEST(ShapeGradTest, ContiguousAndSliceScatterPassGradientsThrough) {
  Tensor x = Iota({2, 3});
  x.set_requires_grad(true);
  const Tensor y = Contiguous(Transpose(x, 0, 1));  // [3, 2]
  ASSERT_TRUE(y.Backward(Iota({3, 2})).ok());
  // dx[i][j] = u[j][i] = 2 j + i.
  EXPECT_THAT(Values(x.grad()), ElementsAre(0, 2, 4, 1, 3, 5));

  Tensor v = Iota({2});
  v.set_requires_grad(true);
  const Tensor s = SliceScatter(v, {5}, 0, 1, 5, 2);
  ASSERT_TRUE(s.Backward(Iota({5})).ok());
  EXPECT_THAT(Values(v.grad()), ElementsAre(1, 3));
}

TEST(ShapeGradTest, ExpandGradientSumsOverBroadcastDims) {
  Tensor x = Tensor::FromData<double>({1, 2, 3}, {3, 1});
  x.set_requires_grad(true);
  const Tensor y = Expand(x, {2, 3, 4});
  // u = 0..23 in [2, 3, 4]: dx[r] = sum over (n, k) of 12 n + 4 r + k
  //   = 2 (4 * 4r + 6) + 12 * 4 = 32 r + 60.
  ASSERT_TRUE(y.Backward(Iota({2, 3, 4})).ok());
  EXPECT_THAT(Values(x.grad()), ElementsAre(60, 92, 124));
}

TEST(ShapeGradTest, SecondOrderThroughSliceAndScatter) {
  Tensor x = Iota({5});
  x.set_requires_grad(true);
  Tensor u = Tensor::FromData<double>({10, 20}, {2});
  u.set_requires_grad(true);
  const Tensor y = Slice(x, 0, 1, 5, 2);  // x1, x3
  BackwardOptions keep;
  keep.create_graph = true;
  absl::StatusOr<std::vector<Tensor>> gx = Gradients({y}, {x}, {u}, keep);
  ASSERT_TRUE(gx.ok()) << gx.status();
  EXPECT_THAT(Values((*gx)[0]), ElementsAre(0, 10, 0, 20, 0));
  // d<w, gx>/du = w[1:5:2].
  absl::StatusOr<std::vector<Tensor>> gu = Gradients(
      {(*gx)[0]}, {u}, {Tensor::FromData<double>({1, 2, 3, 4, 5}, {5})});
  ASSERT_TRUE(gu.ok()) << gu.status();
  EXPECT_THAT(Values((*gu)[0]), ElementsAre(2, 4));
}

// A central finite difference of <w, Concat(Permute(a), b) sliced> agrees
// with autograd: the chain touches several rules at once.
TEST(ShapeGradTest, ChainMatchesFiniteDifferences) {
  const std::vector<double> a_values = {0.3, -1.2, 0.7, 2.1, -0.4, 1.5};
  const Tensor b = Tensor::FromData<double>({0.5, -0.25}, {1, 2});
  const Tensor w = Tensor::FromData<double>({1.5, -2.0, 0.25, 3.0}, {2, 2});
  auto f = [&](const Tensor& a) {
    const Tensor joined = Concat({Permute(a, {1, 0}), b}, 0);  // [4, 2]
    return Slice(joined, 0, 1, kToEnd, 2);                     // rows 1, 3
  };
  auto objective = [&](const std::vector<double>& values) {
    const std::vector<double> y = Values(f(Tensor::FromData(values, {2, 3})));
    const std::vector<double> weights = Values(w);
    double total = 0;
    for (size_t i = 0; i < y.size(); ++i) total += y[i] * weights[i];
    return total;
  };
  Tensor a = Tensor::FromData(a_values, {2, 3});
  a.set_requires_grad(true);
  ASSERT_TRUE(f(a).Backward(w).ok());
  const std::vector<double> analytic = Values(a.grad());
  const double eps = 1e-6;
  for (size_t i = 0; i < a_values.size(); ++i) {
    std::vector<double> plus = a_values, minus = a_values;
    plus[i] += eps;
    minus[i] -= eps;
    const double numeric = (objective(plus) - objective(minus)) / (2 * eps);
    EXPECT_NEAR(analytic[i], numeric, 1e-8) << i;
  }
}

}  // namespace
}  // namespace minigraph
