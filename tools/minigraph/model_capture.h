// Builds a registered model (models/model_registry.h) and captures its
// forward pass as a graph, keeping the eager outputs for comparison.
#ifndef MINIGRAPH_TOOLS_MINIGRAPH_MODEL_CAPTURE_H_
#define MINIGRAPH_TOOLS_MINIGRAPH_MODEL_CAPTURE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "models/model_registry.h"

namespace minigraph::cli {

struct CapturedModel {
  ModelInstance instance;
  Graph graph;
  // The example inputs by graph input name.
  std::map<std::string, Tensor> feeds;
  // What the eager forward pass computed during the capture.
  std::vector<Tensor> eager_outputs;
};

absl::StatusOr<CapturedModel> CaptureModel(const std::string& name,
                                           const ModelOptions& options);

// "attention, tiny" (or "none"), for messages.
std::string ModelNames();

}  // namespace minigraph::cli

#endif  // MINIGRAPH_TOOLS_MINIGRAPH_MODEL_CAPTURE_H_
