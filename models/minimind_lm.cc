// MiniMindForCausalLM: building (initialised or from a state dict), the
// forward pass with HF's shifted loss, and the parameter lists. Reading and
// writing checkpoint directories is in minimind_checkpoint.cc.
#include "models/minimind_lm.h"

#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "framework/status_macros.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

constexpr int64_t kIgnoreIndex = -100;

// How a parameter is initialised by its PyTorch module.
enum class ParamKind {
  kLinear,     // nn.Linear: U(-1/sqrt(in), 1/sqrt(in)), in = shape[1]
  kEmbedding,  // nn.Embedding: N(0, 1)
  kNorm,       // RMSNorm: ones
};

// Makes the parameter of a name, shape and kind; called in PyTorch's
// construction order. May fail (a given tensor of the wrong shape).
using ParamFactory = std::function<absl::StatusOr<Tensor>(
    const std::string&, const Shape&, ParamKind)>;

std::string Describe(const Tensor& t) {
  return absl::StrCat(DTypeName(t.dtype()), ShapeToString(t.shape()));
}

// Every id of an int64 [B, T] tensor in [0, vocab) (or ignore_index when
// allowed), naming the first one that is not.
absl::Status CheckIds(const Tensor& ids, absl::string_view what, int64_t vocab,
                      bool allow_ignore) {
  const std::vector<int64_t> values = ids.ToVector<int64_t>();
  const int64_t seq = ids.size(1);
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t id = values[i];
    if ((id >= 0 && id < vocab) || (allow_ignore && id == kIgnoreIndex)) {
      continue;
    }
    return absl::OutOfRangeError(absl::StrCat(
        "MiniMindForCausalLM: ", what, "[", i / seq, ", ", i % seq, "] = ", id,
        " is outside the vocabulary [0, ", vocab, ")",
        allow_ignore ? absl::StrCat(" and is not ", kIgnoreIndex) : ""));
  }
  return absl::OkStatus();
}

// The whole model under `config` (intermediate size resolved), parameters
// from `factory` in the order PyTorch constructs them; lm_head last, the
// embedding then taking its weight when tied.
absl::StatusOr<std::pair<MiniMindModel, Linear>> BuildModel(
    const MiniMindConfig& config, const ParamFactory& factory) {
  const int64_t hidden = config.hidden_size;
  const int64_t intermediate = config.IntermediateSize();
  const int64_t head_dim = config.HeadDim();
  const int64_t q_out = config.num_attention_heads * head_dim;
  const int64_t kv_out = config.num_key_value_heads * head_dim;
  const double eps = config.rms_norm_eps;
  absl::Status status;  // the first failure; later calls are skipped
  auto make = [&](const std::string& name, const Shape& shape, ParamKind kind) {
    if (!status.ok()) return Tensor();
    absl::StatusOr<Tensor> t = factory(name, shape, kind);
    if (!t.ok()) {
      status = t.status();
      return Tensor();
    }
    return *std::move(t);
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    Linear l;
    l.weight = make(name + ".weight", {out, in}, ParamKind::kLinear);
    return l;
  };
  auto rms_norm = [&](const std::string& name, int64_t dim) {
    RMSNorm n;
    n.weight = make(name + ".weight", {dim}, ParamKind::kNorm);
    n.eps = eps;
    return n;
  };

  MiniMindModel model;
  model.dropout = config.dropout;
  if (!config.tie_word_embeddings) {
    model.embed_tokens.weight =
        make("model.embed_tokens.weight", {config.vocab_size, hidden},
             ParamKind::kEmbedding);
  }
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::string layer = absl::StrCat("model.layers.", l, ".");
    const std::string attn = layer + "self_attn.";
    AttentionWeights w;
    w.q_proj = linear(attn + "q_proj", q_out, hidden).weight;
    w.k_proj = linear(attn + "k_proj", kv_out, hidden).weight;
    w.v_proj = linear(attn + "v_proj", kv_out, hidden).weight;
    w.o_proj = linear(attn + "o_proj", hidden, q_out).weight;
    if (config.qk_norm) {
      w.q_norm = rms_norm(attn + "q_norm", head_dim).weight;
      w.k_norm = rms_norm(attn + "k_norm", head_dim).weight;
    }
    RMSNorm input_layernorm = rms_norm(layer + "input_layernorm", hidden);
    RMSNorm post_attention_layernorm =
        rms_norm(layer + "post_attention_layernorm", hidden);
    FeedForward mlp;
    mlp.gate_proj = linear(layer + "mlp.gate_proj", intermediate, hidden);
    mlp.down_proj = linear(layer + "mlp.down_proj", hidden, intermediate);
    mlp.up_proj = linear(layer + "mlp.up_proj", intermediate, hidden);
    mlp.dropout = config.dropout;
    MG_RETURN_IF_ERROR(status);
    MG_ASSIGN_OR_RETURN(Attention self_attn,
                        Attention::FromWeights(config, std::move(w)));
    model.layers.emplace_back(std::move(self_attn), std::move(input_layernorm),
                              std::move(post_attention_layernorm),
                              std::move(mlp));
  }
  model.norm = rms_norm("model.norm", hidden);
  // Tied, the head's weight is the embedding's (MiniMind assigns
  // embed_tokens.weight = lm_head.weight), named as the embedding.
  Linear lm_head =
      linear(config.tie_word_embeddings ? "model.embed_tokens" : "lm_head",
             config.vocab_size, hidden);
  MG_RETURN_IF_ERROR(status);
  if (config.tie_word_embeddings) model.embed_tokens.weight = lm_head.weight;
  return std::make_pair(std::move(model), std::move(lm_head));
}

absl::Status CheckDType(DType dtype) {
  if (!IsFloating(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MiniMindForCausalLM: parameters must be float32 or float64, got ",
        DTypeName(dtype)));
  }
  return absl::OkStatus();
}

}  // namespace

MiniMindForCausalLM::MiniMindForCausalLM(MiniMindConfig config,
                                         MiniMindModel model, Linear lm_head)
    : config_(std::move(config)),
      model_(std::move(model)),
      lm_head_(std::move(lm_head)) {
  // Tensor names are the checkpoint's, for graph dumps and error messages.
  // The tied weight is named model.embed_tokens.weight.
  for (auto& [name, tensor] : NamedParameters()) tensor.set_name(name);
}

absl::StatusOr<MiniMindForCausalLM> MiniMindForCausalLM::Create(
    const MiniMindConfig& config, Generator& generator, DType dtype) {
  MG_RETURN_IF_ERROR(ValidateConfig(config));
  MG_RETURN_IF_ERROR(CheckDType(dtype));
  MiniMindConfig resolved = config;
  resolved.intermediate_size = config.IntermediateSize();
  const ParamFactory init = [&](const std::string&, const Shape& shape,
                                ParamKind kind) -> absl::StatusOr<Tensor> {
    Tensor t;
    switch (kind) {
      case ParamKind::kLinear: {
        const double bound = 1.0 / std::sqrt(static_cast<double>(shape[1]));
        t = Tensor::Uniform(shape, -bound, bound, generator, dtype);
        break;
      }
      case ParamKind::kEmbedding:
        t = Tensor::Randn(shape, generator, dtype);
        break;
      case ParamKind::kNorm:
        t = Tensor::Ones(shape, dtype);
        break;
    }
    t.set_requires_grad(true);
    return t;
  };
  MG_ASSIGN_OR_RETURN(auto parts, BuildModel(resolved, init));
  return MiniMindForCausalLM(std::move(resolved), std::move(parts.first),
                             std::move(parts.second));
}

absl::StatusOr<MiniMindForCausalLM> MiniMindForCausalLM::FromStateDict(
    const MiniMindConfig& config, const SafetensorsFile& state,
    absl::string_view source, DType dtype) {
  MiniMindConfig resolved = config;
  // MiniMind-3's config.json has no qk_norm key: its weights say so.
  if (state.tensors.count("model.layers.0.self_attn.q_norm.weight") > 0 ||
      state.tensors.count("model.layers.0.self_attn.k_norm.weight") > 0) {
    resolved.qk_norm = true;
  }
  if (absl::Status status = ValidateConfig(resolved); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", status.message()));
  }
  MG_RETURN_IF_ERROR(CheckDType(dtype));
  resolved.intermediate_size = resolved.IntermediateSize();
  const ParamFactory zeros = [dtype](const std::string&, const Shape& shape,
                                     ParamKind) -> absl::StatusOr<Tensor> {
    Tensor t = Tensor::Zeros(shape, dtype);
    t.set_requires_grad(true);
    return t;
  };
  MG_ASSIGN_OR_RETURN(auto parts, BuildModel(resolved, zeros));
  MiniMindForCausalLM lm(std::move(resolved), std::move(parts.first),
                         std::move(parts.second));
  // A tied checkpoint may carry the shared weight under the head's name
  // only.
  const SafetensorsFile* source_state = &state;
  SafetensorsFile renamed;
  if (lm.config_.tie_word_embeddings &&
      state.tensors.count("model.embed_tokens.weight") == 0 &&
      state.tensors.count("lm_head.weight") > 0) {
    renamed = state;
    renamed.tensors["model.embed_tokens.weight"] =
        state.tensors.at("lm_head.weight");
    source_state = &renamed;
  }
  MG_RETURN_IF_ERROR(LoadStateDict(lm, *source_state, source, true));
  return lm;
}

absl::StatusOr<MiniMindForCausalLM> MiniMindForCausalLM::FromTensors(
    const MiniMindConfig& config, const NamedTensors& parameters) {
  MG_RETURN_IF_ERROR(ValidateConfig(config));
  MiniMindConfig resolved = config;
  resolved.intermediate_size = config.IntermediateSize();
  std::map<std::string, Tensor> given;
  for (const auto& [name, tensor] : parameters) given[name] = tensor;
  DType dtype = DType::kFloat32;
  if (!parameters.empty() && parameters[0].second.defined()) {
    dtype = parameters[0].second.dtype();
  }
  MG_RETURN_IF_ERROR(CheckDType(dtype));
  std::set<std::string> requested;
  const ParamFactory take = [&](const std::string& name, const Shape& shape,
                                ParamKind) -> absl::StatusOr<Tensor> {
    requested.insert(name);
    auto it = given.find(name);
    if (it == given.end() || !it->second.defined()) {
      return absl::NotFoundError(absl::StrCat(
          "MiniMindForCausalLM: parameter '", name, "' not given (expected ",
          DTypeName(dtype), ShapeToString(shape), ")"));
    }
    if (it->second.shape() != shape || it->second.dtype() != dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat("MiniMindForCausalLM: parameter '", name, "' is ",
                       Describe(it->second), ", expected ", DTypeName(dtype),
                       ShapeToString(shape)));
    }
    return it->second;
  };
  MG_ASSIGN_OR_RETURN(auto parts, BuildModel(resolved, take));
  for (const auto& entry : given) {
    if (requested.count(entry.first) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MiniMindForCausalLM: parameter '", entry.first,
          "' is not one of the model's (", ConfigToString(resolved), ")"));
    }
  }
  return MiniMindForCausalLM(std::move(resolved), std::move(parts.first),
                             std::move(parts.second));
}

absl::StatusOr<LMOutput> MiniMindForCausalLM::Forward(
    const Tensor& input_ids, const LMOptions& options) const {
  if (!input_ids.defined() || input_ids.dtype() != DType::kInt64 ||
      input_ids.dim() != 2 || input_ids.numel() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MiniMindForCausalLM: input_ids must be a non-empty int64[B, T], got ",
        input_ids.defined() ? Describe(input_ids) : "an undefined tensor"));
  }
  const int64_t seq = input_ids.size(1);
  MG_RETURN_IF_ERROR(
      CheckIds(input_ids, "input_ids", config_.vocab_size, false));
  const Tensor& labels = options.labels;
  if (labels.defined()) {
    if (labels.dtype() != DType::kInt64 ||
        labels.shape() != input_ids.shape()) {
      return absl::InvalidArgumentError(
          absl::StrCat("MiniMindForCausalLM: labels must be int64",
                       ShapeToString(input_ids.shape()),
                       " like input_ids, got ", Describe(labels)));
    }
    if (seq < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MiniMindForCausalLM: a loss needs at least 2 positions (each "
          "predicts the next), got input_ids ",
          Describe(input_ids)));
    }
    MG_RETURN_IF_ERROR(CheckIds(labels, "labels", config_.vocab_size, true));
  }
  if (options.logits_to_keep < 0 ||
      (options.logits_to_keep > 0 && labels.defined())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MiniMindForCausalLM: logits_to_keep must be >= 0 and 0 with labels "
        "(the loss scores every position), got ",
        options.logits_to_keep, labels.defined() ? " with labels" : ""));
  }

  DecoderOptions model_options;
  model_options.attention_mask = options.attention_mask;
  model_options.caches = options.caches;
  model_options.start_pos = options.start_pos;
  model_options.dropout_seed = options.dropout_seed;
  MG_ASSIGN_OR_RETURN(const Tensor hidden_states,
                      model_.Forward(input_ids, model_options));
  LMOutput output;
  {
    NameScope scope("lm_head");
    // Generation reads only the last position: the head (vocab x hidden per
    // position) is then computed once instead of T times.
    const int64_t keep = options.logits_to_keep;
    output.logits = lm_head_(keep > 0 && keep < seq
                                 ? Slice(hidden_states, 1, seq - keep, seq)
                                 : hidden_states);
  }
  if (labels.defined()) {
    NameScope scope("loss");
    // Position t's logits predict token t + 1: logits[:, :-1] against
    // labels[:, 1:], the mean over labels that are not -100.
    const Tensor shifted_logits = Slice(output.logits, 1, 0, seq - 1);
    const Tensor shifted_labels = Slice(labels, 1, 1, seq);
    output.loss = CrossEntropy(shifted_logits, shifted_labels, kIgnoreIndex,
                               LossReduction::kMean);
  }
  return output;
}

NamedTensors MiniMindForCausalLM::NamedParameters() const {
  NamedTensors named = WithPrefix("model.", model_.NamedParameters());
  if (!config_.tie_word_embeddings) {
    for (auto& entry : WithPrefix("lm_head.", lm_head_.NamedParameters())) {
      named.push_back(std::move(entry));
    }
  }
  return named;
}

NamedTensors MiniMindForCausalLM::StateDictEntries() const {
  NamedTensors named = NamedParameters();
  if (config_.tie_word_embeddings) {
    named.emplace_back("lm_head.weight", lm_head_.weight);
  }
  return named;
}

int64_t MiniMindForCausalLM::NumParameters() const {
  int64_t count = 0;
  for (const auto& entry : NamedParameters()) count += entry.second.numel();
  return count;
}

}  // namespace minigraph
