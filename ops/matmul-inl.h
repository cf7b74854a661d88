// Per-target SIMD kernels of the matmul family. Included once per Highway
// target by matmul.cc through foreach_target.h.

// ---- target-independent plan (plain include guard) ------------------------
#ifndef MINIGRAPH_OPS_MATMUL_INL_PLAN_H_
#define MINIGRAPH_OPS_MATMUL_INL_PLAN_H_

#include <cstdint>

namespace minigraph {

// One batched product y[b, m, n] = sum_k A[b, m, k] B[b, k, n], where every
// operand is read through element strides: a transpose flag or a transposed
// view only swaps the (m, k) or (k, n) strides, so all four forms and any
// non-contiguous input share one kernel. y is contiguous [batch..., M, N].
template <typename T>
struct MatmulPlan {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  const T* a = nullptr;  // element [0, 0] of batch 0
  const T* b = nullptr;
  T* y = nullptr;
  int64_t a_stride_m = 0;  // elements between A[m, k] and A[m + 1, k]
  int64_t a_stride_k = 0;
  int64_t b_stride_k = 0;
  int64_t b_stride_n = 0;
  // Broadcast batch dimensions of y; strides are 0 where an operand repeats.
  int batch_rank = 0;
  const int64_t* batch_shape = nullptr;
  const int64_t* a_batch_strides = nullptr;
  const int64_t* b_batch_strides = nullptr;
};

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_MATMUL_INL_PLAN_H_

// ---- per-target kernels (toggling include guard) ---------------------------
#if defined(MINIGRAPH_OPS_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_MATMUL_INL_H_
#undef MINIGRAPH_OPS_MATMUL_INL_H_
#else
#define MINIGRAPH_OPS_MATMUL_INL_H_
#endif

#include <cstddef>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows of A that share each loaded vector of B in the register tile.
constexpr size_t kTileRows = 4;

// y[r, j..j+kCols*L) = sum_k a[r, k] b[k, j..) for kRows rows (kRows <= 4)
// and kCols vectors of columns, accumulated in registers: each step loads
// kCols vectors of one B row and broadcasts one A element per row.
template <size_t kRows, size_t kCols, class D, typename T = hn::TFromD<D>>
HWY_INLINE void TileRows(D d, const T* HWY_RESTRICT a, int64_t a_stride_m,
                         int64_t a_stride_k, const T* HWY_RESTRICT b,
                         int64_t ldb, int64_t k_size, T* HWY_RESTRICT y,
                         int64_t ldy) {
  static_assert(kRows >= 1 && kRows <= kTileRows, "tile rows");
  static_assert(kCols >= 1 && kCols <= 2, "tile columns");
  const size_t lanes = hn::Lanes(d);
  using V = hn::Vec<D>;
  V c00 = hn::Zero(d), c01 = hn::Zero(d), c10 = hn::Zero(d), c11 = hn::Zero(d),
    c20 = hn::Zero(d), c21 = hn::Zero(d), c30 = hn::Zero(d), c31 = hn::Zero(d);
  for (int64_t k = 0; k < k_size; ++k) {
    const T* b_row = b + k * ldb;
    const V b0 = hn::LoadU(d, b_row);
    const V b1 = kCols > 1 ? hn::LoadU(d, b_row + lanes) : b0;
    const T* a_col = a + k * a_stride_k;
    const V a0 = hn::Set(d, a_col[0]);
    c00 = hn::MulAdd(a0, b0, c00);
    if (kCols > 1) c01 = hn::MulAdd(a0, b1, c01);
    if (kRows > 1) {
      const V a1 = hn::Set(d, a_col[a_stride_m]);
      c10 = hn::MulAdd(a1, b0, c10);
      if (kCols > 1) c11 = hn::MulAdd(a1, b1, c11);
    }
    if (kRows > 2) {
      const V a2 = hn::Set(d, a_col[2 * a_stride_m]);
      c20 = hn::MulAdd(a2, b0, c20);
      if (kCols > 1) c21 = hn::MulAdd(a2, b1, c21);
    }
    if (kRows > 3) {
      const V a3 = hn::Set(d, a_col[3 * a_stride_m]);
      c30 = hn::MulAdd(a3, b0, c30);
      if (kCols > 1) c31 = hn::MulAdd(a3, b1, c31);
    }
  }
  hn::StoreU(c00, d, y);
  if (kCols > 1) hn::StoreU(c01, d, y + lanes);
  if (kRows > 1) {
    hn::StoreU(c10, d, y + ldy);
    if (kCols > 1) hn::StoreU(c11, d, y + ldy + lanes);
  }
  if (kRows > 2) {
    hn::StoreU(c20, d, y + 2 * ldy);
    if (kCols > 1) hn::StoreU(c21, d, y + 2 * ldy + lanes);
  }
  if (kRows > 3) {
    hn::StoreU(c30, d, y + 3 * ldy);
    if (kCols > 1) hn::StoreU(c31, d, y + 3 * ldy + lanes);
  }
}

// Dispatches the leftover row count (1..4) of a block to its tile.
template <size_t kCols, class D, typename T = hn::TFromD<D>>
HWY_INLINE void TileAnyRows(D d, size_t rows, const T* HWY_RESTRICT a,
                            int64_t a_stride_m, int64_t a_stride_k,
                            const T* HWY_RESTRICT b, int64_t ldb,
                            int64_t k_size, T* HWY_RESTRICT y, int64_t ldy) {
  switch (rows) {
    case 4:
      return TileRows<4, kCols>(d, a, a_stride_m, a_stride_k, b, ldb, k_size, y,
                                ldy);
    case 3:
      return TileRows<3, kCols>(d, a, a_stride_m, a_stride_k, b, ldb, k_size, y,
                                ldy);
    case 2:
      return TileRows<2, kCols>(d, a, a_stride_m, a_stride_k, b, ldb, k_size, y,
                                ldy);
    default:
      return TileRows<1, kCols>(d, a, a_stride_m, a_stride_k, b, ldb, k_size, y,
                                ldy);
  }
}

// One matrix: y[M, N] (row stride N) = A[M, K] (strided) times B[K, N] whose
// rows are contiguous (row stride ldb). Column blocks are outermost so the
// K x 2L panel of B stays in cache while every row block of A streams by;
// columns left over after whole vectors are summed by a scalar loop.
template <typename T>
void MatmulOne(int64_t m_size, int64_t n_size, int64_t k_size,
               const T* HWY_RESTRICT a, int64_t a_stride_m, int64_t a_stride_k,
               const T* HWY_RESTRICT b, int64_t ldb, T* HWY_RESTRICT y) {
  const hn::ScalableTag<T> d;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(d));
  const int64_t ldy = n_size;
  int64_t j = 0;
  for (; j + 2 * lanes <= n_size; j += 2 * lanes) {
    for (int64_t i = 0; i < m_size; i += kTileRows) {
      const size_t rows = static_cast<size_t>(
          m_size - i < static_cast<int64_t>(kTileRows) ? m_size - i
                                                       : kTileRows);
      TileAnyRows<2>(d, rows, a + i * a_stride_m, a_stride_m, a_stride_k, b + j,
                     ldb, k_size, y + i * ldy + j, ldy);
    }
  }
  for (; j + lanes <= n_size; j += lanes) {
    for (int64_t i = 0; i < m_size; i += kTileRows) {
      const size_t rows = static_cast<size_t>(
          m_size - i < static_cast<int64_t>(kTileRows) ? m_size - i
                                                       : kTileRows);
      TileAnyRows<1>(d, rows, a + i * a_stride_m, a_stride_m, a_stride_k, b + j,
                     ldb, k_size, y + i * ldy + j, ldy);
    }
  }
  if (j == n_size) return;
  // Fewer than L columns remain: y[i, j] = sum_k a[i, k] b[k, j].
  for (int64_t i = 0; i < m_size; ++i) {
    const T* a_row = a + i * a_stride_m;
    T* y_row = y + i * ldy;
    for (int64_t jj = j; jj < n_size; ++jj) {
      T sum = T{0};
      for (int64_t k = 0; k < k_size; ++k) {
        sum += a_row[k * a_stride_k] * b[k * ldb + jj];
      }
      y_row[jj] = sum;
    }
  }
}

// Walks the broadcast batch index (odometer over plan.batch_shape). B rows
// must be contiguous for the vector loads: when they are not (a transposed
// or expanded B), B is packed row-major once per distinct batch matrix.
template <typename T>
void MatmulKernel(const MatmulPlan<T>& plan) {
  const int64_t m = plan.m, n = plan.n, k = plan.k;
  int64_t batches = 1;
  for (int axis = 0; axis < plan.batch_rank; ++axis) {
    batches *= plan.batch_shape[axis];
  }
  if (batches == 0 || m == 0 || n == 0) return;
  const bool pack_b = plan.b_stride_n != 1 && n > 1;
  hwy::AlignedFreeUniquePtr<T[]> packed;
  if (pack_b && k > 0) packed = hwy::AllocateAligned<T>(k * n);
  const T* packed_from = nullptr;  // B matrix currently held in `packed`

  std::vector<int64_t> index(plan.batch_rank, 0);
  int64_t offset_a = 0, offset_b = 0;
  for (int64_t batch = 0; batch < batches; ++batch) {
    const T* a = plan.a + offset_a;
    const T* b = plan.b + offset_b;
    int64_t ldb = plan.b_stride_k;
    if (pack_b && k > 0) {
      if (b != packed_from) {
        for (int64_t kk = 0; kk < k; ++kk) {
          for (int64_t j = 0; j < n; ++j) {
            packed[kk * n + j] = b[kk * plan.b_stride_k + j * plan.b_stride_n];
          }
        }
        packed_from = b;
      }
      b = packed.get();
      ldb = n;
    }
    MatmulOne(m, n, k, a, plan.a_stride_m, plan.a_stride_k, b, ldb,
              plan.y + batch * m * n);
    for (int axis = plan.batch_rank - 1; axis >= 0; --axis) {
      offset_a += plan.a_batch_strides[axis];
      offset_b += plan.b_batch_strides[axis];
      if (++index[axis] < plan.batch_shape[axis]) break;
      offset_a -= plan.a_batch_strides[axis] * plan.batch_shape[axis];
      offset_b -= plan.b_batch_strides[axis] * plan.batch_shape[axis];
      index[axis] = 0;
    }
  }
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
void MatmulKernelF32(const MatmulPlan<float>& plan) { MatmulKernel(plan); }
void MatmulKernelF64(const MatmulPlan<double>& plan) { MatmulKernel(plan); }

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_MATMUL_INL_H_
