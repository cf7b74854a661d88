#include "tools/minigraph/model_capture.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph_capture.h"

namespace minigraph::cli {

std::string ModelNames() {
  std::vector<std::string> names;
  for (const ModelEntry* entry : AllModels()) names.push_back(entry->name);
  return names.empty() ? "none" : absl::StrJoin(names, ", ");
}

namespace {

// The model built and captured at the sizes in `options`.
absl::StatusOr<CapturedModel> CaptureAtSizes(const std::string& name,
                                             const ModelOptions& options) {
  const ModelEntry* entry = FindModel(name);
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "unknown model '", name, "' (registered: ", ModelNames(), ")"));
  }
  CapturedModel result;
  MG_ASSIGN_OR_RETURN(result.instance, entry->build(options));
  const ModelInstance& model = result.instance;
  if (model.input_names.size() != model.inputs.size() ||
      model.parameter_names.size() != model.parameters.size() ||
      (!model.input_dims.empty() &&
       model.input_dims.size() != model.inputs.size())) {
    return absl::InternalError(
        absl::StrCat("model '", name,
                     "' gives names or dims that do not match its tensors"));
  }
  GraphCapture capture(name);
  for (size_t i = 0; i < model.inputs.size(); ++i) {
    MG_RETURN_IF_ERROR(capture.AddInput(model.inputs[i], model.input_names[i],
                                        model.input_dims.empty()
                                            ? std::vector<std::string>{}
                                            : model.input_dims[i]));
    result.feeds[model.input_names[i]] = model.inputs[i];
  }
  for (size_t i = 0; i < model.parameters.size(); ++i) {
    MG_RETURN_IF_ERROR(
        capture.AddParameter(model.parameters[i], model.parameter_names[i]));
  }
  {
    GraphCapture::Scope recording(capture);
    result.eager_outputs = model.forward(model.inputs);
  }
  std::vector<std::pair<std::string, Tensor>> outputs;
  for (size_t i = 0; i < result.eager_outputs.size(); ++i) {
    outputs.emplace_back(i < model.output_names.size()
                             ? model.output_names[i]
                             : absl::StrCat("output", i),
                         result.eager_outputs[i]);
  }
  MG_ASSIGN_OR_RETURN(result.graph, capture.Finish(outputs));
  return result;
}

}  // namespace

absl::StatusOr<CapturedModel> CaptureModel(const std::string& name,
                                           const ModelOptions& options) {
  MG_ASSIGN_OR_RETURN(CapturedModel base, CaptureAtSizes(name, options));
  if (base.graph.symbols.empty()) return base;
  // The model script traced at other batch sizes (B) and sequence lengths
  // (T) too, so the graph follows them.
  for (const auto& [symbol, size] : base.graph.symbols) {
    if (symbol != "B" && symbol != "T") {
      return absl::InternalError(absl::StrCat(
          "model '", name, "' declares symbol '", symbol,
          "'; captured models may only use B (batch) and T (sequence)"));
    }
  }
  MG_ASSIGN_OR_RETURN(base.graph,
                      CaptureSymbolic(
                          [&](const std::map<std::string, int64_t>& sizes)
                              -> absl::StatusOr<Graph> {
                            if (sizes == base.graph.symbols) return base.graph;
                            ModelOptions at = options;
                            if (auto it = sizes.find("B"); it != sizes.end()) {
                              at.batch = it->second;
                            }
                            if (auto it = sizes.find("T"); it != sizes.end())
                              at.seq = it->second;
                            MG_ASSIGN_OR_RETURN(CapturedModel traced,
                                                CaptureAtSizes(name, at));
                            return std::move(traced.graph);
                          },
                          base.graph.symbols));
  return base;
}

}  // namespace minigraph::cli
