// The verbs that execute graphs: run (safetensors in, safetensors out) and
// gradcheck (a graph, a model or an op against float64 finite differences).
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "framework/gradcheck.h"
#include "framework/graph_executor.h"
#include "framework/graph_passes.h"
#include "framework/op_registry.h"
#include "framework/safetensors.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/gradcheck_support.h"
#include "tools/minigraph/graph_verbs_util.h"
#include "tools/minigraph/verb.h"

ABSL_FLAG(std::string, op, "", "gradcheck the samples of this registered op");
ABSL_FLAG(bool, fast, false,
          "compare random projections u^T J v instead of the full Jacobian "
          "(chosen automatically for inputs over 4096 elements)");
ABSL_FLAG(bool, second_order, false, "also check the gradient of the gradient");
ABSL_FLAG(double, atol, 1e-5, "absolute tolerance");
ABSL_FLAG(double, rtol, 1e-3, "relative tolerance");
ABSL_FLAG(std::string, passes, "all",
          "graph passes applied after loading (run, stats): all, none, or a "
          "comma-separated list of dce, cse, fold_constants, memory_plan");

namespace minigraph::cli {
namespace {

// Graph inputs and parameters from safetensors files (comma-separated, so a
// checkpoint's model and optimizer files and a batch can be given as they
// are): every graph input must be there; a tensor named like a parameter
// replaces its value; any other name, or a name in two files, is a mistake.
absl::StatusOr<std::map<std::string, Tensor>> FeedsFromFile(
    const Graph& graph, const std::string& paths) {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> file_of;
  for (absl::string_view piece : absl::StrSplit(paths, ',')) {
    const std::string path(piece);
    MG_ASSIGN_OR_RETURN(SafetensorsFile file, ReadSafetensors(path));
    for (auto& [name, tensor] : file.tensors) {
      auto [it, inserted] = file_of.emplace(name, path);
      if (!inserted) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": tensor '", name, "' is also in ",
                         it->second, "; give each value once"));
      }
      tensors[name] = tensor;
    }
  }
  std::map<std::string, Tensor> feeds;
  for (const GraphInput& input : graph.inputs) {
    auto it = tensors.find(input.name);
    if (it == tensors.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(paths, ": no tensor '", input.name,
                       "' for graph input '", input.name, "' (",
                       input.type.ToString(), ")"));
    }
    feeds[input.name] = it->second;
  }
  for (const auto& [name, tensor] : tensors) {
    if (feeds.count(name) != 0) continue;
    if (graph.FindParameter(name) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(file_of.at(name), ": tensor '", name,
                       "' is neither a graph input nor a parameter of graph '",
                       graph.name, "'"));
    }
    feeds[name] = tensor;
  }
  return feeds;
}

int RunRun(const std::vector<std::string>& positional) {
  const std::string inputs_path = absl::GetFlag(FLAGS_inputs);
  const std::string output_path = absl::GetFlag(FLAGS_output);
  if (output_path.empty()) {
    return ReportBadInput("run", absl::InvalidArgumentError(
                                     "--output OUT.safetensors is required"));
  }
  absl::StatusOr<GraphPassOptions> passes =
      ParseGraphPasses(absl::GetFlag(FLAGS_passes), "--passes");
  if (!passes.ok()) return ReportBadInput("run", passes.status());
  absl::StatusOr<GraphSource> source =
      GraphFromArgs(positional, DType::kFloat32, /*backward=*/false);
  if (!source.ok()) return ReportBadInput("run", source.status());
  // Inputs, parameters and output names are untouched by the passes.
  if (absl::StatusOr<GraphPassReport> report =
          OptimizeGraph(source->graph, *passes);
      !report.ok()) {
    return ReportBadInput("run", report.status());
  }
  std::map<std::string, Tensor> feeds = source->feeds;
  if (!inputs_path.empty()) {
    absl::StatusOr<std::map<std::string, Tensor>> from_file =
        FeedsFromFile(source->graph, inputs_path);
    if (!from_file.ok()) return ReportBadInput("run", from_file.status());
    feeds = *std::move(from_file);
  } else if (feeds.empty() && !source->graph.inputs.empty()) {
    return ReportBadInput("run", absl::InvalidArgumentError(
                                     "--inputs IN.safetensors is required"));
  }
  ExecuteOptions options;
  options.release_dead_values = passes->memory_plan;
  absl::StatusOr<std::vector<Tensor>> outputs =
      ExecuteGraph(source->graph, feeds, options);
  if (!outputs.ok()) {
    return ReportBadInput(
        "run", absl::Status(outputs.status().code(),
                            absl::StrCat(inputs_path.empty() ? "" : inputs_path,
                                         inputs_path.empty() ? "" : ": ",
                                         outputs.status().message())));
  }
  SafetensorsFile file;
  file.metadata["producer"] = "minigraph run";
  file.metadata["graph"] = source->graph.name;
  for (size_t i = 0; i < outputs->size(); ++i) {
    const Tensor& t = (*outputs)[i];
    file.tensors[source->graph.outputs[i].name] = t;
    std::printf("%s: %s%s\n", source->graph.outputs[i].name.c_str(),
                DTypeName(t.dtype()), ShapeToString(t.shape()).c_str());
  }
  if (absl::Status s = WriteSafetensors(output_path, file); !s.ok()) {
    return ReportBadInput("run", s);
  }
  std::printf("wrote %s\n", output_path.c_str());
  return kExitOk;
}

MG_REGISTER_VERB(run) {
  return Verb{
      "run", "execute a graph on inputs from a safetensors file",
      "usage: minigraph run (GRAPH --inputs IN.safetensors | --model NAME "
      "[--batch B] [--seq T]\n"
      "                      [--dtype D] [--seed S] [--set k=v,...] "
      "[--preset P]) --output OUT.safetensors\n"
      "                      [--passes all|none|dce,cse,fold_constants,"
      "memory_plan]\n\n"
      "Loads and validates GRAPH, feeds each graph input from the tensor of "
      "the same\nname in IN (a tensor named like a parameter replaces its "
      "stored value), runs it\nand writes the graph's outputs by name. A "
      "model runs on its example inputs\nunless --inputs is given. Bad "
      "input exits with code 2 and writes\nnothing. Before running, the "
      "graph passes named by --passes (all by default)\ndrop dead nodes, "
      "merge repeated ones, fold constant subgraphs and release\neach value "
      "after its last use; the outputs have the same bits either way.",
      RunRun};
}

void PrintReport(const GradcheckReport& report,
                 const std::vector<std::string>& names) {
  std::printf("%-28s %-16s %9s %12s %12s  %s\n", "input", "shape", "entries",
              "max_abs", "max_rel", "result");
  for (const InputGradReport& r : report.inputs) {
    const std::string name = r.input_index < static_cast<int>(names.size())
                                 ? names[r.input_index]
                                 : absl::StrCat("#", r.input_index);
    std::printf("%-28s %-16s %9lld %12.3e %12.3e  %s\n", name.c_str(),
                r.shape.c_str(), static_cast<long long>(r.entries_compared),
                r.max_abs_error, r.max_rel_error, r.passed ? "PASS" : "FAIL");
  }
  std::printf("%s: %s\n", report.mode.c_str(), report.passed ? "PASS" : "FAIL");
}

// Runs first (and with --second_order, second) order checks; false if any
// failed.
absl::StatusOr<bool> CheckFunction(const std::string& label,
                                   const FallibleFn& fn,
                                   const std::vector<Tensor>& inputs,
                                   const std::vector<std::string>& names) {
  GradcheckOptions options;
  options.eps = absl::GetFlag(FLAGS_eps);
  options.atol = absl::GetFlag(FLAGS_atol);
  options.rtol = absl::GetFlag(FLAGS_rtol);
  int64_t elements = 0;
  for (const Tensor& t : inputs) {
    if (IsFloating(t.dtype())) elements += t.numel();
  }
  options.fast_mode = absl::GetFlag(FLAGS_fast) || elements > 4096;
  std::printf("== %s (%s)\n", label.c_str(),
              options.fast_mode ? "random projections" : "full Jacobian");
  std::fflush(stdout);
  options.progress = ProgressPrinter(label);
  MG_ASSIGN_OR_RETURN(GradcheckReport first,
                      CheckGradients(fn, inputs, options, CheckOrder::kFirst));
  PrintReport(first, names);
  bool passed = first.passed;
  if (absl::GetFlag(FLAGS_second_order)) {
    std::fflush(stdout);
    options.progress = ProgressPrinter(absl::StrCat(label, " (second order)"));
    MG_ASSIGN_OR_RETURN(
        GradcheckReport second,
        CheckGradients(fn, inputs, options, CheckOrder::kSecond));
    PrintReport(second, names);
    passed = passed && second.passed;
  }
  return passed;
}

absl::StatusOr<bool> GradcheckOp(const std::string& name) {
  const OpDef* def = FindOp(name);
  if (def == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "unknown op '", name, "' (`minigraph ops` lists the registered ops)"));
  }
  if (!def->backward) {
    return absl::InvalidArgumentError(
        absl::StrCat("op '", name, "' has no gradient to check"));
  }
  bool passed = true;
  for (const OpSample& sample : def->samples()) {
    std::vector<std::string> names;
    for (size_t i = 0; i < sample.inputs.size(); ++i) {
      names.push_back(i < def->inputs.size() ? def->inputs[i]
                                             : def->inputs.back());
    }
    const Attrs attrs = sample.attrs;
    FallibleFn fn = [name, attrs](const std::vector<Tensor>& xs) {
      return CallOp(name, xs, attrs);
    };
    MG_ASSIGN_OR_RETURN(
        bool ok, CheckFunction(absl::StrCat(name, " / ", sample.label), fn,
                               sample.inputs, names));
    passed = passed && ok;
  }
  return passed;
}

absl::StatusOr<bool> GradcheckGraph(
    const std::vector<std::string>& positional) {
  MG_ASSIGN_OR_RETURN(GraphSource source,
                      GraphFromArgs(positional, DType::kFloat64,
                                    absl::GetFlag(FLAGS_backward)));
  const Graph& graph = source.graph;
  std::map<std::string, Tensor> feeds = source.feeds;
  const std::string inputs_path = absl::GetFlag(FLAGS_inputs);
  if (!inputs_path.empty()) {
    MG_ASSIGN_OR_RETURN(feeds, FeedsFromFile(graph, inputs_path));
  }
  // Inputs not given get seeded values: the check holds at any point.
  Generator gen(absl::GetFlag(FLAGS_seed));
  std::vector<std::string> names;
  std::vector<Tensor> values;
  for (const GraphInput& input : graph.inputs) {
    auto it = feeds.find(input.name);
    Tensor value =
        it != feeds.end() ? it->second
        : IsFloating(input.type.dtype)
            ? Tensor::Randn(input.type.meta().shape, gen, input.type.dtype)
            : Tensor::Zeros(input.type.meta().shape, input.type.dtype);
    names.push_back(input.name);
    values.push_back(value);
  }
  for (const GraphParameter& param : graph.parameters) {
    auto it = feeds.find(param.name);
    if (it == feeds.end() && !param.value.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", param.name,
                       "' has no stored value; give it in --inputs"));
    }
    names.push_back(param.name);
    values.push_back(it != feeds.end() ? it->second : param.value);
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (IsFloating(values[i].dtype()) && values[i].dtype() != DType::kFloat64) {
      return absl::InvalidArgumentError(
          absl::StrCat("gradcheck needs float64 values; '", names[i], "' is ",
                       DTypeName(values[i].dtype()),
                       " (capture models with --dtype float64)"));
    }
  }
  ExecuteOptions run;
  run.record_gradients = true;
  // CheckGradients runs it once before the check: a graph that cannot run
  // on these values fails before any progress is shown.
  FallibleFn fn = [&graph, names, run](const std::vector<Tensor>& xs) {
    std::map<std::string, Tensor> fed;
    for (size_t i = 0; i < xs.size(); ++i) fed[names[i]] = xs[i];
    return ExecuteGraph(graph, fed, run);
  };
  return CheckFunction(
      absl::StrCat("graph ", graph.name, " (", source.description, ")"), fn,
      values, names);
}

int RunGradcheck(const std::vector<std::string>& positional) {
  const std::string op = absl::GetFlag(FLAGS_op);
  absl::StatusOr<bool> passed =
      !op.empty() ? (positional.empty() && absl::GetFlag(FLAGS_model).empty()
                         ? GradcheckOp(op)
                         : absl::InvalidArgumentError(
                               "give one of GRAPH, --model NAME or --op NAME"))
                  : GradcheckGraph(positional);
  if (!passed.ok()) return ReportBadInput("gradcheck", passed.status());
  return *passed ? kExitOk : kExitFailure;
}

MG_REGISTER_VERB(gradcheck) {
  return Verb{
      "gradcheck", "check gradients against float64 finite differences",
      "usage: minigraph gradcheck (GRAPH | --model NAME [--batch B] [--seq T] "
      "[--seed S] [--set k=v,...]\n"
      "                           [--preset P] | --op NAME)\n"
      "                           [--inputs IN.safetensors] [--backward] "
      "[--fast] [--second-order]\n"
      "                           [--eps E] [--atol A] [--rtol R]\n\n"
      "Compares autograd's gradients with central finite differences in "
      "float64, for\nevery floating input and parameter of a graph (inputs "
      "not in --inputs get seeded\nrandom values), of a model captured in "
      "float64, or of each conformance sample of\nan op. Prints max abs and "
      "rel error per input; exit code 1 if any check fails.",
      RunGradcheck};
}

}  // namespace
}  // namespace minigraph::cli
