// Capturing a graph from a model script: while a GraphCapture is active on a
// thread, every op call is recorded (op, attributes, which earlier values it
// read, output types) as well as run, so the script behaves exactly as in
// eager mode and yields a graph of what it did.
//
//   GraphCapture capture("attention");
//   MG_RETURN_IF_ERROR(capture.AddInput(x, "x", {"B", "T", "512"}));
//   MG_RETURN_IF_ERROR(capture.AddParameter(wq, "wq"));
//   Tensor y;
//   {
//     GraphCapture::Scope recording(capture);
//     y = Forward(x);
//   }
//   absl::StatusOr<Graph> graph = capture.Finish({{"y", y}});
//
// A tensor read by a recorded call but made by none becomes a graph input
// (when declared with AddInput), a parameter (declared with AddParameter, or
// any leaf that requires grad) or a constant holding its value.
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_CAPTURE_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_CAPTURE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "framework/op_registry.h"
#include "framework/tensor.h"

namespace minigraph {

class GraphCapture : public OpCallObserver {
 public:
  explicit GraphCapture(std::string graph_name);
  ~GraphCapture() override;
  GraphCapture(const GraphCapture&) = delete;
  GraphCapture& operator=(const GraphCapture&) = delete;

  // Declares a graph input. `dims` names each dimension: a number is a fixed
  // size (it must equal the example's), a name ("B", "T") a symbol whose size
  // is the example's. Empty `dims` means every dimension is fixed.
  absl::Status AddInput(const Tensor& example, const std::string& name,
                        const std::vector<std::string>& dims = {});
  // Declares a parameter; its value is stored in the graph unless Finish is
  // told otherwise.
  absl::Status AddParameter(const Tensor& value, const std::string& name);

  // Records op calls on this thread while alive.
  class Scope {
   public:
    explicit Scope(GraphCapture& capture);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    GraphCapture& capture_;
    OpCallObserver* previous_;
  };

  // Nodes recorded from now on are gradient nodes of `forward_node`; an
  // empty name returns to forward nodes.
  void SetGradientOf(std::string forward_node);

  // The graph whose outputs are `outputs` (name, tensor): nodes the outputs
  // do not depend on are dropped, and so are constants and undeclared
  // parameters nothing reads. Declared inputs and parameters stay.
  absl::StatusOr<Graph> Finish(
      const std::vector<std::pair<std::string, Tensor>>& outputs,
      bool store_parameter_values = true);

  // The value (and the reference) recorded for a tensor, if any.
  bool Knows(const Tensor& t) const;

  void OnOpCall(const OpDef& def, const Attrs& attrs,
                absl::Span<const Tensor> inputs,
                absl::Span<const Tensor> outputs,
                absl::string_view node_name) override;

 private:
  // The reference for `t`, creating a parameter or constant on first use.
  TensorRef RefFor(const Tensor& t);
  std::string UniqueName(const std::string& wanted);

  Graph graph_;
  std::unordered_map<const TensorImpl*, TensorRef> refs_;
  // Keeps every tensor whose address is a key above alive, so an address is
  // never reused for another tensor during the capture.
  std::vector<Tensor> keep_alive_;
  std::unordered_set<std::string> names_;
  std::unordered_set<std::string> declared_parameters_;
  std::string gradient_of_;
  bool gradient_mode_ = false;
  int64_t node_counter_ = 0;
  bool finished_ = false;
};

// Builds the graph of a model script at the given symbol sizes (by running
// it inside a GraphCapture whose inputs declare those symbols).
using GraphTrace = std::function<absl::StatusOr<Graph>(
    const std::map<std::string, int64_t>& sizes)>;

// A graph that runs at every size its symbols allow: `trace` is called at
// `sizes` and at the probing sizes around them (FitBindings). Every trace
// must record the same nodes, inputs, parameters, constants and outputs;
// an integer attribute (or a graph input's dimension) that differs between
// them becomes the expression in the symbols that gives it at every probe
// (a reshape to [B, T, 8, 64], a slice ending at T-1), and the node output
// dimensions are then named by AnnotateSymbolicDims. Errors name what
// changes in a way no expression fits: a constant whose value depends on
// the sizes (compute it with ops instead), a float attribute, a different
// node.
absl::StatusOr<Graph> CaptureSymbolic(
    const GraphTrace& trace, const std::map<std::string, int64_t>& sizes);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_CAPTURE_H_
