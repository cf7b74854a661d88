// `minigraph demo`: a model end to end through graphs. Runs the forward pass
// eagerly, captures it, builds the gradient graph, saves both (.pb, .pbtxt,
// .svg), loads them back and checks that the loaded graphs reproduce the
// eager forward and the autograd engine's gradients bit for bit, then runs a
// float64 gradient check of the model.
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/gradcheck.h"
#include "framework/graph_backward.h"
#include "framework/graph_dump.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/gradcheck_support.h"
#include "tools/minigraph/graph_verbs_util.h"
#include "tools/minigraph/model_capture.h"
#include "tools/minigraph/verb.h"

ABSL_FLAG(std::string, output_dir, "minigraph_demo",
          "directory for the graph files the demo writes");

namespace minigraph::cli {
namespace {

// Largest |a - b| over all elements (both of one shape).
double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.ToVector<double>();
  const std::vector<double> y = b.ToVector<double>();
  double worst = x.size() == y.size() ? 0.0 : INFINITY;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]));
  }
  return worst;
}

bool SameBits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = CopyToContiguous(a);
  const Tensor cb = CopyToContiguous(b);
  return std::memcmp(ca.storage()->data(), cb.storage()->data(),
                     ca.numel() * DTypeSize(ca.dtype())) == 0;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  MG_RETURN_IF_ERROR(WriteFileAtomically(path, text));
  std::printf("  wrote %s (%zu bytes)\n", path.c_str(), text.size());
  return absl::OkStatus();
}

absl::Status SaveGraph(const std::string& dir, const std::string& stem,
                       const Graph& graph) {
  GraphWriteOptions with_weights;
  with_weights.with_weights = true;
  MG_ASSIGN_OR_RETURN(
      std::string pb,
      SerializeGraph(graph, GraphFormat::kBinary, with_weights));
  MG_RETURN_IF_ERROR(WriteText(absl::StrCat(dir, "/", stem, ".pb"), pb));
  GraphWriteOptions without;
  without.with_weights = false;
  MG_ASSIGN_OR_RETURN(std::string text,
                      SerializeGraph(graph, GraphFormat::kText, without));
  MG_RETURN_IF_ERROR(WriteText(absl::StrCat(dir, "/", stem, ".pbtxt"), text));
  const std::string dot = GraphToDot(graph);
  MG_RETURN_IF_ERROR(WriteText(absl::StrCat(dir, "/", stem, ".dot"), dot));
  if (GraphvizAvailable()) {
    MG_ASSIGN_OR_RETURN(std::string svg, RenderDotToSvg(dot));
    MG_RETURN_IF_ERROR(WriteText(absl::StrCat(dir, "/", stem, ".svg"), svg));
  } else {
    std::printf("  (no %s.svg: Graphviz's `dot` is not installed)\n",
                stem.c_str());
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Demo() {
  const std::string model = absl::GetFlag(FLAGS_model).empty()
                                ? "attention"
                                : absl::GetFlag(FLAGS_model);
  const std::string dir = absl::GetFlag(FLAGS_output_dir);
  MG_ASSIGN_OR_RETURN(ModelOptions options,
                      ModelOptionsFromFlags(DType::kFloat32));
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(
        absl::StrCat(dir, ": cannot create the directory"));
  }

  std::printf("== 1. forward pass of model '%s' (eager, captured)\n",
              model.c_str());
  MG_ASSIGN_OR_RETURN(CapturedModel captured, CaptureModel(model, options));
  for (size_t i = 0; i < captured.eager_outputs.size(); ++i) {
    const Tensor& y = captured.eager_outputs[i];
    const std::vector<double> v = y.ToVector<double>();
    double sum = 0, max_abs = 0;
    for (double e : v) {
      sum += e;
      max_abs = std::max(max_abs, std::abs(e));
    }
    std::printf("  %s: %s%s  mean %.6g  max|.| %.6g\n",
                captured.graph.outputs[i].name.c_str(), DTypeName(y.dtype()),
                ShapeToString(y.shape()).c_str(),
                sum / std::max<size_t>(1, v.size()), max_abs);
  }

  std::printf("\n== 2. forward graph\n%s",
              GraphSummary(captured.graph).c_str());

  // Seeds of the backward pass: d loss / d output = 1 everywhere (loss =
  // sum of the outputs).
  BackwardGraphOptions backward_options;
  backward_options.feeds = captured.feeds;
  std::vector<Tensor> seeds;
  for (size_t i = 0; i < captured.eager_outputs.size(); ++i) {
    const Tensor& y = captured.eager_outputs[i];
    seeds.push_back(Tensor::Ones(y.shape(), y.dtype()));
    backward_options
        .feeds[backward_options.seed_prefix + captured.graph.outputs[i].name] =
        seeds.back();
  }
  MG_ASSIGN_OR_RETURN(Graph backward,
                      BuildBackwardGraph(captured.graph, backward_options));
  std::printf("\n== 3. gradient graph\n%s", GraphSummary(backward).c_str());

  std::printf("\n== 4. files\n");
  MG_RETURN_IF_ERROR(SaveGraph(dir, "forward", captured.graph));
  MG_RETURN_IF_ERROR(SaveGraph(dir, "backward", backward));

  std::printf("\n== 5. loaded graphs against the eager run\n");
  bool ok = true;
  MG_ASSIGN_OR_RETURN(Graph forward_loaded,
                      ReadGraphFile(absl::StrCat(dir, "/forward.pb")));
  MG_ASSIGN_OR_RETURN(std::vector<Tensor> forward_out,
                      ExecuteGraph(forward_loaded, captured.feeds));
  for (size_t i = 0; i < forward_out.size(); ++i) {
    const bool same = SameBits(forward_out[i], captured.eager_outputs[i]);
    ok = ok && same;
    std::printf("  forward %-28s %s\n", captured.graph.outputs[i].name.c_str(),
                same ? "same bits as eager" : "DIFFERS from eager");
  }
  MG_ASSIGN_OR_RETURN(Graph backward_loaded,
                      ReadGraphFile(absl::StrCat(dir, "/backward.pb")));
  std::map<std::string, Tensor> backward_feeds;
  for (const GraphInput& input : backward_loaded.inputs) {
    backward_feeds[input.name] = backward_options.feeds.at(input.name);
  }
  MG_ASSIGN_OR_RETURN(std::vector<Tensor> backward_out,
                      ExecuteGraph(backward_loaded, backward_feeds));

  // The autograd engine on the same model, parameters and inputs.
  const ModelInstance& instance = captured.instance;
  std::vector<Tensor> leaves;
  std::map<std::string, Tensor> leaf_by_name;
  for (size_t i = 0; i < instance.parameters.size(); ++i) {
    leaf_by_name[instance.parameter_names[i]] = instance.parameters[i];
  }
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < instance.inputs.size(); ++i) {
    Tensor x = instance.inputs[i].ShallowCopy();
    if (IsFloating(x.dtype())) x.set_requires_grad(true);
    inputs.push_back(x);
    leaf_by_name[instance.input_names[i]] = x;
  }
  const std::vector<Tensor> eager_outputs = instance.forward(inputs);
  for (size_t o = 0; o < backward_loaded.outputs.size(); ++o) {
    const std::string& name = backward_loaded.outputs[o].name;
    if (name.rfind(backward_options.gradient_prefix, 0) != 0) continue;
    const std::string wrt =
        name.substr(backward_options.gradient_prefix.size());
    auto it = leaf_by_name.find(wrt);
    if (it == leaf_by_name.end()) continue;
    BackwardOptions retain;
    retain.retain_graph = true;
    MG_ASSIGN_OR_RETURN(std::vector<Tensor> engine,
                        Gradients(eager_outputs, {it->second}, seeds, retain,
                                  /*allow_unused=*/true));
    // The gradient graph holds the calls of the backward rules the engine
    // runs, on the same values in the same order: unequal bits are a bug.
    const bool same = SameBits(backward_out[o], engine[0]);
    ok = ok && same;
    if (same) {
      std::printf("  %-36s same bits as autograd\n", name.c_str());
    } else {
      std::printf("  %-36s DIFFERS from autograd (max |diff| %.3g)\n",
                  name.c_str(), MaxAbsDiff(backward_out[o], engine[0]));
    }
  }

  std::printf("\n== 6. gradient check in float64 (random projections)\n");
  ModelOptions f64 = options;
  f64.dtype = DType::kFloat64;
  MG_ASSIGN_OR_RETURN(CapturedModel model64, CaptureModel(model, f64));
  const Graph& graph64 = model64.graph;
  std::vector<std::string> names;
  std::vector<Tensor> values;
  for (const GraphInput& input : graph64.inputs) {
    names.push_back(input.name);
    values.push_back(model64.feeds.at(input.name));
  }
  for (const GraphParameter& param : graph64.parameters) {
    names.push_back(param.name);
    values.push_back(param.value);
  }
  ExecuteOptions run;
  run.record_gradients = true;
  FallibleFn fn = [&graph64, names, run](const std::vector<Tensor>& xs) {
    std::map<std::string, Tensor> fed;
    for (size_t i = 0; i < xs.size(); ++i) fed[names[i]] = xs[i];
    return ExecuteGraph(graph64, fed, run);
  };
  GradcheckOptions check;
  check.fast_mode = true;
  std::fflush(stdout);
  check.progress = ProgressPrinter("gradcheck");
  MG_ASSIGN_OR_RETURN(GradcheckReport report,
                      CheckGradients(fn, values, check, CheckOrder::kFirst));
  for (const InputGradReport& r : report.inputs) {
    std::printf("  %-28s %-14s max_abs %.3e  max_rel %.3e  %s\n",
                names[r.input_index].c_str(), r.shape.c_str(), r.max_abs_error,
                r.max_rel_error, r.passed ? "PASS" : "FAIL");
  }
  std::printf("  gradcheck: %s\n", report.passed ? "PASS" : "FAIL");
  ok = ok && report.passed;
  std::printf("\n%s\n", ok ? "demo: all checks passed" : "demo: FAILED");
  return ok;
}

int RunDemo(const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return ReportBadInput(
        "demo", absl::InvalidArgumentError("takes no positional arguments"));
  }
  absl::StatusOr<bool> ok = Demo();
  if (!ok.ok()) return ReportBadInput("demo", ok.status());
  return *ok ? kExitOk : kExitFailure;
}

MG_REGISTER_VERB(demo) {
  return Verb{
      "demo", "a model end to end: forward, gradient graph, files, checks",
      "usage: minigraph demo [--model NAME] [--batch B] [--seq T] [--seed S] "
      "[--set k=v,...]\n"
      "                      [--output-dir DIR]\n\n"
      "Runs the model (default: attention) eagerly and as a captured graph, "
      "builds its\ngradient graph, prints both as summaries, writes "
      "forward/backward .pb (with\nweights), .pbtxt (without), .dot and .svg "
      "into DIR, loads the .pb files back\nand checks them against the eager "
      "forward and the autograd engine's gradients\n(same bits), then "
      "gradchecks the model in float64. Exit code 1 if a check fails.",
      RunDemo};
}

}  // namespace
}  // namespace minigraph::cli
