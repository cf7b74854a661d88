#include "framework/autograd.h"

#include <atomic>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"

namespace minigraph {
namespace {

std::atomic<int64_t> next_node_id{1};
thread_local bool grad_enabled = true;

// Calls of registered ops used by the engine itself.
Tensor AddTensors(const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("add"), {a, b});
}

Tensor ZerosLike(const TensorMeta& meta) {
  return CallOpOrDie(MG_OP_DEF("full"), {},
                     {{"shape", ShapeAttr{meta.shape}},
                      {"value", 0.0},
                      {"dtype", meta.dtype}});
}

// The engine's record of one reachable node: an owning reference (releasing
// one node drops its inputs, which may hold the last reference to another
// node still to be released), how many consumer edges have not delivered
// their gradient yet, the gradients of its outputs summed so far, and for
// each input the state of the node that made it (kNoState for a leaf or an
// input the op does not differentiate), found once while counting edges so
// that delivering gradients needs no hash lookup.
constexpr uint32_t kNoState = ~uint32_t{0};

struct NodeState {
  std::shared_ptr<Node> node;
  int pending = 0;
  absl::InlinedVector<Tensor, 1> grads;
  absl::InlinedVector<uint32_t, 2> input_states;
};

// Where a gradient flowing into a tensor goes: the output slot of the node
// that made it, or the leaf itself. Nodes are numbered in discovery order;
// the hash maps only translate pointers to those numbers.
struct GradSlots {
  absl::flat_hash_map<const Node*, uint32_t> node_index;
  std::vector<NodeState> nodes;
  absl::flat_hash_map<TensorImpl*, Tensor> leaf_grads;
  // Gradients() reads the gradients of intermediate tensors after the pass;
  // Backward() does not, so it hands each node's gradients to its rule and
  // frees them as soon as the rule has run.
  bool keep_node_grads = true;

  // The index of `node`'s state, created on first sight.
  uint32_t IndexOf(const std::shared_ptr<Node>& node) {
    auto [it, inserted] =
        node_index.try_emplace(node.get(), static_cast<uint32_t>(nodes.size()));
    if (inserted) {
      NodeState& state = nodes.emplace_back();
      state.node = node;
      state.grads.resize(node->output_metas().size());
    }
    return it->second;
  }

  static void AddInto(Tensor& slot, Tensor grad) {
    slot = slot.defined() ? AddTensors(slot, grad) : std::move(grad);
  }

  void Accumulate(const Tensor& target, Tensor grad) {
    if (const std::shared_ptr<Node>& node = target.grad_fn()) {
      AddInto(nodes[IndexOf(node)].grads[target.output_index()],
              std::move(grad));
    } else {
      AddInto(leaf_grads[target.impl()], std::move(grad));
    }
  }

  Tensor Lookup(const Tensor& target) const {
    if (const Node* node = target.grad_fn().get()) {
      auto it = node_index.find(node);
      if (it == node_index.end()) return Tensor();
      return nodes[it->second].grads[target.output_index()];
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
  std::vector<size_t> roots;
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
    if (out.grad_fn()) roots.push_back(slots.IndexOf(out.grad_fn()));
  }

  // Count, for every reachable node, the edges from consumers into it.
  // slots.nodes grows while it is scanned: it doubles as the work list.
  for (size_t scanned = 0; scanned < slots.nodes.size(); ++scanned) {
    const Node* node = slots.nodes[scanned].node.get();
    if (node->released()) return ReleasedError(*node);
    const std::vector<Tensor>& inputs = node->inputs();
    // Filled locally: IndexOf may grow slots.nodes and move the states.
    absl::InlinedVector<uint32_t, 2> input_states(inputs.size(), kNoState);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const std::shared_ptr<Node>& child = inputs[i].grad_fn();
      if (child == nullptr || !node->op().IsDifferentiable(i)) continue;
      input_states[i] = slots.IndexOf(child);
      ++slots.nodes[input_states[i]].pending;
    }
    slots.nodes[scanned].input_states = std::move(input_states);
  }

  // Kahn's algorithm: a node runs once every consumer has given its share.
  const bool release = !options.retain_graph && !options.create_graph;
  std::vector<size_t> ready;
  for (size_t root : roots) {
    if (slots.nodes[root].pending == 0) {
      ready.push_back(root);
      slots.nodes[root].pending = -1;  // queued
    }
  }
  // Reused from node to node so that they allocate only while growing.
  std::vector<bool> needs;
  absl::InlinedVector<Tensor, 2> rule_outputs;
  while (!ready.empty()) {
    const size_t index = ready.back();
    ready.pop_back();
    Node* node = slots.nodes[index].node.get();
    const OpDef& def = node->op();
    const std::vector<Tensor>& inputs = node->inputs();

    // Gradients() reads the slots of intermediate tensors later, so it gets
    // a copy; otherwise they are no longer needed once the rule has them.
    absl::InlinedVector<Tensor, 1> grad_outs =
        slots.keep_node_grads ? slots.nodes[index].grads
                              : std::move(slots.nodes[index].grads);
    for (size_t i = 0; i < grad_outs.size(); ++i) {
      if (!grad_outs[i].defined()) {
        grad_outs[i] = ZerosLike(node->output_metas()[i]);
      }
    }
    needs.assign(inputs.size(), false);
    bool any = false;
    for (size_t i = 0; i < inputs.size(); ++i) {
      needs[i] = inputs[i].requires_grad() && def.IsDifferentiable(i);
      any = any || needs[i];
    }
    if (any) {
      // The rule sees the recorded inputs as they are: without create_graph
      // recording is off, so linked inputs record nothing; with it, what the
      // rule computes can be differentiated again.
      rule_outputs.clear();
      for (size_t i = 0; i < node->output_metas().size(); ++i) {
        rule_outputs.push_back(
            node->output(static_cast<int>(i), options.create_graph));
      }
      GradContext context{inputs, rule_outputs, grad_outs, node->attrs(),
                          std::move(needs)};
      Grads grads = def.backward(context);
      needs = std::move(context.needs_input_grad);
      if (grads.size() != inputs.size()) {
        return absl::InternalError(
            absl::StrCat("backward rule of ", def.name, " (node '",
                         node->name(), "') returned ", grads.size(),
                         " gradients for ", inputs.size(), " inputs"));
      }
      for (size_t i = 0; i < inputs.size(); ++i) {
        if (!needs[i] || !grads[i].defined()) continue;
        Tensor g = std::move(grads[i]);
        if (g.shape() != inputs[i].shape()) {
          g = SumToShape(g, inputs[i].shape());
        }
        if (g.dtype() != inputs[i].dtype()) {
          return absl::InternalError(absl::StrCat(
              "backward rule of ", def.name, " (node '", node->name(),
              "') gave a ", DTypeName(g.dtype()), " gradient for ",
              DTypeName(inputs[i].dtype()), " input ", i));
        }
        const uint32_t child = slots.nodes[index].input_states[i];
        if (child == kNoState) {
          GradSlots::AddInto(slots.leaf_grads[inputs[i].impl()], std::move(g));
        } else {
          GradSlots::AddInto(slots.nodes[child].grads[inputs[i].output_index()],
                             std::move(g));
        }
      }
    }
    for (const uint32_t child : slots.nodes[index].input_states) {
      if (child != kNoState && --slots.nodes[child].pending == 0) {
        ready.push_back(child);
      }
    }
    // Every consumer of this node has run, so its saved tensors are no
    // longer needed: free them now (while they are still in cache, and
    // lowering the peak memory of the pass) unless the graph is kept.
    if (release) node->Release();
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
  for (const Tensor& out : outputs) {
    output_metas_.push_back(out.meta());
    SavedOutput& saved = saved_outputs_.emplace_back();
    saved.storage = out.storage();
    saved.offset = out.offset();
    if (!out.is_contiguous()) saved.strides = out.strides();
  }
}

std::string Node::name() const {
  if (!explicit_name_.empty()) return explicit_name_;
  return absl::StrCat(scope_, op_->name, "_", id_);
}

Tensor Node::output(int i, bool attached) const {
  const SavedOutput& saved = saved_outputs_[i];
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = output_metas_[i].dtype;
  impl->shape = output_metas_[i].shape;
  impl->strides =
      saved.strides.empty() ? ContiguousStrides(impl->shape) : saved.strides;
  impl->offset = saved.offset;
  impl->storage = saved.storage;
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
  slots.keep_node_grads = false;
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
    summed = CallOpOrDie(MG_OP_DEF("sum"), {grad},
                         {{"axes", axes}, {"keepdim", false}});
  }
  if (summed.shape() != shape) {
    summed = CallOpOrDie(MG_OP_DEF("reshape"), {summed},
                         {{"shape", ShapeAttr{shape}}});
  }
  return summed;
}

}  // namespace minigraph
