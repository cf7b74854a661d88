// Per-target tests of the nn kernels (ops/nn-inl.h): dropout, the causal
// mask, and the embedding row gather and scatter-add, against scalar
// references written here, for lengths 0 to 3 vectors + 1, misaligned
// pointers, float32 and float64. Every kernel is a copy, a multiply or an add
// per element, so results must match the references exactly, and nothing may
// be written outside the output.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/ops/nn_kernel_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "ops/nn-inl.h"
#include "tests/ops/kernel_test_util.h"

#ifndef MINIGRAPH_TESTS_OPS_NN_KERNEL_TEST_ONCE_
#define MINIGRAPH_TESTS_OPS_NN_KERNEL_TEST_ONCE_
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "framework/random.h"
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
HWY_NOINLINE void Dropout(const T* x, T* y, size_t n, double p, uint64_t seed) {
  DropoutKernel(x, y, n, p, seed);
}
template <typename T>
HWY_NOINLINE void CausalMask(T* out, int64_t rows, int64_t cols,
                             int64_t offset) {
  CausalMaskKernel(out, rows, cols, offset);
}
template <typename T>
HWY_NOINLINE void GatherRows(const T* table, int64_t row_stride,
                             const int64_t* indices, size_t count, size_t width,
                             T* out) {
  GatherRowsKernel(table, row_stride, indices, count, width, out);
}
template <typename T>
HWY_NOINLINE void ScatterAddRows(const T* rows, const int64_t* indices,
                                 size_t count, size_t width, T* out) {
  ScatterAddRowsKernel(rows, indices, count, width, out);
}

// Elements [from, from + count) of a buffer hold the sentinel: written
// before a kernel runs, checked after, to catch stores outside the output.
constexpr size_t kGuard = 16;
template <typename T>
T Sentinel() {
  return static_cast<T>(-777.25);
}
template <typename T>
void FillGuard(MisalignedBuffer<T>& buffer, size_t from) {
  for (size_t i = from; i < from + kGuard; ++i) buffer[i] = Sentinel<T>();
}
template <typename T>
void ExpectGuard(MisalignedBuffer<T>& buffer, size_t from, const char* what) {
  for (size_t i = from; i < from + kGuard; ++i) {
    EXPECT_EQ(buffer[i], Sentinel<T>())
        << what << " wrote past the end at " << i;
  }
}

// y[i] = x[i] * [U(seed, i) >= p] * (1 / (1 - p)), the scale rounded to T
// once, as the op defines it.
template <typename T>
void CheckDropout() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> dist(-3, 3);
  for (double p : {0.0, 0.25, 0.9}) {
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    for (size_t misalign : {0, 1, 3}) {
      for (size_t n = 0; n <= 3 * lanes + 1; ++n) {
        const uint64_t seed = 1000 + n;
        MisalignedBuffer<T> x(n, misalign), y(n, misalign + 1);
        for (size_t i = 0; i < n; ++i) x[i] = static_cast<T>(dist(rng));
        FillGuard(y, n);
        Dropout(x.data(), y.data(), n, p, seed);
        for (size_t i = 0; i < n; ++i) {
          const bool keep = BitsToUnit(CounterHash(seed, i)) >= p;
          const T want = keep ? x[i] * scale : T{0};
          EXPECT_EQ(y[i], want) << "p=" << p << " n=" << n << " i=" << i;
        }
        ExpectGuard(y, n, "dropout");
      }
    }
  }
}

void TestDropout() {
  CheckDropout<float>();
  CheckDropout<double>();
}

// On a zero-filled [rows, cols] buffer: out[r, c] = 0 for c <= r + offset,
// else -inf; offsets far past either end (down to the int64 limits) must
// clamp without overflow.
template <typename T>
void CheckCausalMask() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const T minus_inf = -std::numeric_limits<T>::infinity();
  const int64_t big = std::numeric_limits<int64_t>::max();
  const int64_t small = std::numeric_limits<int64_t>::min();
  for (size_t misalign : {0, 1, 3}) {
    for (int64_t cols = 0; cols <= static_cast<int64_t>(3 * lanes + 1);
         ++cols) {
      for (int64_t rows : {0, 1, 3}) {
        for (int64_t offset : {small, -rows - 2, int64_t{-1}, int64_t{0},
                               int64_t{2}, cols + 1, big}) {
          const size_t count = static_cast<size_t>(rows * cols);
          MisalignedBuffer<T> out(count, misalign);
          FillGuard(out, count);
          CausalMask(out.data(), rows, cols, offset);
          for (int64_t r = 0; r < rows; ++r) {
            for (int64_t c = 0; c < cols; ++c) {
              // c <= r + offset, written so that it cannot overflow.
              const bool visible =
                  offset >= 0 ? c - r <= offset : c <= r + offset;
              EXPECT_EQ(out[r * cols + c], visible ? T{0} : minus_inf)
                  << "rows=" << rows << " cols=" << cols << " offset=" << offset
                  << " at " << r << "," << c;
            }
          }
          ExpectGuard(out, count, "causal mask");
        }
      }
    }
  }
}

void TestCausalMask() {
  CheckCausalMask<float>();
  CheckCausalMask<double>();
}

// out[n, :] = table[indices[n], :] from a table whose rows are `stride`
// apart (wider than the copied width, as in a view), repeated indices
// included.
template <typename T>
void CheckGatherRows() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const size_t table_rows = 5;
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int64_t> pick(0, table_rows - 1);
  for (size_t misalign : {0, 1, 3}) {
    for (size_t width = 0; width <= 3 * lanes + 1; ++width) {
      const size_t stride = width + 2;
      for (size_t count : {0, 1, 4}) {
        MisalignedBuffer<T> table(table_rows * stride, misalign);
        for (size_t i = 0; i < table_rows * stride; ++i) {
          table[i] = static_cast<T>(i + 0.5);
        }
        std::vector<int64_t> indices(count);
        for (int64_t& index : indices) index = pick(rng);
        if (count > 1) indices[1] = indices[0];
        MisalignedBuffer<T> out(count * width, misalign + 1);
        FillGuard(out, count * width);
        GatherRows(table.data(), static_cast<int64_t>(stride), indices.data(),
                   count, width, out.data());
        for (size_t n = 0; n < count; ++n) {
          for (size_t j = 0; j < width; ++j) {
            EXPECT_EQ(out[n * width + j], table[indices[n] * stride + j])
                << "width=" << width << " count=" << count << " at " << n << ","
                << j;
          }
        }
        ExpectGuard(out, count * width, "gather rows");
      }
    }
  }
}

void TestGatherRows() {
  CheckGatherRows<float>();
  CheckGatherRows<double>();
}

// out[indices[n], :] += rows[n, :] in order of n: the reference does the
// same additions in the same order, so the bits must agree, repeated
// indices included.
template <typename T>
void CheckScatterAddRows() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const size_t out_rows = 4;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> dist(-2, 2);
  std::uniform_int_distribution<int64_t> pick(0, out_rows - 1);
  for (size_t misalign : {0, 1, 3}) {
    for (size_t width = 0; width <= 3 * lanes + 1; ++width) {
      for (size_t count : {0, 1, 6}) {
        MisalignedBuffer<T> rows(count * width, misalign);
        for (size_t i = 0; i < count * width; ++i) {
          rows[i] = static_cast<T>(dist(rng));
        }
        std::vector<int64_t> indices(count);
        for (int64_t& index : indices) index = pick(rng);
        if (count > 2) indices[2] = indices[0];
        MisalignedBuffer<T> out(out_rows * width, misalign + 1);
        std::vector<T> want(out_rows * width);
        for (size_t i = 0; i < out_rows * width; ++i) {
          out[i] = want[i] = static_cast<T>(dist(rng));
        }
        FillGuard(out, out_rows * width);
        for (size_t n = 0; n < count; ++n) {
          for (size_t j = 0; j < width; ++j) {
            want[indices[n] * width + j] += rows[n * width + j];
          }
        }
        ScatterAddRows(rows.data(), indices.data(), count, width, out.data());
        for (size_t i = 0; i < out_rows * width; ++i) {
          EXPECT_EQ(out[i], want[i])
              << "width=" << width << " count=" << count << " at " << i;
        }
        ExpectGuard(out, out_rows * width, "scatter-add rows");
      }
    }
  }
}

void TestScatterAddRows() {
  CheckScatterAddRows<float>();
  CheckScatterAddRows<double>();
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace minigraph {
HWY_BEFORE_TEST(NnKernelTest);
HWY_EXPORT_AND_TEST_P(NnKernelTest, TestDropout);
HWY_EXPORT_AND_TEST_P(NnKernelTest, TestCausalMask);
HWY_EXPORT_AND_TEST_P(NnKernelTest, TestGatherRows);
HWY_EXPORT_AND_TEST_P(NnKernelTest, TestScatterAddRows);
}  // namespace minigraph
#endif
