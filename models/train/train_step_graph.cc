#include "models/train/train_step_graph.h"

#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/graph_backward.h"
#include "framework/graph_capture.h"
#include "framework/graph_executor.h"
#include "framework/op_registry.h"
#include "framework/status_macros.h"

namespace minigraph {
namespace {

using Binding = std::map<std::string, int64_t>;

absl::StatusOr<Tensor> Call1(const std::string& op, std::vector<Tensor> inputs,
                             Attrs attrs = {}) {
  MG_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                      CallOp(op, std::move(inputs), std::move(attrs)));
  return out[0];
}

absl::Status CheckForward(const Graph& forward) {
  const std::string label =
      absl::StrCat("train step of graph '", forward.name, "'");
  for (const char* name : {"input_ids", "labels"}) {
    bool found = false;
    for (const GraphInput& input : forward.inputs) {
      found =
          found || (input.name == name && input.type.dtype == DType::kInt64 &&
                    input.type.shape.size() == 2);
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": needs an int64 [B, T] graph input '", name, "'"));
    }
  }
  if (forward.inputs.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, ": its only graph inputs must be input_ids and labels"));
  }
  bool has_loss = false;
  for (const GraphOutput& output : forward.outputs) {
    has_loss = has_loss || output.name == "loss";
  }
  if (!has_loss) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": needs an output named 'loss'"));
  }
  for (const GraphNode& node : forward.nodes) {
    if (node.op == "dropout") {
      // Its seed is an attribute fixed at capture, but the trainer draws a
      // new one each step.
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": node '", node.name,
          "' is dropout, whose seed changes every step; capture the model "
          "without dropout"));
    }
  }
  return absl::OkStatus();
}

// The state buffers the trainer's optimizer keeps per parameter.
std::vector<std::string> BufferNames(const TrainStepGraphOptions& options) {
  if (options.optimizer == "adamw") return {"exp_avg", "exp_avg_sq"};
  if (options.sgd.momentum != 0.0) return {"momentum_buffer"};
  return {};
}

// One trace at `sizes`: the gradient graph re-derived there and run inside
// a capture whose inputs are the step's inputs, then the clipping and the
// update recorded after it.
absl::StatusOr<Graph> TraceTrainStep(const Graph& backward,
                                     const std::vector<std::string>& params,
                                     const TrainStepGraphOptions& options,
                                     const Binding& sizes) {
  MG_ASSIGN_OR_RETURN(const Graph graph, RebindGraph(backward, sizes));
  GraphCapture capture(graph.name.substr(0, graph.name.size() - 5) +
                       "_train_step");
  std::map<std::string, Tensor> feeds;
  std::vector<std::pair<std::string, Tensor>> outputs;
  std::vector<Tensor> values, grads;
  std::vector<std::vector<Tensor>> buffers;
  const std::vector<std::string> buffer_names = BufferNames(options);
  for (const std::string& name : params) {
    const GraphParameter* param = graph.FindParameter(name);
    const TensorMeta meta = param->type.meta();
    Tensor value = param->value.defined()
                       ? param->value
                       : Tensor::Zeros(meta.shape, meta.dtype);
    MG_RETURN_IF_ERROR(capture.AddInput(value, name));
    feeds[name] = value;
    values.push_back(value);
    buffers.emplace_back();
    for (const std::string& buffer : buffer_names) {
      const Tensor state = Tensor::Zeros(meta.shape, meta.dtype);
      MG_RETURN_IF_ERROR(capture.AddInput(state, name + "." + buffer));
      buffers.back().push_back(state);
    }
  }
  const Tensor step = Tensor::Scalar(1.0, DType::kInt64);
  const Tensor lr = Tensor::Scalar(1e-3, DType::kFloat64);
  MG_RETURN_IF_ERROR(capture.AddInput(step, "step"));
  MG_RETURN_IF_ERROR(capture.AddInput(lr, "lr"));
  for (const GraphInput& input : graph.inputs) {
    const Tensor batch = Tensor::Zeros(input.type.meta().shape, DType::kInt64);
    MG_RETURN_IF_ERROR(capture.AddInput(batch, input.name, {"B", "T"}));
    feeds[input.name] = batch;
  }
  {
    GraphCapture::Scope recording(capture);
    MG_ASSIGN_OR_RETURN(GraphValues run, RunGraph(graph, feeds));
    auto output = [&](const std::string& name) -> const Tensor& {
      for (const GraphOutput& o : graph.outputs) {
        if (o.name == name) return run.Get(o.value);
      }
      static const Tensor* const kNone = new Tensor();
      return *kNone;
    };
    const Tensor& loss = output("loss");
    for (const std::string& name : params) {
      const Tensor& grad = output("grad/" + name);
      if (!grad.defined()) {
        return absl::InternalError("no gradient output for " + name);
      }
      grads.push_back(grad);
    }
    // clip_grad_norm_: the squares summed in double in parameter order,
    // sqrt, then every gradient scaled by min(1, max_norm/(norm + 1e-6)).
    capture.SetGradientOf("");
    Tensor total;
    for (const Tensor& grad : grads) {
      MG_ASSIGN_OR_RETURN(Tensor squares, Call1("sum_of_squares", {grad}));
      if (!total.defined()) {
        total = squares;
      } else {
        MG_ASSIGN_OR_RETURN(total, Call1("add", {total, squares}));
      }
    }
    MG_ASSIGN_OR_RETURN(const Tensor norm, Call1("sqrt", {total}));
    if (options.grad_clip > 0) {
      MG_ASSIGN_OR_RETURN(
          const Tensor coef,
          Call1("clip_coefficient", {norm}, {{"max_norm", options.grad_clip}}));
      for (Tensor& grad : grads) {
        MG_ASSIGN_OR_RETURN(grad, Call1("scale_by", {grad, coef}));
      }
    }
    for (size_t i = 0; i < params.size(); ++i) {
      std::vector<Tensor> updated;
      if (options.optimizer == "adamw") {
        const AdamWOptions& o = options.adamw;
        MG_ASSIGN_OR_RETURN(
            updated, CallOp("adamw_update",
                            {values[i], grads[i], buffers[i][0], buffers[i][1],
                             lr, step},
                            {{"beta1", o.beta1},
                             {"beta2", o.beta2},
                             {"eps", o.eps},
                             {"weight_decay", o.weight_decay}}));
      } else {
        const SgdOptions& o = options.sgd;
        Tensor momentum = buffers[i].empty() ? Tensor::Zeros(values[i].shape(),
                                                             values[i].dtype())
                                             : buffers[i][0];
        MG_ASSIGN_OR_RETURN(
            updated,
            CallOp("sgd_update", {values[i], grads[i], momentum, lr, step},
                   {{"momentum", o.momentum},
                    {"dampening", o.dampening},
                    {"nesterov", o.nesterov},
                    {"weight_decay", o.weight_decay}}));
        if (buffers[i].empty()) updated.resize(1);
      }
      outputs.emplace_back(params[i], updated[0]);
      for (size_t b = 0; b < buffer_names.size(); ++b) {
        outputs.emplace_back(params[i] + "." + buffer_names[b], updated[b + 1]);
      }
    }
    outputs.emplace_back("loss", loss);
    outputs.emplace_back("grad_norm", norm);
  }
  MG_ASSIGN_OR_RETURN(Graph result, capture.Finish(outputs));
  result.producer = "minigraph train step";
  return result;
}

}  // namespace

absl::StatusOr<Graph> BuildTrainStepGraph(
    const Graph& forward, const TrainStepGraphOptions& options) {
  MG_RETURN_IF_ERROR(CheckForward(forward));
  if (options.optimizer != "adamw" && options.optimizer != "sgd") {
    return absl::InvalidArgumentError(
        absl::StrCat("train step: optimizer '", options.optimizer,
                     "' is not known (adamw, sgd)"));
  }
  std::vector<std::string> params;
  for (const GraphParameter& param : forward.parameters) {
    if (IsFloating(param.type.dtype)) params.push_back(param.name);
  }
  BackwardGraphOptions backward_options;
  backward_options.outputs = {"loss"};
  backward_options.wrt = params;
  MG_ASSIGN_OR_RETURN(const Graph backward,
                      BuildBackwardGraph(forward, backward_options));
  return CaptureSymbolic(
      [&](const Binding& sizes) {
        return TraceTrainStep(backward, params, options, sizes);
      },
      backward.symbols);
}

}  // namespace minigraph
