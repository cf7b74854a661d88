// Per-target small-M products of the matmul family: a few rows of x times a
// matrix, the shape of decoding one token (x [1, in] times every weight).
// Such a product reads each weight once and does a couple of flops per
// weight, so memory bandwidth bounds it; packing B first (as the blocked
// GEMM does) would read and write every weight once more. Both kernels read
// the matrix in place, every vector of it serving up to 8 rows of x at once
// (more rows go in chunks of 8, each rereading the matrix from cache):
//
//   NT, W [N, K] with rows contiguous (Linear's x W^T):
//     y[m, n] = sum_k x[m, k] W[n, k]
//     R rows of W at a time, one vector accumulator per (row of W, row of
//     x) reduced across lanes at the end;
//   NN, B [K, N] with rows contiguous:
//     y[m, n] = sum_k x[m, k] B[k, n]
//     C vectors of columns at a time, x[m, k] broadcast.
//
// Rows of W (NT) or vectors of columns (NN) are split between threads. Each
// output element is computed by the same operations whichever block or
// thread it falls to (its own accumulator, k in order, the same lane
// reduction and scalar tail), so results do not depend on the thread count.
//
// Included by matmul-inl.h inside its per-target namespace section.
#if defined(MINIGRAPH_OPS_GEMV_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_GEMV_INL_H_
#undef MINIGRAPH_OPS_GEMV_INL_H_
#else
#define MINIGRAPH_OPS_GEMV_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "framework/thread_pool.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Products with at most this many rows of output take the kernels below
// when the matrix's layout allows. Measured on this machine (one thread, x
// [M, 512] times W^T from cache, W [512, 512], [1408, 512] and [6400, 512]):
// the packed GEMM reaches 55-80 GFLOP/s at M = 9 to 16, these kernels 115-130
// at M = 8; at M = 32 they are still 1.1-1.3x faster, at M = 48 the GEMM is
// ahead (1.1x), as the cost of packing W is shared by more rows.
constexpr int64_t kGemvMaxRows = 32;

// Vector registers the kernels may fill with accumulators and operands:
// AVX-512 has 32, the other x86 targets 16 (a couple left for addresses
// and temporaries).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr size_t kGemvRegisters = 30;
#else
constexpr size_t kGemvRegisters = 15;
#endif

// Rows of W per NT block for kM rows of x: kR * kM accumulators, kM x
// vectors and one W vector within the registers, at most 8 rows.
template <size_t kM>
constexpr size_t GemvRowsPerBlock() {
  const size_t fit = (kGemvRegisters - 1 - kM) / kM;
  return fit < 1 ? 1 : (fit > 8 ? 8 : fit);
}

// Vectors of columns per NN block for kM rows of x: kM * kC accumulators
// and kC B vectors (plus a broadcast) within the registers, at most 8.
template <size_t kM>
constexpr size_t GemvVectorsPerBlock() {
  const size_t fit = (kGemvRegisters - 1) / (kM + 1);
  return fit < 1 ? 1 : (fit > 8 ? 8 : fit);
}

// NT block: y[m, r] = sum_k x[m, k] w[r, k] for m < kM, r < kR. x rows are
// contiguous (row stride ldx), w rows too (row stride ldw), y has row stride
// ldy. Whole vectors of k go through the accumulators, then a lane
// reduction; the last k % lanes products are added one by one.
template <size_t kM, size_t kR, class D, typename T = hn::TFromD<D>>
HWY_INLINE void GemvBlockNT(D d, size_t k_size, const T* HWY_RESTRICT x,
                            size_t ldx, const T* HWY_RESTRICT w, int64_t ldw,
                            T* HWY_RESTRICT y, size_t ldy) {
  using V = hn::Vec<D>;
  const size_t lanes = hn::Lanes(d);
  V acc[kR][kM];
  HWY_UNROLL(8)
  for (size_t r = 0; r < kR; ++r) {
    HWY_UNROLL(8)
    for (size_t m = 0; m < kM; ++m) acc[r][m] = hn::Zero(d);
  }
  size_t k = 0;
  for (; k + lanes <= k_size; k += lanes) {
    V xv[kM];
    HWY_UNROLL(8)
    for (size_t m = 0; m < kM; ++m) xv[m] = hn::LoadU(d, x + m * ldx + k);
    HWY_UNROLL(8)
    for (size_t r = 0; r < kR; ++r) {
      // The same vector of the next block's row r: every row is a short
      // stream (K values), too short for the hardware prefetcher to ramp
      // up on its own. Formed as an integer: past the last row the
      // address is outside W, where the hint is harmless.
      hwy::Prefetch(reinterpret_cast<const T*>(
          reinterpret_cast<uintptr_t>(w + k) +
          static_cast<uintptr_t>((kR + r) * ldw * sizeof(T))));
      const V wv = hn::LoadU(d, w + static_cast<int64_t>(r) * ldw + k);
      HWY_UNROLL(8)
      for (size_t m = 0; m < kM; ++m) {
        acc[r][m] = hn::MulAdd(xv[m], wv, acc[r][m]);
      }
    }
  }
  for (size_t r = 0; r < kR; ++r) {
    const T* w_row = w + static_cast<int64_t>(r) * ldw;
    for (size_t m = 0; m < kM; ++m) {
      T sum = hn::GetLane(hn::SumOfLanes(d, acc[r][m]));
      const T* x_row = x + m * ldx;
      for (size_t kk = k; kk < k_size; ++kk) sum += x_row[kk] * w_row[kk];
      y[m * ldy + r] = sum;
    }
  }
}

// NT rows [n_begin, n_end) of y for kM rows of x: whole blocks of rows of
// W, then single rows.
template <size_t kM, class D, typename T = hn::TFromD<D>>
HWY_NOINLINE void GemvRangeNT(D d, size_t k_size, const T* HWY_RESTRICT x,
                              size_t ldx, const T* HWY_RESTRICT w, int64_t ldw,
                              T* HWY_RESTRICT y, size_t ldy, size_t n_begin,
                              size_t n_end) {
  constexpr size_t kR = GemvRowsPerBlock<kM>();
  size_t n = n_begin;
  for (; n + kR <= n_end; n += kR) {
    GemvBlockNT<kM, kR>(d, k_size, x, ldx, w + static_cast<int64_t>(n) * ldw,
                        ldw, y + n, ldy);
  }
  for (; n < n_end; ++n) {
    GemvBlockNT<kM, 1>(d, k_size, x, ldx, w + static_cast<int64_t>(n) * ldw,
                       ldw, y + n, ldy);
  }
}

// NN block: y[m, 0..kC*lanes) = sum_k x[m, k] b[k, 0..) for m < kM. x is
// read through its strides (one element broadcast at a time), b rows are
// contiguous (row stride ldb).
template <size_t kM, size_t kC, class D, typename T = hn::TFromD<D>>
HWY_INLINE void GemvBlockNN(D d, size_t k_size, const T* HWY_RESTRICT x,
                            int64_t sm, int64_t sk, const T* HWY_RESTRICT b,
                            int64_t ldb, T* HWY_RESTRICT y, size_t ldy) {
  using V = hn::Vec<D>;
  const size_t lanes = hn::Lanes(d);
  V acc[kM][kC];
  HWY_UNROLL(8)
  for (size_t m = 0; m < kM; ++m) {
    HWY_UNROLL(8)
    for (size_t c = 0; c < kC; ++c) acc[m][c] = hn::Zero(d);
  }
  for (size_t k = 0; k < k_size; ++k) {
    const T* b_row = b + static_cast<int64_t>(k) * ldb;
    V bv[kC];
    HWY_UNROLL(8)
    for (size_t c = 0; c < kC; ++c) bv[c] = hn::LoadU(d, b_row + c * lanes);
    const T* x_col = x + static_cast<int64_t>(k) * sk;
    HWY_UNROLL(8)
    for (size_t m = 0; m < kM; ++m) {
      const V xm = hn::Set(d, x_col[static_cast<int64_t>(m) * sm]);
      HWY_UNROLL(8)
      for (size_t c = 0; c < kC; ++c) {
        acc[m][c] = hn::MulAdd(xm, bv[c], acc[m][c]);
      }
    }
  }
  HWY_UNROLL(8)
  for (size_t m = 0; m < kM; ++m) {
    HWY_UNROLL(8)
    for (size_t c = 0; c < kC; ++c) {
      hn::StoreU(acc[m][c], d, y + m * ldy + c * lanes);
    }
  }
}

// NN columns [j_begin, j_end) of y for kM rows of x (j_begin a multiple of
// the vector length): whole blocks of vectors, then single vectors; the
// columns past the last whole vector, only when j_end is N, one by one.
template <size_t kM, class D, typename T = hn::TFromD<D>>
HWY_NOINLINE void GemvRangeNN(D d, size_t k_size, const T* HWY_RESTRICT x,
                              int64_t sm, int64_t sk, const T* HWY_RESTRICT b,
                              int64_t ldb, T* HWY_RESTRICT y, size_t ldy,
                              size_t j_begin, size_t j_end) {
  constexpr size_t kC = GemvVectorsPerBlock<kM>();
  const size_t lanes = hn::Lanes(d);
  size_t j = j_begin;
  for (; j + kC * lanes <= j_end; j += kC * lanes) {
    GemvBlockNN<kM, kC>(d, k_size, x, sm, sk, b + j, ldb, y + j, ldy);
  }
  for (; j + lanes <= j_end; j += lanes) {
    GemvBlockNN<kM, 1>(d, k_size, x, sm, sk, b + j, ldb, y + j, ldy);
  }
  for (; j < j_end; ++j) {
    for (size_t m = 0; m < kM; ++m) {
      const T* x_row = x + static_cast<int64_t>(m) * sm;
      T sum = T{0};
      for (size_t k = 0; k < k_size; ++k) {
        sum += x_row[static_cast<int64_t>(k) * sk] *
               b[static_cast<int64_t>(k) * ldb + static_cast<int64_t>(j)];
      }
      y[m * ldy + j] = sum;
    }
  }
}

// Calls fn(std::integral_constant<size_t, M>) for m in [1, 8], so that each
// row count gets its own unrolled kernel.
template <class Fn>
HWY_INLINE void WithRowCount(size_t m, const Fn& fn) {
  switch (m) {
    case 1:
      return fn(std::integral_constant<size_t, 1>());
    case 2:
      return fn(std::integral_constant<size_t, 2>());
    case 3:
      return fn(std::integral_constant<size_t, 3>());
    case 4:
      return fn(std::integral_constant<size_t, 4>());
    case 5:
      return fn(std::integral_constant<size_t, 5>());
    case 6:
      return fn(std::integral_constant<size_t, 6>());
    case 7:
      return fn(std::integral_constant<size_t, 7>());
    default:
      return fn(std::integral_constant<size_t, 8>());
  }
}

// Rows of x per kernel call: the kernels are unrolled for 1 to 8 rows; more
// rows go through in chunks of 8, each rereading W (or B) from cache.
constexpr size_t kGemvChunkRows = 8;

// y[M, N] (row stride N) = x[M, K] W^T for W [N, K] with contiguous rows
// (row stride ldw), x rows contiguous (row stride ldx), 1 <= M <=
// kGemvMaxRows, rows of W split into num_tasks chunks. Each task runs every
// chunk of x rows over its own rows of W, which stay in its cache.
template <typename T>
void GemvNT(size_t m_size, size_t n_size, size_t k_size,
            const T* HWY_RESTRICT x, size_t ldx, const T* HWY_RESTRICT w,
            int64_t ldw, T* HWY_RESTRICT y, int num_tasks) {
  const hn::ScalableTag<T> d;
  auto run = [&](size_t n_begin, size_t n_end) HWY_ATTR {
    for (size_t i = 0; i < m_size; i += kGemvChunkRows) {
      const size_t rows = std::min(kGemvChunkRows, m_size - i);
      WithRowCount(rows, [&](auto count) HWY_ATTR {
        constexpr size_t kM = decltype(count)::value;
        GemvRangeNT<kM>(d, k_size, x + i * ldx, ldx, w, ldw, y + i * n_size,
                        n_size, n_begin, n_end);
      });
    }
  };
  if (num_tasks <= 1) {
    run(0, n_size);
    return;
  }
  GlobalThreadPool().Run(num_tasks, [&](int t) HWY_ATTR {
    int64_t begin, end;
    ChunkOf(static_cast<int64_t>(n_size), t, num_tasks, &begin, &end);
    if (begin < end) run(static_cast<size_t>(begin), static_cast<size_t>(end));
  });
}

// y[M, N] (row stride N) = x[M, K] B for B [K, N] with contiguous rows (row
// stride ldb), x read through strides (sm, sk), 1 <= M <= kGemvMaxRows,
// whole vectors of columns split into num_tasks chunks (the last task also
// takes the columns past the last whole vector). Each task runs every chunk
// of x rows over its own columns.
template <typename T>
void GemvNN(size_t m_size, size_t n_size, size_t k_size,
            const T* HWY_RESTRICT x, int64_t sm, int64_t sk,
            const T* HWY_RESTRICT b, int64_t ldb, T* HWY_RESTRICT y,
            int num_tasks) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const int64_t vectors = static_cast<int64_t>(n_size / lanes);
  auto run = [&](int t, int tasks) HWY_ATTR {
    int64_t begin, end;
    ChunkOf(vectors, t, tasks, &begin, &end);
    const size_t j_end =
        t == tasks - 1 ? n_size : static_cast<size_t>(end) * lanes;
    const size_t j_begin = static_cast<size_t>(begin) * lanes;
    if (j_begin >= j_end) return;
    for (size_t i = 0; i < m_size; i += kGemvChunkRows) {
      const size_t rows = std::min(kGemvChunkRows, m_size - i);
      WithRowCount(rows, [&](auto count) HWY_ATTR {
        constexpr size_t kM = decltype(count)::value;
        GemvRangeNN<kM>(d, k_size, x + static_cast<int64_t>(i) * sm, sm, sk, b,
                        ldb, y + i * n_size, n_size, j_begin, j_end);
      });
    }
  };
  if (num_tasks <= 1) {
    run(0, 1);
    return;
  }
  GlobalThreadPool().Run(num_tasks, [&](int t) HWY_ATTR { run(t, num_tasks); });
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_GEMV_INL_H_
