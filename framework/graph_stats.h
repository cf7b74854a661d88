// Counting what a graph does: nodes by op, parameters, estimated FLOPs and
// bytes moved per node, and an estimate of peak activation memory.
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_STATS_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "framework/graph.h"
#include "framework/graph_passes.h"

namespace minigraph {

struct NodeCost {
  std::string name;
  std::string op;
  // The op's estimate (OpDef::flops: 2*M*N*K per matmul, the products of
  // flash attention), one per output element for ops without one.
  int64_t flops = 0;
  // Bytes of all inputs read plus all outputs written.
  int64_t bytes = 0;
};

struct GraphStats {
  std::map<std::string, int> nodes_by_op;
  int forward_nodes = 0;
  int gradient_nodes = 0;
  int64_t parameter_count = 0;  // elements over all parameters
  int64_t parameter_bytes = 0;
  std::vector<NodeCost> nodes;  // in graph order
  int64_t total_flops = 0;
  int64_t total_bytes = 0;
  // Largest sum of node outputs alive at once when the nodes run in graph
  // order, an output living until its last reader (graph outputs to the
  // end). Views are counted as if they were copies, so this is an upper
  // estimate. This is the executor's peak with release_dead_values.
  int64_t peak_activation_bytes = 0;
  // The same when every node output lives to the end of the run (the
  // executor without release_dead_values).
  int64_t peak_activation_bytes_keeping_all = 0;

  // A readable report: per-op counts, per-node table, totals.
  std::string ToString() const;
};

// `graph` is a validated one (captured, built or loaded): the ops' cost
// hooks read its attributes without checking them.
GraphStats ComputeGraphStats(const Graph& graph);

// The most bytes of node outputs alive at once when the nodes run in graph
// order, at the sizes stored in the graph (its symbol sizes): node i's
// outputs are counted from node i on, and with a `plan` each output is
// dropped after the node that releases it (PlanMemory); with none, every
// output lives to the end. Views count as copies (an upper estimate); the
// sum saturates at INT64_MAX.
int64_t PeakLiveBytes(const Graph& graph, const MemoryPlan* plan);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_STATS_H_
