// Per-target building blocks of the fused attention kernels: register-blocked
// products of small packed tiles, the same products restricted to what a
// causal mask leaves of a tile, packing, and the row operations of the
// online softmax. Included by attention-inl.h once per Highway target, hence
// the toggling include guard instead of a plain one.
#if defined(MINIGRAPH_OPS_ATTENTION_TILES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_ATTENTION_TILES_INL_H_
#undef MINIGRAPH_OPS_ATTENTION_TILES_INL_H_
#else
#define MINIGRAPH_OPS_ATTENTION_TILES_INL_H_
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- register-blocked tile products -----------------------------------------
//
// Every product inside a tile has the form C[m, :] (+)= sum_k A(m, k) B[k, :]
// where A(m, k) = a[m * a_row + k * a_col] is read one scalar at a time
// (broadcast to a vector), so A may be stored transposed at no cost, and B
// is a packed, vector-aligned buffer whose rows hold whole vectors. That
// covers S = Q K^T (B = K^T packed), O += P V, dV += P^T dY, dK += dS^T Q
// and dQ += dS K.

// Accumulator columns per micro-tile: 4 vectors where there are 32 vector
// registers (AVX-512), 2 where there are 16.
#if HWY_TARGET <= HWY_AVX3
constexpr size_t kTileVectors = 4;
#else
constexpr size_t kTileVectors = 2;
#endif
constexpr size_t kTileRows = 4;

struct TileOperands {
  size_t depth;  // K
  size_t a_row, a_col;
  size_t ldb, ldc;  // in elements; multiples of the vector length
  bool accumulate;  // C += ... instead of C = ...
};

// C[r, v] for r < kRows rows and v < kVectors vectors: kRows * kVectors
// accumulators stay in registers for the whole depth loop; per k, kVectors
// loads of B and kRows broadcasts of A feed kRows * kVectors FMAs.
template <size_t kRows, size_t kVectors, class D, typename T = hn::TFromD<D>>
HWY_INLINE void MicroTile(D d, const TileOperands& op, const T* HWY_RESTRICT a,
                          const T* HWY_RESTRICT b, T* HWY_RESTRICT c) {
  using V = hn::Vec<D>;
  const size_t lanes = hn::Lanes(d);
  V acc[kRows][kVectors];
  HWY_UNROLL(4)
  for (size_t r = 0; r < kRows; ++r) {
    HWY_UNROLL(4)
    for (size_t v = 0; v < kVectors; ++v) {
      acc[r][v] =
          op.accumulate ? hn::Load(d, c + r * op.ldc + v * lanes) : hn::Zero(d);
    }
  }
  for (size_t k = 0; k < op.depth; ++k) {
    V bv[kVectors];
    HWY_UNROLL(4)
    for (size_t v = 0; v < kVectors; ++v) {
      bv[v] = hn::Load(d, b + k * op.ldb + v * lanes);
    }
    HWY_UNROLL(4)
    for (size_t r = 0; r < kRows; ++r) {
      const V av = hn::Set(d, a[r * op.a_row + k * op.a_col]);
      HWY_UNROLL(4)
      for (size_t v = 0; v < kVectors; ++v) {
        acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
      }
    }
  }
  HWY_UNROLL(4)
  for (size_t r = 0; r < kRows; ++r) {
    HWY_UNROLL(4)
    for (size_t v = 0; v < kVectors; ++v) {
      hn::Store(acc[r][v], d, c + r * op.ldc + v * lanes);
    }
  }
}

// Rows of one column strip: kTileRows at a time, then single rows.
template <size_t kVectors, class D, typename T = hn::TFromD<D>>
HWY_INLINE void TileStrip(D d, const TileOperands& op, size_t rows,
                          const T* HWY_RESTRICT a, const T* HWY_RESTRICT b,
                          T* HWY_RESTRICT c) {
  size_t r = 0;
  for (; r + kTileRows <= rows; r += kTileRows) {
    MicroTile<kTileRows, kVectors>(d, op, a + r * op.a_row, b, c + r * op.ldc);
  }
  for (; r < rows; ++r) {
    MicroTile<1, kVectors>(d, op, a + r * op.a_row, b, c + r * op.ldc);
  }
}

// C[rows, vectors * lanes] (+)= A(rows, depth) B[depth, vectors * lanes].
template <class D, typename T = hn::TFromD<D>>
HWY_NOINLINE void TileProduct(D d, const TileOperands& op, size_t rows,
                              size_t vectors, const T* HWY_RESTRICT a,
                              const T* HWY_RESTRICT b, T* HWY_RESTRICT c) {
  const size_t lanes = hn::Lanes(d);
  size_t v = 0;
  for (; v + kTileVectors <= vectors; v += kTileVectors) {
    TileStrip<kTileVectors>(d, op, rows, a, b + v * lanes, c + v * lanes);
  }
  for (; v < vectors; ++v) {
    TileStrip<1>(d, op, rows, a, b + v * lanes, c + v * lanes);
  }
}

// ---- products restricted by a causal mask -----------------------------------
//
// Row r of a tile (query i0 + r) sees the tile's keys [0, Visible(r)), a
// count that never decreases with r. On tiles the diagonal crosses, rows are
// taken kTileRows at a time and each group computes only what its last (most
// seeing) row needs, which halves the work of a diagonal tile; other tiles
// take one plain TileProduct.
struct TileMask {
  const AttentionDims* dims;
  size_t i0, j0;  // first query and key of the tile
  size_t rows, keys;

  size_t Visible(size_t r) const {
    const int64_t seen = dims->VisibleKeys(static_cast<int64_t>(i0 + r)) -
                         static_cast<int64_t>(j0);
    return static_cast<size_t>(
        std::clamp<int64_t>(seen, 0, static_cast<int64_t>(keys)));
  }
  // The first row that sees key c of the tile (rows when none does).
  size_t FirstRow(size_t c) const {
    const int64_t first = dims->FirstQuerySeeing(static_cast<int64_t>(j0 + c)) -
                          static_cast<int64_t>(i0);
    return static_cast<size_t>(
        std::clamp<int64_t>(first, 0, static_cast<int64_t>(rows)));
  }
  bool Full() const { return Visible(0) == keys; }
};

inline size_t DivCeil(size_t n, size_t d) { return (n + d - 1) / d; }

// Scores and the like, C[r, c] = sum_k A(r, k) B[k, c] over the tile's keys
// c: a row group stops at the vector holding its last visible key. Columns
// beyond are left as they were; the row operations never read them as
// visible.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void MaskedColumnsProduct(D d, const TileOperands& op,
                                     const TileMask& mask, size_t vectors,
                                     const T* HWY_RESTRICT a,
                                     const T* HWY_RESTRICT b,
                                     T* HWY_RESTRICT c) {
  if (mask.Full()) return TileProduct(d, op, mask.rows, vectors, a, b, c);
  const size_t lanes = hn::Lanes(d);
  for (size_t r = 0; r < mask.rows; r += kTileRows) {
    const size_t n = std::min(kTileRows, mask.rows - r);
    const size_t need = mask.Visible(r + n - 1);
    if (need == 0) continue;
    TileProduct(d, op, n, DivCeil(need, lanes), a + r * op.a_row, b,
                c + r * op.ldc);
  }
}

// Per query row, a sum over the tile's keys k (O += P V, dQ += dS K): a row
// group sums only over the keys its last row sees (the others' A entries
// there are zero).
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void MaskedKeySumProduct(D d, TileOperands op, const TileMask& mask,
                                    size_t vectors, const T* HWY_RESTRICT a,
                                    const T* HWY_RESTRICT b,
                                    T* HWY_RESTRICT c) {
  op.depth = mask.keys;
  if (mask.Full()) return TileProduct(d, op, mask.rows, vectors, a, b, c);
  for (size_t r = 0; r < mask.rows; r += kTileRows) {
    const size_t n = std::min(kTileRows, mask.rows - r);
    op.depth = mask.Visible(r + n - 1);
    if (op.depth == 0) continue;
    TileProduct(d, op, n, vectors, a + r * op.a_row, b, c + r * op.ldc);
  }
}

// Per key row, a sum over the tile's query rows k (dV += P^T dY,
// dK += dS^T Q): a group of keys sums only from the first query that sees
// its first key.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void MaskedQuerySumProduct(D d, TileOperands op,
                                      const TileMask& mask, size_t vectors,
                                      const T* HWY_RESTRICT a,
                                      const T* HWY_RESTRICT b,
                                      T* HWY_RESTRICT c) {
  op.depth = mask.rows;
  if (mask.Full()) return TileProduct(d, op, mask.keys, vectors, a, b, c);
  for (size_t r = 0; r < mask.keys; r += kTileRows) {
    const size_t n = std::min(kTileRows, mask.keys - r);
    const size_t first = mask.FirstRow(r);
    if (first >= mask.rows) continue;
    op.depth = mask.rows - first;
    TileProduct(d, op, n, vectors, a + r * op.a_row + first * op.a_col,
                b + first * op.ldb, c + r * op.ldc);
  }
}

// ---- packing ----------------------------------------------------------------

inline size_t RoundUp(size_t n, size_t multiple) {
  return DivCeil(n, multiple) * multiple;
}

// dst[t, :D] = factor * src(b, h, t0 + t, :) for t < rows; dst rows are
// `ld` apart and their padding (and rows up to `padded_rows`) stays zero.
template <typename T>
void PackRows(const AttentionOperand<T>& src, int64_t b, int64_t h, int64_t t0,
              size_t rows, size_t padded_rows, size_t head_dim, T factor,
              T* HWY_RESTRICT dst, size_t ld) {
  std::memset(dst, 0, padded_rows * ld * sizeof(T));
  const int64_t col_stride = src.strides[3];
  for (size_t t = 0; t < rows; ++t) {
    const T* HWY_RESTRICT row = src.Row(b, h, t0 + static_cast<int64_t>(t));
    T* HWY_RESTRICT out = dst + t * ld;
    if (col_stride == 1) {  // the usual layout: a loop the compiler vectorizes
      for (size_t x = 0; x < head_dim; ++x) out[x] = factor * row[x];
    } else {
      for (size_t x = 0; x < head_dim; ++x) {
        out[x] = factor * row[static_cast<int64_t>(x) * col_stride];
      }
    }
  }
}

// dst[x, t] = src(b, h, t0 + t, x): a key block transposed so that a row of
// dst holds one dimension of `rows` keys as whole vectors (ld >= rows).
template <typename T>
void PackTransposed(const AttentionOperand<T>& src, int64_t b, int64_t h,
                    int64_t t0, size_t rows, size_t head_dim,
                    T* HWY_RESTRICT dst, size_t ld) {
  std::memset(dst, 0, head_dim * ld * sizeof(T));
  const int64_t col_stride = src.strides[3];
  for (size_t t = 0; t < rows; ++t) {
    const T* row = src.Row(b, h, t0 + static_cast<int64_t>(t));
    for (size_t x = 0; x < head_dim; ++x) {
      dst[x * ld + t] = row[static_cast<int64_t>(x) * col_stride];
    }
  }
}

// ---- row operations of the online softmax -----------------------------------

// Largest of row[0..visible) (visible >= 1); entries beyond are not read as
// values (the vector holding the last visible one is masked).
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE T RowMax(D d, const T* HWY_RESTRICT row, size_t visible) {
  const size_t lanes = hn::Lanes(d);
  const auto minus_inf = hn::Set(d, -std::numeric_limits<T>::infinity());
  auto max = minus_inf;
  const size_t full = visible / lanes;
  for (size_t v = 0; v < full; ++v) {
    max = hn::Max(max, hn::Load(d, row + v * lanes));
  }
  if (full * lanes < visible) {
    const auto keep = hn::FirstN(d, visible - full * lanes);
    max = hn::Max(
        max, hn::IfThenElse(keep, hn::Load(d, row + full * lanes), minus_inf));
  }
  return hn::GetLane(hn::MaxOfLanes(d, max));
}

// row[c] = exp(row[c] - shift) for c < visible and 0 for the rest of the
// `vectors` vectors; returns the sum. exp is Highway's (1 ULP on its valid
// range); entries beyond `visible` are replaced by 0 after it, so whatever
// they held (a masked score, a stale value) never reaches the result.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE T ExpRow(D d, T* HWY_RESTRICT row, T shift, size_t visible,
                    size_t vectors) {
  const size_t lanes = hn::Lanes(d);
  const auto vshift = hn::Set(d, shift);
  auto sum = hn::Zero(d);
  const size_t full = visible / lanes;
  for (size_t v = 0; v < full; ++v) {
    T* p = row + v * lanes;
    const auto e = hn::Exp(d, hn::Sub(hn::Load(d, p), vshift));
    sum = hn::Add(sum, e);
    hn::Store(e, d, p);
  }
  if (full < vectors) {
    T* p = row + full * lanes;
    const auto keep = hn::FirstN(d, visible - full * lanes);
    const auto e =
        hn::IfThenElseZero(keep, hn::Exp(d, hn::Sub(hn::Load(d, p), vshift)));
    sum = hn::Add(sum, e);
    hn::Store(e, d, p);
    const auto zero = hn::Zero(d);
    for (size_t v = full + 1; v < vectors; ++v) {
      hn::Store(zero, d, row + v * lanes);
    }
  }
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

// ds[c] = p[c] (dp[c] - delta) over the vectors that hold the first
// `visible` entries, 0 for the rest of the `vectors` vectors (where p is 0
// and dp may be stale).
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void SoftmaxGradRow(D d, const T* HWY_RESTRICT p, T delta,
                               size_t visible, size_t vectors,
                               T* HWY_RESTRICT ds) {
  const size_t lanes = hn::Lanes(d);
  const size_t used = DivCeil(visible, lanes);
  const auto vdelta = hn::Set(d, delta);
  for (size_t v = 0; v < used; ++v) {
    const size_t c = v * lanes;
    hn::Store(hn::Mul(hn::Load(d, p + c), hn::Sub(hn::Load(d, ds + c), vdelta)),
              d, ds + c);
  }
  const auto zero = hn::Zero(d);
  for (size_t v = used; v < vectors; ++v) hn::Store(zero, d, ds + v * lanes);
}

// row[:] *= factor over `vectors` whole vectors.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void ScaleRow(D d, T* HWY_RESTRICT row, T factor, size_t vectors) {
  const size_t lanes = hn::Lanes(d);
  const auto f = hn::Set(d, factor);
  for (size_t v = 0; v < vectors; ++v) {
    hn::Store(hn::Mul(hn::Load(d, row + v * lanes), f), d, row + v * lanes);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_ATTENTION_TILES_INL_H_
