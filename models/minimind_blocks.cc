// The modules inside MiniMindForCausalLM: Linear, TokenEmbedding, RMSNorm,
// FeedForward, MiniMindBlock and MiniMindModel (declared in minimind_lm.h).
#include <utility>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "framework/random.h"
#include "framework/status_macros.h"
#include "models/minimind_lm.h"
#include "models/rms_norm.h"
#include "ops/all_ops.h"

namespace minigraph {

Tensor Linear::operator()(const Tensor& x) const {
  // y = x W^T, W [out, in] as nn.Linear stores it.
  return Matmul(x, weight, /*transpose_a=*/false, /*transpose_b=*/true);
}

Tensor TokenEmbedding::operator()(const Tensor& ids) const {
  return Embedding(weight, ids);
}

Tensor RMSNorm::operator()(const Tensor& x) const {
  // The fused rms_norm op: one pass per row forward and backward, the same
  // values as the composed RmsNorm (models/rms_norm.h; tests/ops/fused_test
  // checks the two against each other).
  return RmsNormFused(x, weight, eps);
}

Tensor FeedForward::Forward(const Tensor& x, uint64_t dropout_seed) const {
  NameScope scope("mlp");
  // silu(gate) * up as the fused swiglu op (one pass instead of four).
  Tensor y = down_proj(SwiGlu(gate_proj(x), up_proj(x)));
  if (training_ && dropout > 0.0) y = Dropout(y, dropout, dropout_seed);
  return y;
}

NamedTensors FeedForward::NamedParameters() const {
  NamedTensors named = WithPrefix("gate_proj.", gate_proj.NamedParameters());
  for (const Linear* linear : {&down_proj, &up_proj}) {
    const char* prefix = linear == &down_proj ? "down_proj." : "up_proj.";
    for (auto& entry : WithPrefix(prefix, linear->NamedParameters())) {
      named.push_back(std::move(entry));
    }
  }
  return named;
}

MiniMindBlock::MiniMindBlock(Attention self_attn, RMSNorm input_layernorm,
                             RMSNorm post_attention_layernorm, FeedForward mlp)
    : self_attn(std::move(self_attn)),
      input_layernorm(std::move(input_layernorm)),
      post_attention_layernorm(std::move(post_attention_layernorm)),
      mlp(std::move(mlp)) {}

absl::StatusOr<Tensor> MiniMindBlock::Forward(
    const Tensor& hidden_states, const BlockOptions& options) const {
  AttentionOptions attention;
  attention.attention_mask = options.attention_mask;
  attention.cache = options.cache;
  attention.start_pos = options.start_pos;
  attention.training = training_;
  attention.dropout_seed = options.dropout_seed;

  const Tensor residual = hidden_states;
  MG_ASSIGN_OR_RETURN(
      const AttentionOutput attended,
      self_attn.Forward(input_layernorm(hidden_states), attention));
  Tensor h = attended.y + residual;
  h = h + mlp.Forward(post_attention_layernorm(h), options.dropout_seed + 2);
  return h;
}

NamedTensors MiniMindBlock::NamedParameters() const {
  NamedTensors named = WithPrefix("self_attn.", self_attn.NamedParameters());
  auto append = [&named](absl::string_view prefix, const Module& module) {
    for (auto& entry : WithPrefix(prefix, module.NamedParameters())) {
      named.push_back(std::move(entry));
    }
  };
  append("input_layernorm.", input_layernorm);
  append("post_attention_layernorm.", post_attention_layernorm);
  append("mlp.", mlp);
  return named;
}

absl::StatusOr<Tensor> MiniMindModel::Forward(
    const Tensor& input_ids, const DecoderOptions& options) const {
  if (options.caches != nullptr) {
    std::vector<KVCache>& caches = *options.caches;
    if (caches.empty()) caches.resize(layers.size());
    if (caches.size() != layers.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MiniMindModel: ", caches.size(), " KV caches given for ",
          layers.size(), " layers (one per layer, or an empty vector)"));
    }
  }
  // Distinct, well-mixed seeds for every dropout in the model: a run that
  // passes the step number as the seed gets unrelated masks per step.
  Tensor hidden_states = embed_tokens(input_ids);
  if (training_ && dropout > 0.0) {
    hidden_states =
        Dropout(hidden_states, dropout, CounterHash(options.dropout_seed, 0));
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    NameScope scope(absl::StrCat("layers.", l));
    BlockOptions block;
    block.attention_mask = options.attention_mask;
    block.cache = options.caches != nullptr ? &(*options.caches)[l] : nullptr;
    block.start_pos = options.start_pos;
    block.dropout_seed = CounterHash(options.dropout_seed, l + 1);
    MG_ASSIGN_OR_RETURN(hidden_states, layers[l].Forward(hidden_states, block));
  }
  return norm(hidden_states);
}

NamedTensors MiniMindModel::NamedParameters() const {
  NamedTensors named =
      WithPrefix("embed_tokens.", embed_tokens.NamedParameters());
  for (size_t l = 0; l < layers.size(); ++l) {
    for (auto& entry : WithPrefix(absl::StrCat("layers.", l, "."),
                                  layers[l].NamedParameters())) {
      named.push_back(std::move(entry));
    }
  }
  for (auto& entry : WithPrefix("norm.", norm.NamedParameters())) {
    named.push_back(std::move(entry));
  }
  return named;
}

std::vector<Module*> MiniMindModel::Children() {
  std::vector<Module*> children = {&embed_tokens};
  for (MiniMindBlock& layer : layers) children.push_back(&layer);
  children.push_back(&norm);
  return children;
}

}  // namespace minigraph
