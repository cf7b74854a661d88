// Symbolic dimensions by probing: every op's shape inference is run again
// at other symbol sizes (each corner of the box {v, v + 1}^n around the
// graph's sizes, then two far checks), starting from the graph inputs'
// symbolic shapes and with symbolic attributes evaluated there. A dimension
// that moves as a polynomial in the symbols with one term per subset of them
// (B, T, B*T, 8*T, T-1) is that expression; one that does not move, or whose
// node cannot be inferred at other sizes (a reshape to a fixed shape), stays
// a plain size. RebindGraph re-derives a whole graph at given sizes.
#include <algorithm>
#include <optional>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph.h"
#include "framework/op_registry.h"
#include "framework/status_macros.h"

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
  // Output dtypes by value name, which do not depend on the sizes.
  std::unordered_map<std::string, std::vector<DType>> dtypes;
  for (const GraphInput& input : graph.inputs) {
    dtypes[input.name] = {input.type.dtype};
  }
  for (const GraphParameter& param : graph.parameters) {
    dtypes[param.name] = {param.type.dtype};
  }
  for (const GraphConstant& constant : graph.constants) {
    dtypes[constant.name] = {constant.value.dtype()};
  }
  for (const GraphNode& node : graph.nodes) {
    std::vector<DType>& list = dtypes[node.name];
    for (const ValueType& type : node.outputs) list.push_back(type.dtype);
  }
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
      metas.push_back(
          {dtypes.at(ref.node)[ref.output], (*it->second)[ref.output]});
    }
    if (!known) {
      result = std::nullopt;
      continue;
    }
    absl::StatusOr<Attrs> attrs = ResolveAttrs(node, binding);
    if (!attrs.ok()) {
      result = std::nullopt;
      continue;
    }
    absl::StatusOr<std::vector<TensorMeta>> inferred =
        def->infer(InferContext{metas, *attrs});
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

}  // namespace

absl::Status CheckSymbolicDims(const Graph& graph, absl::string_view source) {
  if (graph.symbols.empty()) return absl::OkStatus();
  for (const Binding& binding : FitBindings(graph.symbols)) {
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
  const std::vector<Binding> bindings = FitBindings(graph.symbols);
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
        if (values.size() != probes.size() || values[0] != dim.size) continue;
        std::optional<std::string> expression =
            FitSymbolicExpression(names, bindings, values);
        if (expression.has_value()) dim.symbol = *expression;
      }
    }
  }
}

std::vector<Binding> FitBindings(const Binding& sizes) {
  std::vector<std::string> names;
  for (const auto& [name, size] : sizes) names.push_back(name);
  const size_t n = names.size();
  std::vector<Binding> bindings;
  for (size_t corner = 0; corner < (size_t{1} << n); ++corner) {
    Binding moved = sizes;
    for (size_t i = 0; i < n; ++i) moved[names[i]] += (corner >> i) & 1;
    bindings.push_back(std::move(moved));
  }
  // Two checks away from the box, each symbol moved differently, so a
  // dimension that only looks polynomial on the corners is caught.
  for (int check = 0; check < 2; ++check) {
    Binding far = sizes;
    for (size_t i = 0; i < n; ++i) {
      far[names[i]] += check == 0 ? 2 + static_cast<int64_t>(i)
                                  : 5 + 3 * static_cast<int64_t>(i);
    }
    bindings.push_back(std::move(far));
  }
  return bindings;
}

std::optional<std::string> FitSymbolicExpression(
    const std::vector<std::string>& names, const std::vector<Binding>& bindings,
    const std::vector<int64_t>& values) {
  const size_t n = names.size();
  const size_t corners = size_t{1} << n;
  if (n > 16 || values.size() != bindings.size() || bindings.size() < corners) {
    return std::nullopt;
  }
  // With u_i = s_i - v_i, the values on the corners give the coefficients
  // a_S of prod_{i in S} u_i by Moebius inversion:
  // a_S = sum_{T subset S} (-1)^{|S|-|T|} f(v + 1_T).
  std::vector<__int128> shifted(corners);
  for (size_t set = 0; set < corners; ++set) {
    __int128 sum = 0;
    for (size_t sub = set;; sub = (sub - 1) & set) {
      const int sign = (__builtin_popcountll(set ^ sub) % 2) ? -1 : 1;
      sum += sign * static_cast<__int128>(values[sub]);
      if (sub == 0) break;
    }
    shifted[set] = sum;
  }
  // Back to the symbols: prod_{i in S} (s_i - v_i) expanded, so
  // c_T = sum_{S superset T} a_S * prod_{i in S \ T} (-v_i).
  std::vector<int64_t> base(n);
  for (size_t i = 0; i < n; ++i) base[i] = bindings[0].at(names[i]);
  constexpr __int128 kLimit = __int128{1} << 62;
  std::vector<int64_t> coefficient(corners);
  for (size_t set = 0; set < corners; ++set) {
    __int128 sum = 0;
    for (size_t super = 0; super < corners; ++super) {
      if ((super & set) != set || shifted[super] == 0) continue;
      __int128 term = shifted[super];
      for (size_t i = 0; i < n; ++i) {
        if (((super ^ set) >> i) & 1) term *= -base[i];
        if (term > kLimit || term < -kLimit) return std::nullopt;
      }
      sum += term;
      if (sum > kLimit || sum < -kLimit) return std::nullopt;
    }
    coefficient[set] = static_cast<int64_t>(sum);
  }
  // Terms with more symbols first, the constant last: "B*T-B", "T-1".
  std::vector<size_t> order(corners);
  for (size_t i = 0; i < corners; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [](size_t a, size_t b) {
    return __builtin_popcountll(a) > __builtin_popcountll(b);
  });
  std::string expression;
  bool symbolic = false;
  for (size_t set : order) {
    const int64_t c = coefficient[set];
    if (c == 0) continue;
    std::vector<std::string> factors;
    for (size_t i = 0; i < n; ++i) {
      if ((set >> i) & 1) factors.push_back(names[i]);
    }
    symbolic = symbolic || !factors.empty();
    const int64_t magnitude = c < 0 ? -c : c;
    if (magnitude != 1 || factors.empty()) {
      factors.insert(factors.begin(), absl::StrCat(magnitude));
    }
    if (c < 0) {
      expression += "-";
    } else if (!expression.empty()) {
      expression += "+";
    }
    expression += absl::StrJoin(factors, "*");
  }
  if (!symbolic) {
    // Constant everywhere it was seen, or a fit that is not one.
    for (int64_t v : values) {
      if (v != values[0]) return std::nullopt;
    }
    return std::string();
  }
  for (size_t k = 0; k < bindings.size(); ++k) {
    absl::StatusOr<int64_t> predicted =
        EvaluateSymbolicInt(expression, bindings[k]);
    if (!predicted.ok() || *predicted != values[k]) return std::nullopt;
  }
  return expression;
}

absl::StatusOr<Attrs> ResolveAttrs(const GraphNode& node,
                                   const Binding& sizes) {
  if (node.attr_symbols.empty()) return node.attrs;
  Attrs resolved = node.attrs;
  for (const auto& [name, expressions] : node.attr_symbols) {
    const std::string where = absl::StrCat("node '", node.name, "' (", node.op,
                                           "): attribute '", name, "'");
    const AttrValue* value = node.attrs.Find(name);
    if (value == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has symbolic elements but no value"));
    }
    std::vector<int64_t> elements;
    const AttrType type = TypeOf(*value);
    if (type == AttrType::kInt) {
      elements = {std::get<int64_t>(*value)};
    } else if (type == AttrType::kInts) {
      elements = std::get<std::vector<int64_t>>(*value);
    } else if (type == AttrType::kShape) {
      elements = std::get<ShapeAttr>(*value).dims;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " is ", AttrTypeName(type),
          "; only int, ints and shape attributes can be symbolic"));
    }
    if (expressions.size() != elements.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " has ", elements.size(), " element(s) but ",
                       expressions.size(), " symbolic expression(s)"));
    }
    for (size_t i = 0; i < elements.size(); ++i) {
      if (expressions[i].empty()) continue;
      absl::StatusOr<int64_t> element =
          EvaluateSymbolicInt(expressions[i], sizes);
      if (!element.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " element ", i, ": ", element.status().message()));
      }
      elements[i] = *element;
    }
    if (type == AttrType::kInt) {
      resolved.Set(name, elements[0]);
    } else if (type == AttrType::kInts) {
      resolved.Set(name, std::move(elements));
    } else {
      resolved.Set(name, ShapeAttr{std::move(elements)});
    }
  }
  return resolved;
}

absl::StatusOr<Graph> RebindGraph(const Graph& graph, const Binding& sizes) {
  Graph result = graph;
  for (const auto& [name, size] : sizes) {
    auto it = result.symbols.find(name);
    if (it == result.symbols.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "graph '", graph.name, "' has no symbol '", name, "' (its symbols: ",
          absl::StrJoin(graph.symbols, ", ", absl::PairFormatter("=")), ")"));
    }
    if (size <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("graph '", graph.name, "': symbol '", name,
                       "' must be > 0, got ", size));
    }
    it->second = size;
  }
  const std::string at = absl::StrCat(
      "graph '", graph.name, "' at ",
      absl::StrJoin(result.symbols, ", ", absl::PairFormatter("=")));
  auto resize = [&](ValueType& type, const std::string& where) -> absl::Status {
    for (size_t d = 0; d < type.shape.size(); ++d) {
      SymDim& dim = type.shape[d];
      if (dim.symbol.empty()) continue;
      absl::StatusOr<int64_t> size = EvaluateSymbol(dim.symbol, result.symbols);
      if (!size.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            at, ": ", where, " dimension ", d, ": ", size.status().message()));
      }
      dim.size = *size;
    }
    return ValidateShape(type.meta().shape);
  };
  std::unordered_map<std::string, std::vector<TensorMeta>> metas;
  for (GraphInput& input : result.inputs) {
    MG_RETURN_IF_ERROR(resize(input.type, "input '" + input.name + "'"));
    metas[input.name] = {input.type.meta()};
  }
  for (GraphParameter& param : result.parameters) {
    MG_RETURN_IF_ERROR(resize(param.type, "parameter '" + param.name + "'"));
    metas[param.name] = {param.type.meta()};
  }
  for (const GraphConstant& constant : result.constants) {
    metas[constant.name] = {constant.value.meta()};
  }
  for (GraphNode& node : result.nodes) {
    const std::string where =
        absl::StrCat(at, ": node '", node.name, "' (", node.op, ")");
    const OpDef* def = FindOp(node.op);
    if (def == nullptr) {
      return absl::NotFoundError(absl::StrCat(where, ": unknown op"));
    }
    std::vector<TensorMeta> inputs;
    for (const TensorRef& ref : node.inputs) {
      auto it = metas.find(ref.node);
      if (it == metas.end() || ref.output < 0 ||
          ref.output >= static_cast<int>(it->second.size())) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": reads '", ref.ToString(), "', which is not defined"));
      }
      inputs.push_back(it->second[ref.output]);
    }
    absl::StatusOr<Attrs> attrs = ResolveAttrs(node, result.symbols);
    if (!attrs.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": ", attrs.status().message()));
    }
    node.attrs = *std::move(attrs);
    absl::StatusOr<std::vector<TensorMeta>> inferred =
        def->infer(InferContext{inputs, node.attrs});
    if (!inferred.ok()) {
      return absl::Status(
          inferred.status().code(),
          absl::StrCat(where, ": ", inferred.status().message()));
    }
    if (inferred->size() != node.outputs.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": gives ", inferred->size(), " outputs, not ",
                       node.outputs.size()));
    }
    for (size_t o = 0; o < inferred->size(); ++o) {
      const TensorMeta& meta = (*inferred)[o];
      MG_RETURN_IF_ERROR(ValidateShape(meta.shape));
      ValueType& type = node.outputs[o];
      if (meta.dtype != type.dtype || meta.shape.size() != type.shape.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": output ", o, " is ", DTypeName(meta.dtype),
            ShapeToString(meta.shape), " but stored as ", type.ToString()));
      }
      for (size_t d = 0; d < type.shape.size(); ++d) {
        SymDim& dim = type.shape[d];
        if (!dim.symbol.empty()) {
          absl::StatusOr<int64_t> size =
              EvaluateSymbol(dim.symbol, result.symbols);
          if (!size.ok() || *size != meta.shape[d]) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, ": output ", o, " dimension ", d, " is stored as '",
                dim.symbol, "' but shape inference gives ", meta.shape[d]));
          }
        }
        dim.size = meta.shape[d];
      }
    }
    metas[node.name] = *std::move(inferred);
  }
  return result;
}

}  // namespace minigraph
