#include "framework/graph.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "framework/status_macros.h"

namespace minigraph {

TensorMeta ValueType::meta() const {
  TensorMeta m;
  m.dtype = dtype;
  m.shape.reserve(shape.size());
  for (const SymDim& d : shape) m.shape.push_back(d.size);
  return m;
}

ValueType ValueType::FromMeta(const TensorMeta& meta) {
  ValueType type;
  type.dtype = meta.dtype;
  for (int64_t d : meta.shape) type.shape.push_back({d, ""});
  return type;
}

std::string SymShapeToString(const SymShape& shape,
                             absl::string_view separator) {
  return absl::StrJoin(shape, separator, [](std::string* out, const SymDim& d) {
    if (d.symbol.empty()) {
      absl::StrAppend(out, d.size);
    } else {
      absl::StrAppend(out, d.symbol);
    }
  });
}

std::string ValueType::ToString() const {
  return absl::StrCat(DTypeName(dtype), "[", SymShapeToString(shape), "]");
}

std::string TensorRef::ToString() const {
  return output == 0 ? node : absl::StrCat(node, ":", output);
}

const GraphNode* Graph::FindNode(absl::string_view node_name) const {
  for (const GraphNode& node : nodes) {
    if (node.name == node_name) return &node;
  }
  return nullptr;
}

const GraphParameter* Graph::FindParameter(absl::string_view param_name) const {
  for (const GraphParameter& param : parameters) {
    if (param.name == param_name) return &param;
  }
  return nullptr;
}

int Graph::CountNodes(NodeRole role) const {
  int count = 0;
  for (const GraphNode& node : nodes) count += node.role == role;
  return count;
}

absl::StatusOr<ValueType> Graph::TypeOf(const TensorRef& ref) const {
  auto single = [&](const ValueType& type) -> absl::StatusOr<ValueType> {
    if (ref.output != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("reference '", ref.ToString(), "': '", ref.node,
                       "' has a single output (index 0), not ", ref.output));
    }
    return type;
  };
  for (const GraphInput& input : inputs) {
    if (input.name == ref.node) return single(input.type);
  }
  for (const GraphParameter& param : parameters) {
    if (param.name == ref.node) return single(param.type);
  }
  for (const GraphConstant& constant : constants) {
    if (constant.name == ref.node) {
      return single(ValueType::FromMeta(constant.value.meta()));
    }
  }
  if (const GraphNode* node = FindNode(ref.node)) {
    if (ref.output < 0 ||
        ref.output >= static_cast<int>(node->outputs.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat("reference '", ref.ToString(), "': node '", ref.node,
                       "' has ", node->outputs.size(), " output(s)"));
    }
    return node->outputs[ref.output];
  }
  return absl::NotFoundError(
      absl::StrCat("reference to unknown value '", ref.node, "'"));
}

std::string NodeAttrsToString(const GraphNode& node) {
  if (node.attr_symbols.empty()) return node.attrs.ToString();
  return absl::StrJoin(
      node.attrs.items(), ", ", [&](std::string* out, const auto& item) {
        const auto& [name, value] = item;
        auto it = node.attr_symbols.find(name);
        std::vector<int64_t> elements;
        if (std::holds_alternative<std::vector<int64_t>>(value)) {
          elements = std::get<std::vector<int64_t>>(value);
        } else if (std::holds_alternative<ShapeAttr>(value)) {
          elements = std::get<ShapeAttr>(value).dims;
        } else if (std::holds_alternative<int64_t>(value)) {
          elements = {std::get<int64_t>(value)};
        }
        if (it == node.attr_symbols.end() ||
            it->second.size() != elements.size()) {
          absl::StrAppend(out, name, "=", AttrValueToString(value));
          return;
        }
        std::vector<std::string> shown;
        for (size_t i = 0; i < elements.size(); ++i) {
          shown.push_back(it->second[i].empty() ? absl::StrCat(elements[i])
                                                : it->second[i]);
        }
        const std::string joined = absl::StrJoin(shown, ", ");
        if (std::holds_alternative<ShapeAttr>(value)) {
          absl::StrAppend(out, name, "=(", joined, ")");
        } else if (std::holds_alternative<int64_t>(value)) {
          absl::StrAppend(out, name, "=", joined);
        } else {
          absl::StrAppend(out, name, "=[", joined, "]");
        }
      });
}

absl::StatusOr<int64_t> EvaluateSymbolicInt(
    absl::string_view expression, const std::map<std::string, int64_t>& sizes) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("symbolic expression '", expression, "' ", why));
  };
  if (expression.empty()) return error("is empty");
  // Bound on every partial result, so nothing overflows on the way.
  constexpr int64_t kLimit = int64_t{1} << 62;
  int64_t total = 0;
  size_t pos = 0;
  int sign = 1;
  if (expression[0] == '-') {
    sign = -1;
    pos = 1;
  }
  while (true) {
    // One term: factors joined by '*'.
    const size_t term_end = expression.find_first_of("+-", pos);
    const absl::string_view term = expression.substr(
        pos, term_end == absl::string_view::npos ? absl::string_view::npos
                                                 : term_end - pos);
    if (term.empty()) return error("has an empty term");
    int64_t product = 1;
    for (absl::string_view factor : absl::StrSplit(term, '*')) {
      if (factor.empty()) return error("has an empty factor");
      int64_t value = 0;
      if (std::isdigit(static_cast<unsigned char>(factor[0]))) {
        if (!absl::SimpleAtoi(factor, &value) || value < 0) {
          return error(absl::StrCat("has '", factor, "', not a number"));
        }
      } else {
        auto it = sizes.find(std::string(factor));
        if (it == sizes.end()) {
          return error(
              absl::StrCat("uses '", factor, "', which is not a graph symbol"));
        }
        value = it->second;
      }
      if (value < 0 || (value != 0 && product > kLimit / value)) {
        return error("is out of range");
      }
      product *= value;
    }
    total += sign * product;
    if (total > kLimit || total < -kLimit) return error("is out of range");
    if (term_end == absl::string_view::npos) break;
    sign = expression[term_end] == '-' ? -1 : 1;
    pos = term_end + 1;
  }
  return total;
}

absl::StatusOr<int64_t> EvaluateSymbol(
    absl::string_view expression, const std::map<std::string, int64_t>& sizes) {
  MG_ASSIGN_OR_RETURN(const int64_t value,
                      EvaluateSymbolicInt(expression, sizes));
  if (value < 0 || value > kMaxElements) {
    return absl::InvalidArgumentError(absl::StrCat(
        "symbolic dimension '", expression, "' = ", value, " is out of range"));
  }
  return value;
}

}  // namespace minigraph
