// Pieces the graph verbs share: where the graph comes from (a file or a
// registered model), how results are written, how errors are reported.
#ifndef MINIGRAPH_TOOLS_MINIGRAPH_GRAPH_VERBS_UTIL_H_
#define MINIGRAPH_TOOLS_MINIGRAPH_GRAPH_VERBS_UTIL_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "framework/tensor.h"

namespace minigraph::cli {

// Prints "minigraph VERB: message" to stderr; returns kExitBadInput.
int ReportBadInput(absl::string_view verb, const absl::Status& status);

struct GraphSource {
  Graph graph;
  // Example values for the graph's inputs when it came from a model (empty
  // for a file).
  std::map<std::string, Tensor> feeds;
  std::string description;  // "model attention" or the file name
};

// The graph named by the arguments: exactly one of a positional GRAPH file
// or --model NAME (captured with --batch, --seq, --dtype, --seed, --set, and
// --preset for --model minimind, the one model with presets).
// With `backward`, the gradient graph of it instead.
absl::StatusOr<GraphSource> GraphFromArgs(
    const std::vector<std::string>& positional, DType default_dtype,
    bool backward);

// Writes `contents` to --output through a temporary file, or to standard
// output when --output is empty.
absl::Status EmitOutput(const std::string& contents);

}  // namespace minigraph::cli

#endif  // MINIGRAPH_TOOLS_MINIGRAPH_GRAPH_VERBS_UTIL_H_
