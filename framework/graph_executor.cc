#include "framework/graph_executor.h"

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/autograd.h"
#include "framework/op_registry.h"

namespace minigraph {
namespace {

std::string GraphLabel(const Graph& graph) {
  return absl::StrCat("graph '", graph.name, "'");
}

// The fed tensor must have the stored dtype and rank; its plain symbolic
// dimensions ("B", "T") bind those symbols, consistently across feeds.
// Sizes are checked against the binding afterwards (CheckFeedSizes).
absl::Status BindFeed(const Graph& graph, const std::string& name,
                      absl::string_view kind, const ValueType& type,
                      const Tensor& fed,
                      std::map<std::string, int64_t>& bound) {
  const std::string where =
      absl::StrCat(GraphLabel(graph), ": ", kind, " '", name, "'");
  if (!fed.defined()) {
    return absl::InvalidArgumentError(where + ": fed an undefined tensor");
  }
  if (fed.dtype() != type.dtype ||
      fed.dim() != static_cast<int>(type.shape.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expects ", type.ToString(), ", got ",
                     DTypeName(fed.dtype()), ShapeToString(fed.shape())));
  }
  for (size_t d = 0; d < type.shape.size(); ++d) {
    const SymDim& dim = type.shape[d];
    if (dim.symbol.empty() || graph.symbols.count(dim.symbol) == 0) continue;
    const int64_t size = fed.shape()[d];
    auto [it, inserted] = bound.emplace(dim.symbol, size);
    if (!inserted && it->second != size) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": dimension ", d, " is '", dim.symbol, "' = ", size,
          " but another input set '", dim.symbol, "' = ", it->second));
    }
  }
  return absl::OkStatus();
}

// Every dimension of the fed tensor equals its stored size or its symbolic
// expression under the binding.
absl::Status CheckFeedSizes(const Graph& graph, const std::string& name,
                            absl::string_view kind, const ValueType& type,
                            const Tensor& fed,
                            const std::map<std::string, int64_t>& bound) {
  for (size_t d = 0; d < type.shape.size(); ++d) {
    const SymDim& dim = type.shape[d];
    int64_t expected = dim.size;
    if (!dim.symbol.empty()) {
      absl::StatusOr<int64_t> value = EvaluateSymbol(dim.symbol, bound);
      if (!value.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(GraphLabel(graph), ": ", kind, " '", name,
                         "': dimension ", d, ": ", value.status().message()));
      }
      expected = *value;
    }
    if (fed.shape()[d] != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          GraphLabel(graph), ": ", kind, " '", name, "': expects ",
          type.ToString(), ", got ", DTypeName(fed.dtype()),
          ShapeToString(fed.shape()), " (dimension ", d, " should be ",
          expected, dim.symbol.empty() ? "" : " = " + dim.symbol, " with ",
          absl::StrJoin(bound, ", ", absl::PairFormatter("=")), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const Tensor& GraphValues::Get(const TensorRef& ref) const {
  return values_.at(ref.node)[ref.output];
}

void GraphValues::Release(const TensorRef& ref) {
  auto it = values_.find(ref.node);
  if (it == values_.end()) return;
  std::vector<Tensor>& outputs = it->second;
  if (ref.output < 0 || ref.output >= static_cast<int>(outputs.size())) return;
  outputs[ref.output] = Tensor();
  for (const Tensor& t : outputs) {
    if (t.defined()) return;
  }
  values_.erase(it);
}

absl::StatusOr<GraphValues> RunGraph(const Graph& graph,
                                     const std::map<std::string, Tensor>& feeds,
                                     const ExecuteOptions& options) {
  GraphValues values;
  std::map<std::string, int64_t> bound;
  size_t used_feeds = 0;
  for (const GraphInput& input : graph.inputs) {
    auto it = feeds.find(input.name);
    if (it == feeds.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(GraphLabel(graph), ": graph input '", input.name, "' (",
                       input.type.ToString(), ") is not given"));
    }
    MG_RETURN_IF_ERROR(BindFeed(graph, input.name, "graph input", input.type,
                                it->second, bound));
    values.Set(input.name, {it->second});
    ++used_feeds;
  }
  for (const GraphParameter& param : graph.parameters) {
    auto it = feeds.find(param.name);
    Tensor value;
    if (it != feeds.end()) {
      value = it->second;
      ++used_feeds;
    } else if (param.value.defined()) {
      value = param.value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          GraphLabel(graph), ": parameter '", param.name, "' (",
          param.type.ToString(),
          ") has no stored value and is not given (the graph was saved "
          "without weights)"));
    }
    MG_RETURN_IF_ERROR(
        BindFeed(graph, param.name, "parameter", param.type, value, bound));
    values.Set(param.name, {value});
  }
  if (used_feeds != feeds.size()) {
    for (const auto& [name, tensor] : feeds) {
      if (!values.Has(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat(GraphLabel(graph), ": given '", name,
                         "', which is neither an input nor a parameter"));
      }
    }
  }
  // Symbols no feed names keep their stored sizes.
  for (const auto& [symbol, size] : graph.symbols) bound.emplace(symbol, size);
  for (const GraphInput& input : graph.inputs) {
    MG_RETURN_IF_ERROR(CheckFeedSizes(graph, input.name, "graph input",
                                      input.type, values.Get({input.name}),
                                      bound));
  }
  for (const GraphParameter& param : graph.parameters) {
    MG_RETURN_IF_ERROR(CheckFeedSizes(graph, param.name, "parameter",
                                      param.type, values.Get({param.name}),
                                      bound));
  }
  // At other sizes the graph is first re-derived for them: attributes that
  // follow the symbols are evaluated, and every node inferred again.
  std::optional<Graph> rebound;
  if (bound != graph.symbols) {
    MG_ASSIGN_OR_RETURN(rebound, RebindGraph(graph, bound));
  }
  const Graph& run = rebound.has_value() ? *rebound : graph;
  for (const GraphConstant& constant : run.constants) {
    values.Set(constant.name, {constant.value});
  }

  // Optimized for these sizes on request: the rebound graph is this run's
  // own, so it is frozen at the fed sizes and folds completely.
  if (rebound.has_value() && options.rebound_passes.has_value()) {
    GraphPassOptions passes = *options.rebound_passes;
    passes.fix_symbol_sizes = true;
    passes.validate = false;
    MG_RETURN_IF_ERROR(OptimizeGraph(*rebound, passes).status());
    for (const GraphConstant& constant : run.constants) {
      if (!values.Has(constant.name)) {
        values.Set(constant.name, {constant.value});
      }
    }
  }
  std::optional<MemoryPlan> plan;
  if (options.release_dead_values) plan = PlanMemory(run);

  std::optional<NoGradGuard> no_grad;
  if (!options.record_gradients) no_grad.emplace();
  for (size_t i = 0; i < run.nodes.size(); ++i) {
    const GraphNode& node = run.nodes[i];
    const OpDef* def = FindOp(node.op);
    if (def == nullptr) {
      return absl::NotFoundError(absl::StrCat(GraphLabel(graph), ": node '",
                                              node.name, "': unknown op '",
                                              node.op, "'"));
    }
    std::vector<Tensor> inputs;
    std::vector<TensorMeta> metas;
    inputs.reserve(node.inputs.size());
    for (const TensorRef& ref : node.inputs) {
      inputs.push_back(values.Get(ref));
      metas.push_back(inputs.back().meta());
    }
    // Sizes checked before the kernel allocates anything.
    absl::StatusOr<std::vector<TensorMeta>> inferred =
        def->infer(InferContext{metas, node.attrs});
    if (!inferred.ok()) {
      return absl::Status(
          inferred.status().code(),
          absl::StrCat(GraphLabel(graph), ": node '", node.name, "' (", node.op,
                       "): ", inferred.status().message()));
    }
    for (const TensorMeta& meta : *inferred) {
      MG_RETURN_IF_ERROR(ValidateShape(meta.shape));
      const int64_t bytes =
          NumElements(meta.shape) * static_cast<int64_t>(DTypeSize(meta.dtype));
      if (options.max_tensor_bytes > 0 && bytes > options.max_tensor_bytes) {
        return absl::ResourceExhaustedError(
            absl::StrCat(GraphLabel(graph), ": node '", node.name, "' (",
                         node.op, ") would allocate ", DTypeName(meta.dtype),
                         ShapeToString(meta.shape), " = ", bytes,
                         " bytes, over the limit ", options.max_tensor_bytes));
      }
    }
    // In place: the plan's dying input leaves `values` first, so the call's
    // handle is the only one and output 0 may take its buffer.
    int donated = -1;
    if (plan.has_value() && !options.record_gradients &&
        i < plan->donate.size()) {
      donated = plan->donate[i];
      if (donated >= 0) values.Release(node.inputs[donated]);
    }
    absl::StatusOr<std::vector<Tensor>> outputs =
        CallOpDonating(*def, std::move(inputs), node.attrs, node.name, donated);
    if (!outputs.ok()) {
      return absl::Status(
          outputs.status().code(),
          absl::StrCat(GraphLabel(graph), ": ", outputs.status().message()));
    }
    values.Set(node.name, *std::move(outputs));
    // After the outputs exist: a value's last reader has just run, and a
    // later node's allocation can take its storage.
    if (plan.has_value()) {
      for (const TensorRef& ref : plan->release_after[i]) values.Release(ref);
    }
  }
  // Callers ask by the graph's own output references, which optimizing the
  // rebound graph may have moved (to a merged node, to a folded constant).
  for (size_t o = 0; o < graph.outputs.size() && &run != &graph; ++o) {
    const TensorRef& asked = graph.outputs[o].value;
    const TensorRef& held = run.outputs[o].value;
    if (asked == held) continue;
    std::vector<Tensor> outputs;
    if (values.Has(asked.node)) outputs = values.Outputs(asked.node);
    if (static_cast<int>(outputs.size()) <= asked.output) {
      outputs.resize(asked.output + 1);
    }
    outputs[asked.output] = values.Get(held);
    values.Set(asked.node, std::move(outputs));
  }
  return values;
}

absl::StatusOr<std::vector<Tensor>> ExecuteGraph(
    const Graph& graph, const std::map<std::string, Tensor>& feeds,
    const ExecuteOptions& options) {
  MG_ASSIGN_OR_RETURN(GraphValues values, RunGraph(graph, feeds, options));
  std::vector<Tensor> outputs;
  outputs.reserve(graph.outputs.size());
  for (const GraphOutput& output : graph.outputs) {
    outputs.push_back(values.Get(output.value));
  }
  return outputs;
}

}  // namespace minigraph
