// The gradient of a graph as another graph. Each forward node's backward
// rule (its OpDef's, written in registered ops) is run inside a capture, in
// reverse order, so the result holds the forward nodes followed by gradient
// nodes, each linked to the forward node it belongs to. The result is an
// ordinary graph: it serializes, loads, executes, and can be differentiated
// again (second order).
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_BACKWARD_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_BACKWARD_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "framework/tensor.h"

namespace minigraph {

struct BackwardGraphOptions {
  // Outputs to differentiate (by name); empty means every floating output.
  // A one-element output is seeded with 1; any other gets a new graph input
  // "<seed_prefix><output>" holding d(loss)/d(output).
  std::vector<std::string> outputs;
  // Inputs and parameters to differentiate with respect to; empty means
  // every parameter and every floating graph input.
  std::vector<std::string> wrt;
  // Gradient outputs are named "<gradient_prefix><wrt name>".
  std::string gradient_prefix = "grad/";
  std::string seed_prefix = "grad_output/";
  // Keep the forward outputs as outputs of the gradient graph too.
  bool keep_forward_outputs = true;
  // Values to trace the graph with (inputs and parameters by name). Anything
  // missing gets seeded random values: the graph does not depend on them.
  std::map<std::string, Tensor> feeds;
};

absl::StatusOr<Graph> BuildBackwardGraph(
    const Graph& forward, const BackwardGraphOptions& options = {});

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_BACKWARD_H_
