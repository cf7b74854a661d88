// ValidateGraph: everything about a graph is checked against the op registry
// before anything runs, so a bad file is an error naming its node, never a
// crash in a kernel.
#include <algorithm>
#include <cctype>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph.h"
#include "framework/op_registry.h"

namespace minigraph {
namespace {

bool IsIdentifier(absl::string_view name) {
  if (name.empty()) return false;
  if (!std::isalpha(static_cast<unsigned char>(name[0])) && name[0] != '_') {
    return false;
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// Sizes within the allocation bound, symbolic dimensions equal to their
// sizes.
absl::Status CheckType(const ValueType& type,
                       const std::map<std::string, int64_t>& symbols,
                       absl::string_view where) {
  const TensorMeta meta = type.meta();
  if (absl::Status s = ValidateShape(meta.shape); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
  }
  for (size_t d = 0; d < type.shape.size(); ++d) {
    const SymDim& dim = type.shape[d];
    if (dim.symbol.empty()) continue;
    absl::StatusOr<int64_t> value = EvaluateSymbol(dim.symbol, symbols);
    if (!value.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": dimension ", d, ": ", value.status().message()));
    }
    if (*value != dim.size) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": dimension ", d, " is '", dim.symbol, "' = ", *value,
          " with the graph's symbol sizes, but its size is ", dim.size));
    }
  }
  return absl::OkStatus();
}

// Orders nodes so that each follows those it reads, keeping the stored order
// where it already is one. Fails on a cycle, naming its nodes.
absl::Status SortNodes(Graph& graph, absl::string_view source) {
  const size_t n = graph.nodes.size();
  std::unordered_map<std::string, size_t> index;
  index.reserve(n);
  for (size_t i = 0; i < n; ++i) index.emplace(graph.nodes[i].name, i);
  std::vector<std::vector<size_t>> consumers(n);
  std::vector<int> pending(n, 0);
  for (size_t i = 0; i < n; ++i) {
    for (const TensorRef& ref : graph.nodes[i].inputs) {
      auto it = index.find(ref.node);
      if (it == index.end()) continue;
      consumers[it->second].push_back(i);
      ++pending[i];
    }
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t consumer : consumers[i]) {
      if (--pending[consumer] == 0) ready.push(consumer);
    }
  }
  if (order.size() != n) {
    // Every node left over waits on another left-over node: walking back
    // along inputs from any of them must come round to a node seen before.
    size_t start = 0;
    while (pending[start] == 0) ++start;
    std::vector<size_t> path;
    std::unordered_map<size_t, size_t> seen_at;
    size_t current = start;
    while (seen_at.find(current) == seen_at.end()) {
      seen_at[current] = path.size();
      path.push_back(current);
      for (const TensorRef& ref : graph.nodes[current].inputs) {
        auto it = index.find(ref.node);
        if (it != index.end() && pending[it->second] > 0) {
          current = it->second;
          break;
        }
      }
    }
    std::vector<std::string> names;
    for (size_t k = seen_at[current]; k < path.size(); ++k) {
      names.push_back(graph.nodes[path[k]].name);
    }
    names.push_back(graph.nodes[current].name);
    std::reverse(names.begin(), names.end());
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": the graph has a cycle: ", absl::StrJoin(names, " -> ")));
  }
  std::vector<GraphNode> sorted;
  sorted.reserve(n);
  for (size_t i : order) sorted.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(sorted);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGraph(Graph& graph, absl::string_view source) {
  for (const auto& [name, size] : graph.symbols) {
    if (!IsIdentifier(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": symbol '", name,
          "' is not a name (letters, digits and _, not starting with a "
          "digit)"));
    }
    if (size < 0 || size > kMaxElements) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": symbol '", name, "' has size ", size,
                       " (must be in [0, 2^40])"));
    }
  }

  // One namespace for inputs, parameters, constants and nodes.
  std::unordered_map<std::string, std::string> kind_of;
  auto claim = [&](const std::string& name,
                   absl::string_view kind) -> absl::Status {
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": a ", kind, " has an empty name"));
    }
    auto [it, inserted] = kind_of.emplace(name, std::string(kind));
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": duplicate name '", name, "' (a ", it->second,
                       " and a ", kind, ")"));
    }
    return absl::OkStatus();
  };
  std::unordered_map<std::string, const ValueType*> single_types;
  for (const GraphInput& input : graph.inputs) {
    MG_RETURN_IF_ERROR(claim(input.name, "graph input"));
    MG_RETURN_IF_ERROR(
        CheckType(input.type, graph.symbols,
                  absl::StrCat(source, ": graph input '", input.name, "'")));
    single_types[input.name] = &input.type;
  }
  for (const GraphParameter& param : graph.parameters) {
    MG_RETURN_IF_ERROR(claim(param.name, "parameter"));
    const std::string where =
        absl::StrCat(source, ": parameter '", param.name, "'");
    MG_RETURN_IF_ERROR(CheckType(param.type, graph.symbols, where));
    if (param.value.defined() &&
        param.value.meta().shape != param.type.meta().shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": stored value is ", DTypeName(param.value.dtype()),
          ShapeToString(param.value.shape()), " but its type is ",
          param.type.ToString()));
    }
    if (param.value.defined() && param.value.dtype() != param.type.dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": stored value is ", DTypeName(param.value.dtype()),
          " but its type is ", param.type.ToString()));
    }
    single_types[param.name] = &param.type;
  }
  std::vector<ValueType> constant_types;
  constant_types.reserve(graph.constants.size());
  for (const GraphConstant& constant : graph.constants) {
    MG_RETURN_IF_ERROR(claim(constant.name, "constant"));
    if (!constant.value.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": constant '", constant.name, "' has no value"));
    }
    constant_types.push_back(ValueType::FromMeta(constant.value.meta()));
    single_types[constant.name] = &constant_types.back();
  }
  for (const GraphNode& node : graph.nodes) {
    MG_RETURN_IF_ERROR(claim(node.name, "node"));
  }
  for (const GraphNode& node : graph.nodes) {
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (kind_of.find(node.inputs[i].node) == kind_of.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": node '", node.name, "' (", node.op, "): input ", i,
            " refers to unknown value '", node.inputs[i].node, "'"));
      }
    }
  }
  MG_RETURN_IF_ERROR(SortNodes(graph, source));

  std::unordered_map<std::string, const GraphNode*> node_by_name;
  for (GraphNode& node : graph.nodes) {
    const std::string where =
        absl::StrCat(source, ": node '", node.name, "' (", node.op, ")");
    const OpDef* def = FindOp(node.op);
    if (def == nullptr) {
      return absl::NotFoundError(
          absl::StrCat(where, ": unknown op '", node.op,
                       "' (`minigraph ops` lists the registered ops)"));
    }
    const size_t declared = def->inputs.size();
    const bool arity_ok = def->variadic_last_input
                              ? node.inputs.size() >= declared
                              : node.inputs.size() == declared;
    if (!arity_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expects ", def->variadic_last_input ? "at least " : "",
          declared, " input(s) (", absl::StrJoin(def->inputs, ", "), "), has ",
          node.inputs.size()));
    }
    MG_RETURN_IF_ERROR(ValidateAttrs(def->attrs, where, node.attrs));
    // Symbolic attributes name declared integer attributes and give their
    // stored values at the graph's symbol sizes.
    for (const auto& [name, expressions] : node.attr_symbols) {
      if (!node.attrs.Has(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": symbolic attribute '", name,
                         "' is not an attribute of ", node.op));
      }
    }
    if (!node.attr_symbols.empty()) {
      absl::StatusOr<Attrs> resolved = ResolveAttrs(node, graph.symbols);
      if (!resolved.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": ", resolved.status().message()));
      }
      if (!(*resolved == node.attrs)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": symbolic attributes give (", resolved->ToString(),
            ") at the graph's symbol sizes, but the stored values are (",
            node.attrs.ToString(), ")"));
      }
    }
    std::vector<TensorMeta> input_metas;
    input_metas.reserve(node.inputs.size());
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const TensorRef& ref = node.inputs[i];
      const ValueType* type = nullptr;
      if (auto it = node_by_name.find(ref.node); it != node_by_name.end()) {
        const GraphNode& producer = *it->second;
        if (ref.output < 0 ||
            ref.output >= static_cast<int>(producer.outputs.size())) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": input ", i, " refers to output ",
                           ref.output, " of node '", ref.node, "', which has ",
                           producer.outputs.size(), " output(s)"));
        }
        type = &producer.outputs[ref.output];
      } else if (auto it = single_types.find(ref.node);
                 it != single_types.end()) {
        if (ref.output != 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, ": input ", i, " refers to output ", ref.output, " of '",
              ref.node, "', which is not a node (only output 0)"));
        }
        type = it->second;
      } else {
        // A node name that sorts later cannot happen after SortNodes.
        return absl::InternalError(absl::StrCat(
            where, ": input ", i, " ('", ref.node, "') is not defined yet"));
      }
      input_metas.push_back(type->meta());
    }
    absl::StatusOr<std::vector<TensorMeta>> inferred =
        def->infer(InferContext{input_metas, node.attrs});
    if (!inferred.ok()) {
      return absl::Status(
          inferred.status().code(),
          absl::StrCat(where, ": ", inferred.status().message()));
    }
    if (inferred->size() != node.outputs.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": stores ", node.outputs.size(),
                       " output(s), the op produces ", inferred->size()));
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const std::string output_where = absl::StrCat(where, ": output ", i);
      MG_RETURN_IF_ERROR(
          CheckType(node.outputs[i], graph.symbols, output_where));
      const TensorMeta stored = node.outputs[i].meta();
      const TensorMeta& expected = (*inferred)[i];
      if (stored.dtype != expected.dtype || stored.shape != expected.shape) {
        return absl::InvalidArgumentError(absl::StrCat(
            output_where, " is stored as ", node.outputs[i].ToString(),
            " but shape inference gives ", DTypeName(expected.dtype),
            ShapeToString(expected.shape)));
      }
    }
    if (node.role == NodeRole::kGradient && !node.forward_node.empty() &&
        kind_of.find(node.forward_node) == kind_of.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": is the gradient of unknown node '",
                       node.forward_node, "'"));
    }
    node_by_name[node.name] = &node;
  }

  std::unordered_set<std::string> output_names;
  for (const GraphOutput& output : graph.outputs) {
    if (output.name.empty() || !output_names.insert(output.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": graph output name '", output.name,
                       "' is empty or used twice"));
    }
    if (absl::StatusOr<ValueType> type = graph.TypeOf(output.value);
        !type.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": graph output '", output.name,
                       "': ", type.status().message()));
    }
  }
  return CheckSymbolicDims(graph, source);
}

}  // namespace minigraph
