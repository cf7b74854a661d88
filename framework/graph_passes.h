// Graph passes: rewrites that make a graph cheaper to run and keep the bits
// of every output, run once after a graph is loaded or captured (before it is
// executed many times), each switchable:
//
//   dce             dead-code elimination: nodes no graph output depends on
//                   and constants nothing reads are dropped;
//   cse             common subexpression elimination: equal constants and
//                   equal op calls (same op, same inputs, bitwise equal
//                   attributes and equal symbolic attributes) become one;
//   fold_constants  nodes that read only constants are evaluated once and
//                   replaced by constants holding their values;
//   memory_plan     no rewrite: the liveness plan (PlanMemory) with which the
//                   executor drops each value after its last reader
//                   (ExecuteOptions::release_dead_values), and the peak
//                   memory it gives.
//
// Why CSE may merge every op, dropout included: every registered op is a
// pure function of its inputs and attributes. Dropout's mask is a function of
// its `seed` attribute and the element index (ops/nn.cc), so two dropouts
// with equal p and seed on the same input drop the same elements, and two
// with different seeds differ in their attributes and stay apart. An op that
// drew from a hidden random state would need a flag in its OpDef and to be
// left out of CSE and folding.
//
// Symbols: a node whose attributes follow the graph's symbols (attr_symbols,
// e.g. causal_mask over T rows) computes a different value at every size,
// so it is not folded in a symbolic graph, which must still run at any size.
// The graph RebindGraph makes for one set of sizes can be frozen at those
// sizes (GraphPassOptions::fix_symbol_sizes drops every symbolic expression
// first) and then folds completely; the executor does so on request when it
// rebinds (ExecuteOptions::rebound_passes), and a caller that runs one size
// many times can do it once: OptimizeGraph(RebindGraph(g, sizes)) with
// fix_symbol_sizes, then RunGraph on the result at those sizes.
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_PASSES_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_PASSES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/graph.h"

namespace minigraph {

struct GraphPassOptions {
  bool dce = true;
  bool cse = true;
  bool fold_constants = true;
  bool memory_plan = true;
  // Folding keeps its results for the graph's lifetime, and a file decides
  // their sizes: a node whose outputs need more bytes than this stays a node,
  // and folding stops adding constants once they total the second bound.
  int64_t max_fold_bytes = int64_t{64} << 20;
  int64_t max_total_fold_bytes = int64_t{256} << 20;
  // Freeze the graph at its symbol sizes first (FixSymbolSizes), so that
  // nodes following the symbols fold too; the result runs at these sizes
  // only.
  bool fix_symbol_sizes = false;
  // Check the result with ValidateGraph (what a loader accepts).
  bool validate = true;
};

// "all", "none", or a comma-separated list of dce, cse, fold_constants and
// memory_plan; the message of an error names `flag` and the known passes.
absl::StatusOr<GraphPassOptions> ParseGraphPasses(absl::string_view text,
                                                  absl::string_view flag);
// The enabled passes as ParseGraphPasses reads them ("dce,cse", "none").
std::string GraphPassesToString(const GraphPassOptions& options);

// What one pass did.
struct PassStats {
  std::string pass;
  int nodes_before = 0;
  int nodes_after = 0;
  int constants_before = 0;
  int constants_after = 0;
  // fold_constants: nodes that could fold but stay nodes (over a size bound,
  // or the kernel refused the values, which the run will then report).
  int skipped = 0;
};

struct GraphPassReport {
  std::vector<PassStats> passes;  // in the order they ran
  int nodes_before = 0;
  int nodes_after = 0;
  int constants_before = 0;
  int constants_after = 0;
  // memory_plan: peak bytes of node outputs alive at once in the optimized
  // graph at its symbol sizes (PeakLiveBytes), keeping every value to the
  // end of the run and releasing each after its last reader.
  bool planned = false;
  int64_t peak_bytes_keeping_all = 0;
  int64_t peak_bytes_planned = 0;

  // One line per pass ("cse: nodes 40 -> 35, constants 6 -> 4"), then the
  // totals and the planned peak.
  std::string ToString() const;
};

// Drops nodes that no graph output depends on and constants no remaining
// node or output reads. Graph inputs and parameters stay (they are the
// interface). A gradient node whose forward node is dropped loses that link
// (it names the node for dumps only; the run does not need the node).
PassStats EliminateDeadCode(Graph& graph);

// Merges constants of equal dtype, shape and bytes, then, in graph order,
// nodes with the same op, the same inputs (after the merges before them),
// bitwise equal attributes (0.0 and -0.0 differ) and equal attr_symbols;
// references to a merged node or constant are rewritten to the first one,
// whose role and forward node are kept.
PassStats EliminateCommonSubexpressions(Graph& graph);

// Replaces each node whose inputs are all constants (or that has none, like
// causal_mask, full or rotary_tables), whose attributes do not follow the
// symbols and whose outputs have no symbolic dimensions by constants holding
// its outputs, computed once by CallOp: output 0 takes the node's name, output
// k > 0 the name "<node>/output_<k>". Chains fold in one pass. Node outputs
// that would exceed the options' size bounds stay nodes.
absl::StatusOr<PassStats> FoldConstants(Graph& graph,
                                        const GraphPassOptions& options = {});

// Makes `graph` a fixed-size graph at its current symbol sizes: every
// symbolic dimension and symbolic attribute is dropped, and so are the
// symbols. Meant for a graph RebindGraph made for one run's sizes.
void FixSymbolSizes(Graph& graph);

// Which node outputs the executor may drop, and when: release_after[i] holds
// the outputs whose last reader is node i, and node i's own outputs that
// nothing reads. Graph outputs are never released, nor graph inputs,
// parameters and constants (the caller and the graph hold those anyway).
// Valid for any graph with the same nodes, such as a rebound one.
struct MemoryPlan {
  std::vector<std::vector<TensorRef>> release_after;
  // Per node: the input whose buffer output 0 takes over (in place), or -1.
  // Only for an input the op lists in inplace_inputs, made by an earlier
  // node, read by nothing later and only once here, of output 0's type.
  std::vector<int> donate;
};
MemoryPlan PlanMemory(const Graph& graph);

// Runs the enabled passes in this order: dce, cse, fold_constants, and when
// folding changed the graph, cse and dce again (new constants may be equal,
// and the constants folding consumed are dead); then the memory plan's peak.
// `graph` is a validated graph (loaded, captured or rebound); on error it may
// be partly rewritten.
absl::StatusOr<GraphPassReport> OptimizeGraph(
    Graph& graph, const GraphPassOptions& options = {});

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_PASSES_H_
