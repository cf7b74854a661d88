// The verbs that look at graphs: ops (the registry), dump (summary, pbtxt,
// json, pb, dot, svg) and stats.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph_dump.h"
#include "framework/graph_io.h"
#include "framework/graph_passes.h"
#include "framework/graph_stats.h"
#include "framework/op_registry.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/graph_verbs_util.h"
#include "tools/minigraph/verb.h"

// Defined with the run verb, which applies the same passes.
ABSL_DECLARE_FLAG(std::string, passes);

namespace minigraph::cli {
namespace {

std::string DescribeOp(const OpDef& def) {
  std::string out = absl::StrCat(def.name, "\n    ", def.summary, "\n");
  std::vector<std::string> inputs;
  std::vector<std::string> differentiable;
  for (size_t i = 0; i < def.inputs.size(); ++i) {
    const bool variadic = def.variadic_last_input && i + 1 == def.inputs.size();
    inputs.push_back(absl::StrCat(def.inputs[i], variadic ? "..." : ""));
    if (def.IsDifferentiable(static_cast<int>(i))) {
      differentiable.push_back(def.inputs[i]);
    }
  }
  absl::StrAppend(
      &out,
      "    inputs: ", inputs.empty() ? "(none)" : absl::StrJoin(inputs, ", "),
      "\n    differentiable: ",
      differentiable.empty() ? "(none)" : absl::StrJoin(differentiable, ", "),
      "\n    outputs: ", absl::StrJoin(def.outputs, ", "), "\n");
  if (def.attrs.empty()) {
    absl::StrAppend(&out, "    attrs: (none)\n");
  } else {
    absl::StrAppend(&out, "    attrs:\n");
    for (const AttrDef& attr : def.attrs) {
      absl::StrAppend(
          &out, "      ", attr.name, ": ", AttrTypeName(attr.type),
          attr.default_value.has_value()
              ? absl::StrCat(" = ", AttrValueToString(*attr.default_value))
              : std::string(" (required)"),
          attr.doc.empty() ? "" : absl::StrCat("  -- ", attr.doc), "\n");
    }
  }
  return out;
}

int RunOps(const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return ReportBadInput("ops",
                          absl::InvalidArgumentError("takes no arguments"));
  }
  const std::vector<const OpDef*> ops = AllOps();
  std::printf("%zu registered ops\n\n", ops.size());
  for (const OpDef* def : ops) std::printf("%s\n", DescribeOp(*def).c_str());
  return kExitOk;
}

MG_REGISTER_VERB(ops) {
  return Verb{"ops", "list every registered op: inputs, attributes, gradients",
              "usage: minigraph ops\n\n"
              "Lists every op in the registry with its inputs (and which carry "
              "a gradient),\noutputs, and typed attributes with their "
              "defaults.",
              RunOps};
}

int RunDump(const std::vector<std::string>& positional) {
  const std::string format = absl::GetFlag(FLAGS_format);
  const bool known = format == "summary" || format == "pbtxt" ||
                     format == "json" || format == "pb" || format == "dot" ||
                     format == "svg";
  if (!known) {
    return ReportBadInput(
        "dump", absl::InvalidArgumentError(
                    absl::StrCat("unknown --format '", format,
                                 "' (summary, pbtxt, json, pb, dot, svg)")));
  }
  if (format == "svg" && !GraphvizAvailable()) {
    return ReportBadInput("dump", RenderDotToSvg("").status());
  }
  absl::StatusOr<GraphSource> source =
      GraphFromArgs(positional, DType::kFloat32, absl::GetFlag(FLAGS_backward));
  if (!source.ok()) return ReportBadInput("dump", source.status());
  std::string contents;
  if (format == "summary") {
    contents = GraphSummary(source->graph);
  } else if (format == "dot") {
    contents = GraphToDot(source->graph);
  } else if (format == "svg") {
    absl::StatusOr<std::string> svg = RenderDotToSvg(GraphToDot(source->graph));
    if (!svg.ok()) return ReportBadInput("dump", svg.status());
    contents = *std::move(svg);
  } else {
    GraphWriteOptions options;
    options.with_weights = absl::GetFlag(FLAGS_with_weights);
    absl::StatusOr<std::string> bytes =
        SerializeGraph(source->graph, *ParseGraphFormat(format), options);
    if (!bytes.ok()) return ReportBadInput("dump", bytes.status());
    contents = *std::move(bytes);
  }
  if (absl::Status s = EmitOutput(contents); !s.ok()) {
    return ReportBadInput("dump", s);
  }
  return kExitOk;
}

MG_REGISTER_VERB(dump) {
  return Verb{
      "dump", "show or convert a graph (summary, pbtxt, json, pb, dot, svg)",
      "usage: minigraph dump (GRAPH | --model NAME [--batch B] [--seq T] "
      "[--dtype D] [--seed S] [--set k=v,...] [--preset P])\n"
      "                      [--backward | --train-step [--optimizer O] "
      "[--betas a,b] [--eps X]\n"
      "                       [--weight-decay X] [--momentum X] "
      "[--dampening X] [--nesterov]\n"
      "                       [--grad-clip X]] [--format F] [--with-weights] "
      "[--output FILE]\n\n"
      "Reads a graph file (.pb, .pbtxt, .json) or captures a registered "
      "model's forward\npass, optionally turns it into its gradient graph "
      "(--backward) or, for --model\nminimind, its whole training step "
      "(--train-step, with train's optimizer flags),\nand writes it as a "
      "one-line-per-node summary, protobuf text, JSON or binary,\nGraphviz "
      "DOT, or SVG rendered by Graphviz. Without --output it prints to "
      "standard\noutput. For a graph file, --set B=4,T=512 re-derives it at "
      "those symbol sizes;\nfor a model, B and T in --set are --batch and "
      "--seq.",
      RunDump};
}

int RunStats(const std::vector<std::string>& positional) {
  absl::StatusOr<GraphPassOptions> passes =
      ParseGraphPasses(absl::GetFlag(FLAGS_passes), "--passes");
  if (!passes.ok()) return ReportBadInput("stats", passes.status());
  absl::StatusOr<GraphSource> source =
      GraphFromArgs(positional, DType::kFloat32, absl::GetFlag(FLAGS_backward));
  if (!source.ok()) return ReportBadInput("stats", source.status());
  std::printf("graph %s (%s)\n%s", source->graph.name.c_str(),
              source->description.c_str(),
              ComputeGraphStats(source->graph).ToString().c_str());
  // The table above is the graph as given; what `run` executes follows.
  absl::StatusOr<GraphPassReport> report =
      OptimizeGraph(source->graph, *passes);
  if (!report.ok()) return ReportBadInput("stats", report.status());
  std::printf("\ngraph passes (--passes=%s):\n%s",
              GraphPassesToString(*passes).c_str(), report->ToString().c_str());
  return kExitOk;
}

MG_REGISTER_VERB(stats) {
  return Verb{
      "stats", "nodes by op, parameters, FLOPs, bytes and peak memory",
      "usage: minigraph stats (GRAPH | --model NAME [--batch B] [--seq T] "
      "[--dtype D] [--set k=v,...] [--preset P]) [--backward]\n"
      "                      [--passes all|none|dce,cse,fold_constants,"
      "memory_plan]\n\n"
      "Counts nodes by op and parameters, estimates FLOPs and bytes moved "
      "per node and\nin total, and the peak memory of node outputs when the "
      "graph runs in order.\nThen the graph passes `run` applies (--passes): "
      "nodes and constants before and\nafter each, and the planned peak "
      "memory with values released after their last\nuse and with every "
      "value kept.",
      RunStats};
}

}  // namespace
}  // namespace minigraph::cli
