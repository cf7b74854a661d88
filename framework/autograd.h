// Reverse-mode autograd over nodes recorded by CallOp.
//
// A Node is one op call: the op's definition, its attributes, the input
// tensors (which link to the nodes that made them) and the outputs' data. The
// backward pass walks nodes in reverse topological order and calls each op's
// backward rule, itself made of op calls, so with create_graph the gradients
// are ordinary recorded tensors that can be differentiated again.
#ifndef MINIGRAPH_FRAMEWORK_AUTOGRAD_H_
#define MINIGRAPH_FRAMEWORK_AUTOGRAD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "framework/attrs.h"
#include "framework/tensor.h"

namespace minigraph {

struct OpDef;

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node(const OpDef* op, Attrs attrs, std::string explicit_name,
       std::vector<Tensor> inputs, const std::vector<Tensor>& outputs);

  const OpDef& op() const { return *op_; }
  const Attrs& attrs() const { return attrs_; }
  int64_t id() const { return id_; }
  // The explicit name, or "<scope>/<op>_<id>".
  std::string name() const;
  const std::vector<Tensor>& inputs() const { return inputs_; }
  absl::Span<const TensorMeta> output_metas() const { return output_metas_; }
  // Output i as a tensor; linked back to this node when `attached`, so that
  // a backward rule that uses it can itself be differentiated.
  Tensor output(int i, bool attached) const;
  bool released() const { return released_; }
  // Frees the saved tensors (retain_graph = false).
  void Release();

 private:
  // What is kept of an output: its data, not its TensorImpl (which points
  // back at this node). Strides are kept only for a non-contiguous output.
  struct SavedOutput {
    std::shared_ptr<Storage> storage;
    int64_t offset = 0;
    Shape strides;
  };

  const OpDef* op_;
  Attrs attrs_;
  std::string explicit_name_;
  std::string scope_;  // NameScope at creation, for the default name
  int64_t id_;
  std::vector<Tensor> inputs_;
  absl::InlinedVector<TensorMeta, 1> output_metas_;
  absl::InlinedVector<SavedOutput, 1> saved_outputs_;
  bool released_ = false;
};

// Next node id: unique in the process; also used for default node names.
int64_t NextNodeId();
// The id the next node will get; names used in errors before recording.
int64_t PeekNodeId();

// Whether op calls record nodes (default true), per thread.
bool IsGradEnabled();
void SetGradEnabled(bool enabled);

// Disables recording in a scope, like torch.no_grad().
class NoGradGuard {
 public:
  NoGradGuard() : previous_(IsGradEnabled()) { SetGradEnabled(false); }
  ~NoGradGuard() { SetGradEnabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Turns recording on in a scope (used by backward with create_graph).
class EnableGradGuard {
 public:
  explicit EnableGradGuard(bool enabled) : previous_(IsGradEnabled()) {
    SetGradEnabled(enabled);
  }
  ~EnableGradGuard() { SetGradEnabled(previous_); }
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool previous_;
};

struct BackwardOptions {
  // Keep saved tensors so another backward pass can run over the same graph.
  bool retain_graph = false;
  // Record the backward pass itself (implies retain_graph), for gradients of
  // gradients.
  bool create_graph = false;
};

// Accumulates d(sum_i <grad_outputs[i], outputs[i]>)/d(leaf) into every leaf's
// grad(). An undefined grad output is allowed only for a one-element output
// and means 1.
absl::Status Backward(const std::vector<Tensor>& outputs,
                      const std::vector<Tensor>& grad_outputs,
                      const BackwardOptions& options = {});

// Returns d(sum_i <grad_outputs[i], outputs[i]>)/d(input) for each of
// `inputs` (leaves or intermediate results) without touching any grad().
// An input the outputs do not depend on gets zeros when allow_unused, else an
// error.
absl::StatusOr<std::vector<Tensor>> Gradients(
    const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
    const std::vector<Tensor>& grad_outputs = {},
    const BackwardOptions& options = {}, bool allow_unused = false);

// Sums `grad` over the dimensions in which `shape` was broadcast, then
// reshapes to `shape`. The one place broadcast gradients are reduced.
Tensor SumToShape(const Tensor& grad, const Shape& shape);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_AUTOGRAD_H_
