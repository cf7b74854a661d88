// Per-target packed GEMM of the matmul family: C[M, N] (+)= A[M, K] B[K, N]
// for one matrix, with A and B read through arbitrary element strides, so the
// NN, NT, TN and TT forms differ only in how the operands are packed.
//
// The scheme is the classic blocked one (Goto; BLIS):
//   for each KC-deep slice of K:
//     pack B[k-slice, :] into NR-column panels (k-major, zero padded),
//     for each MC-row block of A: pack it into MR-row panels, then
//       for each MR-row panel, for each NR-column panel: the microkernel
//       adds the MR x NR product of the two panels into C.
// The microkernel keeps MR x NR results (NR = 2 vectors) in registers: each
// step over k loads 2 vectors of B, broadcasts MR values of A and issues 2 MR
// fused multiply-adds.
//
// Every element of C is computed by the same chain of operations whatever its
// position in a tile or a thread's share: KC-slices in order, and within a
// slice one fused multiply-add per k in order. Results therefore do not depend
// on how rows or columns are split between threads.
//
// Included by matmul-inl.h inside its per-target namespace section.
#if defined(MINIGRAPH_OPS_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_GEMM_INL_H_
#undef MINIGRAPH_OPS_GEMM_INL_H_
#else
#define MINIGRAPH_OPS_GEMM_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows of the register tile: AVX-512 has 32 vector registers, room for 12 x 2
// accumulators plus 2 B vectors and a broadcast; the 16-register targets
// (AVX2, SSE4) take 6 x 2. The single-lane fallback targets use 4.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr size_t kGemmRows = 12;
#elif HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
constexpr size_t kGemmRows = 4;
#else
constexpr size_t kGemmRows = 6;
#endif
// Vectors of columns in the register tile.
constexpr size_t kGemmVectors = 2;

// Blocking. K is cut into equal slices of at most kGemmDepth: each slice
// costs one pass over C (load, add, store), and equal slices avoid a short
// last one. An A panel (MR x KC) stays in L1 while the B panels of a slice
// stream from L2; kGemmBlockRows rows of A are packed at a time, and B is
// packed kGemmBlockBytes at a time: half of the 2 MiB L2 per core here (the
// other half for the A block and C), so 512 columns per 512-deep slice and
// A is packed again only every 512 columns. Measured on this machine (Sapphire
// Rapids, shared, so noisy): KC of 256, 384 and 512 came within a few percent
// of each other; B blocks of 1 MiB beat 512 KiB by ~4% on the MiniMind
// shapes, 1.5 MiB did not help further.
constexpr size_t kGemmDepth = 512;
constexpr size_t kGemmBlockRows = 16 * kGemmRows;
constexpr size_t kGemmBlockBytes = 1024 * 1024;
// The microkernel prefetches the B panel this many k steps ahead (1 KiB for
// float32 on AVX-512): the hardware prefetcher alone leaves the FMA ports
// waiting on L2 for part of each panel (measured a few percent faster than
// no hint or one line per step; 16 and 32 steps ahead were no better).
constexpr size_t kGemmPrefetchSteps = 8;

template <class D>
constexpr size_t GemmCols(D d) {
  return kGemmVectors * hn::MaxLanes(d);
}

// dst[k * dst_stride + r] = src[r * src_stride + k] for r < rows, k < kc:
// the packing of an operand whose rows (A) or columns (B^T) run along k.
// Whole 128-bit tiles (4 x 4 float32, 2 x 2 float64) are transposed in
// registers, about four times faster than moving single elements.
template <typename T>
HWY_INLINE void TransposeIntoPanel(const T* HWY_RESTRICT src,
                                   int64_t src_stride, size_t rows, size_t kc,
                                   T* HWY_RESTRICT dst, size_t dst_stride) {
  size_t r0 = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::Full128<T> d;
  constexpr size_t kTile = 16 / sizeof(T);
  for (; r0 + kTile <= rows; r0 += kTile) {
    const T* s = src + static_cast<int64_t>(r0) * src_stride;
    size_t k = 0;
    for (; k + kTile <= kc; k += kTile) {
      T* out = dst + k * dst_stride + r0;
      if constexpr (kTile == 4) {
        const auto v0 = hn::LoadU(d, s + k);
        const auto v1 = hn::LoadU(d, s + src_stride + k);
        const auto v2 = hn::LoadU(d, s + 2 * src_stride + k);
        const auto v3 = hn::LoadU(d, s + 3 * src_stride + k);
        const auto t0 = hn::InterleaveLower(d, v0, v1);  // 00 10 01 11
        const auto t1 = hn::InterleaveLower(d, v2, v3);  // 20 30 21 31
        const auto t2 = hn::InterleaveUpper(d, v0, v1);  // 02 12 03 13
        const auto t3 = hn::InterleaveUpper(d, v2, v3);  // 22 32 23 33
        hn::StoreU(hn::ConcatLowerLower(d, t1, t0), d, out);
        hn::StoreU(hn::ConcatUpperUpper(d, t1, t0), d, out + dst_stride);
        hn::StoreU(hn::ConcatLowerLower(d, t3, t2), d, out + 2 * dst_stride);
        hn::StoreU(hn::ConcatUpperUpper(d, t3, t2), d, out + 3 * dst_stride);
      } else {
        const auto v0 = hn::LoadU(d, s + k);
        const auto v1 = hn::LoadU(d, s + src_stride + k);
        hn::StoreU(hn::InterleaveLower(d, v0, v1), d, out);
        hn::StoreU(hn::InterleaveUpper(d, v0, v1), d, out + dst_stride);
      }
    }
    for (; k < kc; ++k) {
      for (size_t r = 0; r < kTile; ++r) {
        dst[k * dst_stride + r0 + r] =
            s[static_cast<int64_t>(r) * src_stride + k];
      }
    }
  }
#endif
  for (; r0 < rows; ++r0) {
    const T* s = src + static_cast<int64_t>(r0) * src_stride;
    for (size_t k = 0; k < kc; ++k) dst[k * dst_stride + r0] = s[k];
  }
}

// Strided gather, for operands with neither stride 1 (views).
template <typename T>
HWY_INLINE void GatherIntoPanel(const T* HWY_RESTRICT src, int64_t src_stride,
                                int64_t k_stride, size_t rows, size_t kc,
                                T* HWY_RESTRICT dst, size_t dst_stride) {
  for (size_t r = 0; r < rows; ++r) {
    const T* s = src + static_cast<int64_t>(r) * src_stride;
    for (size_t k = 0; k < kc; ++k) {
      dst[k * dst_stride + r] = s[static_cast<int64_t>(k) * k_stride];
    }
  }
}

// Zeroes columns [from, width) of kc rows of a panel.
template <typename T>
HWY_INLINE void ZeroPanelColumns(T* HWY_RESTRICT dst, size_t width, size_t from,
                                 size_t kc) {
  if (from == width) return;
  for (size_t k = 0; k < kc; ++k) {
    for (size_t j = from; j < width; ++j) dst[k * width + j] = T{0};
  }
}

// A stored transposed (unit stride along rows): row k of the block is `rows`
// contiguous values. A few rows at a time are read once and dealt out to the
// panels, so every source cache line is touched once instead of once per
// panel (walking one panel down k reads MR values from a new cache line per
// step, at the row stride), and each panel receives a contiguous run of
// writes.
// packed[p * MR * kc + k * MR + r] = a[k * sk + p * MR + r].
template <typename T>
HWY_INLINE void PackTransposedA(const T* HWY_RESTRICT a, int64_t sk,
                                size_t rows, size_t kc,
                                T* HWY_RESTRICT packed) {
  constexpr size_t kMR = kGemmRows;
  // Source rows per step: few enough to stay in L1 although they sit a
  // large power of two apart (and so share cache sets).
  constexpr size_t kRowsPerStep = 8;
  const size_t full = rows / kMR;
  const size_t rest = rows - full * kMR;
  for (size_t k0 = 0; k0 < kc; k0 += kRowsPerStep) {
    const size_t k1 = kc - k0 < kRowsPerStep ? kc : k0 + kRowsPerStep;
    for (size_t p = 0; p < full; ++p) {
      T* HWY_RESTRICT dst = packed + p * kMR * kc;
      for (size_t k = k0; k < k1; ++k) {
        // A constant size, so the copy is a few vector moves, not a call.
        std::memcpy(dst + k * kMR, a + static_cast<int64_t>(k) * sk + p * kMR,
                    kMR * sizeof(T));
      }
    }
    if (rest != 0) {
      T* HWY_RESTRICT dst = packed + full * kMR * kc;
      for (size_t k = k0; k < k1; ++k) {
        const T* HWY_RESTRICT src =
            a + static_cast<int64_t>(k) * sk + full * kMR;
        for (size_t r = 0; r < rest; ++r) dst[k * kMR + r] = src[r];
        for (size_t r = rest; r < kMR; ++r) dst[k * kMR + r] = T{0};
      }
    }
  }
}

// A (rows x kc, strides sm, sk) into ceil(rows / MR) panels, each kc steps of
// MR values; rows past the end are zero so that full tiles can be computed.
template <typename T>
HWY_INLINE void PackA(const T* HWY_RESTRICT a, int64_t sm, int64_t sk,
                      size_t rows, size_t kc, T* HWY_RESTRICT packed) {
  constexpr size_t kMR = kGemmRows;
  if (sm == 1) {
    PackTransposedA(a, sk, rows, kc, packed);
    return;
  }
  for (size_t i0 = 0; i0 < rows; i0 += kMR) {
    const size_t valid = rows - i0 < kMR ? rows - i0 : kMR;
    T* HWY_RESTRICT dst = packed + i0 * kc;
    const T* src = a + static_cast<int64_t>(i0) * sm;
    if (sk == 1) {
      TransposeIntoPanel(src, sm, valid, kc, dst, kMR);
    } else {
      GatherIntoPanel(src, sm, sk, valid, kc, dst, kMR);
    }
    ZeroPanelColumns(dst, kMR, valid, kc);
  }
}

// B (kc x cols, strides sk, sn) into ceil(cols / NR) panels, each kc steps of
// NR values; columns past the end are zero.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void PackB(D d, const T* HWY_RESTRICT b, int64_t sk, int64_t sn,
                      size_t kc, size_t cols, T* HWY_RESTRICT packed) {
  const size_t nr = GemmCols(d);
  for (size_t j0 = 0; j0 < cols; j0 += nr) {
    const size_t valid = cols - j0 < nr ? cols - j0 : nr;
    T* HWY_RESTRICT dst = packed + j0 * kc;
    const T* src = b + static_cast<int64_t>(j0) * sn;
    if (sn == 1 && valid == nr) {
      // Rows of B are contiguous: copy NR values per k step (a constant
      // size, so a few vector moves rather than a call).
      constexpr size_t kNR = kGemmVectors * hn::MaxLanes(D());
      for (size_t k = 0; k < kc; ++k) {
        std::memcpy(dst + k * kNR, src + static_cast<int64_t>(k) * sk,
                    kNR * sizeof(T));
      }
    } else if (sn == 1) {
      for (size_t k = 0; k < kc; ++k) {
        std::memcpy(dst + k * nr, src + static_cast<int64_t>(k) * sk,
                    valid * sizeof(T));
      }
    } else if (sk == 1) {
      // B stored transposed: its columns run along k.
      TransposeIntoPanel(src, sn, valid, kc, dst, nr);
    } else {
      GatherIntoPanel(src, sn, sk, valid, kc, dst, nr);
    }
    ZeroPanelColumns(dst, nr, valid, kc);
  }
}

// c[r, 0..NR) (+)= sum_k a[k, r] b[k, 0..NR) for r < MR over packed panels:
// the register tile. `accumulate` adds to C (every KC-slice after the first).
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void MicroKernel(D d, size_t kc, const T* HWY_RESTRICT a,
                            const T* HWY_RESTRICT b, T* HWY_RESTRICT c,
                            size_t ldc, bool accumulate) {
  constexpr size_t kMR = kGemmRows;
  using V = hn::Vec<D>;
  const size_t lanes = hn::Lanes(d);
  const size_t prefetch_bytes =
      kGemmPrefetchSteps * kGemmVectors * lanes * sizeof(T);
  V c0[kMR], c1[kMR];
  if (accumulate) {
    HWY_UNROLL(12)
    for (size_t r = 0; r < kMR; ++r) {
      c0[r] = hn::LoadU(d, c + r * ldc);
      c1[r] = hn::LoadU(d, c + r * ldc + lanes);
    }
  } else {
    HWY_UNROLL(12)
    for (size_t r = 0; r < kMR; ++r) {
      c0[r] = hn::Zero(d);
      c1[r] = hn::Zero(d);
    }
  }
  for (size_t k = 0; k < kc; ++k) {
    // One k step of B spans two cache lines for float32 on AVX-512 (2 x 64
    // bytes): hint both. The address is formed as an integer because it may
    // lie past the end of the packed buffer, where the hint is harmless.
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(b) + prefetch_bytes;
    hwy::Prefetch(reinterpret_cast<const T*>(ahead));
    hwy::Prefetch(reinterpret_cast<const T*>(ahead + lanes * sizeof(T)));
    const V b0 = hn::Load(d, b);
    const V b1 = hn::Load(d, b + lanes);
    HWY_UNROLL(12)
    for (size_t r = 0; r < kMR; ++r) {
      const V ar = hn::Set(d, a[r]);
      c0[r] = hn::MulAdd(ar, b0, c0[r]);
      c1[r] = hn::MulAdd(ar, b1, c1[r]);
    }
    a += kMR;
    b += 2 * lanes;
  }
  HWY_UNROLL(12)
  for (size_t r = 0; r < kMR; ++r) {
    hn::StoreU(c0[r], d, c + r * ldc);
    hn::StoreU(c1[r], d, c + r * ldc + lanes);
  }
}

// A tile at the bottom or right edge: the full register tile is computed in
// a local buffer (the packed panels are zero padded) and only rows x cols of
// it touch C, so the arithmetic per element is the interior one.
template <class D, typename T = hn::TFromD<D>>
HWY_NOINLINE void EdgeKernel(D d, size_t kc, const T* HWY_RESTRICT a,
                             const T* HWY_RESTRICT b, T* HWY_RESTRICT c,
                             size_t ldc, size_t rows, size_t cols,
                             bool accumulate) {
  constexpr size_t kNR = kGemmVectors * hn::MaxLanes(d);
  HWY_ALIGN T tile[kGemmRows * kNR];
  if (accumulate) {
    for (size_t r = 0; r < rows; ++r) {
      std::memcpy(tile + r * kNR, c + r * ldc, cols * sizeof(T));
    }
  }
  MicroKernel(d, kc, a, b, tile, kNR, accumulate);
  for (size_t r = 0; r < rows; ++r) {
    std::memcpy(c + r * ldc, tile + r * kNR, cols * sizeof(T));
  }
}

// C rows [row_begin, row_end) x columns [0, cols) (+)= A rows x packed B for
// one KC-slice: packs MC-row blocks of A into `a_buffer` (at least
// kGemmBlockRows x kc elements) and runs the tiles. `b_packed` holds
// the slice's B panels for all `cols` columns.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void GemmSliceRows(D d, const T* HWY_RESTRICT a, int64_t sm,
                              int64_t sk, size_t row_begin, size_t row_end,
                              size_t kc, const T* HWY_RESTRICT b_packed,
                              size_t cols, T* HWY_RESTRICT c, size_t ldc,
                              bool accumulate, T* HWY_RESTRICT a_buffer) {
  constexpr size_t kMR = kGemmRows;
  const size_t nr = GemmCols(d);
  for (size_t i0 = row_begin; i0 < row_end; i0 += kGemmBlockRows) {
    const size_t mc =
        row_end - i0 < kGemmBlockRows ? row_end - i0 : kGemmBlockRows;
    PackA(a + static_cast<int64_t>(i0) * sm, sm, sk, mc, kc, a_buffer);
    for (size_t ir = 0; ir < mc; ir += kMR) {
      const size_t rows = mc - ir < kMR ? mc - ir : kMR;
      const T* a_panel = a_buffer + ir * kc;
      T* c_rows = c + (i0 + ir) * ldc;
      for (size_t jr = 0; jr < cols; jr += nr) {
        const size_t n_valid = cols - jr < nr ? cols - jr : nr;
        if (rows == kMR && n_valid == nr) {
          MicroKernel(d, kc, a_panel, b_packed + jr * kc, c_rows + jr, ldc,
                      accumulate);
        } else {
          EdgeKernel(d, kc, a_panel, b_packed + jr * kc, c_rows + jr, ldc, rows,
                     n_valid, accumulate);
        }
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_GEMM_INL_H_
