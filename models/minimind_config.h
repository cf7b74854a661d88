// The MiniMind model configuration: the sizes the attention module is built
// from, with MiniMind's 2025 defaults (hidden 512, 8 query heads sharing 2
// key/value heads, RoPE theta 1e6).
#ifndef MINIGRAPH_MODELS_MINIMIND_CONFIG_H_
#define MINIGRAPH_MODELS_MINIMIND_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace minigraph {

struct MiniMindConfig {
  int64_t hidden_size = 512;
  int64_t num_attention_heads = 8;
  // Grouped-query attention: every num_attention_heads / num_key_value_heads
  // query heads share one key/value head (8 / 2 = 4 in MiniMind).
  int64_t num_key_value_heads = 2;
  // 0 means hidden_size / num_attention_heads, as in MiniMind.
  int64_t head_dim = 0;
  double rope_theta = 1e6;
  int64_t max_position_embeddings = 32768;
  // Drop probability on the attention weights and on the output, applied
  // only in training mode.
  double dropout = 0.0;
  // Use the fused attention op when no padding mask is given.
  bool flash_attn = true;
  double rms_norm_eps = 1e-5;
  // RMSNorm over head_dim on q and k before RoPE (the 2026 MiniMind layout).
  bool qk_norm = false;

  int64_t HeadDim() const {
    return head_dim != 0 || num_attention_heads == 0
               ? head_dim
               : hidden_size / num_attention_heads;
  }
  // Query heads per key/value head.
  int64_t NumRep() const {
    return num_key_value_heads == 0 ? 0
                                    : num_attention_heads / num_key_value_heads;
  }
};

// Every size positive, heads divisible by kv heads, hidden divisible by heads
// (when head_dim is derived), an even head_dim (RoPE rotates pairs), theta
// and eps positive, dropout in [0, 1). The message names the field.
absl::Status ValidateConfig(const MiniMindConfig& config);

// One line: "hidden 512, heads 8, kv_heads 2, head_dim 64, ...".
std::string ConfigToString(const MiniMindConfig& config);

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_MINIMIND_CONFIG_H_
