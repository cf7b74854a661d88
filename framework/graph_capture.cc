#include "framework/graph_capture.h"

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace minigraph {

GraphCapture::GraphCapture(std::string graph_name) {
  graph_.name = std::move(graph_name);
  graph_.producer = "minigraph capture";
}

GraphCapture::~GraphCapture() = default;

GraphCapture::Scope::Scope(GraphCapture& capture)
    : capture_(capture), previous_(SetOpCallObserver(&capture)) {}

GraphCapture::Scope::~Scope() { SetOpCallObserver(previous_); }

std::string GraphCapture::UniqueName(const std::string& wanted) {
  std::string name = wanted;
  for (int suffix = 1; !names_.insert(name).second; ++suffix) {
    name = absl::StrCat(wanted, "_", suffix);
  }
  return name;
}

absl::Status GraphCapture::AddInput(const Tensor& example,
                                    const std::string& name,
                                    const std::vector<std::string>& dims) {
  const std::string where = absl::StrCat("capture input '", name, "'");
  if (!example.defined()) {
    return absl::InvalidArgumentError(where + ": undefined tensor");
  }
  if (!dims.empty() && static_cast<int>(dims.size()) != example.dim()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", dims.size(),
                     " dimension names for a tensor of rank ", example.dim()));
  }
  if (names_.count(name) != 0 || refs_.count(example.impl()) != 0) {
    return absl::AlreadyExistsError(where + ": declared twice");
  }
  GraphInput input{name, ValueType::FromMeta(example.meta())};
  for (size_t d = 0; d < dims.size(); ++d) {
    const std::string& dim = dims[d];
    const int64_t size = example.shape()[d];
    int64_t fixed = 0;
    if (absl::SimpleAtoi(dim, &fixed)) {
      if (fixed != size) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": dimension ", d, " is declared ", fixed,
                         " but the example has ", size));
      }
      continue;
    }
    auto [it, inserted] = graph_.symbols.emplace(dim, size);
    if (!inserted && it->second != size) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": symbol '", dim, "' is ", size, " here but ",
                       it->second, " in an earlier input"));
    }
    input.type.shape[d].symbol = dim;
  }
  names_.insert(name);
  refs_[example.impl()] = TensorRef{name, 0};
  keep_alive_.push_back(example);
  graph_.inputs.push_back(std::move(input));
  return absl::OkStatus();
}

absl::Status GraphCapture::AddParameter(const Tensor& value,
                                        const std::string& name) {
  if (!value.defined()) {
    return absl::InvalidArgumentError(
        absl::StrCat("capture parameter '", name, "': undefined tensor"));
  }
  if (names_.count(name) != 0 || refs_.count(value.impl()) != 0) {
    return absl::AlreadyExistsError(
        absl::StrCat("capture parameter '", name, "': declared twice"));
  }
  names_.insert(name);
  declared_parameters_.insert(name);
  refs_[value.impl()] = TensorRef{name, 0};
  keep_alive_.push_back(value);
  graph_.parameters.push_back({name, ValueType::FromMeta(value.meta()), value});
  return absl::OkStatus();
}

void GraphCapture::SetGradientOf(std::string forward_node) {
  gradient_mode_ = !forward_node.empty();
  gradient_of_ = std::move(forward_node);
}

bool GraphCapture::Knows(const Tensor& t) const {
  return t.defined() && refs_.count(t.impl()) != 0;
}

TensorRef GraphCapture::RefFor(const Tensor& t) {
  if (auto it = refs_.find(t.impl()); it != refs_.end()) return it->second;
  TensorRef ref;
  if (t.requires_grad() && t.is_leaf()) {
    ref.node = UniqueName(t.name().empty() ? "param" : t.name());
    graph_.parameters.push_back({ref.node, ValueType::FromMeta(t.meta()), t});
  } else {
    // Any other value the script made outside an op call (a scalar in
    // `x * 0.5`, a tensor read from a file): its value becomes part of the
    // graph.
    ref.node = UniqueName(t.name().empty() ? "const" : t.name());
    graph_.constants.push_back({ref.node, CopyToContiguous(t.Detach())});
  }
  refs_[t.impl()] = ref;
  keep_alive_.push_back(t);
  return ref;
}

void GraphCapture::OnOpCall(const OpDef& def, const Attrs& attrs,
                            absl::Span<const Tensor> inputs,
                            absl::Span<const Tensor> outputs,
                            absl::string_view node_name) {
  GraphNode node;
  node.op = def.name;
  node.attrs = attrs;
  node.role = gradient_mode_ ? NodeRole::kGradient : NodeRole::kForward;
  node.forward_node = gradient_of_;
  node.inputs.reserve(inputs.size());
  for (const Tensor& input : inputs) node.inputs.push_back(RefFor(input));
  node.name =
      UniqueName(node_name.empty() ? absl::StrCat(NameScope::Current(),
                                                  def.name, "_", node_counter_)
                                   : std::string(node_name));
  ++node_counter_;
  for (size_t i = 0; i < outputs.size(); ++i) {
    node.outputs.push_back(ValueType::FromMeta(outputs[i].meta()));
    refs_[outputs[i].impl()] = TensorRef{node.name, static_cast<int>(i)};
    keep_alive_.push_back(outputs[i]);
  }
  graph_.nodes.push_back(std::move(node));
}

absl::StatusOr<Graph> GraphCapture::Finish(
    const std::vector<std::pair<std::string, Tensor>>& outputs,
    bool store_parameter_values) {
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat("capture '", graph_.name, "' finished twice"));
  }
  finished_ = true;
  Graph graph = std::move(graph_);
  for (const auto& [name, tensor] : outputs) {
    if (!tensor.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "capture '", graph.name, "': output '", name, "' is undefined"));
    }
    auto it = refs_.find(tensor.impl());
    if (it == refs_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "capture '", graph.name, "': output '", name,
          "' was not computed by an op call inside the capture scope"));
    }
    graph.outputs.push_back({name, it->second});
  }

  // Liveness, from the outputs back; a live gradient node keeps its forward
  // node so the link stays valid.
  std::unordered_set<std::string> live;
  for (const GraphOutput& output : graph.outputs)
    live.insert(output.value.node);
  std::vector<GraphNode> kept;
  for (auto it = graph.nodes.rbegin(); it != graph.nodes.rend(); ++it) {
    if (live.count(it->name) == 0) continue;
    for (const TensorRef& ref : it->inputs) live.insert(ref.node);
    if (!it->forward_node.empty()) live.insert(it->forward_node);
    kept.push_back(std::move(*it));
  }
  graph.nodes.assign(std::make_move_iterator(kept.rbegin()),
                     std::make_move_iterator(kept.rend()));
  std::vector<GraphConstant> constants;
  for (GraphConstant& constant : graph.constants) {
    if (live.count(constant.name) != 0) constants.push_back(constant);
  }
  graph.constants = std::move(constants);
  std::vector<GraphParameter> parameters;
  for (GraphParameter& param : graph.parameters) {
    if (live.count(param.name) == 0 &&
        declared_parameters_.count(param.name) == 0) {
      continue;
    }
    if (store_parameter_values) {
      param.value = CopyToContiguous(param.value.Detach());
    } else {
      param.value = Tensor();
    }
    parameters.push_back(std::move(param));
  }
  graph.parameters = std::move(parameters);
  refs_.clear();
  keep_alive_.clear();
  AnnotateSymbolicDims(graph);
  // What the capture made must be what a loader accepts.
  MG_RETURN_IF_ERROR(
      ValidateGraph(graph, absl::StrCat("captured graph '", graph.name, "'")));
  return graph;
}

}  // namespace minigraph
