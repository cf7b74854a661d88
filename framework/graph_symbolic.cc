// Symbolic dimensions by probing: every op's shape inference is run again
// with each symbol moved to another size (and once with all of them moved),
// starting from the graph inputs' symbolic shapes. A dimension that moves
// exactly as a product of symbols does (B, T, B*T, 8*T) is that product;
// one that does not move, or whose node cannot be inferred at other sizes
// (a reshape to a fixed shape), stays a plain size.
#include <optional>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph.h"
#include "framework/op_registry.h"

namespace minigraph {
namespace {

using Binding = std::map<std::string, int64_t>;
// Per node, its output shapes under one binding; nullopt where inference
// failed there (or upstream).
using ProbeShapes =
    std::unordered_map<std::string, std::optional<std::vector<Shape>>>;

// The shapes every node's outputs take under `binding`, given the graph's
// input, parameter and constant types.
ProbeShapes Probe(const Graph& graph, const Binding& binding) {
  ProbeShapes shapes;
  auto shape_under = [&](const ValueType& type) -> std::optional<Shape> {
    Shape shape;
    for (const SymDim& d : type.shape) {
      if (d.symbol.empty()) {
        shape.push_back(d.size);
        continue;
      }
      absl::StatusOr<int64_t> size = EvaluateSymbol(d.symbol, binding);
      if (!size.ok()) return std::nullopt;
      shape.push_back(*size);
    }
    // Inference only ever sees shapes a tensor could have.
    if (!ValidateShape(shape).ok()) return std::nullopt;
    return shape;
  };
  auto single = [&](const std::string& name, const ValueType& type) {
    std::optional<Shape> shape = shape_under(type);
    shapes[name] = shape.has_value()
                       ? std::optional<std::vector<Shape>>({*shape})
                       : std::nullopt;
  };
  for (const GraphInput& input : graph.inputs) single(input.name, input.type);
  for (const GraphParameter& param : graph.parameters) {
    single(param.name, param.type);
  }
  for (const GraphConstant& constant : graph.constants) {
    shapes[constant.name] = std::vector<Shape>{constant.value.shape()};
  }
  for (const GraphNode& node : graph.nodes) {
    std::optional<std::vector<Shape>>& result = shapes[node.name];
    const OpDef* def = FindOp(node.op);
    std::vector<TensorMeta> metas;
    bool known = def != nullptr;
    for (size_t i = 0; known && i < node.inputs.size(); ++i) {
      const TensorRef& ref = node.inputs[i];
      auto it = shapes.find(ref.node);
      known = it != shapes.end() && it->second.has_value() && ref.output >= 0 &&
              ref.output < static_cast<int>(it->second->size());
      if (!known) break;
      absl::StatusOr<ValueType> type = graph.TypeOf(ref);
      known = type.ok();
      if (known) metas.push_back({type->dtype, (*it->second)[ref.output]});
    }
    if (!known) {
      result = std::nullopt;
      continue;
    }
    absl::StatusOr<std::vector<TensorMeta>> inferred =
        def->infer(InferContext{metas, node.attrs});
    if (!inferred.ok() || inferred->size() != node.outputs.size()) {
      result = std::nullopt;
      continue;
    }
    std::vector<Shape> out;
    for (const TensorMeta& meta : *inferred) {
      if (!ValidateShape(meta.shape).ok()) {
        known = false;
        break;
      }
      out.push_back(meta.shape);
    }
    result = known ? std::optional<std::vector<Shape>>(std::move(out))
                   : std::nullopt;
  }
  return shapes;
}

// The probing bindings: each symbol moved by one on its own, then all of
// them moved by two.
std::vector<Binding> ProbeBindings(const Graph& graph) {
  std::vector<Binding> bindings;
  for (const auto& [name, size] : graph.symbols) {
    Binding moved = graph.symbols;
    moved[name] = size + 1;
    bindings.push_back(std::move(moved));
  }
  Binding all = graph.symbols;
  for (auto& [name, size] : all) size += 2;
  bindings.push_back(std::move(all));
  return bindings;
}

}  // namespace

absl::Status CheckSymbolicDims(const Graph& graph, absl::string_view source) {
  if (graph.symbols.empty()) return absl::OkStatus();
  for (const Binding& binding : ProbeBindings(graph)) {
    const ProbeShapes shapes = Probe(graph, binding);
    for (const GraphNode& node : graph.nodes) {
      const auto& probed = shapes.at(node.name);
      if (!probed.has_value()) continue;
      for (size_t o = 0; o < node.outputs.size(); ++o) {
        for (size_t d = 0; d < node.outputs[o].shape.size(); ++d) {
          const SymDim& dim = node.outputs[o].shape[d];
          if (dim.symbol.empty()) continue;
          const absl::StatusOr<int64_t> expected =
              EvaluateSymbol(dim.symbol, binding);
          const int64_t actual = (*probed)[o][d];
          if (!expected.ok() || *expected != actual) {
            return absl::InvalidArgumentError(absl::StrCat(
                source, ": node '", node.name, "' (", node.op, "): output ", o,
                " dimension ", d, " is stored as '", dim.symbol, "', but with ",
                absl::StrJoin(binding, ", ", absl::PairFormatter("=")),
                " shape inference gives ", actual));
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

void AnnotateSymbolicDims(Graph& graph) {
  if (graph.symbols.empty()) return;
  const std::vector<Binding> bindings = ProbeBindings(graph);
  std::vector<ProbeShapes> probes;
  for (const Binding& binding : bindings) {
    probes.push_back(Probe(graph, binding));
  }
  std::vector<std::string> names;
  for (const auto& [name, size] : graph.symbols) names.push_back(name);
  for (GraphNode& node : graph.nodes) {
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      for (size_t d = 0; d < node.outputs[o].shape.size(); ++d) {
        SymDim& dim = node.outputs[o].shape[d];
        if (!dim.symbol.empty()) continue;
        std::vector<int64_t> values;
        for (const ProbeShapes& probe : probes) {
          const auto& shapes = probe.at(node.name);
          if (!shapes.has_value()) break;
          values.push_back((*shapes)[o][d]);
        }
        if (values.size() != probes.size()) continue;
        // Which symbols it follows: dimension * (v + 1) / v when only that
        // symbol moved from v to v + 1.
        int64_t coefficient = dim.size;
        std::vector<std::string> factors;
        bool fits = dim.size > 0;
        for (size_t s = 0; fits && s < names.size(); ++s) {
          const int64_t v = graph.symbols.at(names[s]);
          if (values[s] == dim.size) continue;
          // Sizes are below 2^41 here, so the products fit in 128 bits.
          if (v <= 0 ||
              static_cast<__int128>(values[s]) * v !=
                  static_cast<__int128>(dim.size) * (v + 1) ||
              coefficient % v != 0) {
            fits = false;
            break;
          }
          coefficient /= v;
          factors.push_back(names[s]);
        }
        if (!fits || factors.empty()) continue;
        if (coefficient != 1) {
          factors.insert(factors.begin(), absl::StrCat(coefficient));
        }
        const std::string expression = absl::StrJoin(factors, "*");
        // The all-moved probe must agree too.
        absl::StatusOr<int64_t> predicted =
            EvaluateSymbol(expression, bindings.back());
        if (predicted.ok() && *predicted == values.back()) {
          dim.symbol = expression;
        }
      }
    }
  }
}

}  // namespace minigraph
