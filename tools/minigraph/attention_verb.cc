// The `attention` verb: binds the command line to RunAttentionCommand
// (attention_cli.h). --output and --dtype are the shared flags of
// common_flags.h; the others are this verb's own.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "framework/dtype.h"
#include "tools/minigraph/attention_cli.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/verb.h"

ABSL_FLAG(std::string, weights, "",
          "attention: safetensors file with q_proj.weight, k_proj.weight, "
          "v_proj.weight and o_proj.weight (after --prefix)");
ABSL_FLAG(std::string, prefix, "",
          "attention: prefix of the parameter names in --weights, e.g. "
          "model.layers.0.self_attn.");
ABSL_FLAG(int64_t, heads, 8, "attention: number of query heads");
ABSL_FLAG(int64_t, kv_heads, 2,
          "attention: number of key/value heads (GQA); divides --heads");
ABSL_FLAG(double, rope_theta, 1e6, "attention: RoPE base theta");
ABSL_FLAG(bool, flash, true,
          "attention: use the fused attention op when no mask is given");
ABSL_FLAG(int64_t, start_pos, 0, "attention: RoPE position of the first token");
ABSL_FLAG(bool, save_attn, false,
          "attention: also write the softmax weights attn [B, heads, T, T]");

namespace minigraph::cli {
namespace {

int RunAttentionVerb(const std::vector<std::string>& positional) {
  AttentionCommand command;
  if (!positional.empty()) {
    std::fprintf(stderr,
                 "minigraph attention: unexpected argument '%s' (every input "
                 "is a flag: --weights W.safetensors --input X.safetensors "
                 "--output Y.safetensors)\n",
                 positional.back().c_str());
    return kExitBadInput;
  }
  command.weights_path = absl::GetFlag(FLAGS_weights);
  command.prefix = absl::GetFlag(FLAGS_prefix);
  command.input_path = absl::GetFlag(FLAGS_input);
  command.output_path = absl::GetFlag(FLAGS_output);
  command.grad = absl::GetFlag(FLAGS_grad);
  command.heads = absl::GetFlag(FLAGS_heads);
  command.kv_heads = absl::GetFlag(FLAGS_kv_heads);
  command.rope_theta = absl::GetFlag(FLAGS_rope_theta);
  command.flash = absl::GetFlag(FLAGS_flash);
  command.start_pos = absl::GetFlag(FLAGS_start_pos);
  command.save_attn = absl::GetFlag(FLAGS_save_attn);
  const std::string dtype = absl::GetFlag(FLAGS_dtype);
  if (!dtype.empty()) {
    absl::StatusOr<DType> parsed = ParseDType(dtype);
    if (!parsed.ok() || !IsFloating(*parsed)) {
      std::fprintf(stderr,
                   "minigraph attention: --dtype must be f32 or f64, got "
                   "'%s'\n",
                   dtype.c_str());
      return kExitBadInput;
    }
    command.dtype = *parsed;
  }
  const absl::Status status = RunAttentionCommand(command);
  if (!status.ok()) {
    std::fprintf(stderr, "minigraph attention: %s\n",
                 std::string(status.message()).c_str());
    return kExitBadInput;
  }
  return kExitOk;
}

}  // namespace

MG_REGISTER_VERB(attention) {
  Verb verb;
  verb.name = "attention";
  verb.summary =
      "run MiniMind Attention on safetensors tensors (to compare with "
      "PyTorch)";
  verb.usage = kAttentionUsage;
  verb.run = RunAttentionVerb;
  return verb;
}

}  // namespace minigraph::cli
