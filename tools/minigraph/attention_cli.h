// `minigraph attention`: runs MiniMind's Attention on tensors from
// safetensors files, so that results can be compared with PyTorch's.
//
//   minigraph attention --weights W.safetensors [--prefix P]
//       --input X.safetensors --output Y.safetensors [--grad]
//       [--dtype f32|f64] [--heads 8] [--kv-heads 2] [--rope-theta 1e6]
//       [--flash | --no-flash] [--start-pos N] [--save-attn]
//
// W: P + q_proj.weight [heads*head_dim, hidden], k_proj.weight and
//    v_proj.weight [kv_heads*head_dim, hidden], o_proj.weight
//    [hidden, heads*head_dim] (and q_norm.weight, k_norm.weight [head_dim],
//    which turn on qk_norm). hidden and head_dim come from the shapes.
// X: x [B, T, hidden]; optional grad_output [B, T, hidden] (default ones,
//    the gradient of sum(y)); optional attention_mask [B, T] of 1 and 0.
// Y: y [B, T, hidden]; with --grad grad.x and grad.<parameter> for every
//    parameter; with --save-attn attn [B, heads, T, T] (computed on the
//    composed path).
//
// This file holds the command without flag parsing, so tests can drive it
// directly; attention_verb.cc binds it to the command line.
#ifndef MINIGRAPH_TOOLS_MINIGRAPH_ATTENTION_CLI_H_
#define MINIGRAPH_TOOLS_MINIGRAPH_ATTENTION_CLI_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "framework/dtype.h"

namespace minigraph::cli {

struct AttentionCommand {
  std::string weights_path;
  std::string prefix;
  std::string input_path;
  std::string output_path;
  bool grad = false;
  DType dtype = DType::kFloat32;
  int64_t heads = 8;
  int64_t kv_heads = 2;
  double rope_theta = 1e6;
  bool flash = true;
  int64_t start_pos = 0;
  bool save_attn = false;
};

// Reads W and X, runs the module (and the backward pass with grad), writes
// Y whole or not at all. Every error names the file and the tensor.
absl::Status RunAttentionCommand(const AttentionCommand& command);

// The usage text printed by `minigraph attention --help`.
extern const char kAttentionUsage[];

}  // namespace minigraph::cli

#endif  // MINIGRAPH_TOOLS_MINIGRAPH_ATTENTION_CLI_H_
