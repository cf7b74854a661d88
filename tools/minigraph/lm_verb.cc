// The `lm` verb: binds the command line to RunLmCommand (lm_cli.h).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "framework/dtype.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/lm_cli.h"
#include "tools/minigraph/verb.h"

namespace minigraph::cli {
namespace {

constexpr char kLmUsage[] =
    "minigraph lm --model DIR --input X.safetensors --output Y.safetensors\n"
    "    [--grad] [--dtype f32|f64]\n"
    "\n"
    "Runs MiniMind's causal LM from DIR (config.json + model.safetensors).\n"
    "X holds input_ids int64 [B, T] and optionally labels int64 [B, T] (-100\n"
    "ignored) and attention_mask [B, T] (1 keep, 0 padding). Y gets logits\n"
    "[B, T, V]; with labels loss (HF's: logits[:, :-1] predict\n"
    "labels[:, 1:]); with --grad grad.<name> for every tensor of the\n"
    "checkpoint (a tied embedding gets the sum of both uses).\n";

int RunLmVerb(const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    std::fprintf(stderr, "minigraph lm: unexpected argument '%s'\n",
                 positional.back().c_str());
    return kExitBadInput;
  }
  LmCommand command;
  command.model_dir = absl::GetFlag(FLAGS_model);
  command.input_path = absl::GetFlag(FLAGS_input);
  command.output_path = absl::GetFlag(FLAGS_output);
  command.grad = absl::GetFlag(FLAGS_grad);
  const std::string dtype = absl::GetFlag(FLAGS_dtype);
  if (!dtype.empty()) {
    absl::StatusOr<DType> parsed = ParseDType(dtype);
    if (!parsed.ok() || !IsFloating(*parsed)) {
      std::fprintf(stderr, "minigraph lm: --dtype must be f32 or f64, got '%s'\n",
                   dtype.c_str());
      return kExitBadInput;
    }
    command.dtype = *parsed;
  }
  const absl::Status status = RunLmCommand(command);
  if (!status.ok()) {
    std::fprintf(stderr, "minigraph lm: %s\n",
                 std::string(status.message()).c_str());
    return kExitBadInput;
  }
  return kExitOk;
}

}  // namespace

MG_REGISTER_VERB(lm) {
  Verb verb;
  verb.name = "lm";
  verb.summary =
      "run MiniMind's causal LM on token ids: logits, loss, gradients (to "
      "compare with PyTorch)";
  verb.usage = kLmUsage;
  verb.run = RunLmVerb;
  return verb;
}

}  // namespace minigraph::cli
