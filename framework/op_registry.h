// The op registry: every op is defined once, in its family's .cc under ops/,
// and that one OpDef carries everything the rest of the framework derives from
// it: the executor, autograd, gradient checks, conformance tests, listings and
// (de)serialization.
//
//   MG_REGISTER_OP(exp) {
//     OpDef def;
//     def.name = "exp";
//     def.inputs = {"x"};
//     def.infer = SameAsInput(0);
//     def.forward = ...;                      // Highway kernel, per dtype
//     def.backward = [](const GradContext& c) {  // dx = g * exp(x)
//       return Grads{Mul(c.grad_output(0), c.output(0))};
//     };
//     def.reference = ...;  def.samples = ...;
//     return def;
//   }
#ifndef MINIGRAPH_FRAMEWORK_OP_REGISTRY_H_
#define MINIGRAPH_FRAMEWORK_OP_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "framework/attrs.h"
#include "framework/tensor.h"

namespace minigraph {

// Shape and dtype inference: runs before any kernel. Messages need not name
// the op or node; the caller prefixes both.
struct InferContext {
  absl::Span<const TensorMeta> inputs;
  const Attrs& attrs;
};
using InferFn =
    std::function<absl::StatusOr<std::vector<TensorMeta>>(const InferContext&)>;

// Forward kernel: inputs already checked by inference, `outputs` holds the
// inferred metas. Returns the outputs (fresh buffers or views of inputs).
struct KernelContext {
  absl::Span<const Tensor> inputs;
  const Attrs& attrs;
  absl::Span<const TensorMeta> outputs;
  // Inference never sees data, so a kernel that finds values it cannot
  // process (an index out of range) sets this and returns no outputs; CallOp
  // then returns it prefixed with the op and the node.
  mutable absl::Status error = absl::OkStatus();
  // An input buffer output 0 may be written into (see OpDef::inplace_inputs
  // and CallOpDonating): contiguous, of output 0's shape and dtype, held by
  // nothing else. Undefined when none was donated.
  Tensor donated_output = Tensor();
};
// Output 0's buffer for a kernel: the donated input when there is one, else
// a new tensor of `shape` and `dtype`.
Tensor OutputBuffer(const KernelContext& ctx, const Shape& shape, DType dtype);
using KernelFn = std::function<std::vector<Tensor>(const KernelContext&)>;

// Backward rule (vector-Jacobian product), written with calls of registered
// ops so that it records a graph when create_graph is set. Returns one tensor
// per input; an undefined Tensor means "no gradient". The gradient may have a
// broadcast shape: autograd sums it back to the input's shape.
struct GradContext {
  absl::Span<const Tensor> inputs;
  absl::Span<const Tensor> outputs;
  absl::Span<const Tensor> grad_outputs;  // never undefined (zeros if unused)
  const Attrs& attrs;
  std::vector<bool> needs_input_grad;

  const Tensor& input(int i) const { return inputs[i]; }
  const Tensor& output(int i) const { return outputs[i]; }
  const Tensor& grad_output(int i) const { return grad_outputs[i]; }
};
using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const GradContext&)>;

// Scalar reference: plain loops over At<T>(), independent of the kernels, used
// by the conformance test in float32 and float64.
using ReferenceFn = std::function<std::vector<Tensor>(
    absl::Span<const Tensor> inputs, const Attrs& attrs)>;

// Conformance sample: inputs in float64, values away from kinks.
struct OpSample {
  std::string label;
  std::vector<Tensor> inputs = {};
  Attrs attrs = {};
};
using SampleFn = std::function<std::vector<OpSample>()>;

// Cost estimate for graph statistics, on metas that passed inference and
// attrs that passed validation.
struct FlopsContext {
  absl::Span<const TensorMeta> inputs;
  absl::Span<const TensorMeta> outputs;
  const Attrs& attrs;
};
// Floating-point operations of one call (a multiply-add counts two).
using FlopsFn = std::function<int64_t(const FlopsContext&)>;

// The product of `factors`, or INT64_MAX where it would overflow: a graph
// may hold shapes within the allocation bound whose FLOP count is not.
int64_t SaturatingProduct(std::initializer_list<int64_t> factors);

// For ops that only move or view data (reshape, slice, concat, ...).
inline int64_t NoArithmetic(const FlopsContext&) { return 0; }

struct OpDef {
  std::string name;
  std::string summary;  // one line, for `minigraph ops`
  std::vector<std::string> inputs;
  // The last declared input repeats one or more times (concat).
  bool variadic_last_input = false;
  // Inputs whose buffer output 0 may take over when a caller donates it
  // (an executor, for a value no later node reads): elementwise ops whose
  // kernel computes each output element from the same element of that
  // input only, so writing in place gives the same bits.
  std::vector<int> inplace_inputs;
  std::vector<std::string> outputs = {"y"};
  std::vector<AttrDef> attrs;
  // Indices into `inputs` of those that carry no gradient (indices, masks).
  std::vector<int> nondifferentiable_inputs;

  InferFn infer;
  KernelFn forward;
  BackwardFn backward;  // empty: the op has no gradient (masks, comparisons)
  ReferenceFn reference;
  SampleFn samples;
  // Optional; graph statistics count one FLOP per output element without.
  FlopsFn flops;

  bool IsDifferentiable(int input_index) const;
};

absl::Status RegisterOp(OpDef def);
// For static registration: dies on a duplicate or incomplete definition.
bool RegisterOpOrDie(OpDef def);
const OpDef* FindOp(absl::string_view name);
// Sorted by name.
std::vector<const OpDef*> AllOps();

// Calls an op: validates arity and attributes, infers shapes, runs the kernel,
// and records an autograd node when gradients are being tracked. Every error
// names the op and the node.
absl::StatusOr<std::vector<Tensor>> CallOp(absl::string_view op_name,
                                           std::vector<Tensor> inputs,
                                           Attrs attrs = {},
                                           absl::string_view node_name = {});
// For model scripts: the single output, or death with CallOp's message.
Tensor CallOpOrDie(absl::string_view op_name, std::vector<Tensor> inputs,
                   Attrs attrs = {});

// The same with the definition already looked up: the user API functions
// (Add, Matmul, ...) keep theirs in a function-local static (MG_OP_DEF
// below), which saves the registry lookup on every call.
absl::StatusOr<std::vector<Tensor>> CallOp(const OpDef& def,
                                           std::vector<Tensor> inputs,
                                           Attrs attrs = {},
                                           absl::string_view node_name = {});
Tensor CallOpOrDie(const OpDef& def, std::vector<Tensor> inputs,
                   Attrs attrs = {});
// CallOp offering input `donated_input`'s buffer to output 0. It is used only
// when the op lists that input in inplace_inputs, no gradient is recorded
// and no observer captures the call, and the caller's handle is the only
// one on a contiguous buffer of output 0's shape and dtype; otherwise this
// is CallOp. Same bits either way.
absl::StatusOr<std::vector<Tensor>> CallOpDonating(const OpDef& def,
                                                   std::vector<Tensor> inputs,
                                                   Attrs attrs,
                                                   absl::string_view node_name,
                                                   int donated_input);
// The registered definition of `name`; dies if there is none.
const OpDef& FindOpOrDie(absl::string_view name);

// The definition of op `name`, looked up once per call site:
//   return CallOpOrDie(MG_OP_DEF("add"), {a, b});
#define MG_OP_DEF(name)                          \
  ([]() -> const ::minigraph::OpDef& {           \
    static const ::minigraph::OpDef& mg_op_def = \
        ::minigraph::FindOpOrDie(name);          \
    return mg_op_def;                            \
  }())

// Sees every op call that succeeds on this thread, outside kernels: calls
// that a kernel makes internally are not reported. Graph capture installs
// one; when none is installed CallOp pays one thread-local load.
class OpCallObserver {
 public:
  virtual ~OpCallObserver() = default;
  virtual void OnOpCall(const OpDef& def, const Attrs& attrs,
                        absl::Span<const Tensor> inputs,
                        absl::Span<const Tensor> outputs,
                        absl::string_view node_name) = 0;
};
// Installs `observer` (may be null) for this thread; returns the previous.
OpCallObserver* SetOpCallObserver(OpCallObserver* observer);

// Node names inside a scope get "scope/" prepended, like tf.name_scope:
//   NameScope scope("q_proj");  // nodes become "q_proj/matmul_12"
class NameScope {
 public:
  explicit NameScope(absl::string_view name);
  ~NameScope();
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;
  static const std::string& Current();

 private:
  size_t previous_size_;
};

}  // namespace minigraph

#define MG_REGISTER_OP(identifier)                                   \
  static ::minigraph::OpDef MgMakeOpDef_##identifier();              \
  [[maybe_unused]] static const bool mg_op_registered_##identifier = \
      ::minigraph::RegisterOpOrDie(MgMakeOpDef_##identifier());      \
  static ::minigraph::OpDef MgMakeOpDef_##identifier()

#endif  // MINIGRAPH_FRAMEWORK_OP_REGISTRY_H_
