#include "framework/graph_executor.h"

#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/op_registry.h"

namespace minigraph {
namespace {

std::string GraphLabel(const Graph& graph) {
  return absl::StrCat("graph '", graph.name, "'");
}

// The fed tensor must have the stored dtype and shape, with symbolic
// dimensions free but bound consistently.
absl::Status CheckFeed(const Graph& graph, const std::string& name,
                       absl::string_view kind, const ValueType& type,
                       const Tensor& fed,
                       std::map<std::string, int64_t>& bound) {
  const std::string where =
      absl::StrCat(GraphLabel(graph), ": ", kind, " '", name, "'");
  if (!fed.defined()) {
    return absl::InvalidArgumentError(where + ": fed an undefined tensor");
  }
  const std::string got =
      absl::StrCat(DTypeName(fed.dtype()), ShapeToString(fed.shape()));
  if (fed.dtype() != type.dtype ||
      fed.dim() != static_cast<int>(type.shape.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expects ", type.ToString(), ", got ", got));
  }
  for (size_t d = 0; d < type.shape.size(); ++d) {
    const SymDim& dim = type.shape[d];
    const int64_t size = fed.shape()[d];
    // A plain symbol may be rebound; a fixed size or a product must match.
    const bool plain_symbol =
        !dim.symbol.empty() && graph.symbols.count(dim.symbol) != 0;
    if (!plain_symbol) {
      if (size != dim.size) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": expects ", type.ToString(), ", got ", got,
                         " (dimension ", d, ")"));
      }
      continue;
    }
    auto [it, inserted] = bound.emplace(dim.symbol, size);
    if (!inserted && it->second != size) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": dimension ", d, " is '", dim.symbol, "' = ", size,
          " but another input set '", dim.symbol, "' = ", it->second));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const Tensor& GraphValues::Get(const TensorRef& ref) const {
  return values_.at(ref.node)[ref.output];
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
    MG_RETURN_IF_ERROR(CheckFeed(graph, input.name, "graph input", input.type,
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
        CheckFeed(graph, param.name, "parameter", param.type, value, bound));
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
  for (const GraphConstant& constant : graph.constants) {
    values.Set(constant.name, {constant.value});
  }

  std::optional<NoGradGuard> no_grad;
  if (!options.record_gradients) no_grad.emplace();
  for (const GraphNode& node : graph.nodes) {
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
    absl::StatusOr<std::vector<Tensor>> outputs =
        CallOp(node.op, std::move(inputs), node.attrs, node.name);
    if (!outputs.ok()) {
      return absl::Status(
          outputs.status().code(),
          absl::StrCat(GraphLabel(graph), ": ", outputs.status().message()));
    }
    values.Set(node.name, *std::move(outputs));
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
