// The MiniMind model configuration with MiniMind's 2025 defaults (hidden 512,
// 8 layers, 8 query heads sharing 2 key/value heads, RoPE theta 1e6, vocab
// 6400), the HF-style config.json it is stored as, and named presets.
//
// Two layouts are in use:
// - 2025 (MiniMind2): intermediate = 64 * ceil(int(hidden * 8 / 3) / 64),
//   RMSNorm eps 1e-5, no q/k norm;
// - 2026 (MiniMind-3): intermediate = ceil(hidden * pi / 64) * 64, RMSNorm
//   over head_dim on q and k (qk_norm), eps 1e-6.
#ifndef MINIGRAPH_MODELS_MINIMIND_CONFIG_H_
#define MINIGRAPH_MODELS_MINIMIND_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace minigraph {

struct MiniMindConfig {
  int64_t hidden_size = 512;
  int64_t num_hidden_layers = 8;
  int64_t num_attention_heads = 8;
  // Grouped-query attention: every num_attention_heads / num_key_value_heads
  // query heads share one key/value head (8 / 2 = 4 in MiniMind).
  int64_t num_key_value_heads = 2;
  // 0 means hidden_size / num_attention_heads, as in MiniMind.
  int64_t head_dim = 0;
  int64_t vocab_size = 6400;
  // Width of the SwiGLU feed-forward; 0 means the 2025 rule
  // (IntermediateSize2025), as MiniMind2 derives it when the config has none.
  int64_t intermediate_size = 0;
  // The feed-forward's activation; MiniMind uses "silu", the only one here.
  std::string hidden_act = "silu";
  double rope_theta = 1e6;
  int64_t max_position_embeddings = 32768;
  // Drop probability after the embedding, on the attention weights, after
  // o_proj and after down_proj, applied only in training mode.
  double dropout = 0.0;
  // Use the fused attention op when no padding mask is given.
  bool flash_attn = true;
  double rms_norm_eps = 1e-5;
  // RMSNorm over head_dim on q and k before RoPE (the 2026 MiniMind layout).
  bool qk_norm = false;
  // lm_head.weight is model.embed_tokens.weight (one tensor).
  bool tie_word_embeddings = true;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;

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
  // intermediate_size, or the 2025 rule when it is 0.
  int64_t IntermediateSize() const;
};

// MiniMind2 (2025): 64 * ceil(int(hidden * 8 / 3) / 64); 1408 for 512.
int64_t IntermediateSize2025(int64_t hidden_size);
// MiniMind-3 (2026): ceil(hidden * pi / 64) * 64; 2432 for 768.
int64_t IntermediateSize2026(int64_t hidden_size);

// Every size positive, heads divisible by kv heads, hidden divisible by heads
// (when head_dim is derived), an even head_dim (RoPE rotates pairs), theta
// and eps positive, dropout in [0, 1), a supported hidden_act, token ids
// inside the vocabulary. The message names the field.
absl::Status ValidateConfig(const MiniMindConfig& config);

// One line: "hidden 512, heads 8, kv_heads 2, head_dim 64, ...".
std::string ConfigToString(const MiniMindConfig& config);

// An HF-style config.json. Required keys: hidden_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, vocab_size, intermediate_size
// (null: the 2025 rule), rms_norm_eps, rope_theta. Optional, with MiniMind's
// defaults: head_dim, max_position_embeddings, tie_word_embeddings
// (save_pretrained leaves it out when true), dropout, bos_token_id,
// eos_token_id, hidden_act, flash_attn, qk_norm. use_moe and
// inference_rope_scaling may be present only as false (neither is
// supported). Other keys are ignored. Errors name `source` and the key and
// say what was expected; the result is validated (ValidateConfig).
absl::StatusOr<MiniMindConfig> ParseConfigJson(absl::string_view json,
                                               absl::string_view source);
absl::StatusOr<MiniMindConfig> ReadConfigJson(const std::string& path);

// Pretty-printed JSON (sorted keys, 2-space indent, final newline, as
// transformers writes it) that ParseConfigJson and MiniMind's
// MiniMindConfig both read: "architectures", "auto_map", "model_type" and
// every field, intermediate_size and head_dim resolved; "qk_norm" only when
// true (MiniMind-3's own config.json has no such key: its code always norms
// q and k, which the checkpoint loader detects from the weights).
std::string ConfigToJson(const MiniMindConfig& config);

// "minimind2-small" (26M, 2025 layout), "minimind3" (64M, 2026 layout),
// "tiny" (hidden 128, 2 layers, byte-level vocabulary of 259: trains in
// minutes on two CPU cores). An unknown name is an error listing them.
absl::StatusOr<MiniMindConfig> PresetConfig(absl::string_view name);
std::vector<std::string> PresetNames();

}  // namespace minigraph

#endif  // MINIGRAPH_MODELS_MINIMIND_CONFIG_H_
