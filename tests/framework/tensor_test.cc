#include "framework/tensor.h"

#include <cmath>
#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ShapeTest, BroadcastFollowsNumpy) {
  EXPECT_EQ(*BroadcastShapes({2, 1, 4}, {3, 1}), (Shape{2, 3, 4}));
  EXPECT_EQ(*BroadcastShapes({}, {5}), (Shape{5}));
  EXPECT_EQ(*BroadcastShapes({0, 1}, {1, 3}), (Shape{0, 3}));
  absl::StatusOr<Shape> bad = BroadcastShapes({2, 3}, {4, 3});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("[2, 3] and [4, 3]"));
}

TEST(ShapeTest, ValidateShapeGuardsAllocations) {
  EXPECT_TRUE(ValidateShape({3, 0, 7}).ok());
  EXPECT_THAT(ValidateShape({3, -1}).message(), HasSubstr("negative"));
  EXPECT_THAT(ValidateShape({1 << 30, 1 << 30, 1 << 30}).message(),
              HasSubstr("2^40"));
  // Empty, but its strides would overflow: rejected too.
  EXPECT_THAT(ValidateShape({0, int64_t{1} << 30, int64_t{1} << 30, 52})
                  .message(),
              HasSubstr("2^40"));
  const Tensor empty = Tensor::Empty({0, int64_t{1} << 20, int64_t{1} << 20});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_EQ(empty.strides()[0], int64_t{1} << 40);
}

TEST(TensorTest, CreationFillsValues) {
  EXPECT_THAT(Tensor::Zeros({2, 2}).ToVector<double>(),
              ElementsAre(0, 0, 0, 0));
  EXPECT_THAT(Tensor::Ones({3}, DType::kFloat64).ToVector<double>(),
              ElementsAre(1, 1, 1));
  EXPECT_THAT(Tensor::Full({2}, 2.5).ToVector<double>(), ElementsAre(2.5, 2.5));
  EXPECT_THAT(Tensor::Arange(0, 5).ToVector<double>(),
              ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(Tensor::Arange(1, 2, 0.25, DType::kFloat64).ToVector<double>(),
              ElementsAre(1, 1.25, 1.5, 1.75));
  const Tensor t = Tensor::FromData<int64_t>({4, 5, 6}, {3});
  EXPECT_EQ(t.dtype(), DType::kInt64);
  EXPECT_EQ(t.At<int64_t>({2}), 6);
  EXPECT_EQ(Tensor::Scalar(3.0).dim(), 0);
  EXPECT_EQ(Tensor::Scalar(3.0).item(), 3.0);
}

// Storage of up to 64 bytes lives inside the Storage object, larger storage
// on the heap; both start on a 64-byte boundary, and Empty zero-fills both
// (also when the memory was used before).
TEST(TensorTest, SmallAndLargeStorageAreAlignedAndZeroed) {
  for (int round = 0; round < 3; ++round) {
    for (int64_t n : {0, 1, 15, 16, 17, 1000}) {
      {
        Tensor dirty = Tensor::Full({n}, 7.0);  // reused by the next Empty
      }
      const Tensor t = Tensor::Empty({n});
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data<float>()) % 64, 0u) << n;
      EXPECT_EQ(t.storage()->num_bytes(), static_cast<size_t>(n) * 4);
      for (float v : t.ToVector<float>()) ASSERT_EQ(v, 0.0f) << n;
    }
  }
}

TEST(TensorTest, UninitializedIsContiguousAndWritable) {
  for (int64_t n : {1, 16, 17, 300}) {
    Tensor t = Tensor::Uninitialized({n, 3}, DType::kFloat64);
    EXPECT_EQ(t.shape(), (Shape{n, 3}));
    EXPECT_EQ(t.strides(), (Shape{3, 1}));
    EXPECT_EQ(t.dtype(), DType::kFloat64);
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data<double>()) % 64, 0u);
    for (int64_t i = 0; i < 3 * n; ++i) t.data<double>()[i] = i;
    EXPECT_EQ(t.ValueAt({n - 1, 2}), 3 * n - 1);
  }
}

TEST(TensorTest, FromDataRejectsWrongCount) {
  absl::StatusOr<Tensor> t = Tensor::FromDataOr<float>({1, 2, 3}, {2, 2});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(), HasSubstr("3 values"));
  EXPECT_THAT(t.status().message(), HasSubstr("[2, 2]"));
  EXPECT_DEATH(Tensor::FromData<float>({1, 2, 3}, {2, 2}), "3 values");
}

TEST(TensorTest, SameSeedSameNumbers) {
  Generator a(42), b(42), c(43);
  const Tensor x = Tensor::Randn({100}, a);
  const Tensor y = Tensor::Randn({100}, b);
  const Tensor z = Tensor::Randn({100}, c);
  EXPECT_EQ(x.ToVector<float>(), y.ToVector<float>());
  EXPECT_NE(x.ToVector<float>(), z.ToVector<float>());
}

TEST(TensorTest, RandomMomentsAreRight) {
  Generator generator(7);
  const std::vector<double> normal =
      Tensor::Randn({20000}, generator, DType::kFloat64).ToVector<double>();
  double mean = 0, square = 0;
  for (double v : normal) {
    mean += v;
    square += v * v;
  }
  mean /= normal.size();
  square /= normal.size();
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(square - mean * mean, 1.0, 0.05);
  const std::vector<double> uniform =
      Tensor::Uniform({20000}, -1, 3, generator, DType::kFloat64)
          .ToVector<double>();
  double uniform_mean = 0;
  for (double v : uniform) {
    EXPECT_GE(v, -1);
    EXPECT_LT(v, 3);
    uniform_mean += v / uniform.size();
  }
  EXPECT_NEAR(uniform_mean, 1.0, 0.05);
}

TEST(TensorTest, ViewsShareStorageAndHonourStrides) {
  const Tensor x = Tensor::Arange(0, 6).set_name("x");
  // A transposed 2x3 -> 3x2 view written by hand: strides (1, 3).
  const Tensor view = MakeView(x, {3, 2}, {1, 3}, 0);
  EXPECT_TRUE(view.SharesStorageWith(x));
  EXPECT_FALSE(view.is_contiguous());
  EXPECT_THAT(view.ToVector<double>(), ElementsAre(0, 3, 1, 4, 2, 5));
  const Tensor copy = CopyToContiguous(view);
  EXPECT_TRUE(copy.is_contiguous());
  EXPECT_FALSE(copy.SharesStorageWith(x));
  EXPECT_THAT(copy.ToVector<double>(), ElementsAre(0, 3, 1, 4, 2, 5));
  // Writing through the base shows in the view.
  x.data<float>()[3] = 30;
  EXPECT_EQ(view.At<float>({0, 1}), 30);
  // An offset view: the last row.
  const Tensor row = MakeView(x, {3}, {1}, 3);
  EXPECT_THAT(row.ToVector<double>(), ElementsAre(30, 4, 5));
  // An expanded view repeats with stride 0.
  const Tensor expanded = MakeView(row, {2, 3}, {0, 1}, 3);
  EXPECT_THAT(expanded.ToVector<double>(), ElementsAre(30, 4, 5, 30, 4, 5));
}

TEST(TensorTest, PrintsLikePyTorch) {
  const Tensor t = Tensor::FromData<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.ToString(),
            "tensor([[1.0000, 2.0000, 3.0000],\n"
            "        [4.0000, 5.0000, 6.0000]], dtype=float32, shape=[2, 3])");
  EXPECT_EQ(Tensor::Scalar(-0.5, DType::kFloat64).ToString(),
            "tensor(-0.5000, dtype=float64, shape=[])");
  EXPECT_EQ(Tensor::FromData<int64_t>({7, -1}, {2}).ToString(),
            "tensor([ 7, -1], dtype=int64, shape=[2])");
  EXPECT_EQ(Tensor::FromData<double>({-1.5, 2, 10, 0.25}, {2, 2}).ToString(),
            "tensor([[-1.5000,  2.0000],\n"
            "        [10.0000,  0.2500]], dtype=float64, shape=[2, 2])");
  Tensor w = Tensor::Ones({2});
  w.set_requires_grad(true);
  EXPECT_THAT(w.ToString(), HasSubstr("requires_grad=true"));
  EXPECT_THAT((w * 2.0).ToString(), HasSubstr("grad_fn=mul_"));
  const Tensor big = Tensor::Zeros({2000});
  EXPECT_THAT(big.ToString(), HasSubstr("..."));
}

TEST(TensorTest, ConvertDType) {
  const Tensor x = Tensor::FromData<double>({1.5, -2.25}, {2});
  const Tensor f = ConvertDType(x, DType::kFloat32);
  EXPECT_EQ(f.dtype(), DType::kFloat32);
  EXPECT_THAT(f.ToVector<double>(), ElementsAre(1.5, -2.25));
  EXPECT_THAT(ConvertDType(x, DType::kInt64).ToVector<int64_t>(),
              ElementsAre(1, -2));
}

TEST(TensorTest, SizeAcceptsNegativeAxes) {
  const Tensor x = Tensor::Zeros({2, 3, 4});
  EXPECT_EQ(x.size(-1), 4);
  EXPECT_EQ(x.size(0), 2);
  EXPECT_EQ(x.numel(), 24);
  EXPECT_DEATH(x.size(3), "axis 3 is out of range");
}

}  // namespace
}  // namespace minigraph
