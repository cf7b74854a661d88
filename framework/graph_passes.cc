#include "framework/graph_passes.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "framework/autograd.h"
#include "framework/graph_stats.h"
#include "framework/op_registry.h"
#include "framework/status_macros.h"

namespace minigraph {
namespace {

constexpr const char* kPassNames[] = {"dce", "cse", "fold_constants",
                                      "memory_plan"};

bool* PassFlag(GraphPassOptions& options, absl::string_view name) {
  if (name == "dce") return &options.dce;
  if (name == "cse") return &options.cse;
  if (name == "fold_constants") return &options.fold_constants;
  if (name == "memory_plan") return &options.memory_plan;
  return nullptr;
}

PassStats Begin(absl::string_view pass, const Graph& graph) {
  PassStats stats;
  stats.pass = std::string(pass);
  stats.nodes_before = static_cast<int>(graph.nodes.size());
  stats.constants_before = static_cast<int>(graph.constants.size());
  return stats;
}

PassStats End(PassStats stats, const Graph& graph) {
  stats.nodes_after = static_cast<int>(graph.nodes.size());
  stats.constants_after = static_cast<int>(graph.constants.size());
  return stats;
}

int64_t Bytes(const ValueType& type) {
  return NumElements(type.meta().shape) *
         static_cast<int64_t>(DTypeSize(type.dtype));
}

bool HasSymbolicDims(const ValueType& type) {
  for (const SymDim& dim : type.shape) {
    if (!dim.symbol.empty()) return true;
  }
  return false;
}

// ---- exact keys ---------------------------------------------------------

// Appends `text` with its length first, so that no two different sequences
// of fields give the same key.
void AppendField(std::string& key, absl::string_view text) {
  absl::StrAppend(&key, text.size(), ":", text);
}

// Floats by their bits: 0.0 and -0.0 (and NaNs of other payloads) give
// other values, so only bitwise equal attributes may merge.
std::string DoubleBits(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return absl::StrFormat("%016x", bits);
}

std::string AttrValueKey(const AttrValue& value) {
  switch (TypeOf(value)) {
    case AttrType::kFloat:
      return absl::StrCat("f", DoubleBits(std::get<double>(value)));
    case AttrType::kFloats: {
      std::string out = "F";
      for (double v : std::get<std::vector<double>>(value)) {
        absl::StrAppend(&out, DoubleBits(v), ",");
      }
      return out;
    }
    case AttrType::kString: {
      std::string out = "s";
      AppendField(out, std::get<std::string>(value));
      return out;
    }
    default:
      // Integers, bools, dtypes and shapes print exactly; the type index
      // keeps an int apart from a one-element shape.
      return absl::StrCat(value.index(), AttrValueToString(value));
  }
}

// Equal keys exactly when two calls compute the same values: op, inputs,
// attributes bit for bit, and the symbolic attributes (which decide the
// values at other sizes).
std::string NodeKey(const GraphNode& node) {
  std::string key;
  AppendField(key, node.op);
  absl::StrAppend(&key, node.inputs.size(), "(");
  for (const TensorRef& ref : node.inputs) {
    AppendField(key, ref.node);
    absl::StrAppend(&key, ref.output, ",");
  }
  absl::StrAppend(&key, ")", node.attrs.items().size(), "{");
  for (const auto& [name, value] : node.attrs.items()) {
    AppendField(key, name);
    AppendField(key, AttrValueKey(value));
  }
  absl::StrAppend(&key, "}", node.attr_symbols.size(), "[");
  for (const auto& [name, expressions] : node.attr_symbols) {
    AppendField(key, name);
    absl::StrAppend(&key, expressions.size(), "(");
    for (const std::string& e : expressions) AppendField(key, e);
    absl::StrAppend(&key, ")");
  }
  absl::StrAppend(&key, "]");
  return key;
}

// The row-major bytes of a tensor (a copy only when it is not contiguous).
std::string TensorBytes(const Tensor& t) {
  const Tensor c = t.is_contiguous() ? t : CopyToContiguous(t);
  const size_t n = static_cast<size_t>(c.numel()) * DTypeSize(c.dtype());
  const char* data = static_cast<const char*>(c.storage()->data()) +
                     c.offset() * static_cast<int64_t>(DTypeSize(c.dtype()));
  return std::string(data, n);
}

// Rewrites every reference (node inputs, graph outputs, gradient links) by
// `renamed`, which maps a value's name to the name of the value that
// replaces all of its outputs.
void RenameReferences(
    Graph& graph, const std::unordered_map<std::string, std::string>& renamed) {
  if (renamed.empty()) return;
  auto rename = [&](std::string& name) {
    auto it = renamed.find(name);
    if (it != renamed.end()) name = it->second;
  };
  for (GraphNode& node : graph.nodes) {
    for (TensorRef& ref : node.inputs) rename(ref.node);
    rename(node.forward_node);
  }
  for (GraphOutput& output : graph.outputs) rename(output.value.node);
}

// Every name in the graph's one namespace.
std::unordered_set<std::string> AllNames(const Graph& graph) {
  std::unordered_set<std::string> names;
  for (const GraphInput& input : graph.inputs) names.insert(input.name);
  for (const GraphParameter& param : graph.parameters) names.insert(param.name);
  for (const GraphConstant& constant : graph.constants) {
    names.insert(constant.name);
  }
  for (const GraphNode& node : graph.nodes) names.insert(node.name);
  return names;
}

std::string UniqueName(const std::string& wanted,
                       std::unordered_set<std::string>& names) {
  std::string name = wanted;
  for (int n = 1; names.count(name) != 0; ++n) {
    name = absl::StrCat(wanted, "_", n);
  }
  names.insert(name);
  return name;
}

}  // namespace

// ---- options ------------------------------------------------------------

absl::StatusOr<GraphPassOptions> ParseGraphPasses(absl::string_view text,
                                                  absl::string_view flag) {
  GraphPassOptions options;
  if (text == "all") return options;
  options.dce = options.cse = options.fold_constants = options.memory_plan =
      false;
  if (text == "none") return options;
  for (absl::string_view name : absl::StrSplit(text, ',')) {
    bool* enabled = PassFlag(options, name);
    if (enabled == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": unknown pass '", name, "' in '", text,
                       "' (expected all, none, or a comma-separated list of ",
                       absl::StrJoin(kPassNames, ", "), ")"));
    }
    *enabled = true;
  }
  return options;
}

std::string GraphPassesToString(const GraphPassOptions& options) {
  std::vector<std::string> names;
  GraphPassOptions copy = options;
  for (const char* name : kPassNames) {
    if (*PassFlag(copy, name)) names.push_back(name);
  }
  return names.empty() ? "none" : absl::StrJoin(names, ",");
}

std::string GraphPassReport::ToString() const {
  std::string out;
  for (const PassStats& pass : passes) {
    absl::StrAppend(&out, pass.pass, ": nodes ", pass.nodes_before, " -> ",
                    pass.nodes_after, ", constants ", pass.constants_before,
                    " -> ", pass.constants_after);
    if (pass.skipped > 0) {
      absl::StrAppend(&out, " (", pass.skipped,
                      " left unfolded: over the size bound or refused)");
    }
    absl::StrAppend(&out, "\n");
  }
  absl::StrAppend(&out, "optimized: nodes ", nodes_before, " -> ", nodes_after,
                  ", constants ", constants_before, " -> ", constants_after,
                  "\n");
  if (planned) {
    absl::StrAppend(&out, "planned peak memory: ", peak_bytes_planned,
                    " bytes releasing values after their last use, ",
                    peak_bytes_keeping_all, " bytes keeping every value\n");
  }
  return out;
}

// ---- dead-code elimination ------------------------------------------------

PassStats EliminateDeadCode(Graph& graph) {
  PassStats stats = Begin("dce", graph);
  // Names read by a live node or an output, walking back from the outputs.
  std::unordered_set<std::string> live;
  for (const GraphOutput& output : graph.outputs) {
    live.insert(output.value.node);
  }
  std::vector<bool> keep(graph.nodes.size(), false);
  for (size_t i = graph.nodes.size(); i-- > 0;) {
    const GraphNode& node = graph.nodes[i];
    if (live.count(node.name) == 0) continue;
    keep[i] = true;
    for (const TensorRef& ref : node.inputs) live.insert(ref.node);
  }
  std::vector<GraphNode> nodes;
  nodes.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (keep[i]) nodes.push_back(std::move(graph.nodes[i]));
  }
  graph.nodes = std::move(nodes);
  std::vector<GraphConstant> constants;
  for (GraphConstant& constant : graph.constants) {
    if (live.count(constant.name) != 0) constants.push_back(constant);
  }
  graph.constants = std::move(constants);
  const std::unordered_set<std::string> names = AllNames(graph);
  for (GraphNode& node : graph.nodes) {
    if (names.count(node.forward_node) == 0) node.forward_node.clear();
  }
  return End(std::move(stats), graph);
}

// ---- common subexpression elimination -----------------------------------

PassStats EliminateCommonSubexpressions(Graph& graph) {
  PassStats stats = Begin("cse", graph);
  std::unordered_map<std::string, std::string> renamed;

  // Equal constants first, so that calls on them compare equal below.
  // Buckets by dtype, shape and a hash of the bytes; equal bytes decide.
  std::unordered_map<std::string, std::vector<size_t>> buckets;
  std::vector<GraphConstant> constants;
  std::vector<std::string> kept_bytes;
  for (GraphConstant& constant : graph.constants) {
    std::string bytes = TensorBytes(constant.value);
    const std::string bucket = absl::StrCat(
        DTypeName(constant.value.dtype()),
        ShapeToString(constant.value.shape()), "#", absl::HashOf(bytes));
    std::vector<size_t>& same = buckets[bucket];
    std::optional<size_t> match;
    for (size_t k : same) {
      if (kept_bytes[k] == bytes) match = k;
    }
    if (match.has_value()) {
      renamed[constant.name] = constants[*match].name;
      continue;
    }
    same.push_back(constants.size());
    kept_bytes.push_back(std::move(bytes));
    constants.push_back(std::move(constant));
  }
  graph.constants = std::move(constants);

  // In graph order every input has been renamed before its reader is keyed,
  // so duplicated chains merge link by link.
  std::unordered_map<std::string, std::string> first_by_key;
  std::vector<GraphNode> nodes;
  nodes.reserve(graph.nodes.size());
  for (GraphNode& node : graph.nodes) {
    for (TensorRef& ref : node.inputs) {
      auto it = renamed.find(ref.node);
      if (it != renamed.end()) ref.node = it->second;
    }
    auto [it, inserted] = first_by_key.emplace(NodeKey(node), node.name);
    if (!inserted) {
      renamed[node.name] = it->second;
      continue;
    }
    nodes.push_back(std::move(node));
  }
  graph.nodes = std::move(nodes);
  RenameReferences(graph, renamed);
  return End(std::move(stats), graph);
}

// ---- constant folding ---------------------------------------------------

absl::StatusOr<PassStats> FoldConstants(Graph& graph,
                                        const GraphPassOptions& options) {
  PassStats stats = Begin("fold_constants", graph);
  std::unordered_map<std::string, Tensor> constant_values;
  for (const GraphConstant& constant : graph.constants) {
    constant_values[constant.name] = constant.value;
  }
  std::unordered_set<std::string> names = AllNames(graph);
  // Output k of a folded node -> the constant now holding it.
  std::unordered_map<std::string, std::vector<std::string>> folded;
  int64_t total_bytes = 0;
  NoGradGuard no_grad;
  std::vector<GraphNode> nodes;
  nodes.reserve(graph.nodes.size());
  for (GraphNode& node : graph.nodes) {
    // Inputs first: a reader of a folded node now reads its constants.
    for (TensorRef& ref : node.inputs) {
      auto it = folded.find(ref.node);
      if (it != folded.end() && ref.output >= 0 &&
          ref.output < static_cast<int>(it->second.size())) {
        ref = TensorRef{it->second[ref.output], 0};
      }
    }
    bool foldable = node.attr_symbols.empty();
    std::vector<Tensor> inputs;
    for (const TensorRef& ref : node.inputs) {
      auto it = constant_values.find(ref.node);
      if (it == constant_values.end() || ref.output != 0) {
        foldable = false;
        break;
      }
      inputs.push_back(it->second);
    }
    int64_t bytes = 0;
    for (const ValueType& type : node.outputs) {
      if (HasSymbolicDims(type)) foldable = false;
      bytes += Bytes(type);
    }
    if (!foldable) {
      nodes.push_back(std::move(node));
      continue;
    }
    if (bytes > options.max_fold_bytes ||
        bytes > options.max_total_fold_bytes - total_bytes) {
      ++stats.skipped;
      nodes.push_back(std::move(node));
      continue;
    }
    absl::StatusOr<std::vector<Tensor>> outputs =
        CallOp(node.op, std::move(inputs), node.attrs, node.name);
    // A refusal (a kernel that finds values it cannot take) is left to the
    // run, which reports it in context.
    if (!outputs.ok() || outputs->size() != node.outputs.size()) {
      ++stats.skipped;
      nodes.push_back(std::move(node));
      continue;
    }
    total_bytes += bytes;
    std::vector<std::string>& constant_names = folded[node.name];
    for (size_t k = 0; k < outputs->size(); ++k) {
      // Constants are contiguous (expand and slice give views).
      Tensor value = (*outputs)[k].Detach();
      if (!value.is_contiguous() || value.offset() != 0) {
        value = CopyToContiguous(value);
      }
      // The node's own name is free once the node is gone; other outputs
      // need new ones.
      const std::string name =
          k == 0 ? node.name
                 : UniqueName(absl::StrCat(node.name, "/output_", k), names);
      constant_values[name] = value;
      constant_names.push_back(name);
      graph.constants.push_back(GraphConstant{name, std::move(value)});
    }
  }
  graph.nodes = std::move(nodes);
  for (GraphOutput& output : graph.outputs) {
    auto it = folded.find(output.value.node);
    if (it != folded.end() && output.value.output >= 0 &&
        output.value.output < static_cast<int>(it->second.size())) {
      output.value = TensorRef{it->second[output.value.output], 0};
    }
  }
  return End(std::move(stats), graph);
}

void FixSymbolSizes(Graph& graph) {
  auto fix = [](ValueType& type) {
    for (SymDim& dim : type.shape) dim.symbol.clear();
  };
  for (GraphInput& input : graph.inputs) fix(input.type);
  for (GraphParameter& param : graph.parameters) fix(param.type);
  for (GraphNode& node : graph.nodes) {
    node.attr_symbols.clear();
    for (ValueType& type : node.outputs) fix(type);
  }
  graph.symbols.clear();
}

// ---- memory plan ----------------------------------------------------------

MemoryPlan PlanMemory(const Graph& graph) {
  MemoryPlan plan;
  plan.release_after.resize(graph.nodes.size());
  // Last reader of every node output by "name:k"; graph outputs never die.
  std::unordered_map<std::string, size_t> last_use;
  std::unordered_set<std::string> kept;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const TensorRef& ref : graph.nodes[i].inputs) {
      last_use[ref.ToString()] = i;
    }
  }
  for (const GraphOutput& output : graph.outputs) {
    kept.insert(output.value.ToString());
  }
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const GraphNode& node = graph.nodes[i];
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      const TensorRef ref{node.name, static_cast<int>(k)};
      const std::string key = ref.ToString();
      if (kept.count(key) != 0) continue;
      auto it = last_use.find(key);
      // A reader always follows the producer; an output nobody reads goes
      // right after the node that made it.
      const size_t after = it == last_use.end() ? i : it->second;
      plan.release_after[after].push_back(ref);
    }
  }
  // In place: output 0 written into an input that dies here.
  plan.donate.assign(graph.nodes.size(), -1);
  std::unordered_map<std::string, const ValueType*> node_output_types;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const GraphNode& node = graph.nodes[i];
    const OpDef* def = FindOp(node.op);
    for (size_t k = 0; def != nullptr && !node.outputs.empty() &&
                       k < def->inplace_inputs.size();
         ++k) {
      const int input = def->inplace_inputs[k];
      if (input < 0 || input >= static_cast<int>(node.inputs.size())) continue;
      const TensorRef& ref = node.inputs[input];
      auto type = node_output_types.find(ref.ToString());
      const std::vector<TensorRef>& dying = plan.release_after[i];
      if (type == node_output_types.end() ||
          !(type->second->dtype == node.outputs[0].dtype) ||
          type->second->meta().shape != node.outputs[0].meta().shape ||
          std::count(node.inputs.begin(), node.inputs.end(), ref) != 1 ||
          std::find(dying.begin(), dying.end(), ref) == dying.end()) {
        continue;
      }
      plan.donate[i] = input;
      break;
    }
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      node_output_types[TensorRef{node.name, static_cast<int>(k)}.ToString()] =
          &node.outputs[k];
    }
  }
  return plan;
}

// ---- all of them ----------------------------------------------------------

absl::StatusOr<GraphPassReport> OptimizeGraph(Graph& graph,
                                              const GraphPassOptions& options) {
  GraphPassReport report;
  report.nodes_before = static_cast<int>(graph.nodes.size());
  report.constants_before = static_cast<int>(graph.constants.size());
  if (options.fix_symbol_sizes) FixSymbolSizes(graph);
  // Dead code first: nothing later spends work on it (folding would
  // evaluate it).
  if (options.dce) report.passes.push_back(EliminateDeadCode(graph));
  if (options.cse) {
    report.passes.push_back(EliminateCommonSubexpressions(graph));
  }
  if (options.fold_constants) {
    MG_ASSIGN_OR_RETURN(PassStats fold, FoldConstants(graph, options));
    const bool changed = fold.nodes_after != fold.nodes_before;
    report.passes.push_back(std::move(fold));
    if (changed && options.cse) {
      report.passes.push_back(EliminateCommonSubexpressions(graph));
    }
    if (changed && options.dce) {
      report.passes.push_back(EliminateDeadCode(graph));
    }
  }
  report.nodes_after = static_cast<int>(graph.nodes.size());
  report.constants_after = static_cast<int>(graph.constants.size());
  if (options.memory_plan) {
    const MemoryPlan plan = PlanMemory(graph);
    report.planned = true;
    report.peak_bytes_planned = PeakLiveBytes(graph, &plan);
    report.peak_bytes_keeping_all = PeakLiveBytes(graph, nullptr);
  }
  if (options.validate) {
    // A pass that broke the graph is a bug here, not in the input.
    absl::Status valid = ValidateGraph(
        graph, absl::StrCat("graph '", graph.name, "' after its passes"));
    if (!valid.ok()) return absl::InternalError(valid.message());
  }
  return report;
}

}  // namespace minigraph
