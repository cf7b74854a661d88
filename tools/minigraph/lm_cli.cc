#include "tools/minigraph/lm_cli.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/safetensors.h"
#include "framework/status_macros.h"
#include "models/minimind_lm.h"
#include "ops/all_ops.h"

namespace minigraph::cli {
namespace {

// The tensor `name` of `file`, which must be [B, T] (of `shape` once known).
absl::StatusOr<Tensor> FindIds(const SafetensorsFile& file,
                               const std::string& path,
                               const std::string& name, const Shape& shape,
                               bool required, bool integer) {
  auto it = file.tensors.find(name);
  if (it == file.tensors.end()) {
    if (!required) return Tensor();
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": no tensor '", name, "' (expected int64 [B, T] token ids)"));
  }
  const Tensor& t = it->second;
  const bool dtype_ok = integer ? t.dtype() == DType::kInt64 : true;
  if (!dtype_ok || t.dim() != 2 || (!shape.empty() && t.shape() != shape) ||
      t.numel() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tensor '", name, "' is ", DTypeName(t.dtype()),
        ShapeToString(t.shape()), ", expected ", integer ? "int64 " : "",
        shape.empty() ? std::string("[B, T] with B, T > 0")
                      : ShapeToString(shape)));
  }
  return t;
}

}  // namespace

absl::Status RunLmCommand(const LmCommand& command) {
  if (command.model_dir.empty() || command.input_path.empty() ||
      command.output_path.empty()) {
    return absl::InvalidArgumentError(
        "--model DIR, --input X.safetensors and --output Y.safetensors are "
        "required");
  }
  if (!IsFloating(command.dtype)) {
    return absl::InvalidArgumentError("--dtype must be f32 or f64");
  }
  // LoadDir's two reads, kept here: the checkpoint's tensor names say which
  // gradients to write.
  MG_ASSIGN_OR_RETURN(const MiniMindConfig config,
                      ReadConfigJson(absl::StrCat(command.model_dir,
                                                  "/config.json")));
  const std::string checkpoint =
      absl::StrCat(command.model_dir, "/model.safetensors");
  MG_ASSIGN_OR_RETURN(const SafetensorsFile stored,
                      ReadSafetensors(checkpoint));
  MG_ASSIGN_OR_RETURN(MiniMindForCausalLM model,
                      MiniMindForCausalLM::FromStateDict(
                          config, stored, checkpoint, command.dtype));
  MG_ASSIGN_OR_RETURN(const SafetensorsFile input,
                      ReadSafetensors(command.input_path));
  MG_ASSIGN_OR_RETURN(const Tensor input_ids,
                      FindIds(input, command.input_path, "input_ids", {},
                              /*required=*/true, /*integer=*/true));
  MG_ASSIGN_OR_RETURN(const Tensor labels,
                      FindIds(input, command.input_path, "labels",
                              input_ids.shape(), false, true));
  MG_ASSIGN_OR_RETURN(Tensor mask,
                      FindIds(input, command.input_path, "attention_mask",
                              input_ids.shape(), false, false));
  if (command.grad && !labels.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(
        command.input_path,
        ": --grad needs 'labels' [B, T] (the gradients are of the loss)"));
  }
  LMOptions options;
  options.labels = labels;
  if (mask.defined()) options.attention_mask = ConvertDType(mask, command.dtype);
  absl::StatusOr<LMOutput> out = [&]() -> absl::StatusOr<LMOutput> {
    if (command.grad) return model.Forward(input_ids, options);
    NoGradGuard no_grad;
    return model.Forward(input_ids, options);
  }();
  if (!out.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(command.input_path, ": ", out.status().message()));
  }
  SafetensorsFile result;
  result.tensors["logits"] = out->logits.Detach();
  if (labels.defined()) result.tensors["loss"] = out->loss.Detach();
  if (command.grad) {
    MG_RETURN_IF_ERROR(out->loss.Backward());
    // Every tensor of the checkpoint gets its gradient; a tied lm_head
    // shares the embedding's, which sums both uses.
    const SafetensorsFile entries = StateDict(model);
    for (const auto& [name, unused] : stored.tensors) {
      auto it = entries.tensors.find(name);
      if (it == entries.tensors.end()) continue;
      const Tensor grad = it->second.grad();
      result.tensors[absl::StrCat("grad.", name)] =
          grad.defined() ? grad : Tensor::Zeros(it->second.shape(),
                                                it->second.dtype());
    }
  }
  return WriteSafetensors(command.output_path, result);
}

}  // namespace minigraph::cli
