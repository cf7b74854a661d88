// Executing a graph: every node is an ordinary op call (CallOp) in the
// graph's order, so a loaded graph runs the same kernels on the same values
// as the eager script it was captured from and gives the same bits.
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_EXECUTOR_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_EXECUTOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "framework/graph_passes.h"
#include "framework/tensor.h"

namespace minigraph {

struct ExecuteOptions {
  // A node whose outputs would need more bytes than this is refused before
  // anything is allocated (shapes from a file must not exhaust memory).
  int64_t max_tensor_bytes = int64_t{8} << 30;
  // Record autograd nodes, so gradients flow through the run to feeds that
  // require grad (gradient checks of a graph).
  bool record_gradients = false;
  // Drop each node output from the run's values once its last reader has run
  // (PlanMemory), so that its storage goes back to the allocator and serves
  // later nodes; graph outputs are kept. Off by default because callers such
  // as BuildBackwardGraph read every intermediate value of the run; the
  // `run` verb turns it on with the memory_plan pass.
  bool release_dead_values = false;
  // When the feeds give the symbols other sizes, the graph is rebound to
  // them (RebindGraph); with passes here, the rebound graph is then frozen at
  // those sizes and optimized (OptimizeGraph with fix_symbol_sizes), so that
  // nodes following the symbols (a causal mask over T) fold too.
  std::optional<GraphPassOptions> rebound_passes;
};

// Every value of a run by name: graph inputs, parameters, constants and the
// outputs of each node (except those released by the memory plan when
// ExecuteOptions::release_dead_values is set).
class GraphValues {
 public:
  const Tensor& Get(const TensorRef& ref) const;
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  void Set(const std::string& name, std::vector<Tensor> outputs) {
    values_[name] = std::move(outputs);
  }
  const std::vector<Tensor>& Outputs(const std::string& name) const {
    return values_.at(name);
  }
  // Forgets one output (it reads as undefined); a name whose outputs are all
  // released is gone (Has is false).
  void Release(const TensorRef& ref);

 private:
  std::unordered_map<std::string, std::vector<Tensor>> values_;
};

// Runs `graph` on `feeds`: every graph input by name, and parameters either
// stored in the graph or fed (a feed overrides the stored value). Inputs must
// have the stored dtype and shape, except that symbolic dimensions may take
// other sizes (consistently across inputs); nodes whose attributes fix a size
// then fail with an error naming them.
absl::StatusOr<GraphValues> RunGraph(const Graph& graph,
                                     const std::map<std::string, Tensor>& feeds,
                                     const ExecuteOptions& options = {});

// The graph's outputs, in order.
absl::StatusOr<std::vector<Tensor>> ExecuteGraph(
    const Graph& graph, const std::map<std::string, Tensor>& feeds,
    const ExecuteOptions& options = {});

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_EXECUTOR_H_
