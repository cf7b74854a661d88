// MiniMind's Attention module written with primitive ops, line for line like
// the PyTorch module:
//
//   q, k, v = x Wq^T, x Wk^T, x Wv^T          (bias-free, weights [out, in])
//   view as heads: q [B, T, H, d], k and v [B, T, H_kv, d]
//   (qk_norm) q, k = RMSNorm(q), RMSNorm(k)   over d
//   q, k = rope(q), rope(k)                   at positions start_pos + t
//   k, v = concat(cache, k), concat(cache, v) with a KV cache
//   k, v = repeat_kv(k), repeat_kv(v)         every KV head serves H/H_kv
//                                             query heads (expand + reshape)
//   scores = q k^T / sqrt(d) + causal mask (+ padding mask)
//   out = dropout(softmax(scores)) v          -> [B, T, H d]
//   y = dropout(out Wo^T)
//
// Because every step is a registered op, autograd needs no attention-specific
// code: the backward graph is the ops' rules, and so is the second-order one.
#ifndef MINIGRAPH_MODELS_ATTENTION_H_
#define MINIGRAPH_MODELS_ATTENTION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/random.h"
#include "framework/safetensors.h"
#include "framework/tensor.h"
#include "models/minimind_config.h"
#include "models/module.h"

namespace minigraph {

// The module's parameters, PyTorch layout ([out_features, in_features]).
struct AttentionWeights {
  Tensor q_proj;  // [heads * head_dim, hidden]
  Tensor k_proj;  // [kv_heads * head_dim, hidden]
  Tensor v_proj;  // [kv_heads * head_dim, hidden]
  Tensor o_proj;  // [hidden, heads * head_dim]
  Tensor q_norm;  // [head_dim], only with qk_norm
  Tensor k_norm;  // [head_dim], only with qk_norm
};

// Keys and values of the positions seen so far, [B, T_past, kv_heads,
// head_dim], stored after RoPE and before repeat_kv (as MiniMind's
// past_key_value). Empty (undefined tensors) before the first step.
struct KVCache {
  Tensor keys;
  Tensor values;
  int64_t length() const { return keys.defined() ? keys.size(1) : 0; }
};

// Which implementation computes softmax(q k^T / sqrt(d) + mask) v.
enum class AttentionPath {
  // Fused when config.flash_attn is set and the fused op can serve: no
  // padding mask, weights not asked for, no dropout on the weights.
  kAuto,
  kComposed,  // matmul, softmax, ... (always available)
  kFused,     // the fused attention op; an error where it cannot serve
};

struct AttentionOptions {
  // [B, T_k] with 1 for keys to attend to and 0 for padding, T_k the number
  // of keys (cached + new). Masked scores become -inf before the softmax, as
  // PyTorch's masked_fill(mask == 0, -inf) does. A query row with no visible
  // key gives zero weights and a zero output before o_proj (PyTorch's
  // softmax gives NaN there; MiniMind's additive -1e9 gives weights over the
  // masked keys).
  Tensor attention_mask;
  // When given, this step's keys and values are appended to it.
  KVCache* cache = nullptr;
  // Position of x's first token; default the cache's length (0 without).
  std::optional<int64_t> start_pos;
  // Dropout with p = config.dropout on the weights and on the output; the
  // seeds are dropout_seed and dropout_seed + 1.
  bool training = false;
  uint64_t dropout_seed = 0;
  AttentionPath path = AttentionPath::kAuto;
  // Keep the softmax weights [B, heads, T, T_k] (composed path only).
  bool return_weights = false;
};

struct AttentionOutput {
  Tensor y;        // [B, T, hidden]
  Tensor weights;  // [B, heads, T, T_k] when asked for
  bool fused = false;
};

// Checks shapes and dtypes of the weights against the config: the message
// names the parameter, its shape and the expected shape.
absl::Status ValidateWeights(const MiniMindConfig& config,
                             const AttentionWeights& weights);

// The forward pass as a function of the weights (gradient checks perturb
// them). Bad shapes, dtypes, masks, caches or positions give a Status.
absl::StatusOr<AttentionOutput> AttentionForward(
    const MiniMindConfig& config, const AttentionWeights& weights,
    const Tensor& x, const AttentionOptions& options = {});

// repeat_kv: [B, T, kv_heads, d] -> [B, T, kv_heads * n_rep, d], each KV
// head repeated n_rep times in a row (head h reads KV head h / n_rep).
Tensor RepeatKV(const Tensor& x, int64_t n_rep);

// A Module: its parameters are named as inside a checkpoint layer
// ("q_proj.weight", ...). Forward takes dropout from options.training, not
// from training(): a model that holds it passes its own mode on.
class Attention : public Module {
 public:
  // nn.Linear's default initialisation: U(-1/sqrt(in), 1/sqrt(in)); norm
  // weights 1. Parameters require grad.
  static absl::StatusOr<Attention> Create(const MiniMindConfig& config,
                                          Generator& generator,
                                          DType dtype = DType::kFloat32);
  // Takes prefix + "q_proj.weight" etc. (e.g. prefix
  // "model.layers.0.self_attn.") from a checkpoint, converted to dtype.
  // `source` names the file in errors, which also name the tensor.
  static absl::StatusOr<Attention> Load(const MiniMindConfig& config,
                                        const SafetensorsFile& file,
                                        absl::string_view prefix,
                                        absl::string_view source,
                                        DType dtype = DType::kFloat32);
  // Wraps given weights (validated; used as they are).
  static absl::StatusOr<Attention> FromWeights(const MiniMindConfig& config,
                                               AttentionWeights weights);

  absl::StatusOr<AttentionOutput> Forward(
      const Tensor& x, const AttentionOptions& options = {}) const {
    return AttentionForward(config_, weights_, x, options);
  }
  // For model scripts: y, or death with the Forward error.
  Tensor operator()(const Tensor& x) const;

  const MiniMindConfig& config() const { return config_; }
  const AttentionWeights& weights() const { return weights_; }
  // ("q_proj.weight", tensor), ... in checkpoint order (q, k, v, o, then
  // q_norm, k_norm with qk_norm).
  NamedTensors NamedParameters() const override;

 private:
  Attention(MiniMindConfig config, AttentionWeights weights)
      : config_(std::move(config)), weights_(std::move(weights)) {}

  MiniMindConfig config_;
  AttentionWeights weights_;
};

// Parameter names inside the module, in checkpoint order.
std::vector<std::string> AttentionParameterNames(bool qk_norm);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_ATTENTION_H_
