// `minigraph lm`: MiniMind's causal LM on ids from a safetensors file, with
// its logits, HF's shifted loss and every parameter's gradient written to
// another, so that runs compare with PyTorch tensor by tensor.
#ifndef MINIGRAPH_TOOLS_MINIGRAPH_LM_CLI_H_
#define MINIGRAPH_TOOLS_MINIGRAPH_LM_CLI_H_

#include <string>

#include "absl/status/status.h"
#include "framework/dtype.h"

namespace minigraph::cli {

struct LmCommand {
  std::string model_dir;    // config.json + model.safetensors
  std::string input_path;   // input_ids [B, T]; optional labels, attention_mask
  std::string output_path;  // logits; loss with labels; grad.<name> with grad
  bool grad = false;
  DType dtype = DType::kFloat32;
};

// Nothing is written unless everything succeeds.
absl::Status RunLmCommand(const LmCommand& command);

}  // namespace minigraph::cli

#endif  // MINIGRAPH_TOOLS_MINIGRAPH_LM_CLI_H_
