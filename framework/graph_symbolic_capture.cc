// CaptureSymbolic: the same model script traced at several symbol sizes,
// and the traces merged into one graph whose size-dependent integers are
// expressions in the symbols. Tracing is what makes this exact: the script
// itself says how a reshape target or a slice end follows the sizes, and
// the fit (FitSymbolicExpression) only has to name what it saw.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph_capture.h"
#include "framework/status_macros.h"

namespace minigraph {
namespace {

using Binding = std::map<std::string, int64_t>;

std::string BindingText(const Binding& sizes) {
  return absl::StrJoin(sizes, ",", absl::PairFormatter("="));
}

// The integer elements of an int, ints or shape attribute; nullopt for the
// other types.
std::optional<std::vector<int64_t>> IntElements(const AttrValue& value) {
  switch (TypeOf(value)) {
    case AttrType::kInt:
      return std::vector<int64_t>{std::get<int64_t>(value)};
    case AttrType::kInts:
      return std::get<std::vector<int64_t>>(value);
    case AttrType::kShape:
      return std::get<ShapeAttr>(value).dims;
    default:
      return std::nullopt;
  }
}

bool SameTensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = CopyToContiguous(a), cb = CopyToContiguous(b);
  const size_t bytes = static_cast<size_t>(ca.numel()) * DTypeSize(a.dtype());
  return bytes == 0 ||
         std::memcmp(ca.data<char>(), cb.data<char>(), bytes) == 0;
}

// Fits every element of `sequences` (one value per binding) and returns one
// expression per element, "" where the element does not move; errors name
// `what`.
absl::StatusOr<std::vector<std::string>> FitElements(
    const std::vector<std::string>& names, const std::vector<Binding>& bindings,
    const std::vector<std::vector<int64_t>>& per_binding,
    const std::string& what) {
  const size_t count = per_binding[0].size();
  std::vector<std::string> expressions(count);
  for (size_t e = 0; e < count; ++e) {
    std::vector<int64_t> values;
    for (const auto& elements : per_binding) values.push_back(elements[e]);
    std::optional<std::string> expression =
        FitSymbolicExpression(names, bindings, values);
    if (!expression.has_value()) {
      std::vector<std::string> seen;
      for (size_t k = 0; k < bindings.size(); ++k) {
        seen.push_back(
            absl::StrCat(values[k], " at ", BindingText(bindings[k])));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          what, " element ", e,
          " follows the sizes in a way no expression in the symbols fits: ",
          absl::StrJoin(seen, "; ")));
    }
    expressions[e] = *expression;
  }
  return expressions;
}

// The traces around `sizes` merged.
absl::StatusOr<Graph> MergeTracesAround(const GraphTrace& trace,
                                        const Binding& sizes) {
  const std::vector<Binding> bindings = FitBindings(sizes);
  std::vector<Graph> traces;
  for (const Binding& binding : bindings) {
    absl::StatusOr<Graph> graph = trace(binding);
    if (!graph.ok()) {
      return absl::Status(graph.status().code(),
                          absl::StrCat("tracing at ", BindingText(binding),
                                       ": ", graph.status().message()));
    }
    if (graph->symbols != binding) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tracing at ", BindingText(binding), " gave a graph with symbols ",
          BindingText(graph->symbols)));
    }
    traces.push_back(*std::move(graph));
  }
  Graph merged = traces[0];
  std::vector<std::string> names;
  for (const auto& [name, size] : sizes) names.push_back(name);
  const std::string label = absl::StrCat("graph '", merged.name, "'");
  // FailedPrecondition marks a structural difference, which CaptureSymbolic
  // retries away from sizes of 1.
  auto differs = [&](size_t k, const std::string& what) {
    return absl::FailedPreconditionError(absl::StrCat(
        label, ": ", what, " differs between the traces at ",
        BindingText(bindings[0]), " and at ", BindingText(bindings[k]),
        ", so the graph cannot follow the sizes"));
  };
  for (size_t k = 1; k < traces.size(); ++k) {
    const Graph& other = traces[k];
    if (other.nodes.size() != merged.nodes.size()) {
      return differs(k, absl::StrCat("the node count (", merged.nodes.size(),
                                     " vs ", other.nodes.size(), ")"));
    }
    if (other.inputs.size() != merged.inputs.size() ||
        other.parameters.size() != merged.parameters.size() ||
        other.outputs.size() != merged.outputs.size() ||
        other.constants.size() != merged.constants.size()) {
      return differs(k, "the inputs, parameters, constants or outputs");
    }
    for (size_t i = 0; i < merged.parameters.size(); ++i) {
      if (!(other.parameters[i].type == merged.parameters[i].type) ||
          other.parameters[i].name != merged.parameters[i].name) {
        return differs(
            k, absl::StrCat("parameter '", merged.parameters[i].name, "'"));
      }
    }
    for (size_t i = 0; i < merged.constants.size(); ++i) {
      const GraphConstant& a = merged.constants[i];
      const GraphConstant& b = other.constants[i];
      if (a.name != b.name || !SameTensor(a.value, b.value)) {
        return absl::InvalidArgumentError(absl::StrCat(
            label, ": constant '", a.name, "' (", DTypeName(a.value.dtype()),
            ShapeToString(a.value.shape()), " at ", BindingText(bindings[0]),
            ") changes with the sizes (at ", BindingText(bindings[k]), ": ",
            DTypeName(b.value.dtype()), ShapeToString(b.value.shape()),
            "); a value that depends on the sizes must be computed by ops "
            "(e.g. causal_mask, rotary_tables) so the graph can follow them"));
      }
    }
    for (size_t i = 0; i < merged.outputs.size(); ++i) {
      if (!(other.outputs[i].name == merged.outputs[i].name &&
            other.outputs[i].value == merged.outputs[i].value)) {
        return differs(k,
                       absl::StrCat("output '", merged.outputs[i].name, "'"));
      }
    }
    for (size_t i = 0; i < merged.inputs.size(); ++i) {
      const GraphInput& a = merged.inputs[i];
      const GraphInput& b = other.inputs[i];
      if (a.name != b.name || a.type.dtype != b.type.dtype ||
          a.type.shape.size() != b.type.shape.size()) {
        return differs(k, absl::StrCat("input '", a.name, "'"));
      }
    }
    for (size_t n = 0; n < merged.nodes.size(); ++n) {
      const GraphNode& a = merged.nodes[n];
      const GraphNode& b = other.nodes[n];
      if (a.name != b.name || a.op != b.op || !(a.inputs == b.inputs) ||
          a.role != b.role || a.forward_node != b.forward_node ||
          a.attrs.items().size() != b.attrs.items().size()) {
        return differs(
            k, absl::StrCat("node '", a.name, "' (", a.op, "; there: '", b.name,
                            "' (", b.op, "))"));
      }
    }
  }

  // Integer attributes that move with the sizes.
  for (size_t n = 0; n < merged.nodes.size(); ++n) {
    GraphNode& node = merged.nodes[n];
    for (size_t a = 0; a < node.attrs.items().size(); ++a) {
      const auto& [attr_name, value] = node.attrs.items()[a];
      const std::string what = absl::StrCat("node '", node.name, "' (", node.op,
                                            "): attribute '", attr_name, "'");
      bool moves = false;
      std::vector<std::vector<int64_t>> per_binding;
      for (size_t k = 0; k < traces.size(); ++k) {
        const auto& [other_name, other_value] =
            traces[k].nodes[n].attrs.items()[a];
        if (other_name != attr_name || TypeOf(other_value) != TypeOf(value)) {
          return differs(k, what);
        }
        moves = moves || !(other_value == value);
        std::optional<std::vector<int64_t>> elements = IntElements(other_value);
        if (elements.has_value()) per_binding.push_back(*std::move(elements));
      }
      if (!moves) continue;
      if (per_binding.size() != traces.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            label, ": ", what, " is ", AttrTypeName(TypeOf(value)),
            " and changes with the sizes; only integer attributes can follow "
            "them"));
      }
      for (const auto& elements : per_binding) {
        if (elements.size() != per_binding[0].size()) {
          return absl::InvalidArgumentError(absl::StrCat(
              label, ": ", what, " has a different length at other sizes"));
        }
      }
      MG_ASSIGN_OR_RETURN(
          std::vector<std::string> expressions,
          FitElements(names, bindings, per_binding, label + ": " + what));
      node.attr_symbols[attr_name] = std::move(expressions);
    }
  }

  // Input dimensions declared as sizes that still follow the symbols (a
  // gradient seed of shape [B, T-1, V]).
  for (size_t i = 0; i < merged.inputs.size(); ++i) {
    GraphInput& input = merged.inputs[i];
    for (size_t d = 0; d < input.type.shape.size(); ++d) {
      SymDim& dim = input.type.shape[d];
      std::vector<std::vector<int64_t>> per_binding;
      bool moves = false;
      for (const Graph& graph : traces) {
        const SymDim& other = graph.inputs[i].type.shape[d];
        per_binding.push_back({other.size});
        moves = moves || other.size != dim.size;
        if (other.symbol != dim.symbol) {
          return absl::InvalidArgumentError(
              absl::StrCat(label, ": input '", input.name, "' dimension ", d,
                           " is declared differently at other sizes"));
        }
      }
      if (!moves || !dim.symbol.empty()) continue;
      MG_ASSIGN_OR_RETURN(
          std::vector<std::string> expressions,
          FitElements(
              names, bindings, per_binding,
              absl::StrCat(label, ": input '", input.name, "' dimension ", d)));
      dim.symbol = expressions[0];
    }
  }
  AnnotateSymbolicDims(merged);
  MG_RETURN_IF_ERROR(ValidateGraph(merged, label));
  return merged;
}

}  // namespace

absl::StatusOr<Graph> CaptureSymbolic(const GraphTrace& trace,
                                      const Binding& sizes) {
  absl::StatusOr<Graph> merged = MergeTracesAround(trace, sizes);
  if (merged.ok() ||
      merged.status().code() != absl::StatusCode::kFailedPrecondition) {
    return merged;
  }
  // A size of 1 can be a special case of the script's graph: a broadcast
  // over a batch of one needs no reduction in its gradient, so the graph at
  // B=1 lacks a node the graph at B=2 has. The graph traced around larger
  // sizes holds that node and still runs at 1 (summing over one element),
  // so it is traced there and re-derived at the sizes asked for.
  Binding larger = sizes;
  bool any_one = false;
  for (auto& [name, size] : larger) {
    any_one = any_one || size == 1;
    size = std::max<int64_t>(size, 2);
  }
  if (!any_one) return merged;
  absl::StatusOr<Graph> around_larger = MergeTracesAround(trace, larger);
  if (!around_larger.ok()) return merged.status();
  return RebindGraph(*around_larger, sizes);
}

}  // namespace minigraph
