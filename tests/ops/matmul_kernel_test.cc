// Per-target tests of the matmul kernels (ops/gemm-inl.h, ops/matmul-inl.h):
// the packed, blocked GEMM and the direct small-matrix kernel against a
// double-precision triple loop, over shapes around the register tile and the
// K block, all four transpose forms, misaligned operands, float32 and float64;
// the packed GEMM split between 1, 2 and 3 tasks giving identical bits;
// products wider than one packed column block; and the small-M kernels
// (gemv-inl.h) for every row count they take, NT and NN, odd sizes around
// their blocks and the vector length, split between tasks bit for bit.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/ops/matmul_kernel_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "ops/matmul-inl.h"
#include "tests/ops/kernel_test_util.h"

#ifndef MINIGRAPH_TESTS_OPS_MATMUL_KERNEL_TEST_ONCE_
#define MINIGRAPH_TESTS_OPS_MATMUL_KERNEL_TEST_ONCE_
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "framework/thread_pool.h"
#endif

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {

using kernel_test::MisalignedBuffer;

// The kernels are called through these non-inlined wrappers: inlined into
// the large test functions, whose locals AddressSanitizer moves to its
// separate stack for use-after-return checks, GCC spills 64-byte vectors to
// slots that stack does not align to 64 bytes.
template <typename T>
HWY_NOINLINE void Packed(size_t m, size_t n, size_t k, const T* a, int64_t sm,
                         int64_t sk_a, const T* b, int64_t sk_b, int64_t sn,
                         T* y, int tasks) {
  GemmPacked<T>(m, n, k, a, sm, sk_a, b, sk_b, sn, y, tasks);
}
template <typename T>
HWY_NOINLINE void Direct(size_t m, size_t n, size_t k, const T* a, int64_t sm,
                         int64_t sk_a, const T* b, int64_t ldb, T* y) {
  MatmulOne<T>(m, n, k, a, sm, sk_a, b, ldb, y);
}

template <typename T>
HWY_NOINLINE void SmallRowsNT(size_t m, size_t n, size_t k, const T* x,
                              size_t ldx, const T* w, int64_t ldw, T* y,
                              int tasks) {
  GemvNT<T>(m, n, k, x, ldx, w, ldw, y, tasks);
}
template <typename T>
HWY_NOINLINE void SmallRowsNN(size_t m, size_t n, size_t k, const T* x,
                              int64_t sm, int64_t sk, const T* b, int64_t ldb,
                              T* y, int tasks) {
  GemvNN<T>(m, n, k, x, sm, sk, b, ldb, y, tasks);
}

// Operands stored with the strides of one transpose form: A is m x k read as
// A[i, p] = a[i * sm + p * sk]; B is k x n read as B[p, j] = b[p * sk + j *
// sn].
template <typename T>
struct Operands {
  size_t m, n, k;
  bool ta, tb;
  MisalignedBuffer<T> a, b;
  int64_t sm, sk_a, sk_b, sn;

  Operands(size_t m_, size_t n_, size_t k_, bool ta_, bool tb_, size_t misalign)
      : m(m_),
        n(n_),
        k(k_),
        ta(ta_),
        tb(tb_),
        a(m_ * k_, misalign),
        b(k_ * n_, misalign + 1) {
    sm = ta ? 1 : static_cast<int64_t>(k);
    sk_a = ta ? static_cast<int64_t>(m) : 1;
    sk_b = tb ? 1 : static_cast<int64_t>(n);
    sn = tb ? static_cast<int64_t>(k) : 1;
    std::mt19937_64 rng(m * 1000003 + n * 1009 + k);
    std::uniform_real_distribution<double> dist(-1, 1);
    for (size_t i = 0; i < m * k; ++i) a[i] = static_cast<T>(dist(rng));
    for (size_t i = 0; i < k * n; ++i) b[i] = static_cast<T>(dist(rng));
  }
  T A(size_t i, size_t p) { return a[i * sm + p * sk_a]; }
  T B(size_t p, size_t j) { return b[p * sk_b + j * sn]; }
};

// Every element within k eps sum_p |A[i, p] B[p, j]| of the exact product
// (each multiply-add rounds once).
template <typename T>
void ExpectProduct(Operands<T>& o, const T* y, const char* what) {
  const double eps = std::numeric_limits<T>::epsilon();
  for (size_t i = 0; i < o.m; ++i) {
    for (size_t j = 0; j < o.n; ++j) {
      double sum = 0, abs_sum = 0;
      for (size_t p = 0; p < o.k; ++p) {
        const double term = static_cast<double>(o.A(i, p)) * o.B(p, j);
        sum += term;
        abs_sum += std::fabs(term);
      }
      ASSERT_NEAR(y[i * o.n + j], sum, (o.k + 1) * eps * abs_sum + 1e-300)
          << what << " m=" << o.m << " n=" << o.n << " k=" << o.k
          << " ta=" << o.ta << " tb=" << o.tb << " at " << i << "," << j;
    }
  }
}

template <typename T>
void CheckPackedShapes() {
  const hn::ScalableTag<T> d;
  const size_t mr = kGemmRows, nr = GemmCols(d), kc = kGemmDepth;
  const size_t ms[] = {1, mr - 1, mr + 1, 2 * mr + 5};
  const size_t ns[] = {1, nr - 1, nr + 3, 2 * nr + 1};
  const size_t ks[] = {1, 7, kc + 3};
  for (int form = 0; form < 4; ++form) {
    for (size_t m : ms) {
      for (size_t n : ns) {
        for (size_t k : ks) {
          Operands<T> o(m, n, k, form & 1, form & 2, (m + n + k) % 3);
          MisalignedBuffer<T> y(m * n, 1);
          Packed<T>(m, n, k, o.a.data(), o.sm, o.sk_a, o.b.data(), o.sk_b, o.sn,
                    y.data(), 1);
          ExpectProduct(o, y.data(), "packed");
        }
      }
    }
  }
}

void TestPackedShapes() {
  CheckPackedShapes<float>();
  CheckPackedShapes<double>();
}

template <typename T>
void CheckDirectShapes() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const size_t sizes[] = {1, 3, lanes + 1, 2 * lanes + 3};
  for (size_t m : sizes) {
    for (size_t n : sizes) {
      for (size_t k : {size_t{1}, size_t{5}, size_t{19}}) {
        // The direct kernel reads B rows contiguously (NN and TN forms).
        for (bool ta : {false, true}) {
          Operands<T> o(m, n, k, ta, false, 1);
          MisalignedBuffer<T> y(m * n, 2);
          Direct<T>(m, n, k, o.a.data(), o.sm, o.sk_a, o.b.data(), o.sk_b,
                    y.data());
          ExpectProduct(o, y.data(), "direct");
        }
      }
    }
  }
}

void TestDirectShapes() {
  CheckDirectShapes<float>();
  CheckDirectShapes<double>();
}

// The packed kernel split between 1, 2 and 3 tasks, by rows (tall) and by
// columns (short and wide), gives the same bits: each element is computed by
// the same operations whichever task owns it.
template <typename T>
void CheckTaskSplitBits() {
  const hn::ScalableTag<T> d;
  const size_t shapes[][3] = {
      {7 * kGemmRows + 3, 2 * GemmCols(d) + 5, kGemmDepth + 17},
      {3, 9 * GemmCols(d) + 1, 2 * kGemmDepth + 1},
  };
  for (const auto& shape : shapes) {
    for (int form = 0; form < 4; ++form) {
      Operands<T> o(shape[0], shape[1], shape[2], form & 1, form & 2, 0);
      std::vector<std::vector<T>> results;
      for (int tasks : {1, 2, 3}) {
        std::vector<T> y(o.m * o.n);
        Packed<T>(o.m, o.n, o.k, o.a.data(), o.sm, o.sk_a, o.b.data(), o.sk_b,
                  o.sn, y.data(), tasks);
        results.push_back(std::move(y));
      }
      ExpectProduct(o, results[0].data(), "split");
      for (size_t r = 1; r < results.size(); ++r) {
        EXPECT_EQ(0, std::memcmp(results[0].data(), results[r].data(),
                                 results[0].size() * sizeof(T)))
            << "tasks " << r + 1 << " differ from 1, m=" << o.m << " n=" << o.n
            << " form=" << form;
      }
    }
  }
}

void TestTaskSplitBits() {
  // A pool with threads, so the 2- and 3-task runs really are concurrent.
  ASSERT_TRUE(SetNumThreads(3).ok());
  CheckTaskSplitBits<float>();
  CheckTaskSplitBits<double>();
}

// N wider than one packed B block (kGemmBlockBytes / (kc sizeof(T)) columns,
// whole panels), so the kernel walks several column blocks: the second starts
// mid-row of C and of B. K = 300 is one slice (kc = 300); the width adds two
// panels and a ragged edge to the largest possible block. M = 37 splits rows
// between tasks, M = 3 splits columns. All four forms, on 1 and 2 tasks,
// against the double loop, and the two giving the same bits.
template <typename T>
void CheckSeveralColumnBlocks() {
  const hn::ScalableTag<T> d;
  const size_t k = 300;
  const size_t block_cols = kGemmBlockBytes / (k * sizeof(T));
  const size_t n = block_cols + 2 * GemmCols(d) + 3;
  ASSERT_LT(k, kGemmDepth);
  for (size_t m : {size_t{37}, size_t{3}}) {
    for (int form = 0; form < 4; ++form) {
      Operands<T> o(m, n, k, form & 1, form & 2, 1);
      std::vector<T> one(m * n), two(m * n);
      Packed<T>(m, n, k, o.a.data(), o.sm, o.sk_a, o.b.data(), o.sk_b, o.sn,
                one.data(), 1);
      Packed<T>(m, n, k, o.a.data(), o.sm, o.sk_a, o.b.data(), o.sk_b, o.sn,
                two.data(), 2);
      ExpectProduct(o, one.data(), "column blocks, 1 task");
      EXPECT_EQ(0, std::memcmp(one.data(), two.data(), one.size() * sizeof(T)))
          << "2 tasks differ from 1, m=" << m << " n=" << n << " form=" << form;
    }
  }
}

void TestSeveralColumnBlocks() {
  ASSERT_TRUE(SetNumThreads(2).ok());
  CheckSeveralColumnBlocks<float>();
  CheckSeveralColumnBlocks<double>();
}

// Runs the small-M kernel that serves o's form: NT (B stored as W [n, k],
// x rows contiguous) or NN (B rows contiguous, x through its strides).
template <typename T>
void RunSmallRows(Operands<T>& o, T* y, int tasks) {
  if (o.tb) {
    SmallRowsNT<T>(o.m, o.n, o.k, o.a.data(), static_cast<size_t>(o.sm),
                   o.b.data(), o.sn, y, tasks);
  } else {
    SmallRowsNN<T>(o.m, o.n, o.k, o.a.data(), o.sm, o.sk_a, o.b.data(), o.sk_b,
                   y, tasks);
  }
}

// Every row count the small-M kernels take (1 to kGemvMaxRows: 1 to 8 rows
// unrolled, more in chunks of 8), with N
// around their blocks of W rows (up to 8) and vectors of columns, and K
// around the vector length, so that block tails, single rows or vectors,
// the scalar column tail (NN) and the scalar k tail (NT) all run.
// NT needs contiguous x rows; NN also reads a transposed x.
template <typename T>
void CheckSmallRowsShapes() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const size_t ns[] = {1, 3, 7, 9, 17, 8 * lanes + 5};
  const size_t ks[] = {1, 5, lanes + 1, 2 * lanes + 3, 67};
  for (size_t m = 1; m <= static_cast<size_t>(kGemvMaxRows); ++m) {
    for (size_t n : ns) {
      for (size_t k : ks) {
        // (ta, tb): NT, NN, NN with x stored transposed.
        const bool forms[][2] = {{false, true}, {false, false}, {true, false}};
        for (const auto& form : forms) {
          Operands<T> o(m, n, k, form[0], form[1], (m + n + k) % 3);
          MisalignedBuffer<T> y(m * n, 1);
          RunSmallRows(o, y.data(), 1);
          ExpectProduct(o, y.data(), o.tb ? "gemv nt" : "gemv nn");
        }
      }
    }
  }
}

void TestSmallRowsShapes() {
  CheckSmallRowsShapes<float>();
  CheckSmallRowsShapes<double>();
}

// The small-M kernels split between 1, 2 and 3 tasks give the same bits:
// the split falls inside blocks of W rows (NT) and of column vectors (NN),
// and the NN column tail goes to the last task.
template <typename T>
void CheckSmallRowsTaskSplitBits() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  for (size_t m : {size_t{1}, size_t{3}, size_t{8}, size_t{19}}) {
    for (const bool tb : {true, false}) {
      const size_t n = 13 * lanes + 7, k = 3 * lanes + 5;
      Operands<T> o(m, n, k, false, tb, 1);
      std::vector<std::vector<T>> results;
      for (int tasks : {1, 2, 3}) {
        std::vector<T> y(m * n);
        RunSmallRows(o, y.data(), tasks);
        results.push_back(std::move(y));
      }
      ExpectProduct(o, results[0].data(), "gemv split");
      for (size_t r = 1; r < results.size(); ++r) {
        EXPECT_EQ(0, std::memcmp(results[0].data(), results[r].data(),
                                 results[0].size() * sizeof(T)))
            << "tasks " << r + 1 << " differ from 1, m=" << m << " tb=" << tb;
      }
    }
  }
}

void TestSmallRowsTaskSplitBits() {
  ASSERT_TRUE(SetNumThreads(3).ok());
  CheckSmallRowsTaskSplitBits<float>();
  CheckSmallRowsTaskSplitBits<double>();
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace minigraph {
HWY_BEFORE_TEST(MatmulKernelTest);
HWY_EXPORT_AND_TEST_P(MatmulKernelTest, TestPackedShapes);
HWY_EXPORT_AND_TEST_P(MatmulKernelTest, TestDirectShapes);
HWY_EXPORT_AND_TEST_P(MatmulKernelTest, TestTaskSplitBits);
HWY_EXPORT_AND_TEST_P(MatmulKernelTest, TestSeveralColumnBlocks);
HWY_EXPORT_AND_TEST_P(MatmulKernelTest, TestSmallRowsShapes);
HWY_EXPORT_AND_TEST_P(MatmulKernelTest, TestSmallRowsTaskSplitBits);
}  // namespace minigraph
#endif
