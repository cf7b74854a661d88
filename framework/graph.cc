#include "framework/graph.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

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

absl::StatusOr<int64_t> EvaluateSymbol(
    absl::string_view expression, const std::map<std::string, int64_t>& sizes) {
  if (expression.empty()) {
    return absl::InvalidArgumentError("empty symbolic dimension");
  }
  int64_t product = 1;
  for (absl::string_view factor : absl::StrSplit(expression, '*')) {
    int64_t value = 0;
    if (factor.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "symbolic dimension '", expression, "' has an empty factor"));
    }
    if (std::isdigit(static_cast<unsigned char>(factor[0]))) {
      if (!absl::SimpleAtoi(factor, &value) || value < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("symbolic dimension '", expression, "': '", factor,
                         "' is not a size"));
      }
    } else {
      auto it = sizes.find(std::string(factor));
      if (it == sizes.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("symbolic dimension '", expression, "' uses '", factor,
                         "', which is not a graph symbol"));
      }
      value = it->second;
    }
    if (value < 0 || (value != 0 && product > kMaxElements / value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "symbolic dimension '", expression, "' is out of range"));
    }
    product *= value;
  }
  return product;
}

}  // namespace minigraph
