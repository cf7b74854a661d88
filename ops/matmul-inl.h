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

#include <algorithm>
#include <cstddef>

#include "framework/allocator.h"
#include "framework/thread_pool.h"
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "ops/gemm-inl.h"
#include "ops/gemv-inl.h"

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

// Scratch buffers that live as long as their thread: slot 0 holds packed B,
// slot 1 packed A. Reusing them keeps allocation out of every call.
template <typename T>
T* GemmScratch(int slot, size_t count) {
  static thread_local hwy::AlignedFreeUniquePtr<T[]> buffers[2];
  static thread_local size_t capacity[2] = {0, 0};
  if (capacity[slot] < count) {
    buffers[slot] = hwy::AllocateAligned<T>(count);
    capacity[slot] = count;
  }
  return buffers[slot].get();
}

// y[M, N] = A B for one matrix through the packed, blocked kernel. With
// num_tasks > 1 the B panels of each block are packed in parallel and then
// rows of panels (or, for short matrices, columns of panels) are split
// between the tasks; the arithmetic per element is the same either way.
template <typename T>
void GemmPacked(int64_t m_size, int64_t n_size, int64_t k_size,
                const T* HWY_RESTRICT a, int64_t sm, int64_t sk_a,
                const T* HWY_RESTRICT b, int64_t sk_b, int64_t sn,
                T* HWY_RESTRICT y, int num_tasks) {
  const hn::ScalableTag<T> d;
  const size_t m = static_cast<size_t>(m_size);
  const size_t n = static_cast<size_t>(n_size);
  const size_t k = static_cast<size_t>(k_size);
  const size_t nr = GemmCols(d);
  const size_t mr = kGemmRows;
  if (k == 0) {
    std::fill(y, y + m * n, T{0});
    return;
  }
  // Equal K slices of at most kGemmDepth; B blocks of whole panels within
  // kGemmBlockBytes. Both depend on the shape alone.
  const size_t slices = (k + kGemmDepth - 1) / kGemmDepth;
  const size_t kc_max = (k + slices - 1) / slices;
  const size_t nc_max =
      std::max(nr, kGemmBlockBytes / (kc_max * sizeof(T)) / nr * nr);
  T* b_packed = GemmScratch<T>(0, kc_max * nc_max);
  const size_t row_panels = (m + mr - 1) / mr;
  for (size_t jc = 0; jc < n; jc += nc_max) {
    const size_t nc = n - jc < nc_max ? n - jc : nc_max;
    const size_t col_panels = (nc + nr - 1) / nr;
    // Few rows: split the columns, each task packing all of A itself.
    const bool split_cols = row_panels < 2 * static_cast<size_t>(num_tasks) &&
                            col_panels >= static_cast<size_t>(num_tasks);
    for (size_t pc = 0; pc < k; pc += kc_max) {
      const size_t kc = k - pc < kc_max ? k - pc : kc_max;
      const T* a_slice = a + static_cast<int64_t>(pc) * sk_a;
      const T* b_slice =
          b + static_cast<int64_t>(pc) * sk_b + static_cast<int64_t>(jc) * sn;
      GlobalThreadPool().Run(num_tasks, [&](int t) HWY_ATTR {
        int64_t p0, p1;
        ChunkOf(col_panels, t, num_tasks, &p0, &p1);
        const size_t c0 = static_cast<size_t>(p0) * nr;
        const size_t c1 = std::min(static_cast<size_t>(p1) * nr, nc);
        if (c0 < c1) {
          PackB(d, b_slice + static_cast<int64_t>(c0) * sn, sk_b, sn, kc,
                c1 - c0, b_packed + c0 * kc);
        }
      });
      GlobalThreadPool().Run(num_tasks, [&](int t) HWY_ATTR {
        T* a_buffer = GemmScratch<T>(1, kGemmBlockRows * kc_max);
        int64_t p0, p1;
        if (split_cols) {
          ChunkOf(col_panels, t, num_tasks, &p0, &p1);
          const size_t c0 = static_cast<size_t>(p0) * nr;
          const size_t c1 = std::min(static_cast<size_t>(p1) * nr, nc);
          if (c0 >= c1) return;
          GemmSliceRows(d, a_slice, sm, sk_a, 0, m, kc, b_packed + c0 * kc,
                        c1 - c0, y + jc + c0, n, pc > 0, a_buffer);
        } else {
          ChunkOf(row_panels, t, num_tasks, &p0, &p1);
          const size_t r0 = static_cast<size_t>(p0) * mr;
          const size_t r1 = std::min(static_cast<size_t>(p1) * mr, m);
          if (r0 >= r1) return;
          GemmSliceRows(d, a_slice, sm, sk_a, r0, r1, kc, b_packed, nc, y + jc,
                        n, pc > 0, a_buffer);
        }
      });
    }
  }
}

// Products up to this many multiply-adds take the direct kernel, which packs
// nothing: for them packing is a sizeable share of the work (not tuned
// finely; the packed kernel already runs 32^3 at ~30 GFLOP/s).
constexpr int64_t kGemmDirectMaxMacs = 24 * 24 * 24;
// Products below this many multiply-adds stay on one thread: at ~100 GFLOP/s
// per thread (measured), 96^3 gives each of two threads ~9 us, about what
// waking a sleeping pool costs.
constexpr int64_t kGemmParallelMinMacs = 96 * 96 * 96;

// Products of few rows whose B is read by the small-M kernels: multiplies a
// weight matrix in place (gemv-inl.h), no packing.
enum class GemvForm {
  kNone,
  kNT,  // B = W^T with W's rows contiguous (b_stride_k == 1)
  kNN,  // B's rows contiguous (b_stride_n == 1)
};

template <typename T>
GemvForm GemvFormOf(const MatmulPlan<T>& plan) {
  if (plan.m > kGemvMaxRows || plan.k == 0) return GemvForm::kNone;
  if (plan.b_stride_k == 1) return GemvForm::kNT;
  if (plan.b_stride_n == 1) return GemvForm::kNN;
  return GemvForm::kNone;
}

// Small-M products reading fewer elements of B than this stay on one thread:
// below it, handing half to the pool costs more than it saves (measured for
// x [1, 512] times W^T from cache: W [128, 512] took 3.2 us on one thread,
// 4.5 on two; W [256, 512] 7.3 us on one, 6.1 on two).
constexpr int64_t kGemvParallelMinElements = 128 * 1024;

// y = x B for one matrix through the small-M kernels; the NT kernel loads
// vectors along x's rows, so a strided x is copied first (M x K, small).
template <typename T>
void GemvMatrix(GemvForm form, const MatmulPlan<T>& plan, const T* a,
                const T* b, T* y, int num_tasks) {
  const size_t m = static_cast<size_t>(plan.m);
  const size_t n = static_cast<size_t>(plan.n);
  const size_t k = static_cast<size_t>(plan.k);
  if (form == GemvForm::kNN) {
    GemvNN(m, n, k, a, plan.a_stride_m, plan.a_stride_k, b, plan.b_stride_k, y,
           num_tasks);
    return;
  }
  const bool copy = plan.a_stride_k != 1;
  ScratchBuffer<T> rows(copy ? m * k : 0);
  const T* x = a;
  size_t ldx = static_cast<size_t>(plan.a_stride_m);
  if (copy) {
    for (size_t i = 0; i < m; ++i) {
      for (size_t p = 0; p < k; ++p) {
        rows[i * k + p] = a[static_cast<int64_t>(i) * plan.a_stride_m +
                            static_cast<int64_t>(p) * plan.a_stride_k];
      }
    }
    x = rows.get();
    ldx = k;
  }
  GemvNT(m, n, k, x, ldx, b, plan.b_stride_n, y, num_tasks);
}

// One matrix of the batch, on `num_tasks` threads.
template <typename T>
void MatmulMatrix(const MatmulPlan<T>& plan, const T* a, const T* b, T* y,
                  int num_tasks) {
  const int64_t m = plan.m, n = plan.n, k = plan.k;
  if (k == 0) {
    std::fill(y, y + m * n, T{0});
    return;
  }
  const GemvForm gemv = GemvFormOf(plan);
  if (gemv != GemvForm::kNone) {
    GemvMatrix(gemv, plan, a, b, y, num_tasks);
    return;
  }
  // A few rows would fill most of every register tile with padding.
  if (m * n * k > kGemmDirectMaxMacs &&
      m >= static_cast<int64_t>(kGemmRows / 2)) {
    GemmPacked(m, n, k, a, plan.a_stride_m, plan.a_stride_k, b, plan.b_stride_k,
               plan.b_stride_n, y, num_tasks);
    return;
  }
  // Direct kernel: B rows must be contiguous for its vector loads.
  int64_t ldb = plan.b_stride_k;
  const bool pack = plan.b_stride_n != 1 && n > 1;
  ScratchBuffer<T> packed(pack ? static_cast<size_t>(k * n) : 0);
  if (pack) {
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t j = 0; j < n; ++j) {
        packed[kk * n + j] = b[kk * plan.b_stride_k + j * plan.b_stride_n];
      }
    }
    b = packed.get();
    ldb = n;
  }
  MatmulOne(m, n, k, a, plan.a_stride_m, plan.a_stride_k, b, ldb, y);
}

// Runs every matrix of the broadcast batch (batch index unravelled into each
// operand's batch strides). Many matrices are split between threads batch by
// batch; a few large ones are each split inside. Either way an output
// element's arithmetic does not depend on the thread count.
template <typename T>
void MatmulKernel(const MatmulPlan<T>& plan) {
  const int64_t m = plan.m, n = plan.n, k = plan.k;
  int64_t batches = 1;
  for (int axis = 0; axis < plan.batch_rank; ++axis) {
    batches *= plan.batch_shape[axis];
  }
  if (batches == 0 || m == 0 || n == 0) return;
  const int threads = NumThreads();
  // Work per matrix and what makes it worth threads: multiply-adds for the
  // GEMM kernels, elements of B for the bandwidth-bound small-M ones.
  const bool gemv = GemvFormOf(plan) != GemvForm::kNone;
  const int64_t work = gemv ? n * k : m * n * k;
  const int64_t min_work =
      gemv ? kGemvParallelMinElements : kGemmParallelMinMacs;
  const bool parallel = threads > 1 && work * batches >= min_work;
  const bool by_batch =
      parallel && (batches % threads == 0 || batches >= 4 * threads);
  const int inner_tasks =
      parallel && !by_batch && work >= min_work ? threads : 1;

  // Element offsets of batch `index` into A and B.
  auto offsets = [&](int64_t index, int64_t* offset_a, int64_t* offset_b) {
    *offset_a = 0;
    *offset_b = 0;
    for (int axis = plan.batch_rank - 1; axis >= 0; --axis) {
      const int64_t i = index % plan.batch_shape[axis];
      index /= plan.batch_shape[axis];
      *offset_a += i * plan.a_batch_strides[axis];
      *offset_b += i * plan.b_batch_strides[axis];
    }
  };
  auto run_batches = [&](int64_t begin, int64_t end, int tasks) HWY_ATTR {
    for (int64_t batch = begin; batch < end; ++batch) {
      int64_t offset_a, offset_b;
      offsets(batch, &offset_a, &offset_b);
      MatmulMatrix(plan, plan.a + offset_a, plan.b + offset_b,
                   plan.y + batch * m * n, tasks);
    }
  };
  if (by_batch) {
    GlobalThreadPool().Run(threads, [&](int t) HWY_ATTR {
      int64_t begin, end;
      ChunkOf(batches, t, threads, &begin, &end);
      run_batches(begin, end, 1);
    });
  } else {
    run_batches(0, batches, inner_tasks);
  }
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
void MatmulKernelF32(const MatmulPlan<float>& plan) { MatmulKernel(plan); }
void MatmulKernelF64(const MatmulPlan<double>& plan) { MatmulKernel(plan); }

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_MATMUL_INL_H_
