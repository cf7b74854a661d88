#include "framework/op_registry.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/autograd.h"

namespace minigraph {
namespace {

// std::map keeps AllOps() sorted; built during static initialisation, read
// only afterwards.
std::map<std::string, OpDef, std::less<>>& Registry() {
  static auto* registry = new std::map<std::string, OpDef, std::less<>>();
  return *registry;
}

thread_local std::string name_scope;
thread_local OpCallObserver* op_call_observer = nullptr;

std::string DefaultNodeName(absl::string_view op_name, int64_t id) {
  return absl::StrCat(name_scope, op_name, "_", id);
}

std::string MetasToString(absl::Span<const TensorMeta> metas) {
  return absl::StrJoin(metas, ", ", [](std::string* out, const TensorMeta& m) {
    absl::StrAppend(out, DTypeName(m.dtype), ShapeToString(m.shape));
  });
}

}  // namespace

int64_t SaturatingProduct(std::initializer_list<int64_t> factors) {
  for (int64_t factor : factors) {
    if (factor <= 0) return 0;
  }
  int64_t product = 1;
  for (int64_t factor : factors) {
    if (product > std::numeric_limits<int64_t>::max() / factor) {
      return std::numeric_limits<int64_t>::max();
    }
    product *= factor;
  }
  return product;
}

bool OpDef::IsDifferentiable(int input_index) const {
  if (!backward) return false;
  const int declared = std::min<int>(input_index, inputs.size() - 1);
  return std::find(nondifferentiable_inputs.begin(),
                   nondifferentiable_inputs.end(),
                   declared) == nondifferentiable_inputs.end();
}

absl::Status RegisterOp(OpDef def) {
  if (def.name.empty()) return absl::InvalidArgumentError("op without a name");
  const std::string where = absl::StrCat("op '", def.name, "'");
  if (!def.infer || !def.forward || !def.reference || !def.samples) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " lacks one of infer, forward, reference, samples"));
  }
  if (def.variadic_last_input && def.inputs.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " is variadic but declares no input"));
  }
  for (const AttrDef& attr : def.attrs) {
    if (attr.default_value.has_value() &&
        TypeOf(*attr.default_value) != attr.type) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": default of attribute '", attr.name,
                       "' is not ", AttrTypeName(attr.type)));
    }
  }
  auto [it, inserted] = Registry().emplace(def.name, std::move(def));
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat(where, " registered twice"));
  }
  return absl::OkStatus();
}

bool RegisterOpOrDie(OpDef def) {
  MG_CHECK_OK(RegisterOp(std::move(def)));
  return true;
}

const OpDef* FindOp(absl::string_view name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : &it->second;
}

std::vector<const OpDef*> AllOps() {
  std::vector<const OpDef*> ops;
  for (const auto& [name, def] : Registry()) ops.push_back(&def);
  return ops;
}

const OpDef& FindOpOrDie(absl::string_view name) {
  const OpDef* def = FindOp(name);
  if (def == nullptr) {
    DieWithStatus(absl::NotFoundError(absl::StrCat("unknown op '", name, "'")));
  }
  return *def;
}

absl::StatusOr<std::vector<Tensor>> CallOp(absl::string_view op_name,
                                           std::vector<Tensor> inputs,
                                           Attrs attrs,
                                           absl::string_view node_name) {
  const OpDef* def = FindOp(op_name);
  if (def == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown op '", op_name, "'"));
  }
  return CallOp(*def, std::move(inputs), std::move(attrs), node_name);
}

namespace {

// Input metas handed to shape inference, reused from call to call so that
// copying the input shapes allocates nothing once warm. One list per nesting
// depth: a kernel or a backward rule may call ops while its caller's list is
// still in use.
thread_local std::vector<std::vector<TensorMeta>> meta_scratch;
thread_local size_t meta_depth = 0;

class MetaScratch {
 public:
  MetaScratch() : depth_(meta_depth++) {
    if (meta_scratch.size() <= depth_) meta_scratch.resize(depth_ + 1);
  }
  ~MetaScratch() { --meta_depth; }
  std::vector<TensorMeta>& metas() { return meta_scratch[depth_]; }

 private:
  size_t depth_;
};

}  // namespace

Tensor OutputBuffer(const KernelContext& ctx, const Shape& shape, DType dtype) {
  if (ctx.donated_output.defined()) return ctx.donated_output;
  return Tensor::Uninitialized(shape, dtype);
}

absl::StatusOr<std::vector<Tensor>> CallOp(const OpDef& op,
                                           std::vector<Tensor> inputs,
                                           Attrs attrs,
                                           absl::string_view node_name) {
  return CallOpDonating(op, std::move(inputs), std::move(attrs), node_name, -1);
}

absl::StatusOr<std::vector<Tensor>> CallOpDonating(const OpDef& op,
                                                   std::vector<Tensor> inputs,
                                                   Attrs attrs,
                                                   absl::string_view node_name,
                                                   int donated_input) {
  const OpDef* def = &op;
  const absl::string_view op_name = def->name;
  // The name is only spelled out when an error needs it: formatting it on
  // every call would dominate the cost of small ops.
  auto where = [&]() {
    return absl::StrCat(op_name, " (node '",
                        node_name.empty()
                            ? DefaultNodeName(op_name, PeekNodeId())
                            : std::string(node_name),
                        "')");
  };
  const size_t declared = def->inputs.size();
  const bool arity_ok = def->variadic_last_input ? inputs.size() >= declared
                                                 : inputs.size() == declared;
  if (!arity_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        where(), ": expects ", def->variadic_last_input ? "at least " : "",
        declared, " input(s) (", absl::StrJoin(def->inputs, ", "), "), got ",
        inputs.size()));
  }
  MetaScratch scratch;
  std::vector<TensorMeta>& metas = scratch.metas();
  metas.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": input ", i, " is undefined"));
    }
    metas[i].dtype = inputs[i].dtype();
    metas[i].shape = inputs[i].shape();  // reuses the vector's capacity
  }
  const absl::Span<const TensorMeta> input_metas(metas);
  if (!def->attrs.empty() || !attrs.items().empty()) {
    // `where` is prefixed only on failure (formatting it costs more than
    // validating).
    if (absl::Status s = ValidateAttrs(def->attrs, "", attrs); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(where(), s.message()));
    }
  }
  absl::StatusOr<std::vector<TensorMeta>> output_metas =
      def->infer(InferContext{input_metas, attrs});
  if (!output_metas.ok()) {
    return absl::Status(
        output_metas.status().code(),
        absl::StrCat(where(), ": ", output_metas.status().message(),
                     " (inputs: ", MetasToString(input_metas), ")"));
  }
  for (const TensorMeta& meta : *output_metas) {
    if (absl::Status s = ValidateShape(meta.shape); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), ": output ", s.message()));
    }
  }
  // Calls made inside the kernel are its own business, not graph nodes.
  OpCallObserver* const observer = op_call_observer;
  op_call_observer = nullptr;
  KernelContext kernel{inputs, attrs, *output_metas};
  if (donated_input >= 0 && observer == nullptr && !output_metas->empty() &&
      donated_input < static_cast<int>(inputs.size()) &&
      std::find(def->inplace_inputs.begin(), def->inplace_inputs.end(),
                donated_input) != def->inplace_inputs.end()) {
    const Tensor& donor = inputs[donated_input];
    bool grad_needed = false;
    if (IsGradEnabled()) {
      for (const Tensor& input : inputs) {
        grad_needed = grad_needed || input.requires_grad();
      }
    }
    // One handle (the caller's, moved into `inputs`) on one buffer, the
    // whole of it, laid out as output 0 will be.
    const TensorMeta& out = (*output_metas)[0];
    if (!grad_needed && donor.impl_ptr().use_count() == 1 &&
        donor.storage().use_count() == 1 && donor.is_contiguous() &&
        donor.offset() == 0 && donor.dtype() == out.dtype &&
        donor.shape() == out.shape) {
      kernel.donated_output = donor;
    }
  }
  std::vector<Tensor> outputs = def->forward(kernel);
  op_call_observer = observer;
  if (!kernel.error.ok()) {
    return absl::Status(kernel.error.code(),
                        absl::StrCat(where(), ": ", kernel.error.message()));
  }
  // A kernel may hand an input back unchanged (contiguous of a contiguous
  // tensor); the result still needs its own handle for its graph links.
  for (Tensor& output : outputs) {
    for (const Tensor& input : inputs) {
      if (output.impl() == input.impl()) {
        output =
            MakeView(input, input.shape(), input.strides(), input.offset());
      }
    }
  }

  if (observer != nullptr) {
    observer->OnOpCall(*def, attrs, inputs, outputs, node_name);
  }

  bool record = false;
  if (IsGradEnabled()) {
    for (size_t i = 0; i < inputs.size() && !record; ++i) {
      record = inputs[i].requires_grad() &&
               def->IsDifferentiable(static_cast<int>(i));
    }
  }
  if (record) {
    auto node =
        std::make_shared<Node>(def, std::move(attrs), std::string(node_name),
                               std::move(inputs), outputs);
    for (size_t i = 0; i < outputs.size(); ++i) {
      TensorImpl* impl = outputs[i].impl();
      impl->requires_grad = true;
      impl->grad_fn = node;
      impl->output_index = static_cast<int>(i);
    }
  }
  return outputs;
}

Tensor CallOpOrDie(absl::string_view op_name, std::vector<Tensor> inputs,
                   Attrs attrs) {
  absl::StatusOr<std::vector<Tensor>> outputs =
      CallOp(op_name, std::move(inputs), std::move(attrs));
  if (!outputs.ok()) DieWithStatus(outputs.status());
  return std::move((*outputs)[0]);
}

Tensor CallOpOrDie(const OpDef& def, std::vector<Tensor> inputs, Attrs attrs) {
  absl::StatusOr<std::vector<Tensor>> outputs =
      CallOp(def, std::move(inputs), std::move(attrs));
  if (!outputs.ok()) DieWithStatus(outputs.status());
  return std::move((*outputs)[0]);
}

OpCallObserver* SetOpCallObserver(OpCallObserver* observer) {
  OpCallObserver* previous = op_call_observer;
  op_call_observer = observer;
  return previous;
}

NameScope::NameScope(absl::string_view name)
    : previous_size_(name_scope.size()) {
  absl::StrAppend(&name_scope, name, "/");
}

NameScope::~NameScope() { name_scope.resize(previous_size_); }

const std::string& NameScope::Current() { return name_scope; }

}  // namespace minigraph
