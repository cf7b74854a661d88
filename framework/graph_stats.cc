#include "framework/graph_stats.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/op_registry.h"

namespace minigraph {
namespace {

int64_t Bytes(const ValueType& type) {
  return NumElements(type.meta().shape) *
         static_cast<int64_t>(DTypeSize(type.dtype));
}

std::string HumanBytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) {
    return absl::StrFormat("%.2f GiB", bytes / double(int64_t{1} << 30));
  }
  if (bytes >= (int64_t{1} << 20)) {
    return absl::StrFormat("%.2f MiB", bytes / double(int64_t{1} << 20));
  }
  if (bytes >= 1024) return absl::StrFormat("%.2f KiB", bytes / 1024.0);
  return absl::StrCat(bytes, " B");
}

std::string HumanCount(int64_t n) {
  if (n >= 1000000000) return absl::StrFormat("%.2f G", n / 1e9);
  if (n >= 1000000) return absl::StrFormat("%.2f M", n / 1e6);
  if (n >= 1000) return absl::StrFormat("%.2f k", n / 1e3);
  return absl::StrCat(n);
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  return a > std::numeric_limits<int64_t>::max() - b
             ? std::numeric_limits<int64_t>::max()
             : a + b;
}

// The op's own estimate where it defines one, else one FLOP per output
// element.
int64_t NodeFlops(const GraphNode& node,
                  const std::vector<TensorMeta>& input_metas) {
  std::vector<TensorMeta> output_metas;
  int64_t output_elements = 0;
  for (const ValueType& type : node.outputs) {
    output_metas.push_back(type.meta());
    output_elements += NumElements(output_metas.back().shape);
  }
  const OpDef* def = FindOp(node.op);
  // An unresolved input leaves the hook nothing sound to read.
  if (def == nullptr || !def->flops ||
      input_metas.size() != node.inputs.size()) {
    return output_elements;
  }
  return def->flops(FlopsContext{input_metas, output_metas, node.attrs});
}

}  // namespace

GraphStats ComputeGraphStats(const Graph& graph) {
  GraphStats stats;
  for (const GraphParameter& param : graph.parameters) {
    stats.parameter_count += NumElements(param.type.meta().shape);
    stats.parameter_bytes += Bytes(param.type);
  }
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const GraphNode& node = graph.nodes[i];
    ++stats.nodes_by_op[node.op];
    (node.role == NodeRole::kForward ? stats.forward_nodes
                                     : stats.gradient_nodes)++;
    NodeCost cost{node.name, node.op, 0, 0};
    std::vector<TensorMeta> input_metas;
    for (const TensorRef& ref : node.inputs) {
      absl::StatusOr<ValueType> type = graph.TypeOf(ref);
      if (type.ok()) {
        cost.bytes += Bytes(*type);
        input_metas.push_back(type->meta());
      }
    }
    for (const ValueType& output : node.outputs) cost.bytes += Bytes(output);
    cost.flops = NodeFlops(node, input_metas);
    stats.total_flops = SaturatingAdd(stats.total_flops, cost.flops);
    stats.total_bytes += cost.bytes;
    stats.nodes.push_back(std::move(cost));
  }
  const MemoryPlan plan = PlanMemory(graph);
  stats.peak_activation_bytes = PeakLiveBytes(graph, &plan);
  stats.peak_activation_bytes_keeping_all = PeakLiveBytes(graph, nullptr);
  return stats;
}

int64_t PeakLiveBytes(const Graph& graph, const MemoryPlan* plan) {
  std::unordered_map<std::string, const GraphNode*> node_by_name;
  for (const GraphNode& node : graph.nodes) node_by_name[node.name] = &node;
  int64_t live = 0;
  int64_t peak = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    // An output written in place into a dying input adds nothing, and that
    // input's buffer lives on as the output.
    const int donated =
        plan != nullptr && i < plan->donate.size() ? plan->donate[i] : -1;
    const std::vector<ValueType>& outputs = graph.nodes[i].outputs;
    for (size_t o = donated >= 0 ? 1 : 0; o < outputs.size(); ++o) {
      live = SaturatingAdd(live, Bytes(outputs[o]));
    }
    peak = std::max(peak, live);
    if (plan == nullptr || i >= plan->release_after.size()) continue;
    // Once saturated the count stays there: what was added is unknown.
    if (live == std::numeric_limits<int64_t>::max()) continue;
    for (const TensorRef& ref : plan->release_after[i]) {
      if (donated >= 0 && ref == graph.nodes[i].inputs[donated]) continue;
      auto it = node_by_name.find(ref.node);
      if (it == node_by_name.end() || ref.output < 0 ||
          ref.output >= static_cast<int>(it->second->outputs.size())) {
        continue;
      }
      live -= Bytes(it->second->outputs[ref.output]);
    }
  }
  return peak;
}

std::string GraphStats::ToString() const {
  std::string out =
      absl::StrCat("nodes: ", forward_nodes + gradient_nodes, " (",
                   forward_nodes, " forward, ", gradient_nodes, " gradient)\n");
  for (const auto& [op, count] : nodes_by_op) {
    absl::StrAppend(&out, absl::StrFormat("  %-24s %6d\n", op, count));
  }
  absl::StrAppend(&out, "parameters: ", parameter_count, " elements (",
                  HumanBytes(parameter_bytes), ")\n");
  absl::StrAppend(&out, "\n",
                  absl::StrFormat("%-40s %-20s %14s %14s\n", "node", "op",
                                  "FLOPs", "bytes"));
  for (const NodeCost& node : nodes) {
    absl::StrAppend(&out, absl::StrFormat("%-40s %-20s %14d %14d\n", node.name,
                                          node.op, node.flops, node.bytes));
  }
  absl::StrAppend(&out, "\ntotal FLOPs: ", total_flops, " (",
                  HumanCount(total_flops),
                  "FLOP; each op's estimate, one per output element for "
                  "ops without one)\n");
  absl::StrAppend(&out, "total bytes read and written: ", total_bytes, " (",
                  HumanBytes(total_bytes), ")\n");
  absl::StrAppend(&out,
                  "peak activation memory (estimate): ", peak_activation_bytes,
                  " (", HumanBytes(peak_activation_bytes), ")\n");
  absl::StrAppend(&out, "peak activation memory keeping every value: ",
                  peak_activation_bytes_keeping_all, " (",
                  HumanBytes(peak_activation_bytes_keeping_all), ")\n");
  return out;
}

}  // namespace minigraph
