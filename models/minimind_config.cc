#include "models/minimind_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace minigraph {
namespace {

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("MiniMindConfig: ", message));
}

}  // namespace

absl::Status ValidateConfig(const MiniMindConfig& config) {
  const int64_t heads = config.num_attention_heads;
  const int64_t kv_heads = config.num_key_value_heads;
  if (config.hidden_size <= 0) {
    return Invalid(
        absl::StrCat("hidden_size must be > 0, got ", config.hidden_size));
  }
  if (heads <= 0) {
    return Invalid(
        absl::StrCat("num_attention_heads must be > 0, got ", heads));
  }
  if (kv_heads <= 0) {
    return Invalid(
        absl::StrCat("num_key_value_heads must be > 0, got ", kv_heads));
  }
  if (heads % kv_heads != 0) {
    return Invalid(absl::StrCat("num_attention_heads (", heads,
                                ") must be a multiple of num_key_value_heads (",
                                kv_heads, ")"));
  }
  if (config.head_dim < 0) {
    return Invalid(
        absl::StrCat("head_dim must be >= 0 (0: hidden_size / "
                     "num_attention_heads), got ",
                     config.head_dim));
  }
  if (config.head_dim == 0 && config.hidden_size % heads != 0) {
    return Invalid(absl::StrCat("hidden_size (", config.hidden_size,
                                ") must be a multiple of num_attention_heads (",
                                heads, ")"));
  }
  const int64_t head_dim = config.HeadDim();
  if (head_dim <= 0 || head_dim % 2 != 0) {
    return Invalid(absl::StrCat(
        "head_dim must be even and > 0 (RoPE rotates pairs of dimensions), "
        "got ",
        head_dim));
  }
  if (!(config.rope_theta > 0.0) || !std::isfinite(config.rope_theta)) {
    return Invalid(absl::StrCat("rope_theta must be finite and > 0, got ",
                                config.rope_theta));
  }
  if (config.max_position_embeddings <= 0) {
    return Invalid(absl::StrCat("max_position_embeddings must be > 0, got ",
                                config.max_position_embeddings));
  }
  // Written so that nan fails too.
  if (!(config.dropout >= 0.0 && config.dropout < 1.0)) {
    return Invalid(
        absl::StrCat("dropout must be in [0, 1), got ", config.dropout));
  }
  if (!(config.rms_norm_eps > 0.0)) {
    return Invalid(
        absl::StrCat("rms_norm_eps must be > 0, got ", config.rms_norm_eps));
  }
  return absl::OkStatus();
}

std::string ConfigToString(const MiniMindConfig& config) {
  return absl::StrCat(
      "hidden ", config.hidden_size, ", heads ", config.num_attention_heads,
      ", kv_heads ", config.num_key_value_heads, ", head_dim ",
      config.HeadDim(), ", rope_theta ", config.rope_theta, ", max_positions ",
      config.max_position_embeddings, ", dropout ", config.dropout,
      ", flash_attn ", config.flash_attn ? "true" : "false", ", qk_norm ",
      config.qk_norm ? "true" : "false");
}

}  // namespace minigraph
