#include "framework/graph_backward.h"

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/graph_capture.h"
#include "framework/graph_executor.h"
#include "framework/op_registry.h"
#include "framework/random.h"

namespace minigraph {
namespace {

// Dimension names for GraphCapture::AddInput: the symbol where it is one of
// the graph's symbols, else the size (an expression such as "T-1" is found
// again by CaptureSymbolic).
std::vector<std::string> DimNames(const Graph& graph, const ValueType& type) {
  std::vector<std::string> names;
  for (const SymDim& d : type.shape) {
    names.push_back(graph.symbols.count(d.symbol) != 0 ? d.symbol
                                                       : absl::StrCat(d.size));
  }
  return names;
}

// A stand-in value to trace with: the graph's structure does not depend on
// values, only the numbers computed along the way do.
Tensor TraceValue(const ValueType& type, Generator& gen) {
  const TensorMeta meta = type.meta();
  if (!IsFloating(meta.dtype)) return Tensor::Zeros(meta.shape, meta.dtype);
  return Tensor::Randn(meta.shape, gen, meta.dtype);
}

absl::StatusOr<Tensor> FullOf(const TensorMeta& meta, double value) {
  MG_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                      CallOp("full", {},
                             {{"shape", ShapeAttr{meta.shape}},
                              {"value", value},
                              {"dtype", meta.dtype}}));
  return out[0];
}

// Gradients flowing into each value: node outputs by (node, index), inputs
// and parameters by name.
class GradTable {
 public:
  absl::Status Accumulate(const TensorRef& ref, Tensor grad) {
    Tensor& slot = slots_[Key(ref)];
    if (!slot.defined()) {
      slot = std::move(grad);
      return absl::OkStatus();
    }
    MG_ASSIGN_OR_RETURN(std::vector<Tensor> sum, CallOp("add", {slot, grad}));
    slot = std::move(sum[0]);
    return absl::OkStatus();
  }
  Tensor Lookup(const TensorRef& ref) const {
    auto it = slots_.find(Key(ref));
    return it == slots_.end() ? Tensor() : it->second;
  }

 private:
  static std::string Key(const TensorRef& ref) {
    return absl::StrCat(ref.node, "\x1f", ref.output);
  }
  std::unordered_map<std::string, Tensor> slots_;
};

// The gradient graph at the forward graph's own sizes.
absl::StatusOr<Graph> BuildBackwardGraphAtSizes(
    const Graph& forward, const BackwardGraphOptions& options) {
  const std::string label =
      absl::StrCat("backward of graph '", forward.name, "'");
  Generator gen(0);
  GraphCapture capture(forward.name + "_grad");
  std::map<std::string, Tensor> feeds;
  std::unordered_set<std::string> traced_parameters;
  for (const GraphInput& input : forward.inputs) {
    auto it = options.feeds.find(input.name);
    Tensor value =
        it != options.feeds.end() ? it->second : TraceValue(input.type, gen);
    MG_RETURN_IF_ERROR(
        capture.AddInput(value, input.name, DimNames(forward, input.type)));
    feeds[input.name] = value;
  }
  for (const GraphParameter& param : forward.parameters) {
    auto it = options.feeds.find(param.name);
    Tensor value;
    if (it != options.feeds.end()) {
      value = it->second;
    } else if (param.value.defined()) {
      value = param.value;
    } else {
      value = TraceValue(param.type, gen);
      traced_parameters.insert(param.name);
    }
    MG_RETURN_IF_ERROR(capture.AddParameter(value, param.name));
    feeds[param.name] = value;
  }

  // Which values depend on something we differentiate with respect to.
  std::vector<std::string> wrt = options.wrt;
  if (wrt.empty()) {
    for (const GraphParameter& param : forward.parameters) {
      if (IsFloating(param.type.dtype)) wrt.push_back(param.name);
    }
    for (const GraphInput& input : forward.inputs) {
      if (IsFloating(input.type.dtype)) wrt.push_back(input.name);
    }
  }
  std::unordered_set<std::string> requires_grad;
  for (const std::string& name : wrt) {
    absl::StatusOr<ValueType> type = forward.TypeOf({name, 0});
    const bool leaf = forward.FindNode(name) == nullptr;
    if (!type.ok() || !leaf || !IsFloating(type->dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": cannot differentiate with respect to '", name,
                       "': not a floating-point graph input or parameter"));
    }
    requires_grad.insert(name);
  }
  for (const GraphNode& node : forward.nodes) {
    const OpDef* def = FindOp(node.op);
    for (size_t i = 0; def != nullptr && i < node.inputs.size(); ++i) {
      if (def->IsDifferentiable(static_cast<int>(i)) &&
          requires_grad.count(node.inputs[i].node) != 0) {
        requires_grad.insert(node.name);
        break;
      }
    }
  }

  std::vector<std::pair<std::string, Tensor>> outputs;
  GradTable grads;
  {
    GraphCapture::Scope recording(capture);
    NoGradGuard no_grad;
    MG_ASSIGN_OR_RETURN(GraphValues values, RunGraph(forward, feeds));

    // Seeds: 1 for a one-element output, else a new graph input.
    std::vector<std::string> differentiated = options.outputs;
    if (differentiated.empty()) {
      for (const GraphOutput& output : forward.outputs) {
        if (IsFloating(values.Get(output.value).dtype())) {
          differentiated.push_back(output.name);
        }
      }
    }
    for (const std::string& name : differentiated) {
      const GraphOutput* output = nullptr;
      for (const GraphOutput& o : forward.outputs) {
        if (o.name == name) output = &o;
      }
      if (output == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(label, ": no output named '", name, "'"));
      }
      if (requires_grad.count(output->value.node) == 0) continue;
      const Tensor& value = values.Get(output->value);
      Tensor seed;
      if (value.numel() == 1) {
        capture.SetGradientOf(forward.FindNode(output->value.node) != nullptr
                                  ? output->value.node
                                  : "");
        MG_ASSIGN_OR_RETURN(seed, FullOf(value.meta(), 1.0));
        capture.SetGradientOf("");
      } else {
        const std::string seed_name = options.seed_prefix + name;
        auto it = options.feeds.find(seed_name);
        MG_ASSIGN_OR_RETURN(ValueType type, forward.TypeOf(output->value));
        seed = it != options.feeds.end() ? it->second : TraceValue(type, gen);
        MG_RETURN_IF_ERROR(
            capture.AddInput(seed, seed_name, DimNames(forward, type)));
      }
      MG_RETURN_IF_ERROR(grads.Accumulate(output->value, seed));
    }

    // Reverse order of a topological order: every consumer of a node's
    // outputs has given its share before the node's own rule runs.
    // Gradient nodes are named "<prefix><op>_<n>" ("grad/mul_41").
    std::string scope_name = options.gradient_prefix;
    while (!scope_name.empty() && scope_name.back() == '/')
      scope_name.pop_back();
    NameScope scope(scope_name);
    for (auto it = forward.nodes.rbegin(); it != forward.nodes.rend(); ++it) {
      const GraphNode& node = *it;
      if (requires_grad.count(node.name) == 0) continue;
      const OpDef* def = FindOp(node.op);
      const std::string where =
          absl::StrCat(label, ": node '", node.name, "' (", node.op, ")");
      std::vector<Tensor> grad_outputs(node.outputs.size());
      bool reached = false;
      for (size_t i = 0; i < node.outputs.size(); ++i) {
        grad_outputs[i] = grads.Lookup({node.name, static_cast<int>(i)});
        reached = reached || grad_outputs[i].defined();
      }
      if (!reached) continue;
      capture.SetGradientOf(node.name);
      const std::vector<Tensor>& node_outputs = values.Outputs(node.name);
      for (size_t i = 0; i < grad_outputs.size(); ++i) {
        if (!grad_outputs[i].defined()) {
          MG_ASSIGN_OR_RETURN(grad_outputs[i],
                              FullOf(node_outputs[i].meta(), 0.0));
        }
      }
      std::vector<Tensor> inputs;
      std::vector<bool> needs(node.inputs.size());
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        inputs.push_back(values.Get(node.inputs[i]));
        needs[i] = def->IsDifferentiable(static_cast<int>(i)) &&
                   requires_grad.count(node.inputs[i].node) != 0;
      }
      const Grads input_grads = def->backward(
          GradContext{inputs, node_outputs, grad_outputs, node.attrs, needs});
      if (input_grads.size() != inputs.size()) {
        return absl::InternalError(
            absl::StrCat(where, ": backward rule returned ", input_grads.size(),
                         " gradients for ", inputs.size(), " inputs"));
      }
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (!needs[i] || !input_grads[i].defined()) continue;
        Tensor g = input_grads[i];
        if (g.shape() != inputs[i].shape())
          g = SumToShape(g, inputs[i].shape());
        if (g.dtype() != inputs[i].dtype()) {
          return absl::InternalError(absl::StrCat(
              where, ": backward rule gave a ", DTypeName(g.dtype()),
              " gradient for ", DTypeName(inputs[i].dtype()), " input ", i));
        }
        MG_RETURN_IF_ERROR(grads.Accumulate(node.inputs[i], std::move(g)));
      }
    }
    capture.SetGradientOf("");

    if (options.keep_forward_outputs) {
      for (const GraphOutput& output : forward.outputs) {
        outputs.emplace_back(output.name, values.Get(output.value));
      }
    }
    for (const std::string& name : wrt) {
      Tensor g = grads.Lookup({name, 0});
      if (!g.defined()) {
        // Not reached from the differentiated outputs: zero, as a node so
        // the graph stays self-contained.
        MG_ASSIGN_OR_RETURN(g, FullOf(values.Get({name, 0}).meta(), 0.0));
      }
      outputs.emplace_back(options.gradient_prefix + name, g);
    }
  }
  std::unordered_set<std::string> output_names;
  for (const auto& [name, tensor] : outputs) {
    if (!output_names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": two outputs would be named '", name,
                       "'; choose another gradient_prefix"));
    }
  }
  MG_ASSIGN_OR_RETURN(Graph graph, capture.Finish(outputs));
  graph.producer = "minigraph backward";
  // Keep the forward graph's symbolic shapes on the nodes it shares.
  for (GraphNode& node : graph.nodes) {
    if (node.role != NodeRole::kForward) continue;
    if (const GraphNode* original = forward.FindNode(node.name)) {
      node.outputs = original->outputs;
    }
  }
  for (GraphParameter& param : graph.parameters) {
    if (traced_parameters.count(param.name) != 0) param.value = Tensor();
    if (const GraphParameter* original = forward.FindParameter(param.name)) {
      param.type = original->type;
    }
  }
  return graph;
}

}  // namespace

absl::StatusOr<Graph> BuildBackwardGraph(const Graph& forward,
                                         const BackwardGraphOptions& options) {
  if (forward.symbols.empty()) {
    return BuildBackwardGraphAtSizes(forward, options);
  }
  // Traced at the probing sizes too, so the backward rules' size-dependent
  // attributes (and the seeds' shapes) follow the symbols as the forward
  // graph's do. Fed values only fit the forward graph's own sizes.
  return CaptureSymbolic(
      [&](const std::map<std::string, int64_t>& sizes)
          -> absl::StatusOr<Graph> {
        if (sizes == forward.symbols) {
          return BuildBackwardGraphAtSizes(forward, options);
        }
        MG_ASSIGN_OR_RETURN(Graph rebound, RebindGraph(forward, sizes));
        BackwardGraphOptions traced = options;
        traced.feeds.clear();
        return BuildBackwardGraphAtSizes(rebound, traced);
      },
      forward.symbols);
}

}  // namespace minigraph
