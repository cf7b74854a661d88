// Tests of the matmul op: values against a naive triple loop, all four
// transpose forms, odd sizes, non-contiguous and broadcast operands, errors
// and gradients.
#include "ops/matmul.h"

#include <cmath>
#include <cstdint>
#include <string>
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

using ::testing::HasSubstr;

// A row-major result of the naive product.
struct Dense {
  Shape shape;
  std::vector<double> values;
};

// y = op(a) op(b) by the textbook triple loop in double, over the logical
// (row-major) values of the operands, batch dims broadcast numpy-style.
Dense NaiveMatmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const std::vector<double> av = a.ToVector<double>();
  const std::vector<double> bv = b.ToVector<double>();
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const int64_t a_rows = as[as.size() - 2], a_cols = as[as.size() - 1];
  const int64_t b_rows = bs[bs.size() - 2], b_cols = bs[bs.size() - 1];
  const int64_t m = ta ? a_cols : a_rows;
  const int64_t k_size = ta ? a_rows : a_cols;
  const int64_t n = tb ? b_rows : b_cols;
  const size_t a_batch_rank = as.size() - 2, b_batch_rank = bs.size() - 2;
  const size_t rank = std::max(a_batch_rank, b_batch_rank);
  Shape batch(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da =
        i + a_batch_rank >= rank ? as[i + a_batch_rank - rank] : 1;
    const int64_t db =
        i + b_batch_rank >= rank ? bs[i + b_batch_rank - rank] : 1;
    batch[i] = std::max(da, db);
  }
  int64_t batches = 1;
  for (int64_t d : batch) batches *= d;
  Dense out;
  out.shape = batch;
  out.shape.push_back(m);
  out.shape.push_back(n);
  out.values.assign(batches * m * n, 0.0);
  for (int64_t p = 0; p < batches; ++p) {
    // Unravel p and re-ravel it into each operand's own batch dims.
    int64_t rest = p, a_batch = 0, b_batch = 0, a_scale = 1, b_scale = 1;
    for (int i = static_cast<int>(rank) - 1; i >= 0; --i) {
      const int64_t index = rest % batch[i];
      rest /= batch[i];
      const int ai = i - static_cast<int>(rank - a_batch_rank);
      const int bi = i - static_cast<int>(rank - b_batch_rank);
      if (ai >= 0) {
        a_batch += (as[ai] == 1 ? 0 : index) * a_scale;
        a_scale *= as[ai];
      }
      if (bi >= 0) {
        b_batch += (bs[bi] == 1 ? 0 : index) * b_scale;
        b_scale *= bs[bi];
      }
    }
    const double* ap = av.data() + a_batch * a_rows * a_cols;
    const double* bp = bv.data() + b_batch * b_rows * b_cols;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0.0;
        for (int64_t k = 0; k < k_size; ++k) {
          const double x = ta ? ap[k * a_cols + i] : ap[i * a_cols + k];
          const double y = tb ? bp[j * b_cols + k] : bp[k * b_cols + j];
          sum += x * y;
        }
        out.values[(p * m + i) * n + j] = sum;
      }
    }
  }
  return out;
}

Tensor Random(const Shape& shape, uint64_t seed, DType dtype) {
  Generator generator(seed);
  return Tensor::Uniform(shape, -1.0, 1.0, generator, dtype);
}

// Checks y against the naive product; values in [-1, 1] bound each error by
// about K rounding steps.
void ExpectMatchesNaive(const Tensor& y, const Tensor& a, const Tensor& b,
                        bool ta, bool tb, const std::string& what) {
  const Dense expected = NaiveMatmul(a, b, ta, tb);
  ASSERT_EQ(y.shape(), expected.shape) << what;
  ASSERT_EQ(y.dtype(), a.dtype()) << what;
  ASSERT_TRUE(y.is_contiguous()) << what;
  const int64_t k_size = ta ? a.size(-2) : a.size(-1);
  const double tol = (a.dtype() == DType::kFloat32 ? 2e-6 : 4e-15) *
                     static_cast<double>(k_size + 1);
  const std::vector<double> got = y.ToVector<double>();
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], expected.values[i], tol) << what << " at " << i;
  }
}

// The [rows, cols] matrix stored as its transpose: a view with swapped
// strides over a contiguous [cols, rows] buffer.
Tensor TransposedView(const Shape& shape, uint64_t seed, DType dtype) {
  const int64_t rows = shape[0], cols = shape[1];
  Tensor storage = Random({cols, rows}, seed, dtype);
  return MakeView(storage, {rows, cols}, {1, rows}, 0);
}

TEST(MatmulTest, HandComputedValues) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    // [[1 2 3] [4 5 6]] x [[7 8] [9 10] [11 12]] = [[58 64] [139 154]].
    const Tensor a = ConvertDType(
        Tensor::FromData<double>({1, 2, 3, 4, 5, 6}, {2, 3}), dtype);
    const Tensor b = ConvertDType(
        Tensor::FromData<double>({7, 8, 9, 10, 11, 12}, {3, 2}), dtype);
    const Tensor at = ConvertDType(
        Tensor::FromData<double>({1, 4, 2, 5, 3, 6}, {3, 2}), dtype);
    const Tensor bt = ConvertDType(
        Tensor::FromData<double>({7, 9, 11, 8, 10, 12}, {2, 3}), dtype);
    const std::vector<double> expected = {58, 64, 139, 154};
    EXPECT_EQ(Matmul(a, b).ToVector<double>(), expected);
    EXPECT_EQ(Matmul(a, bt, false, true).ToVector<double>(), expected);
    EXPECT_EQ(Matmul(at, b, true, false).ToVector<double>(), expected);
    EXPECT_EQ(Matmul(at, bt, true, true).ToVector<double>(), expected);
    const Tensor y = Matmul(a, b);
    EXPECT_EQ(y.shape(), (Shape{2, 2}));
    EXPECT_EQ(y.dtype(), dtype);
    EXPECT_FALSE(y.SharesStorageWith(a));
    EXPECT_FALSE(y.SharesStorageWith(b));
  }
}

TEST(MatmulTest, AttrsThroughCallOp) {
  const Tensor a = Tensor::FromData<double>({1, 2, 3, 4, 5, 6}, {3, 2});
  const Tensor b = Tensor::FromData<double>({1, 0, -1, 2}, {2, 2});
  // a^T a = [[1+9+25, 2+12+30], [2+12+30, 4+16+36]].
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("matmul", {a, a}, Attrs{{"transpose_a", true}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].ToVector<double>(), (std::vector<double>{35, 44, 44, 56}));
  // a b^T with b^T = [[1 -1] [0 2]]: rows [1 3], [3 5], [5 7].
  r = CallOp("matmul", {a, b}, Attrs{{"transpose_b", true}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].ToVector<double>(),
            (std::vector<double>{1, 3, 3, 5, 5, 7}));
}

// Every transpose form over odd and vector-straddling sizes in both dtypes.
TEST(MatmulTest, AllFormsAllOddSizesMatchNaive) {
  const std::vector<int64_t> sizes = {1, 3, 17, 33, 65};
  uint64_t seed = 100;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    for (int form = 0; form < 4; ++form) {
      const bool ta = form & 1, tb = form & 2;
      for (int64_t m : sizes) {
        for (int64_t n : sizes) {
          for (int64_t k : sizes) {
            const Tensor a =
                Random(ta ? Shape{k, m} : Shape{m, k}, ++seed, dtype);
            const Tensor b =
                Random(tb ? Shape{n, k} : Shape{k, n}, ++seed, dtype);
            ExpectMatchesNaive(
                Matmul(a, b, ta, tb), a, b, ta, tb,
                "form " + std::to_string(form) + " m=" + std::to_string(m) +
                    " n=" + std::to_string(n) + " k=" + std::to_string(k));
          }
        }
      }
    }
  }
}

TEST(MatmulTest, LargerRectangular) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const Tensor a = Random({130, 200}, 1, dtype);
    const Tensor b = Random({200, 97}, 2, dtype);
    ExpectMatchesNaive(Matmul(a, b), a, b, false, false, "130x97x200");
    const Tensor bt = Random({97, 200}, 3, dtype);
    ExpectMatchesNaive(Matmul(a, bt, false, true), a, bt, false, true,
                       "130x97x200 nt");
  }
}

// Shapes on both sides of the packed kernel's blocks: K across one and two
// 256-deep slices, row counts around the register tile (6 and 12 rows) and
// column counts around its width (16 to 32 columns), all four forms.
TEST(MatmulTest, PackedBlockBoundariesAllForms) {
  const int64_t shapes[][3] = {
      {29, 70, 257}, {12, 32, 256}, {13, 33, 513}, {61, 17, 300}};
  uint64_t seed = 500;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    for (int form = 0; form < 4; ++form) {
      const bool ta = form & 1, tb = form & 2;
      for (const auto& [m, n, k] : shapes) {
        const Tensor a = Random(ta ? Shape{k, m} : Shape{m, k}, ++seed, dtype);
        const Tensor b = Random(tb ? Shape{n, k} : Shape{k, n}, ++seed, dtype);
        ExpectMatchesNaive(Matmul(a, b, ta, tb), a, b, ta, tb,
                           "form " + std::to_string(form) + " " +
                               std::to_string(m) + "x" + std::to_string(n) +
                               "x" + std::to_string(k));
      }
    }
  }
}

// Broadcast batch dimensions with matrices large enough for the packed,
// threaded path: [2, 1, 40, 300] x [3, 300, 35] -> [2, 3, 40, 35].
TEST(MatmulTest, LargeBroadcastBatches) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const Tensor a = Random({2, 1, 40, 300}, 71, dtype);
    const Tensor b = Random({3, 300, 35}, 72, dtype);
    ExpectMatchesNaive(Matmul(a, b), a, b, false, false, "broadcast batches");
    const Tensor bt = Random({3, 35, 300}, 73, dtype);
    ExpectMatchesNaive(Matmul(a, bt, false, true), a, bt, false, true,
                       "broadcast batches nt");
  }
}

// Products of 1 to 40 rows (the small-M kernels take up to 32, in chunks of
// 8 rows, the GEMM the rest) in every transpose form, with N and K odd, below
// and above the size where the small-M kernels split W between threads (N x K =
// 300 x 513).
TEST(MatmulTest, SmallRowCountsAllFormsMatchNaive) {
  const std::vector<int64_t> ns = {1, 5, 33, 300};
  const std::vector<int64_t> ks = {1, 7, 513};
  uint64_t seed = 2000;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    for (int form = 0; form < 4; ++form) {
      const bool ta = form & 1, tb = form & 2;
      for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 32, 33, 40}) {
        for (int64_t n : ns) {
          for (int64_t k : ks) {
            const Tensor a =
                Random(ta ? Shape{k, m} : Shape{m, k}, ++seed, dtype);
            const Tensor b =
                Random(tb ? Shape{n, k} : Shape{k, n}, ++seed, dtype);
            ExpectMatchesNaive(
                Matmul(a, b, ta, tb), a, b, ta, tb,
                "form " + std::to_string(form) + " m=" + std::to_string(m) +
                    " n=" + std::to_string(n) + " k=" + std::to_string(k));
          }
        }
      }
    }
  }
}

// Decoding's shapes: one query row per head against the cached keys and
// values, read through the views attention makes ([B, S, H, d] transposed
// to [B, H, S, d]: rows of keys 8 x 64 apart), and a Linear whose input is
// a strided view (copied for the NT kernel). Also a B with neither stride 1
// (every other column), which the small-M kernels leave to the general
// path.
TEST(MatmulTest, SmallRowCountsOnViewsAndBatches) {
  uint64_t seed = 3000;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const Tensor q = Random({1, 8, 1, 64}, ++seed, dtype);
    const Tensor keys = Random({1, 37, 8, 64}, ++seed, dtype);
    const Tensor values = Random({1, 37, 8, 64}, ++seed, dtype);
    const Tensor k_heads =
        MakeView(keys, {1, 8, 37, 64}, {37 * 512, 64, 512, 1}, 0);
    const Tensor v_heads =
        MakeView(values, {1, 8, 37, 64}, {37 * 512, 64, 512, 1}, 0);
    ExpectMatchesNaive(Matmul(q, k_heads, false, true), q, k_heads, false, true,
                       "scores q k^T");
    const Tensor probs = Random({1, 8, 1, 37}, ++seed, dtype);
    ExpectMatchesNaive(Matmul(probs, v_heads), probs, v_heads, false, false,
                       "probs v");
    // x [3, 40] stored transposed, times W^T, W [130, 40].
    const Tensor x = TransposedView({3, 40}, ++seed, dtype);
    const Tensor w = Random({130, 40}, ++seed, dtype);
    ExpectMatchesNaive(Matmul(x, w, false, true), x, w, false, true,
                       "strided x, nt");
    // B [40, 25] as every other column of a [40, 50] buffer.
    const Tensor wide = Random({40, 50}, ++seed, dtype);
    const Tensor every_other = MakeView(wide, {40, 25}, {50, 2}, 0);
    ExpectMatchesNaive(Matmul(x, every_other), x, every_other, false, false,
                       "strided b");
  }
}

TEST(MatmulTest, TransposedViewsEqualTransposeFlags) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const Tensor a = TransposedView({5, 19}, 7, dtype);  // strides {1, 5}
    const Tensor b = TransposedView({19, 34}, 8, dtype);
    ASSERT_FALSE(a.is_contiguous());
    ExpectMatchesNaive(Matmul(a, b), a, b, false, false, "views nn");
    // A flag on a transposed view reads the storage contiguously again.
    const Tensor b2 = TransposedView({34, 19}, 9, dtype);
    ExpectMatchesNaive(Matmul(a, b2, false, true), a, b2, false, true,
                       "views nt");
    const Tensor a2 = TransposedView({19, 5}, 10, dtype);
    ExpectMatchesNaive(Matmul(a2, b2, true, true), a2, b2, true, true,
                       "views tt");
  }
}

TEST(MatmulTest, SlicedAndExpandedViews) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    // Columns 2..18 of a [6, 21] buffer: row stride 21, offset 2.
    const Tensor base = Random({6, 21}, 11, dtype);
    const Tensor a = MakeView(base, {6, 17}, {21, 1}, 2);
    const Tensor b = Random({17, 40}, 12, dtype);
    ExpectMatchesNaive(Matmul(a, b), a, b, false, false, "sliced a");
    // Every other row of a [34, 40] buffer: row stride 80.
    const Tensor tall = Random({34, 40}, 13, dtype);
    const Tensor b_rows = MakeView(tall, {17, 40}, {80, 1}, 0);
    ExpectMatchesNaive(Matmul(a, b_rows), a, b_rows, false, false,
                       "strided b rows");
    // A [17, 1] column expanded to [17, 9] (stride 0 along n).
    const Tensor column = Random({17, 1}, 14, dtype);
    const Tensor b_expanded = MakeView(column, {17, 9}, {1, 0}, 0);
    ExpectMatchesNaive(Matmul(a, b_expanded), a, b_expanded, false, false,
                       "expanded b");
    // One [3, 17] matrix expanded to a batch of 4 (batch stride 0).
    const Tensor one = Random({3, 17}, 15, dtype);
    const Tensor batch = MakeView(one, {4, 3, 17}, {0, 17, 1}, 0);
    const Tensor rhs = Random({4, 17, 5}, 16, dtype);
    ExpectMatchesNaive(Matmul(batch, rhs), batch, rhs, false, false,
                       "expanded batch");
  }
}

TEST(MatmulTest, BatchedAndBroadcastBatches) {
  struct Case {
    Shape a, b;
    bool ta, tb;
    Shape expected;
  };
  const std::vector<Case> cases = {
      {{2, 3, 4}, {2, 4, 2}, false, false, {2, 3, 2}},
      {{2, 1, 3, 4}, {3, 4, 5}, false, false, {2, 3, 3, 5}},
      {{3, 4}, {2, 3, 4, 5}, false, false, {2, 3, 3, 5}},
      {{2, 3, 4, 5}, {5, 6}, false, false, {2, 3, 4, 6}},
      {{1, 4, 3}, {5, 6, 4}, true, true, {5, 3, 6}},
      {{3, 1, 17, 33}, {1, 2, 17, 9}, true, false, {3, 2, 33, 9}},
      {{2, 5, 7}, {1, 9, 7}, false, true, {2, 5, 9}},
  };
  uint64_t seed = 500;
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    for (const Case& c : cases) {
      const Tensor a = Random(c.a, ++seed, dtype);
      const Tensor b = Random(c.b, ++seed, dtype);
      const Tensor y = Matmul(a, b, c.ta, c.tb);
      EXPECT_EQ(y.shape(), c.expected);
      ExpectMatchesNaive(y, a, b, c.ta, c.tb,
                         ShapeToString(c.a) + " x " + ShapeToString(c.b));
    }
  }
}

TEST(MatmulTest, BatchBroadcastByHand) {
  // a: two 1x2 rows [1 2] and [3 4] (shape [2, 1, 1, 2]); b: three 2x1
  // columns [1 1], [1 -1], [2 0] (shape [3, 2, 1]). y[i, j] = a_i . b_j.
  const Tensor a = Tensor::FromData<double>({1, 2, 3, 4}, {2, 1, 1, 2});
  const Tensor b = Tensor::FromData<double>({1, 1, 1, -1, 2, 0}, {3, 2, 1});
  const Tensor y = Matmul(a, b);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 1, 1}));
  EXPECT_EQ(y.ToVector<double>(), (std::vector<double>{3, -1, 2, 7, -1, 6}));
}

TEST(MatmulTest, EmptyDimensions) {
  // K = 0: an empty sum is 0.
  Tensor y = Matmul(Tensor::Ones({3, 0}), Tensor::Ones({0, 4}));
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  EXPECT_EQ(y.ToVector<double>(), std::vector<double>(12, 0.0));
  y = Matmul(Tensor::Ones({0, 5}), Tensor::Ones({5, 4}));
  EXPECT_EQ(y.shape(), (Shape{0, 4}));
  y = Matmul(Tensor::Ones({0, 2, 5}), Tensor::Ones({5, 4}));
  EXPECT_EQ(y.shape(), (Shape{0, 2, 4}));
  y = Matmul(Tensor::Ones({2, 1}), Tensor::Ones({2, 1}), false, true);
  EXPECT_EQ(y.ToVector<double>(), std::vector<double>(4, 1.0));
}

TEST(MatmulTest, InnerDimensionErrorNamesShapesAndFlags) {
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("matmul", {Tensor::Ones({2, 3}), Tensor::Ones({4, 5})});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(r.status().message());
  EXPECT_THAT(message, HasSubstr("matmul"));
  EXPECT_THAT(message, HasSubstr("inner dimensions differ"));
  EXPECT_THAT(message, HasSubstr("[2, 3]"));
  EXPECT_THAT(message, HasSubstr("[4, 5]"));
  EXPECT_THAT(message, HasSubstr("K=3"));
  EXPECT_THAT(message, HasSubstr("K=4"));
  EXPECT_THAT(message, HasSubstr("transpose_a=false"));

  r = CallOp("matmul", {Tensor::Ones({2, 3}), Tensor::Ones({2, 3})},
             Attrs{{"transpose_b", true}, {"transpose_a", true}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("transpose_a=true, K=2"));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("transpose_b=true, K=3"));
}

TEST(MatmulTest, OtherErrors) {
  // Rank 1.
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("matmul", {Tensor::Ones({3}), Tensor::Ones({3, 2})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("rank >= 2"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("[3]"));
  // Batch dims that do not broadcast.
  r = CallOp("matmul", {Tensor::Ones({2, 3, 4}), Tensor::Ones({3, 4, 5})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("batch dimensions do not broadcast"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("[2, 3, 4]"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("[3, 4, 5]"));
  // Mixed and non-float dtypes.
  r = CallOp("matmul", {Tensor::Ones({2, 2}, DType::kFloat32),
                        Tensor::Ones({2, 2}, DType::kFloat64)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("dtype mismatch"));
  r = CallOp("matmul", {Tensor::Ones({2, 2}, DType::kInt64),
                        Tensor::Ones({2, 2}, DType::kInt64)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("float"));
}

// d<G, Y>/dA and /dB for every transpose form against central differences
// of the naive product (exact up to rounding: the loss is linear in each).
TEST(MatmulTest, BackwardMatchesFiniteDifferences) {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  const std::vector<Case> cases = {
      {{3, 4}, {4, 5}, false, false},          {{3, 4}, {5, 4}, false, true},
      {{4, 3}, {4, 5}, true, false},           {{4, 3}, {5, 4}, true, true},
      {{2, 1, 3, 4}, {3, 4, 2}, false, false}, {{4, 3}, {2, 5, 4}, true, true},
  };
  uint64_t seed = 900;
  for (const Case& c : cases) {
    Tensor a = Random(c.a, ++seed, DType::kFloat64);
    Tensor b = Random(c.b, ++seed, DType::kFloat64);
    a.set_requires_grad(true);
    b.set_requires_grad(true);
    const Tensor y = Matmul(a, b, c.ta, c.tb);
    const Tensor g = Random(y.shape(), ++seed, DType::kFloat64);
    ASSERT_TRUE(y.Backward(g).ok());
    const std::vector<double> gv = g.ToVector<double>();
    auto loss = [&](const Tensor& x, const Tensor& w) {
      const Dense p = NaiveMatmul(x, w, c.ta, c.tb);
      double sum = 0.0;
      for (size_t i = 0; i < gv.size(); ++i) sum += gv[i] * p.values[i];
      return sum;
    };
    for (int operand = 0; operand < 2; ++operand) {
      const Tensor& x = operand == 0 ? a : b;
      ASSERT_TRUE(x.grad().defined());
      ASSERT_EQ(x.grad().shape(), x.shape());
      const std::vector<double> grad = x.grad().ToVector<double>();
      for (int64_t i = 0; i < x.numel(); ++i) {
        Tensor plus = CopyToContiguous(x.Detach());
        Tensor minus = CopyToContiguous(x.Detach());
        plus.data<double>()[i] += 1e-3;
        minus.data<double>()[i] -= 1e-3;
        const double numeric = operand == 0
                                   ? (loss(plus, b) - loss(minus, b)) / 2e-3
                                   : (loss(a, plus) - loss(a, minus)) / 2e-3;
        EXPECT_NEAR(grad[i], numeric, 1e-9)
            << ShapeToString(c.a) << " x " << ShapeToString(c.b) << " operand "
            << operand << " element " << i;
      }
    }
  }
}

// The backward rule is made of matmuls, so it differentiates again: with
// dA = G B^T, d<H, dA>/dB = H^T G.
TEST(MatmulTest, SecondOrderGradient) {
  Tensor a = Random({3, 4}, 1, DType::kFloat64).set_requires_grad(true);
  Tensor b = Random({4, 5}, 2, DType::kFloat64).set_requires_grad(true);
  const Tensor g = Random({3, 5}, 3, DType::kFloat64);
  const Tensor h = Random({3, 4}, 4, DType::kFloat64);
  BackwardOptions options;
  options.create_graph = true;
  absl::StatusOr<std::vector<Tensor>> da =
      Gradients({Matmul(a, b)}, {a}, {g}, options);
  ASSERT_TRUE(da.ok()) << da.status();
  absl::StatusOr<std::vector<Tensor>> dda = Gradients({(*da)[0]}, {b}, {h});
  ASSERT_TRUE(dda.ok()) << dda.status();
  const Dense expected = NaiveMatmul(h, g, true, false);
  ASSERT_EQ((*dda)[0].shape(), expected.shape);
  const std::vector<double> got = (*dda)[0].ToVector<double>();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], expected.values[i], 1e-12);
  }
}

}  // namespace
}  // namespace minigraph
