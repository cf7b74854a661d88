// MiniMind's whole causal LM in the model registry, so tools can build it by
// name (`minigraph dump --model minimind --set preset=tiny,layers=1`).
//
// Settings: preset (tiny; minimind2-small, minimind3) picks the starting
// configuration; layers, hidden, heads, kv_heads, head_dim, intermediate,
// vocab, tie, flash, qk_norm, rope_theta and dropout override its fields.
// Overriding hidden without intermediate recomputes intermediate by the
// preset's own rule (2026 for minimind3, 2025 otherwise), so the model keeps
// MiniMind's proportions. Dropout > 0 runs the forward in training mode with
// its masks seeded from the model seed, so it is still deterministic.
//
// Inputs: input_ids and labels, int64 [B, T] (labels are input_ids, as
// HF-style causal LMs take them: the model shifts them itself). Outputs:
// logits [B, T, vocab] and the mean next-token cross-entropy loss.
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/status_macros.h"
#include "models/minimind_config.h"
#include "models/minimind_lm.h"
#include "models/model_registry.h"

namespace minigraph {
namespace {

constexpr char kKnownSettings[] =
    "preset, layers, hidden, heads, kv_heads, head_dim, intermediate, vocab, "
    "tie, flash, qk_norm, rope_theta, dropout";

absl::Status BadSetting(const std::string& key, const std::string& value,
                        const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("model minimind: setting ", key, "=", value,
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

// A count that must be at least `min` (head_dim may be 0: derived).
absl::Status ParseCount(const std::string& key, const std::string& value,
                        int64_t min, int64_t* out) {
  int64_t number = 0;
  if (!absl::SimpleAtoi(value, &number) || number < min) {
    return BadSetting(key, value,
                      min == 0 ? "a non-negative integer (0: hidden / heads)"
                               : "a positive integer");
  }
  *out = number;
  return absl::OkStatus();
}

absl::StatusOr<MiniMindConfig> ConfigFromSettings(
    const std::map<std::string, std::string>& settings) {
  std::string preset = "tiny";
  if (auto it = settings.find("preset"); it != settings.end()) {
    preset = it->second;
  }
  absl::StatusOr<MiniMindConfig> base = PresetConfig(preset);
  if (!base.ok()) {
    return BadSetting(
        "preset", preset,
        absl::StrCat("one of ", absl::StrJoin(PresetNames(), ", ")));
  }
  MiniMindConfig config = *std::move(base);
  for (const auto& [key, value] : settings) {
    if (key == "preset") continue;
    if (key == "layers") {
      MG_RETURN_IF_ERROR(ParseCount(key, value, 1, &config.num_hidden_layers));
    } else if (key == "hidden") {
      MG_RETURN_IF_ERROR(ParseCount(key, value, 1, &config.hidden_size));
    } else if (key == "heads") {
      MG_RETURN_IF_ERROR(
          ParseCount(key, value, 1, &config.num_attention_heads));
    } else if (key == "kv_heads") {
      MG_RETURN_IF_ERROR(
          ParseCount(key, value, 1, &config.num_key_value_heads));
    } else if (key == "head_dim") {
      MG_RETURN_IF_ERROR(ParseCount(key, value, 0, &config.head_dim));
    } else if (key == "intermediate") {
      MG_RETURN_IF_ERROR(ParseCount(key, value, 1, &config.intermediate_size));
    } else if (key == "vocab") {
      MG_RETURN_IF_ERROR(ParseCount(key, value, 1, &config.vocab_size));
    } else if (key == "tie") {
      MG_RETURN_IF_ERROR(ParseBool(key, value, &config.tie_word_embeddings));
    } else if (key == "flash") {
      MG_RETURN_IF_ERROR(ParseBool(key, value, &config.flash_attn));
    } else if (key == "qk_norm") {
      MG_RETURN_IF_ERROR(ParseBool(key, value, &config.qk_norm));
    } else if (key == "rope_theta") {
      double theta = 0.0;
      if (!absl::SimpleAtod(value, &theta) || !(theta > 0.0) ||
          !std::isfinite(theta)) {
        return BadSetting(key, value, "a positive number");
      }
      config.rope_theta = theta;
    } else if (key == "dropout") {
      double p = 0.0;
      if (!absl::SimpleAtod(value, &p) || !(p >= 0.0 && p < 1.0)) {
        return BadSetting(key, value, "a probability in [0, 1)");
      }
      config.dropout = p;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("model minimind: unknown setting '", key,
                       "' (known: ", kKnownSettings, ")"));
    }
  }
  if (settings.count("hidden") != 0 && settings.count("intermediate") == 0) {
    config.intermediate_size = preset == "minimind3"
                                   ? IntermediateSize2026(config.hidden_size)
                                   : IntermediateSize2025(config.hidden_size);
  }
  if (absl::Status status = ValidateConfig(config); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model minimind: the settings give an invalid model (",
                     ConfigToString(config), "): ", status.message()));
  }
  return config;
}

absl::StatusOr<ModelInstance> BuildMiniMindModel(const ModelOptions& options) {
  MG_ASSIGN_OR_RETURN(const MiniMindConfig config,
                      ConfigFromSettings(options.settings));
  // The loss scores position t against token t + 1: at least two positions.
  if (options.batch <= 0 || options.seq < 2 ||
      options.seq > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model minimind: batch (", options.batch, ") must be > 0 and seq (",
        options.seq, ") in [2, ", config.max_position_embeddings, "]"));
  }
  Generator generator(options.seed);
  MG_ASSIGN_OR_RETURN(
      MiniMindForCausalLM created,
      MiniMindForCausalLM::Create(config, generator, options.dtype));
  if (config.dropout > 0.0) created.SetTraining(true);
  auto lm = std::make_shared<const MiniMindForCausalLM>(std::move(created));

  // Ids drawn after the parameters, from the same generator (the modulo bias
  // of 64 random bits over a vocabulary this small is immaterial).
  const int64_t count = options.batch * options.seq;
  std::vector<int64_t> ids(static_cast<size_t>(count));
  for (int64_t& id : ids) {
    id = static_cast<int64_t>(generator.NextBits() %
                              static_cast<uint64_t>(config.vocab_size));
  }
  const Shape shape = {options.batch, options.seq};
  ModelInstance model;
  model.inputs = {Tensor::FromData(ids, shape), Tensor::FromData(ids, shape)};
  model.input_names = {"input_ids", "labels"};
  model.input_dims = {{"B", "T"}, {"B", "T"}};
  for (const auto& [name, tensor] : lm->NamedParameters()) {
    model.parameter_names.push_back(name);
    model.parameters.push_back(tensor);
  }
  const uint64_t dropout_seed = options.seed;
  model.forward = [lm, dropout_seed](const std::vector<Tensor>& inputs) {
    LMOptions lm_options;
    lm_options.labels = inputs[1];
    lm_options.dropout_seed = dropout_seed;
    LMOutput output = ValueOrDie(lm->Forward(inputs[0], lm_options));
    return std::vector<Tensor>{std::move(output.logits),
                               std::move(output.loss)};
  };
  model.output_names = {"logits", "loss"};
  return model;
}

}  // namespace

MG_REGISTER_MODEL(minimind,
                  "MiniMind's causal LM (MiniMindForCausalLM): logits and "
                  "next-token loss; --set preset=tiny|minimind2-small|"
                  "minimind3",
                  BuildMiniMindModel);

}  // namespace minigraph
