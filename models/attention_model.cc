// The attention module in the model registry, so tools can build it by name
// (`minigraph dump --model attention --set heads=8 ...`).
//
// Settings: hidden (512), heads (8), kv_heads (2), rope_theta (1e6), flash
// (true), qk_norm (false). Parameters carry the module's own names
// (q_proj.weight, ...), as in the state dict of MiniMind's Attention.
#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "framework/status_macros.h"
#include "models/attention.h"
#include "models/model_registry.h"

namespace minigraph {
namespace {

absl::Status BadSetting(const std::string& key, const std::string& value,
                        const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("model attention: setting ", key, "=", value,
                   " is not valid (expected ", expected, ")"));
}

absl::Status ParseBool(const std::string& key, const std::string& value,
                       bool* out) {
  if (value == "true" || value == "1") {
    *out = true;
  } else if (value == "false" || value == "0") {
    *out = false;
  } else {
    return BadSetting(key, value, "true or false");
  }
  return absl::OkStatus();
}

absl::StatusOr<MiniMindConfig> ConfigFromSettings(
    const std::map<std::string, std::string>& settings) {
  MiniMindConfig config;
  for (const auto& [key, value] : settings) {
    if (key == "hidden" || key == "heads" || key == "kv_heads") {
      int64_t number = 0;
      if (!absl::SimpleAtoi(value, &number) || number <= 0) {
        return BadSetting(key, value, "a positive integer");
      }
      (key == "hidden"  ? config.hidden_size
       : key == "heads" ? config.num_attention_heads
                        : config.num_key_value_heads) = number;
    } else if (key == "rope_theta") {
      double theta = 0.0;
      if (!absl::SimpleAtod(value, &theta) || !(theta > 0.0) ||
          !std::isfinite(theta)) {
        return BadSetting(key, value, "a positive number");
      }
      config.rope_theta = theta;
    } else if (key == "flash") {
      MG_RETURN_IF_ERROR(ParseBool(key, value, &config.flash_attn));
    } else if (key == "qk_norm") {
      MG_RETURN_IF_ERROR(ParseBool(key, value, &config.qk_norm));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "model attention: unknown setting '", key,
          "' (known: hidden, heads, kv_heads, rope_theta, flash, qk_norm)"));
    }
  }
  MG_RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

absl::StatusOr<ModelInstance> BuildAttentionModel(const ModelOptions& options) {
  MG_ASSIGN_OR_RETURN(const MiniMindConfig config,
                      ConfigFromSettings(options.settings));
  if (options.batch <= 0 || options.seq <= 0 ||
      options.seq > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model attention: batch (", options.batch, ") must be > 0 and seq (",
        options.seq, ") in [1, ", config.max_position_embeddings, "]"));
  }
  Generator generator(options.seed);
  MG_ASSIGN_OR_RETURN(const Attention attention,
                      Attention::Create(config, generator, options.dtype));
  ModelInstance model;
  model.inputs = {
      Tensor::Randn({options.batch, options.seq, config.hidden_size}, generator,
                    options.dtype)};
  model.input_names = {"x"};
  model.input_dims = {{"B", "T", std::to_string(config.hidden_size)}};
  for (const auto& [name, tensor] : attention.NamedParameters()) {
    model.parameter_names.push_back(name);
    model.parameters.push_back(tensor);
  }
  const MiniMindConfig captured_config = config;
  model.forward = [captured_config, weights = attention.weights()](
                      const std::vector<Tensor>& inputs) {
    return std::vector<Tensor>{
        ValueOrDie(AttentionForward(captured_config, weights, inputs[0])).y};
  };
  model.output_names = {"y"};
  return model;
}

}  // namespace

MG_REGISTER_MODEL(attention,
                  "MiniMind Attention (GQA, RoPE, causal) from primitive ops",
                  BuildAttentionModel);

}  // namespace minigraph
