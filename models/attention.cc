#include "models/attention.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "framework/status_macros.h"
#include "models/rms_norm.h"
#include "models/rotary.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

std::string Describe(const Tensor& t) {
  return absl::StrCat(DTypeName(t.dtype()), ShapeToString(t.shape()));
}

// The shape each parameter must have under `config`.
Shape ExpectedShape(const MiniMindConfig& config, absl::string_view name) {
  const int64_t hidden = config.hidden_size;
  const int64_t head_dim = config.HeadDim();
  const int64_t q_out = config.num_attention_heads * head_dim;
  const int64_t kv_out = config.num_key_value_heads * head_dim;
  if (name == "q_proj.weight") return {q_out, hidden};
  if (name == "k_proj.weight" || name == "v_proj.weight") {
    return {kv_out, hidden};
  }
  if (name == "o_proj.weight") return {hidden, q_out};
  return {head_dim};  // q_norm.weight, k_norm.weight
}

Tensor* WeightSlot(AttentionWeights& weights, absl::string_view name) {
  if (name == "q_proj.weight") return &weights.q_proj;
  if (name == "k_proj.weight") return &weights.k_proj;
  if (name == "v_proj.weight") return &weights.v_proj;
  if (name == "o_proj.weight") return &weights.o_proj;
  if (name == "q_norm.weight") return &weights.q_norm;
  return &weights.k_norm;
}

std::string SizesNote(const MiniMindConfig& config) {
  return absl::StrCat("hidden ", config.hidden_size, ", heads ",
                      config.num_attention_heads, ", kv_heads ",
                      config.num_key_value_heads, ", head_dim ",
                      config.HeadDim());
}

// Every entry 0 or 1: anything else is almost surely a mistake (token ids,
// an additive -inf mask) that would be silently misread.
absl::Status CheckMaskValues(const Tensor& mask) {
  const std::vector<double> values = mask.ToVector<double>();
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] != 0.0 && values[i] != 1.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attention: attention_mask", ShapeToString(mask.shape()),
          " must hold only 1 (attend) and 0 (padding); entry [",
          i / mask.size(1), ", ", i % mask.size(1), "] is ", values[i]));
    }
  }
  return absl::OkStatus();
}

struct ForwardPlan {
  int64_t batch, seq, heads, kv_heads, head_dim, start_pos, past;
  DType dtype;
  bool fused;
};

absl::StatusOr<ForwardPlan> PlanForward(const MiniMindConfig& config,
                                        const AttentionWeights& weights,
                                        const Tensor& x,
                                        const AttentionOptions& options) {
  MG_RETURN_IF_ERROR(ValidateConfig(config));
  MG_RETURN_IF_ERROR(ValidateWeights(config, weights));
  ForwardPlan plan;
  plan.dtype = weights.q_proj.dtype();
  plan.heads = config.num_attention_heads;
  plan.kv_heads = config.num_key_value_heads;
  plan.head_dim = config.HeadDim();
  if (!x.defined() || x.dim() != 3 || x.size(2) != config.hidden_size ||
      x.dtype() != plan.dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: x must be ", DTypeName(plan.dtype), "[B, T, ",
        config.hidden_size, "], got ",
        x.defined() ? Describe(x) : std::string("an undefined tensor")));
  }
  plan.batch = x.size(0);
  plan.seq = x.size(1);
  if (plan.batch == 0 || plan.seq == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: x ", Describe(x), " has no batch rows or no positions"));
  }
  plan.past = 0;
  if (options.cache != nullptr && options.cache->keys.defined()) {
    const KVCache& cache = *options.cache;
    const Shape expected = {plan.batch, cache.length(), plan.kv_heads,
                            plan.head_dim};
    for (const Tensor* t : {&cache.keys, &cache.values}) {
      if (!t->defined() || t->shape() != expected || t->dtype() != plan.dtype) {
        return absl::InvalidArgumentError(absl::StrCat(
            "attention: KV cache ", t == &cache.keys ? "keys" : "values",
            " must be ", DTypeName(plan.dtype), ShapeToString(expected),
            " [B, T_past, kv_heads, head_dim], got ",
            t->defined() ? Describe(*t) : std::string("an undefined tensor")));
      }
    }
    plan.past = cache.length();
  }
  plan.start_pos = options.start_pos.value_or(plan.past);
  if (plan.start_pos < 0 ||
      plan.start_pos + plan.seq > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(
        "attention: positions ", plan.start_pos, " to ",
        plan.start_pos + plan.seq - 1, " are outside [0, ",
        config.max_position_embeddings, ") (max_position_embeddings)"));
  }
  const Tensor& mask = options.attention_mask;
  const int64_t keys = plan.past + plan.seq;
  if (mask.defined()) {
    if (mask.shape() != Shape{plan.batch, keys}) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attention: attention_mask must be [B, T_k] = [", plan.batch, ", ",
          keys, "] (T_k = ", plan.past, " cached + ", plan.seq,
          " new positions), got ", Describe(mask)));
    }
    MG_RETURN_IF_ERROR(CheckMaskValues(mask));
  }

  // Where the fused op cannot serve, say why.
  std::string no_fused;
  if (mask.defined()) {
    no_fused = "a padding mask is given";
  } else if (options.return_weights) {
    no_fused = "the attention weights were asked for";
  } else if (options.training && config.dropout > 0.0) {
    no_fused = "dropout on the attention weights needs them";
  }
  switch (options.path) {
    case AttentionPath::kAuto:
      plan.fused = config.flash_attn && no_fused.empty();
      break;
    case AttentionPath::kComposed:
      plan.fused = false;
      break;
    case AttentionPath::kFused:
      if (!no_fused.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "attention: the fused path was asked for but ", no_fused));
      }
      plan.fused = true;
      break;
  }
  return plan;
}

// softmax(q k^T * scale + causal [+ padding]) v from primitive ops, with
// q [B, H, T, d] and k, v [B, H, S, d] (already repeated to H heads).
Tensor ComposedCore(const Tensor& q, const Tensor& k, const Tensor& v,
                    const Tensor& padding_mask, double scale, double dropout_p,
                    uint64_t dropout_seed, Tensor* weights) {
  const int64_t rows = q.size(2);
  const int64_t cols = k.size(2);
  Tensor scores;
  {
    NameScope scope("scores");
    scores = Matmul(q, k, false, /*transpose_b=*/true) * scale;
    // Keys at positions after the query's are hidden; offset cols - rows
    // aligns the diagonal to the last key when keys include a cache.
    scores = scores + CausalMask(rows, cols, cols - rows, q.dtype());
    if (padding_mask.defined()) {
      // [B, S] -> [B, 1, 1, S]: one row of keys per batch entry.
      const Tensor masked = Reshape(
          Equal(Cast(padding_mask, q.dtype()), Tensor::Scalar(0.0, q.dtype())),
          {padding_mask.size(0), 1, 1, cols});
      scores =
          MaskedFill(scores, masked, -std::numeric_limits<double>::infinity());
    }
  }
  Tensor probs = Softmax(scores, -1);
  if (weights != nullptr) *weights = probs;
  if (dropout_p > 0.0) probs = Dropout(probs, dropout_p, dropout_seed);
  return Matmul(probs, v);
}

}  // namespace

std::vector<std::string> AttentionParameterNames(bool qk_norm) {
  std::vector<std::string> names = {"q_proj.weight", "k_proj.weight",
                                    "v_proj.weight", "o_proj.weight"};
  if (qk_norm) {
    names.push_back("q_norm.weight");
    names.push_back("k_norm.weight");
  }
  return names;
}

absl::Status ValidateWeights(const MiniMindConfig& config,
                             const AttentionWeights& weights) {
  MG_RETURN_IF_ERROR(ValidateConfig(config));
  AttentionWeights copy = weights;
  const DType dtype =
      weights.q_proj.defined() ? weights.q_proj.dtype() : DType::kFloat32;
  for (const std::string& name : AttentionParameterNames(config.qk_norm)) {
    const Tensor& t = *WeightSlot(copy, name);
    const Shape expected = ExpectedShape(config, name);
    if (!t.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attention: parameter ", name, " is missing (expected ",
          ShapeToString(expected), " for ", SizesNote(config), ")"));
    }
    if (t.shape() != expected || !IsFloating(t.dtype()) || t.dtype() != dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat("attention: parameter ", name, " is ", Describe(t),
                       ", expected ", DTypeName(dtype), ShapeToString(expected),
                       " for ", SizesNote(config)));
    }
  }
  return absl::OkStatus();
}

Tensor RepeatKV(const Tensor& x, int64_t n_rep) {
  if (n_rep == 1) return x;
  NameScope scope("repeat_kv");
  const int64_t batch = x.size(0), seq = x.size(1), kv_heads = x.size(2),
                head_dim = x.size(3);
  const Tensor spread = Expand(Reshape(x, {batch, seq, kv_heads, 1, head_dim}),
                               {batch, seq, kv_heads, n_rep, head_dim});
  return Reshape(spread, {batch, seq, kv_heads * n_rep, head_dim});
}

absl::StatusOr<AttentionOutput> AttentionForward(
    const MiniMindConfig& config, const AttentionWeights& w, const Tensor& x,
    const AttentionOptions& options) {
  MG_ASSIGN_OR_RETURN(const ForwardPlan plan,
                      PlanForward(config, w, x, options));
  const int64_t batch = plan.batch, seq = plan.seq, heads = plan.heads,
                kv_heads = plan.kv_heads, head_dim = plan.head_dim;
  const double dropout_p = options.training ? config.dropout : 0.0;

  NameScope scope("attention");
  // Project and view as heads.
  Tensor q, k, v;
  {
    NameScope s("q_proj");
    q = Reshape(Matmul(x, w.q_proj, false, true),
                {batch, seq, heads, head_dim});
  }
  {
    NameScope s("k_proj");
    k = Reshape(Matmul(x, w.k_proj, false, true),
                {batch, seq, kv_heads, head_dim});
  }
  {
    NameScope s("v_proj");
    v = Reshape(Matmul(x, w.v_proj, false, true),
                {batch, seq, kv_heads, head_dim});
  }
  if (config.qk_norm) {
    NameScope s("qk_norm");
    q = RmsNorm(q, w.q_norm, config.rms_norm_eps);
    k = RmsNorm(k, w.k_norm, config.rms_norm_eps);
  }
  const RotaryTables tables = MakeRotaryTables(head_dim, config.rope_theta,
                                               plan.start_pos, seq, plan.dtype);
  q = ApplyRotary(q, tables);
  k = ApplyRotary(k, tables);

  if (options.cache != nullptr) {
    KVCache& cache = *options.cache;
    if (cache.keys.defined()) {
      k = Concat({cache.keys, k}, 1);
      v = Concat({cache.values, v}, 1);
    }
    cache.keys = k;
    cache.values = v;
  }

  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  AttentionOutput result;
  result.fused = plan.fused;
  Tensor heads_out;  // [B, T, H, d]
  if (plan.fused) {
    // q [B, H, T, d]; k, v [B, H_kv, S, d]: the fused op shares KV heads
    // itself (no repeat_kv copies) and aligns the causal diagonal to the
    // last key, as the composed mask does.
    heads_out =
        Transpose(FlashAttention(Transpose(q, 1, 2), Transpose(k, 1, 2),
                                 Transpose(v, 1, 2), /*causal=*/true, scale),
                  1, 2);
  } else {
    const int64_t n_rep = config.NumRep();
    const Tensor qh = Transpose(q, 1, 2);
    const Tensor kh = Transpose(RepeatKV(k, n_rep), 1, 2);
    const Tensor vh = Transpose(RepeatKV(v, n_rep), 1, 2);
    heads_out = Transpose(
        ComposedCore(qh, kh, vh, options.attention_mask, scale, dropout_p,
                     options.dropout_seed,
                     options.return_weights ? &result.weights : nullptr),
        1, 2);
  }
  const Tensor merged = Reshape(heads_out, {batch, seq, heads * head_dim});
  {
    NameScope s("o_proj");
    result.y = Matmul(merged, w.o_proj, false, true);
  }
  if (dropout_p > 0.0) {
    result.y = Dropout(result.y, dropout_p, options.dropout_seed + 1);
  }
  return result;
}

absl::StatusOr<Attention> Attention::Create(const MiniMindConfig& config,
                                            Generator& generator, DType dtype) {
  MG_RETURN_IF_ERROR(ValidateConfig(config));
  if (!IsFloating(dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attention: parameters must be float32 or float64, got ",
                     DTypeName(dtype)));
  }
  AttentionWeights weights;
  for (const std::string& name : AttentionParameterNames(config.qk_norm)) {
    const Shape shape = ExpectedShape(config, name);
    Tensor t;
    if (shape.size() == 2) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(shape[1]));
      t = Tensor::Uniform(shape, -bound, bound, generator, dtype);
    } else {
      t = Tensor::Ones(shape, dtype);
    }
    t.set_requires_grad(true).set_name(name);
    *WeightSlot(weights, name) = t;
  }
  return Attention(config, std::move(weights));
}

absl::StatusOr<Attention> Attention::Load(const MiniMindConfig& config,
                                          const SafetensorsFile& file,
                                          absl::string_view prefix,
                                          absl::string_view source,
                                          DType dtype) {
  MG_RETURN_IF_ERROR(ValidateConfig(config));
  AttentionWeights weights;
  for (const std::string& name : AttentionParameterNames(config.qk_norm)) {
    const std::string full_name = absl::StrCat(prefix, name);
    const Shape expected = ExpectedShape(config, name);
    auto it = file.tensors.find(full_name);
    if (it == file.tensors.end()) {
      return absl::NotFoundError(absl::StrCat(
          source, ": tensor '", full_name, "' not found (expected ",
          ShapeToString(expected), " for ", SizesNote(config), ")"));
    }
    const Tensor& stored = it->second;
    if (stored.shape() != expected || !IsFloating(stored.dtype())) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": tensor '", full_name, "' is ",
                       Describe(stored), ", expected a float tensor of shape ",
                       ShapeToString(expected), " for ", SizesNote(config)));
    }
    // A copy in the compute dtype: the parameter owns its storage.
    Tensor t = ConvertDType(stored, dtype);
    t.set_requires_grad(true).set_name(full_name);
    *WeightSlot(weights, name) = t;
  }
  return Attention(config, std::move(weights));
}

absl::StatusOr<Attention> Attention::FromWeights(const MiniMindConfig& config,
                                                 AttentionWeights weights) {
  MG_RETURN_IF_ERROR(ValidateWeights(config, weights));
  return Attention(config, std::move(weights));
}

Tensor Attention::operator()(const Tensor& x) const {
  return ValueOrDie(Forward(x)).y;
}

NamedTensors Attention::NamedParameters() const {
  NamedTensors named;
  AttentionWeights copy = weights_;
  for (const std::string& name : AttentionParameterNames(config_.qk_norm)) {
    named.emplace_back(name, *WeightSlot(copy, name));
  }
  return named;
}

}  // namespace minigraph
