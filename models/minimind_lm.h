// MiniMind's causal language model (MiniMindForCausalLM) as plain structs of
// tensors, one per PyTorch module, each reading like its forward():
//
//   MiniMindBlock:   h = x + self_attn(input_layernorm(x))
//                    out = h + mlp(post_attention_layernorm(h))
//   FeedForward:     dropout(down_proj(silu(gate_proj(x)) * up_proj(x)))
//   MiniMindModel:   h = dropout(embed_tokens(ids)); h = layer(h) for each
//                    layer; norm(h)
//   CausalLM:        logits = lm_head(model(ids)); loss = cross_entropy(
//                    logits[:, :-1], labels[:, 1:], ignore_index=-100)
//
// Parameter names are the checkpoint's (model.layers.0.mlp.gate_proj.weight,
// ...). Every step is a registered op, so autograd, gradient checks and
// graph capture need nothing model-specific.
#ifndef MINIGRAPH_MODELS_MINIMIND_LM_H_
#define MINIGRAPH_MODELS_MINIMIND_LM_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/random.h"
#include "framework/safetensors.h"
#include "framework/tensor.h"
#include "models/attention.h"
#include "models/minimind_config.h"
#include "models/module.h"

namespace minigraph {

// nn.Linear without bias: y = x W^T with W [out_features, in_features].
struct Linear : public Module {
  Tensor weight;

  Tensor operator()(const Tensor& x) const;
  NamedTensors NamedParameters() const override { return {{"weight", weight}}; }
};

// nn.Embedding: y[..., :] = weight[ids[...], :], weight [num_embeddings,
// embedding_dim]. Ids must be in range (checked by the model).
struct TokenEmbedding : public Module {
  Tensor weight;

  Tensor operator()(const Tensor& ids) const;
  NamedTensors NamedParameters() const override { return {{"weight", weight}}; }
};

// weight * x / sqrt(mean(x^2, -1) + eps), over the last axis.
struct RMSNorm : public Module {
  Tensor weight;  // [dim], ones at initialisation
  double eps = 1e-5;

  Tensor operator()(const Tensor& x) const;
  NamedTensors NamedParameters() const override { return {{"weight", weight}}; }
};

// SwiGLU: dropout(down_proj(silu(gate_proj(x)) * up_proj(x))). MiniMind2
// drops after down_proj; MiniMind-3 has no dropout there (with dropout 0,
// MiniMind's default, the two agree).
struct FeedForward : public Module {
  Linear gate_proj;  // [intermediate, hidden]
  Linear down_proj;  // [hidden, intermediate]
  Linear up_proj;    // [intermediate, hidden]
  double dropout = 0.0;

  Tensor Forward(const Tensor& x, uint64_t dropout_seed = 0) const;
  // gate_proj, down_proj, up_proj: the order PyTorch registers them in.
  NamedTensors NamedParameters() const override;

 protected:
  std::vector<Module*> Children() override {
    return {&gate_proj, &down_proj, &up_proj};
  }
};

// What a block needs besides its input, passed down from the model.
struct BlockOptions {
  Tensor attention_mask;  // [B, T_k], 1 keep / 0 pad; may be undefined
  KVCache* cache = nullptr;
  std::optional<int64_t> start_pos;
  // In training mode the attention drops with seeds dropout_seed and
  // dropout_seed + 1, the feed-forward with dropout_seed + 2.
  uint64_t dropout_seed = 0;
};

struct MiniMindBlock : public Module {
  MiniMindBlock(Attention self_attn, RMSNorm input_layernorm,
                RMSNorm post_attention_layernorm, FeedForward mlp);

  Attention self_attn;
  RMSNorm input_layernorm;
  RMSNorm post_attention_layernorm;
  FeedForward mlp;

  absl::StatusOr<Tensor> Forward(const Tensor& hidden_states,
                                 const BlockOptions& options = {}) const;
  NamedTensors NamedParameters() const override;

 protected:
  std::vector<Module*> Children() override {
    return {&self_attn, &input_layernorm, &post_attention_layernorm, &mlp};
  }
};

struct DecoderOptions {
  Tensor attention_mask;
  // One per layer; an empty vector is sized on first use.
  std::vector<KVCache>* caches = nullptr;
  std::optional<int64_t> start_pos;
  uint64_t dropout_seed = 0;
};

// The decoder without the head: ids [B, T] -> hidden states [B, T, hidden].
struct MiniMindModel : public Module {
  TokenEmbedding embed_tokens;
  double dropout = 0.0;
  std::vector<MiniMindBlock> layers;
  RMSNorm norm;

  // input_ids must be int64 [B, T] within the vocabulary (the LM checks).
  absl::StatusOr<Tensor> Forward(const Tensor& input_ids,
                                 const DecoderOptions& options = {}) const;
  NamedTensors NamedParameters() const override;

 protected:
  std::vector<Module*> Children() override;
};

struct LMOptions {
  // [B, T] int64 next-token targets (HF style: position t's logits are
  // scored against labels[t + 1]); -100 is ignored. Undefined: no loss.
  Tensor labels;
  // [B, T_k] with 1 keep / 0 padding, passed to every attention layer.
  Tensor attention_mask;
  // One KVCache per layer for decoding (RoPE positions continue from their
  // length); an empty vector is sized on first use.
  std::vector<KVCache>* caches = nullptr;
  std::optional<int64_t> start_pos;
  // In training mode, every dropout's seed is derived from this one.
  uint64_t dropout_seed = 0;
  // As MiniMind's logits_to_keep: k > 0 runs lm_head on the last k positions
  // only (logits [B, k, vocab]), which is all generation needs; 0 keeps
  // every position. k > 0 with labels is an error (the loss needs them all).
  int64_t logits_to_keep = 0;
};

struct LMOutput {
  Tensor logits;  // [B, T, vocab], or [B, min(k, T), vocab] with k to keep
  Tensor loss;    // scalar when labels were given
};

class MiniMindForCausalLM : public Module {
 public:
  // MiniMind's initialisation, drawn in PyTorch's construction order:
  // nn.Embedding's N(0, 1) for embed_tokens (untied only), nn.Linear's
  // U(-1/sqrt(in), 1/sqrt(in)) for every projection and lm_head, norm
  // weights 1. Tied, embed_tokens.weight = lm_head.weight, so the shared
  // weight keeps lm_head's uniform initialisation (MiniMind assigns the
  // embedding's weight from the head's). intermediate_size 0 is resolved.
  static absl::StatusOr<MiniMindForCausalLM> Create(
      const MiniMindConfig& config, Generator& generator,
      DType dtype = DType::kFloat32);
  // Parameters from a state dict (converted to dtype), strictly: every
  // tensor present with its shape, nothing unknown. qk_norm turns on when
  // layer 0 has q_norm/k_norm weights. Tied: lm_head.weight may be present
  // (ignored: embed_tokens is the weight) or absent; a checkpoint holding
  // only lm_head.weight gives the embedding from it. Untied: required.
  static absl::StatusOr<MiniMindForCausalLM> FromStateDict(
      const MiniMindConfig& config, const SafetensorsFile& state,
      absl::string_view source, DType dtype = DType::kFloat32);
  // Wraps the given tensors as they are (no copies; requires_grad left as
  // it is), named as NamedParameters() names them: every one present, of
  // one float dtype and the config's shapes, nothing else. For functions of
  // the parameters, such as gradient checks.
  static absl::StatusOr<MiniMindForCausalLM> FromTensors(
      const MiniMindConfig& config, const NamedTensors& parameters);
  // DIR/config.json + DIR/model.safetensors (F32, F64, F16 or BF16).
  static absl::StatusOr<MiniMindForCausalLM> LoadDir(
      const std::string& dir, DType dtype = DType::kFloat32);
  // Creates dir (and its parents) if needed and writes config.json and
  // model.safetensors, each through a temporary in dir and a rename: a
  // failed save leaves no partial or temporary file. Tensors carry MiniMind's
  // names; lm_head.weight is written also when tied (same values), so
  // strict loaders find it.
  absl::Status SaveDir(const std::string& dir) const;

  // Errors: input_ids not int64 [B, T], an id outside [0, vocab) (naming
  // its position), labels of another shape or outside [0, vocab) and not
  // -100, T < 2 with labels, logits_to_keep negative or given with labels,
  // and whatever the attention layers reject.
  absl::StatusOr<LMOutput> Forward(const Tensor& input_ids,
                                   const LMOptions& options = {}) const;

  // Each distinct tensor once, in PyTorch's named_parameters() order; the
  // tied weight as model.embed_tokens.weight.
  NamedTensors NamedParameters() const override;
  // NamedParameters plus lm_head.weight when tied (the same tensor).
  NamedTensors StateDictEntries() const override;

  const MiniMindConfig& config() const { return config_; }
  const MiniMindModel& model() const { return model_; }
  const Linear& lm_head() const { return lm_head_; }
  int64_t NumParameters() const;

 protected:
  std::vector<Module*> Children() override { return {&model_}; }

 private:
  MiniMindForCausalLM(MiniMindConfig config, MiniMindModel model,
                      Linear lm_head);

  MiniMindConfig config_;
  MiniMindModel model_;
  Linear lm_head_;
};

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_MINIMIND_LM_H_
