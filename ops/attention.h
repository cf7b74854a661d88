// Fused (flash) attention: softmax(scale * Q K^T + causal mask) V computed
// tile by tile with an online softmax, so that neither the forward nor the
// backward pass ever holds a [Tq, Tk] matrix per head, and autograd saves
// only q, k, v, the output and one log-sum-exp per query row.
//
// Shapes: q [B, Hq, Tq, D]; k and v [B, Hkv, Tk, D] with Hq a multiple of
// Hkv (grouped-query attention: query head h reads key/value head
// h / (Hq / Hkv), without materialising repeated keys and values; Hkv = Hq is
// multi-head, Hkv = 1 multi-query attention). With `causal`, query i sees key
// j when j <= i + (Tk - Tq): the diagonal is aligned to the last key, as when
// the keys include a cache of earlier positions.
//
// Every query must see at least one key: Tk >= 1 when Tq >= 1, and
// Tk >= Tq when causal. Inference rejects other shapes with a message, so no
// output row is ever an empty softmax.
#ifndef MINIGRAPH_OPS_ATTENTION_H_
#define MINIGRAPH_OPS_ATTENTION_H_

#include <cstdint>

#include "framework/tensor.h"

namespace minigraph {

// Queries and keys per tile unless a call asks for other tiles (results
// differ only by float rounding; tests shrink tiles to exercise many).
inline constexpr int64_t kFlashAttentionBlock = 64;

// y = softmax(scale * q k^T + mask) v, [B, Hq, Tq, D]. The usual scale is
// 1 / sqrt(D).
Tensor FlashAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                      bool causal, double scale,
                      int64_t block_size = kFlashAttentionBlock);

// Both outputs of the op "flash_attention": y and lse [B, Hq, Tq], where
// lse_i = log sum_j exp(scale * q_i . k_j) over the keys query i sees. Both
// are differentiable.
struct FlashAttentionOutputs {
  Tensor y;
  Tensor lse;
};
FlashAttentionOutputs FlashAttentionWithLse(
    const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
    double scale, int64_t block_size = kFlashAttentionBlock);

// The op "flash_attention_backward": gradients of <dy, y> + <dlse, lse> with
// respect to q, k and v, given the forward's y and lse (dk and dv are summed
// over the query heads of each group). It is a function of all seven inputs,
// y and lse included (they need not come from the forward), and has its own
// backward rule, so gradients of gradients work.
struct FlashAttentionGrads {
  Tensor dq;
  Tensor dk;
  Tensor dv;
};
FlashAttentionGrads FlashAttentionBackward(
    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& y,
    const Tensor& lse, const Tensor& dy, const Tensor& dlse, bool causal,
    double scale, int64_t block_size = kFlashAttentionBlock);

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_ATTENTION_H_
