#include "tools/minigraph/attention_cli.h"

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/autograd.h"
#include "framework/safetensors.h"
#include "framework/status_macros.h"
#include "framework/tensor.h"
#include "models/attention.h"
#include "models/minimind_config.h"

namespace minigraph::cli {

const char kAttentionUsage[] =
    "minigraph attention --weights W.safetensors [--prefix P] "
    "--input X.safetensors\n"
    "    --output Y.safetensors [--grad] [--dtype f32|f64] [--heads 8] "
    "[--kv-heads 2]\n"
    "    [--rope-theta 1e6] [--flash | --no-flash] [--start-pos N] "
    "[--save-attn]\n"
    "\n"
    "W: <P>q_proj.weight [heads*head_dim, hidden], <P>k_proj.weight and\n"
    "   <P>v_proj.weight [kv_heads*head_dim, hidden], <P>o_proj.weight\n"
    "   [hidden, heads*head_dim]; <P>q_norm.weight and <P>k_norm.weight\n"
    "   [head_dim] turn on qk_norm.\n"
    "X: x [B, T, hidden]; optional grad_output [B, T, hidden] (default: ones,\n"
    "   the gradient of sum(y)); optional attention_mask [B, T] (1 attend,\n"
    "   0 padding; a query that sees no key gets a zero output before\n"
    "   o_proj, where PyTorch's masked_fill(-inf) + softmax gives NaN).\n"
    "Y: y [B, T, hidden]; with --grad grad.x, grad.q_proj.weight,\n"
    "   grad.k_proj.weight, grad.v_proj.weight, grad.o_proj.weight; with\n"
    "   --save-attn attn [B, heads, T, T] (the composed path computes it).\n"
    "--dtype is the compute dtype (inputs are converted; default f32).\n"
    "--flash (the default) uses the fused attention op when no mask is given.\n"
    "Exit status: 0 on success, 2 on bad input (no output file is written).\n";

namespace {

std::string Describe(const Tensor& t) {
  return absl::StrCat(DTypeName(t.dtype()), ShapeToString(t.shape()));
}

absl::Status TensorError(const std::string& file, const std::string& name,
                         const std::string& problem) {
  return absl::InvalidArgumentError(
      absl::StrCat(file, ": tensor '", name, "' ", problem));
}

// Finds `name` in `file` and checks its rank and float dtype.
absl::StatusOr<Tensor> Find(const SafetensorsFile& file,
                            const std::string& path, const std::string& name,
                            int rank, const std::string& expected) {
  auto it = file.tensors.find(name);
  if (it == file.tensors.end()) {
    return absl::NotFoundError(absl::StrCat(
        path, ": tensor '", name, "' not found (expected ", expected, ")"));
  }
  const Tensor& t = it->second;
  if (t.dim() != rank || !IsFloating(t.dtype())) {
    return TensorError(
        path, name,
        absl::StrCat("is ", Describe(t), ", expected a float ", expected));
  }
  return t;
}

// Sizes of the module from W's shapes and the head counts.
absl::StatusOr<MiniMindConfig> ConfigFromWeights(
    const AttentionCommand& command, const SafetensorsFile& weights) {
  const std::string& path = command.weights_path;
  const std::string& prefix = command.prefix;
  if (command.heads <= 0 || command.kv_heads <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--heads (", command.heads, ") and --kv-heads (",
                     command.kv_heads, ") must be positive"));
  }
  if (command.heads % command.kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--heads (", command.heads, ") must be a multiple of --kv-heads (",
        command.kv_heads, ")"));
  }
  MG_ASSIGN_OR_RETURN(const Tensor q,
                      Find(weights, path, prefix + "q_proj.weight", 2,
                           "[heads*head_dim, hidden] tensor"));
  const int64_t hidden = q.size(1);
  if (q.size(0) % command.heads != 0 || q.size(0) == 0) {
    return TensorError(path, prefix + "q_proj.weight",
                       absl::StrCat("is ", Describe(q), ": its ", q.size(0),
                                    " rows are not heads*head_dim for --heads ",
                                    command.heads));
  }
  MiniMindConfig config;
  config.hidden_size = hidden;
  config.num_attention_heads = command.heads;
  config.num_key_value_heads = command.kv_heads;
  config.head_dim = q.size(0) / command.heads;
  config.rope_theta = command.rope_theta;
  config.flash_attn = command.flash;
  const int64_t head_dim = config.head_dim;
  const std::string sizes =
      absl::StrCat(" (hidden ", hidden, " and head_dim ", head_dim,
                   " from q_proj.weight ", Describe(q), ", --heads ",
                   command.heads, ", --kv-heads ", command.kv_heads, ")");
  const std::pair<std::string, Shape> expected[] = {
      {"k_proj.weight", {command.kv_heads * head_dim, hidden}},
      {"v_proj.weight", {command.kv_heads * head_dim, hidden}},
      {"o_proj.weight", {hidden, command.heads * head_dim}}};
  for (const auto& [name, shape] : expected) {
    MG_ASSIGN_OR_RETURN(const Tensor t, Find(weights, path, prefix + name, 2,
                                             absl::StrCat(ShapeToString(shape),
                                                          " tensor", sizes)));
    if (t.shape() != shape) {
      return TensorError(path, prefix + name,
                         absl::StrCat("is ", Describe(t), ", expected ",
                                      ShapeToString(shape), sizes));
    }
  }
  const bool has_q_norm = weights.tensors.count(prefix + "q_norm.weight") > 0;
  const bool has_k_norm = weights.tensors.count(prefix + "k_norm.weight") > 0;
  if (has_q_norm != has_k_norm) {
    return TensorError(
        path, prefix + (has_q_norm ? "k_norm.weight" : "q_norm.weight"),
        absl::StrCat("not found, but its partner is present (qk_norm needs "
                     "both, [",
                     head_dim, "])"));
  }
  config.qk_norm = has_q_norm;
  if (absl::Status s = ValidateConfig(config); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", s.message(), sizes));
  }
  return config;
}

struct Inputs {
  Tensor x, grad_output, attention_mask;
};

absl::StatusOr<Inputs> ReadInputs(const AttentionCommand& command,
                                  const MiniMindConfig& config) {
  const std::string& path = command.input_path;
  MG_ASSIGN_OR_RETURN(const SafetensorsFile file, ReadSafetensors(path));
  const std::set<std::string> known = {"x", "grad_output", "attention_mask"};
  for (const auto& [name, tensor] : file.tensors) {
    if (known.count(name) == 0) {
      return TensorError(
          path, name,
          "is not an input of the attention command (expected x, and "
          "optionally grad_output and attention_mask)");
    }
  }
  Inputs in;
  MG_ASSIGN_OR_RETURN(
      in.x, Find(file, path, "x", 3,
                 absl::StrCat("[B, T, ", config.hidden_size, "] tensor")));
  if (in.x.size(2) != config.hidden_size || in.x.size(0) == 0 ||
      in.x.size(1) == 0) {
    return TensorError(
        path, "x",
        absl::StrCat("is ", Describe(in.x), ", expected [B, T, ",
                     config.hidden_size, "] with B, T >= 1 (hidden ",
                     config.hidden_size, " from ", command.weights_path, ")"));
  }
  const int64_t batch = in.x.size(0), seq = in.x.size(1);
  if (file.tensors.count("grad_output") > 0) {
    MG_ASSIGN_OR_RETURN(in.grad_output,
                        Find(file, path, "grad_output", 3, "tensor like x"));
    if (in.grad_output.shape() != in.x.shape()) {
      return TensorError(path, "grad_output",
                         absl::StrCat("is ", Describe(in.grad_output),
                                      ", expected the shape of x ",
                                      ShapeToString(in.x.shape())));
    }
  }
  auto mask = file.tensors.find("attention_mask");
  if (mask != file.tensors.end()) {
    // Integer masks (torch.long, as tokenizers return them) are fine.
    in.attention_mask = mask->second;
    if (in.attention_mask.shape() != Shape{batch, seq}) {
      return TensorError(
          path, "attention_mask",
          absl::StrCat("is ", Describe(in.attention_mask),
                       ", expected [B, T] = [", batch, ", ", seq, "]"));
    }
    for (double value : in.attention_mask.ToVector<double>()) {
      if (value != 0.0 && value != 1.0) {
        return TensorError(path, "attention_mask",
                           absl::StrCat("holds ", value,
                                        "; expected only 1 (attend) and 0 "
                                        "(padding)"));
      }
    }
  }
  return in;
}

}  // namespace

absl::Status RunAttentionCommand(const AttentionCommand& command) {
  for (const auto& [flag, value] : {std::pair<const char*, const std::string*>{
                                        "--weights", &command.weights_path},
                                    {"--input", &command.input_path},
                                    {"--output", &command.output_path}}) {
    if (value->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " is required"));
    }
  }
  if (!IsFloating(command.dtype)) {
    return absl::InvalidArgumentError("--dtype must be f32 or f64");
  }
  if (command.start_pos < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--start-pos must be >= 0, got ", command.start_pos));
  }
  MG_ASSIGN_OR_RETURN(const SafetensorsFile weight_file,
                      ReadSafetensors(command.weights_path));
  MG_ASSIGN_OR_RETURN(const MiniMindConfig config,
                      ConfigFromWeights(command, weight_file));
  MG_ASSIGN_OR_RETURN(const Attention attention,
                      Attention::Load(config, weight_file, command.prefix,
                                      command.weights_path, command.dtype));
  MG_ASSIGN_OR_RETURN(const Inputs in, ReadInputs(command, config));

  Tensor x = ConvertDType(in.x, command.dtype);
  if (command.grad) x.set_requires_grad(true);
  AttentionOptions options;
  options.start_pos = command.start_pos;
  if (in.attention_mask.defined()) {
    options.attention_mask = ConvertDType(in.attention_mask, command.dtype);
  }
  options.return_weights = command.save_attn;
  options.path = command.save_attn || !command.flash ? AttentionPath::kComposed
                                                     : AttentionPath::kAuto;
  absl::StatusOr<AttentionOutput> out = attention.Forward(x, options);
  if (!out.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(command.input_path, ", ",
                                                   command.weights_path, ": ",
                                                   out.status().message()));
  }

  SafetensorsFile result;
  result.metadata["producer"] = "minigraph attention";
  result.metadata["path"] = out->fused ? "fused" : "composed";
  result.metadata["dtype"] = DTypeName(command.dtype);
  result.tensors["y"] = out->y.Detach();
  if (command.save_attn) result.tensors["attn"] = out->weights.Detach();
  if (command.grad) {
    const Tensor grad_output = in.grad_output.defined()
                                   ? ConvertDType(in.grad_output, command.dtype)
                                   : Tensor::Ones(x.shape(), command.dtype);
    std::vector<Tensor> wrt = {x};
    std::vector<std::string> names = {"grad.x"};
    for (const auto& [name, tensor] : attention.NamedParameters()) {
      wrt.push_back(tensor);
      names.push_back("grad." + name);
    }
    MG_ASSIGN_OR_RETURN(const std::vector<Tensor> grads,
                        Gradients({out->y}, wrt, {grad_output}));
    for (size_t i = 0; i < grads.size(); ++i) {
      result.tensors[names[i]] = grads[i];
    }
  }
  return WriteSafetensors(command.output_path, result);
}

}  // namespace minigraph::cli
