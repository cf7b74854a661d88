#include "framework/autograd.h"

#include <atomic>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"

namespace minigraph {
namespace {

std::atomic<int64_t> next_node_id{1};
thread_local bool grad_enabled = true;

std::shared_ptr<TensorImpl> DetachedImpl(const Tensor& t) {
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = t.dtype();
  impl->shape = t.shape();
  impl->strides = t.strides();
  impl->offset = t.offset();
  impl->storage = t.storage();
  return impl;
}

// Calls of registered ops used by the engine itself.
Tensor AddTensors(const Tensor& a, const Tensor& b) {
  return CallOpOrDie("add", {a, b});
}

Tensor ZerosLike(const TensorMeta& meta) {
  return CallOpOrDie("full", {},
                     {{"shape", ShapeAttr{meta.shape}},
                      {"value", 0.0},
                      {"dtype", meta.dtype}});
}

// Where a gradient flowing into a tensor goes: the output slot of the node
// that made it, or the leaf itself.
struct GradSlots {
  std::unordered_map<Node*, std::vector<Tensor>> node_grads;
  std::unordered_map<TensorImpl*, Tensor> leaf_grads;

  void Accumulate(const Tensor& target, Tensor grad) {
    Tensor* slot;
    if (Node* node = target.grad_fn().get()) {
      std::vector<Tensor>& grads = node_grads[node];
      grads.resize(node->output_metas().size());
      slot = &grads[target.output_index()];
    } else {
      slot = &leaf_grads[target.impl()];
    }
    *slot = slot->defined() ? AddTensors(*slot, grad) : std::move(grad);
  }

  Tensor Lookup(const Tensor& target) const {
    if (Node* node = target.grad_fn().get()) {
      auto it = node_grads.find(node);
      if (it == node_grads.end()) return Tensor();
      return it->second[target.output_index()];
    }
    auto it = leaf_grads.find(target.impl());
    return it == leaf_grads.end() ? Tensor() : it->second;
  }
};

absl::Status ReleasedError(const Node& node) {
  return absl::FailedPreconditionError(absl::StrCat(
      "backward through node '", node.name(),
      "' whose saved tensors were already freed by an earlier backward pass; "
      "pass retain_graph=true to the first Backward to run it again"));
}

// Runs the backward pass; fills `slots` with every gradient reached.
absl::Status RunBackward(const std::vector<Tensor>& outputs,
                         const std::vector<Tensor>& grad_outputs,
                         const BackwardOptions& options, GradSlots& slots) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("backward: ", outputs.size(), " outputs but ",
                     grad_outputs.size(), " output gradients"));
  }
  EnableGradGuard grad_mode(options.create_graph);

  // Seed the output gradients.
  std::vector<Node*> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    if (!out.defined() || !out.requires_grad()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backward: output ", i,
          " does not require grad (no input that requires grad reached it, "
          "or it was computed under NoGradGuard)"));
    }
    Tensor seed = i < grad_outputs.size() ? grad_outputs[i] : Tensor();
    if (!seed.defined()) {
      if (out.numel() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "backward: output ", i, " has shape ", ShapeToString(out.shape()),
            "; a gradient can be implied only for a one-element output, so "
            "pass grad_output"));
      }
      seed = Tensor::Full(out.shape(), 1.0, out.dtype());
    } else if (seed.shape() != out.shape() || seed.dtype() != out.dtype()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backward: grad_output ", i, " is ", DTypeName(seed.dtype()),
          ShapeToString(seed.shape()), " but the output is ",
          DTypeName(out.dtype()), ShapeToString(out.shape())));
    }
    slots.Accumulate(out, seed);
    if (out.grad_fn()) roots.push_back(out.grad_fn().get());
  }

  // Count, for every reachable node, the edges from consumers into it.
  std::unordered_map<Node*, int> pending;
  std::vector<Node*> stack;
  // Owning references: releasing one node drops its inputs, which may hold
  // the last reference to another node still to be released.
  std::vector<std::shared_ptr<Node>> order;
  for (Node* root : roots) {
    if (pending.emplace(root, 0).second) {
      stack.push_back(root);
      order.push_back(root->shared_from_this());
    }
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (node->released()) return ReleasedError(*node);
    const std::vector<Tensor>& inputs = node->inputs();
    for (size_t i = 0; i < inputs.size(); ++i) {
      Node* child = inputs[i].grad_fn().get();
      if (child == nullptr || !node->op().IsDifferentiable(i)) continue;
      auto [it, inserted] = pending.emplace(child, 0);
      ++it->second;
      if (inserted) {
        stack.push_back(child);
        order.push_back(inputs[i].grad_fn());
      }
    }
  }

  // Kahn's algorithm: a node runs once every consumer has given its share.
  std::vector<Node*> ready;
  for (Node* root : roots) {
    if (pending[root] == 0) {
      ready.push_back(root);
      pending[root] = -1;  // queued
    }
  }
  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    const OpDef& def = node->op();
    const std::vector<Tensor>& inputs = node->inputs();

    std::vector<Tensor> grad_outs = slots.node_grads[node];
    grad_outs.resize(node->output_metas().size());
    for (size_t i = 0; i < grad_outs.size(); ++i) {
      if (!grad_outs[i].defined()) {
        grad_outs[i] = ZerosLike(node->output_metas()[i]);
      }
    }
    std::vector<bool> needs(inputs.size());
    bool any = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      needs[i] = inputs[i].requires_grad() && def.IsDifferentiable(i);
      any = any || needs[i];
    }
    if (any) {
      // With create_graph the rule sees tensors linked into the graph, so
      // what it computes can be differentiated again.
      std::vector<Tensor> rule_inputs;
      std::vector<Tensor> rule_outputs;
      rule_inputs.reserve(inputs.size());
      for (const Tensor& in : inputs) {
        rule_inputs.push_back(options.create_graph ? in : in.Detach());
      }
      for (size_t i = 0; i < node->output_metas().size(); ++i) {
        rule_outputs.push_back(node->output(i, options.create_graph));
      }
      Grads grads = def.backward(GradContext{rule_inputs, rule_outputs,
                                             grad_outs, node->attrs(), needs});
      if (grads.size() != inputs.size()) {
        return absl::InternalError(
            absl::StrCat("backward rule of ", def.name, " (node '",
                         node->name(), "') returned ", grads.size(),
                         " gradients for ", inputs.size(), " inputs"));
      }
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (!needs[i] || !grads[i].defined()) continue;
        Tensor g = grads[i];
        if (g.shape() != inputs[i].shape()) {
          g = SumToShape(g, inputs[i].shape());
        }
        if (g.dtype() != inputs[i].dtype()) {
          return absl::InternalError(absl::StrCat(
              "backward rule of ", def.name, " (node '", node->name(),
              "') gave a ", DTypeName(g.dtype()), " gradient for ",
              DTypeName(inputs[i].dtype()), " input ", i));
        }
        slots.Accumulate(inputs[i], std::move(g));
      }
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      Node* child = inputs[i].grad_fn().get();
      if (child == nullptr || !def.IsDifferentiable(i)) continue;
      if (--pending[child] == 0) ready.push_back(child);
    }
  }

  if (!options.retain_graph && !options.create_graph) {
    for (const std::shared_ptr<Node>& node : order) node->Release();
  }
  return absl::OkStatus();
}

}  // namespace

Node::Node(const OpDef* op, Attrs attrs, std::string explicit_name,
           std::vector<Tensor> inputs, const std::vector<Tensor>& outputs)
    : op_(op),
      attrs_(std::move(attrs)),
      explicit_name_(std::move(explicit_name)),
      scope_(NameScope::Current()),
      id_(NextNodeId()),
      inputs_(std::move(inputs)) {
  output_metas_.reserve(outputs.size());
  saved_outputs_.reserve(outputs.size());
  for (const Tensor& out : outputs) {
    output_metas_.push_back(out.meta());
    saved_outputs_.push_back(DetachedImpl(out));
  }
}

std::string Node::name() const {
  if (!explicit_name_.empty()) return explicit_name_;
  return absl::StrCat(scope_, op_->name, "_", id_);
}

Tensor Node::output(int i, bool attached) const {
  auto impl = std::make_shared<TensorImpl>(*saved_outputs_[i]);
  if (attached) {
    impl->requires_grad = true;
    impl->grad_fn = std::const_pointer_cast<Node>(shared_from_this());
    impl->output_index = i;
  }
  return Tensor(std::move(impl));
}

void Node::Release() {
  released_ = true;
  inputs_.clear();
  saved_outputs_.clear();
}

int64_t NextNodeId() { return next_node_id.fetch_add(1); }
int64_t PeekNodeId() { return next_node_id.load(); }

bool IsGradEnabled() { return grad_enabled; }
void SetGradEnabled(bool enabled) { grad_enabled = enabled; }

absl::Status Backward(const std::vector<Tensor>& outputs,
                      const std::vector<Tensor>& grad_outputs,
                      const BackwardOptions& options) {
  GradSlots slots;
  MG_RETURN_IF_ERROR(RunBackward(outputs, grad_outputs, options, slots));
  EnableGradGuard grad_mode(options.create_graph);
  for (auto& [impl, grad] : slots.leaf_grads) {
    if (!impl->requires_grad) continue;
    impl->grad = impl->grad ? AddTensors(Tensor(impl->grad), grad).impl_ptr()
                            : grad.impl_ptr();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Tensor>> Gradients(
    const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
    const std::vector<Tensor>& grad_outputs, const BackwardOptions& options,
    bool allow_unused) {
  GradSlots slots;
  MG_RETURN_IF_ERROR(RunBackward(outputs, grad_outputs, options, slots));
  std::vector<Tensor> result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor g = slots.Lookup(inputs[i]);
    if (!g.defined()) {
      if (!allow_unused) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Gradients: input ", i, " (", DTypeName(inputs[i].dtype()),
            ShapeToString(inputs[i].shape()),
            ") is not reached from the outputs; pass allow_unused=true to "
            "get zeros"));
      }
      g = Tensor::Zeros(inputs[i].shape(), inputs[i].dtype());
    }
    result.push_back(std::move(g));
  }
  return result;
}

Tensor SumToShape(const Tensor& grad, const Shape& shape) {
  const int lead = grad.dim() - static_cast<int>(shape.size());
  std::vector<int64_t> axes;
  for (int axis = 0; axis < grad.dim(); ++axis) {
    if (axis < lead || (shape[axis - lead] == 1 && grad.shape()[axis] != 1)) {
      axes.push_back(axis);
    }
  }
  Tensor summed = grad;
  if (!axes.empty()) {
    summed = CallOpOrDie("sum", {grad}, {{"axes", axes}, {"keepdim", false}});
  }
  if (summed.shape() != shape) {
    summed = CallOpOrDie("reshape", {summed}, {{"shape", ShapeAttr{shape}}});
  }
  return summed;
}

}  // namespace minigraph
