// Per-target kernels of the fused (flash) attention family: a tiled
// online-softmax forward that keeps only the output and the row
// log-sum-exp, and the backward that recomputes each tile's probabilities
// from them.

// The plan is target-independent, so it sits behind an ordinary include
// guard and is defined once however often foreach_target.h includes us.
#ifndef MINIGRAPH_OPS_ATTENTION_INL_H_PLAN_
#define MINIGRAPH_OPS_ATTENTION_INL_H_PLAN_

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "framework/allocator.h"
#include "framework/memory_stats.h"
#include "hwy/aligned_allocator.h"

namespace minigraph {

// Sizes of one attention call: q [B, Hq, Tq, D], k and v [B, Hkv, Tk, D].
// Query head h reads key/value head h / (Hq / Hkv). With `causal`, query i
// sees key j when j <= i + (Tk - Tq): the diagonal is aligned to the last
// key, as when the keys include a cache of earlier positions.
struct AttentionDims {
  int64_t batch = 0;
  int64_t q_heads = 0;
  int64_t kv_heads = 0;
  int64_t q_len = 0;
  int64_t kv_len = 0;
  int64_t head_dim = 0;
  bool causal = true;
  double scale = 1.0;
  // Queries and keys per tile.
  int64_t block = 64;

  int64_t group() const { return q_heads / kv_heads; }
  // How many keys (a prefix 0..n-1) query i sees.
  int64_t VisibleKeys(int64_t i) const {
    if (!causal) return kv_len;
    return std::clamp<int64_t>(i + kv_len - q_len + 1, 0, kv_len);
  }
  // The first query that sees key j.
  int64_t FirstQuerySeeing(int64_t j) const {
    if (!causal) return 0;
    return std::max<int64_t>(0, j - (kv_len - q_len));
  }
};

// A read-only [B, H, T, D] tensor in element strides (any layout).
template <typename T>
struct AttentionOperand {
  const T* data = nullptr;
  int64_t strides[4] = {0, 0, 0, 0};
  const T* Row(int64_t b, int64_t h, int64_t t) const {
    return data + b * strides[0] + h * strides[1] + t * strides[2];
  }
};

// A read-only [B, H, T] tensor (the log-sum-exp and its gradient).
template <typename T>
struct AttentionRowOperand {
  const T* data = nullptr;
  int64_t strides[3] = {0, 0, 0};
  T At(int64_t b, int64_t h, int64_t t) const {
    return data[b * strides[0] + h * strides[1] + t * strides[2]];
  }
};

// Forward: tasks are (b, query head) pairs, row-major; outputs contiguous.
template <typename T>
struct AttentionForwardArgs {
  AttentionOperand<T> q, k, v;
  T* y = nullptr;    // [B, Hq, Tq, D]
  T* lse = nullptr;  // [B, Hq, Tq]
};

// Backward: tasks are (b, key/value head) pairs, row-major, so that one task
// owns dk and dv of its head and dq of the query heads of its group.
template <typename T>
struct AttentionBackwardArgs {
  AttentionOperand<T> q, k, v, y, dy;
  AttentionRowOperand<T> lse, dlse;
  T* dq = nullptr;  // [B, Hq, Tq, D]
  T* dk = nullptr;  // [B, Hkv, Tk, D]
  T* dv = nullptr;  // [B, Hkv, Tk, D]
};

// Scratch buffers come from the storage allocator (reused, counted in the
// peak-memory figures).
template <typename T>
using CountedScratch = ScratchBuffer<T>;

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_ATTENTION_INL_H_PLAN_

// Included once per Highway target by attention.cc through foreach_target.h,
// hence the toggling include guard instead of a plain one.
#if defined(MINIGRAPH_OPS_ATTENTION_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_ATTENTION_INL_H_
#undef MINIGRAPH_OPS_ATTENTION_INL_H_
#else
#define MINIGRAPH_OPS_ATTENTION_INL_H_
#endif

#include <cmath>
#include <cstring>
#include <limits>

#include "hwy/highway.h"
#include "ops/attention_tiles-inl.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- forward ----------------------------------------------------------------
//
// Per (b, h) and query block: m = -inf, l = 0, O = 0; for every key block
// that some query of the block sees,
//   S = (scale Q) K^T,  m' = max(m, rowmax S),  P = exp(S - m'),
//   l = e^(m - m') l + rowsum P,  O = e^(m - m') O + P V,  m = m';
// then y = O / l and lse = m + log l. Key blocks wholly above the causal
// diagonal are never visited, diagonal ones only in part; only y and lse
// are written.
template <typename T>
void FlashForwardTasks(const AttentionDims& dims,
                       const AttentionForwardArgs<T>& args, int64_t task_begin,
                       int64_t task_end) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const size_t head_dim = static_cast<size_t>(dims.head_dim);
  const size_t block = static_cast<size_t>(dims.block);
  const size_t dim_padded = RoundUp(head_dim, lanes);
  const size_t block_padded = RoundUp(block, lanes);
  const size_t dim_vectors = dim_padded / lanes;
  const size_t block_vectors = block_padded / lanes;
  const size_t kv_len = static_cast<size_t>(dims.kv_len);
  const size_t q_len = static_cast<size_t>(dims.q_len);
  const size_t key_blocks = DivCeil(kv_len, block);
  const T scale = static_cast<T>(dims.scale);

  // Per task: K^T and V of the whole head, packed once (O(Tk D)), and one
  // query block's Q, S/P and O.
  CountedScratch<T> keys_t(key_blocks * head_dim * block_padded);
  CountedScratch<T> values(key_blocks * block * dim_padded);
  CountedScratch<T> queries(block * dim_padded);
  CountedScratch<T> scores(block * block_padded);
  CountedScratch<T> out(block * dim_padded);
  CountedScratch<T> row_max(block);
  CountedScratch<T> row_sum(block);

  int64_t packed_b = -1, packed_kv_h = -1;
  for (int64_t task = task_begin; task < task_end; ++task) {
    const int64_t b = task / dims.q_heads;
    const int64_t h = task % dims.q_heads;
    const int64_t kv_h = h / dims.group();
    // Consecutive query heads of one group share the packed keys and values.
    if (b != packed_b || kv_h != packed_kv_h) {
      for (size_t kb = 0; kb < key_blocks; ++kb) {
        const size_t j0 = kb * block;
        const size_t keys = std::min(block, kv_len - j0);
        PackTransposed(args.k, b, kv_h, static_cast<int64_t>(j0), keys,
                       head_dim, keys_t.get() + kb * head_dim * block_padded,
                       block_padded);
        PackRows(args.v, b, kv_h, static_cast<int64_t>(j0), keys, block,
                 head_dim, T{1}, values.get() + kb * block * dim_padded,
                 dim_padded);
      }
      packed_b = b;
      packed_kv_h = kv_h;
    }
    T* y_head = args.y + (b * dims.q_heads + h) * dims.q_len * dims.head_dim;
    T* lse_head = args.lse + (b * dims.q_heads + h) * dims.q_len;

    for (size_t i0 = 0; i0 < q_len; i0 += block) {
      const size_t rows = std::min(block, q_len - i0);
      PackRows(args.q, b, h, static_cast<int64_t>(i0), rows, rows, head_dim,
               scale, queries.get(), dim_padded);
      std::memset(out.get(), 0, rows * dim_padded * sizeof(T));
      for (size_t r = 0; r < rows; ++r) {
        row_max[r] = -std::numeric_limits<T>::infinity();
        row_sum[r] = T{0};
      }
      // Keys seen by the block's last query bound the key blocks visited.
      const size_t blocks_visited =
          DivCeil(static_cast<size_t>(
                      dims.VisibleKeys(static_cast<int64_t>(i0 + rows - 1))),
                  block);
      for (size_t kb = 0; kb < blocks_visited; ++kb) {
        const size_t j0 = kb * block;
        const TileMask mask = {&dims, i0, j0, rows,
                               std::min(block, kv_len - j0)};
        MaskedColumnsProduct(
            d, {head_dim, dim_padded, 1, block_padded, block_padded, false},
            mask, block_vectors, queries.get(),
            keys_t.get() + kb * head_dim * block_padded, scores.get());
        for (size_t r = 0; r < rows; ++r) {
          const size_t visible = mask.Visible(r);
          T* s = scores.get() + r * block_padded;
          if (visible == 0) {  // a later diagonal row: nothing here
            std::memset(s, 0, block_padded * sizeof(T));
            continue;
          }
          const T new_max = std::max(row_max[r], RowMax(d, s, visible));
          // The first visited block of a row has m = -inf: exp gives 0.
          const T rescale = std::exp(row_max[r] - new_max);
          const T tile_sum = ExpRow(d, s, new_max, visible, block_vectors);
          row_sum[r] = row_sum[r] * rescale + tile_sum;
          row_max[r] = new_max;
          if (rescale != T{1}) {
            ScaleRow(d, out.get() + r * dim_padded, rescale, dim_vectors);
          }
        }
        MaskedKeySumProduct(d,
                            {0, block_padded, 1, dim_padded, dim_padded, true},
                            mask, dim_vectors, scores.get(),
                            values.get() + kb * block * dim_padded, out.get());
      }
      for (size_t r = 0; r < rows; ++r) {
        // Every row sees key 0 (inference rejects rows that see nothing),
        // so row_sum >= 1.
        const T inverse = T{1} / row_sum[r];
        const T* o = out.get() + r * dim_padded;
        T* y_row = y_head + (i0 + r) * head_dim;
        for (size_t x = 0; x < head_dim; ++x) y_row[x] = o[x] * inverse;
        lse_head[i0 + r] = row_max[r] + std::log(row_sum[r]);
      }
    }
  }
}

// ---- backward ---------------------------------------------------------------
//
// Per (b, kv head), for every key block and every query block (of every
// query head of the group) that sees it:
//   P = exp((scale Q) K^T - lse),  dP = dY V^T,  dS = P * (dP - delta),
//   dV += P^T dY,  dK += dS^T (scale Q),  dQ += dS K (times scale at the end),
// with delta_i = <dY_i, Y_i> - dlse_i: the softmax rows' own term, plus the
// log-sum-exp output's gradient (d lse_i / d S_ij = P_ij).
template <typename T>
void FlashBackwardTasks(const AttentionDims& dims,
                        const AttentionBackwardArgs<T>& args,
                        int64_t task_begin, int64_t task_end) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const size_t head_dim = static_cast<size_t>(dims.head_dim);
  const size_t block = static_cast<size_t>(dims.block);
  const size_t dim_padded = RoundUp(head_dim, lanes);
  const size_t block_padded = RoundUp(block, lanes);
  const size_t dim_vectors = dim_padded / lanes;
  const size_t block_vectors = block_padded / lanes;
  const size_t kv_len = static_cast<size_t>(dims.kv_len);
  const size_t q_len = static_cast<size_t>(dims.q_len);
  const size_t group = static_cast<size_t>(dims.group());
  const T scale = static_cast<T>(dims.scale);

  // Per task, O(group Tq D): the group's scaled Q, dY, lse, delta and the dQ
  // accumulator; per key block: K^T, V^T, K and the dK, dV accumulators.
  const size_t head_rows = q_len * dim_padded;
  CountedScratch<T> queries(group * head_rows);
  CountedScratch<T> grad_out(group * head_rows);
  CountedScratch<T> grad_q(group * head_rows);
  CountedScratch<T> lse(group * q_len);
  CountedScratch<T> delta(group * q_len);
  CountedScratch<T> keys_t(head_dim * block_padded);
  CountedScratch<T> values_t(head_dim * block_padded);
  CountedScratch<T> keys(block * dim_padded);
  CountedScratch<T> grad_k(block_padded * dim_padded);
  CountedScratch<T> grad_v(block_padded * dim_padded);
  CountedScratch<T> probs(block * block_padded);
  CountedScratch<T> grad_s(block * block_padded);

  for (int64_t task = task_begin; task < task_end; ++task) {
    const int64_t b = task / dims.kv_heads;
    const int64_t kv_h = task % dims.kv_heads;
    for (size_t g = 0; g < group; ++g) {
      const int64_t h = kv_h * static_cast<int64_t>(group) + g;
      PackRows(args.q, b, h, 0, q_len, q_len, head_dim, scale,
               queries.get() + g * head_rows, dim_padded);
      PackRows(args.dy, b, h, 0, q_len, q_len, head_dim, T{1},
               grad_out.get() + g * head_rows, dim_padded);
      for (size_t i = 0; i < q_len; ++i) {
        const int64_t t = static_cast<int64_t>(i);
        const T* dy_row = args.dy.Row(b, h, t);
        const T* y_row = args.y.Row(b, h, t);
        T dot = T{0};
        for (size_t x = 0; x < head_dim; ++x) {
          const int64_t o = static_cast<int64_t>(x);
          dot += dy_row[o * args.dy.strides[3]] * y_row[o * args.y.strides[3]];
        }
        delta[g * q_len + i] = dot - args.dlse.At(b, h, t);
        lse[g * q_len + i] = args.lse.At(b, h, t);
      }
    }
    std::memset(grad_q.get(), 0, group * head_rows * sizeof(T));

    for (size_t j0 = 0; j0 < kv_len; j0 += block) {
      const size_t cols = std::min(block, kv_len - j0);
      const int64_t j = static_cast<int64_t>(j0);
      PackTransposed(args.k, b, kv_h, j, cols, head_dim, keys_t.get(),
                     block_padded);
      PackTransposed(args.v, b, kv_h, j, cols, head_dim, values_t.get(),
                     block_padded);
      PackRows(args.k, b, kv_h, j, cols, block, head_dim, T{1}, keys.get(),
               dim_padded);
      std::memset(grad_k.get(), 0, block_padded * dim_padded * sizeof(T));
      std::memset(grad_v.get(), 0, block_padded * dim_padded * sizeof(T));
      // Query blocks before the one holding the first query that sees key
      // j0 lie wholly above the diagonal: skipped.
      const size_t first_query = static_cast<size_t>(dims.FirstQuerySeeing(j));
      for (size_t g = 0; g < group; ++g) {
        const T* q_head = queries.get() + g * head_rows;
        const T* dy_head = grad_out.get() + g * head_rows;
        T* dq_head = grad_q.get() + g * head_rows;
        for (size_t i0 = first_query / block * block; i0 < q_len; i0 += block) {
          const TileMask mask = {&dims, i0, j0, std::min(block, q_len - i0),
                                 cols};
          const T* q_block = q_head + i0 * dim_padded;
          const T* dy_block = dy_head + i0 * dim_padded;
          const TileOperands rows_times_keys = {
              head_dim, dim_padded, 1, block_padded, block_padded, false};
          // S = (scale Q) K^T into probs, dP = dY V^T into grad_s.
          MaskedColumnsProduct(d, rows_times_keys, mask, block_vectors, q_block,
                               keys_t.get(), probs.get());
          MaskedColumnsProduct(d, rows_times_keys, mask, block_vectors,
                               dy_block, values_t.get(), grad_s.get());
          for (size_t r = 0; r < mask.rows; ++r) {
            const size_t i = i0 + r;
            const size_t visible = mask.Visible(r);
            T* p = probs.get() + r * block_padded;
            ExpRow(d, p, lse[g * q_len + i], visible, block_vectors);
            SoftmaxGradRow(d, p, delta[g * q_len + i], visible, block_vectors,
                           grad_s.get() + r * block_padded);
          }
          // dV += P^T dY and dK += dS^T (scale Q): A is read transposed.
          const TileOperands keys_times_dim = {
              0, 1, block_padded, dim_padded, dim_padded, true};
          MaskedQuerySumProduct(d, keys_times_dim, mask, dim_vectors,
                                probs.get(), dy_block, grad_v.get());
          MaskedQuerySumProduct(d, keys_times_dim, mask, dim_vectors,
                                grad_s.get(), q_block, grad_k.get());
          // dQ += dS K.
          MaskedKeySumProduct(
              d, {0, block_padded, 1, dim_padded, dim_padded, true}, mask,
              dim_vectors, grad_s.get(), keys.get(), dq_head + i0 * dim_padded);
        }
      }
      T* dk_rows = args.dk + ((b * dims.kv_heads + kv_h) * dims.kv_len + j) *
                                 dims.head_dim;
      T* dv_rows = args.dv + ((b * dims.kv_heads + kv_h) * dims.kv_len + j) *
                                 dims.head_dim;
      for (size_t t = 0; t < cols; ++t) {
        std::memcpy(dk_rows + t * head_dim, grad_k.get() + t * dim_padded,
                    head_dim * sizeof(T));
        std::memcpy(dv_rows + t * head_dim, grad_v.get() + t * dim_padded,
                    head_dim * sizeof(T));
      }
    }
    for (size_t g = 0; g < group; ++g) {
      const int64_t h = kv_h * static_cast<int64_t>(group) + g;
      T* dq_rows =
          args.dq + (b * dims.q_heads + h) * dims.q_len * dims.head_dim;
      const T* acc = grad_q.get() + g * head_rows;
      for (size_t i = 0; i < q_len; ++i) {
        for (size_t x = 0; x < head_dim; ++x) {
          dq_rows[i * head_dim + x] = scale * acc[i * dim_padded + x];
        }
      }
    }
  }
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
void FlashForwardF32(const AttentionDims& dims,
                     const AttentionForwardArgs<float>& args,
                     int64_t task_begin, int64_t task_end) {
  FlashForwardTasks(dims, args, task_begin, task_end);
}
void FlashForwardF64(const AttentionDims& dims,
                     const AttentionForwardArgs<double>& args,
                     int64_t task_begin, int64_t task_end) {
  FlashForwardTasks(dims, args, task_begin, task_end);
}
void FlashBackwardF32(const AttentionDims& dims,
                      const AttentionBackwardArgs<float>& args,
                      int64_t task_begin, int64_t task_end) {
  FlashBackwardTasks(dims, args, task_begin, task_end);
}
void FlashBackwardF64(const AttentionDims& dims,
                      const AttentionBackwardArgs<double>& args,
                      int64_t task_begin, int64_t task_end) {
  FlashBackwardTasks(dims, args, task_begin, task_end);
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_ATTENTION_INL_H_
