#include "framework/graph_dump.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "framework/graph_io.h"

extern char** environ;

namespace minigraph {
namespace {

std::string RefList(const std::vector<TensorRef>& refs) {
  return absl::StrJoin(refs, ", ", [](std::string* out, const TensorRef& r) {
    absl::StrAppend(out, r.ToString());
  });
}

std::string TypeList(const std::vector<ValueType>& types) {
  return absl::StrJoin(types, ", ", [](std::string* out, const ValueType& t) {
    absl::StrAppend(out, t.ToString());
  });
}

// "f32[B,T,512]": short enough for an edge label.
std::string ShortType(const ValueType& type) {
  const char* dtype = type.dtype == DType::kFloat32   ? "f32"
                      : type.dtype == DType::kFloat64 ? "f64"
                                                      : "i64";
  return absl::StrCat(dtype, "[", SymShapeToString(type.shape, ","), "]");
}

std::string DotEscape(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string ConstantText(const Tensor& value) {
  if (value.numel() == 1) {
    return absl::StrCat(" = ", value.item());
  }
  return "";
}

}  // namespace

std::string GraphSummary(const Graph& graph) {
  std::string out =
      absl::StrCat("graph ", graph.name, " (",
                   graph.CountNodes(NodeRole::kForward), " forward nodes, ",
                   graph.CountNodes(NodeRole::kGradient), " gradient nodes)\n");
  if (!graph.symbols.empty()) {
    absl::StrAppend(
        &out, "symbols: ",
        absl::StrJoin(graph.symbols, ", ", absl::PairFormatter("=")), "\n");
  }
  for (const GraphInput& input : graph.inputs) {
    absl::StrAppend(&out, "input ", input.name, " : ", input.type.ToString(),
                    "\n");
  }
  for (const GraphParameter& param : graph.parameters) {
    absl::StrAppend(&out, "param ", param.name, " : ", param.type.ToString(),
                    param.value.defined() ? "" : " (no stored value)", "\n");
  }
  for (const GraphConstant& constant : graph.constants) {
    absl::StrAppend(&out, "const ", constant.name, " : ",
                    ValueType::FromMeta(constant.value.meta()).ToString(),
                    ConstantText(constant.value), "\n");
  }
  for (const GraphNode& node : graph.nodes) {
    std::string args = RefList(node.inputs);
    const std::string attrs = NodeAttrsToString(node);
    if (!attrs.empty()) absl::StrAppend(&args, args.empty() ? "" : ", ", attrs);
    absl::StrAppend(&out, node.name, " = ", node.op, "(", args,
                    ") : ", TypeList(node.outputs));
    if (node.role == NodeRole::kGradient) {
      absl::StrAppend(&out, "  # grad", node.forward_node.empty() ? "" : " of ",
                      node.forward_node);
    }
    absl::StrAppend(&out, "\n");
  }
  for (const GraphOutput& output : graph.outputs) {
    absl::StrAppend(&out, "output ", output.name, " = ",
                    output.value.ToString(), "\n");
  }
  return out;
}

std::string GraphToDot(const Graph& graph) {
  // DOT ids are generated ("v0", "v1", ...) so that no name can break the
  // syntax; names appear in quoted, escaped labels.
  std::map<std::string, std::string> id_of;
  auto id = [&](const std::string& name) {
    auto [it, inserted] = id_of.emplace(name, absl::StrCat("v", id_of.size()));
    return it->second;
  };
  std::map<std::string, ValueType> single_type;
  std::string out = absl::StrCat(
      "digraph \"", DotEscape(graph.name), "\" {\n", "  rankdir=TB;\n",
      "  node [fontname=\"Helvetica\", fontsize=10, "
      "style=filled];\n",
      "  edge [fontname=\"Helvetica\", fontsize=8];\n");
  auto value_node = [&](const std::string& name, const ValueType& type,
                        const char* color, const char* kind,
                        const std::string& extra) {
    absl::StrAppend(&out, "  ", id(name), " [shape=box, fillcolor=\"", color,
                    "\", label=\"", DotEscape(name), "\\n", kind, " ",
                    DotEscape(type.ToString()), DotEscape(extra), "\"];\n");
    single_type[name] = type;
  };
  for (const GraphInput& input : graph.inputs) {
    value_node(input.name, input.type, kDotInputColor, "input", "");
  }
  for (const GraphParameter& param : graph.parameters) {
    value_node(param.name, param.type, kDotParameterColor, "param", "");
  }
  for (const GraphConstant& constant : graph.constants) {
    value_node(constant.name, ValueType::FromMeta(constant.value.meta()),
               kDotConstantColor, "const", ConstantText(constant.value));
  }
  const NodeRole roles[] = {NodeRole::kForward, NodeRole::kGradient};
  for (NodeRole role : roles) {
    const bool forward = role == NodeRole::kForward;
    if (graph.CountNodes(role) == 0) continue;
    absl::StrAppend(&out, "  subgraph cluster_",
                    forward ? "forward" : "backward", " {\n    label=\"",
                    forward ? "forward" : "backward",
                    "\";\n    style=rounded;\n    color=\"",
                    forward ? "#999999" : "#e6550d", "\";\n");
    for (const GraphNode& node : graph.nodes) {
      if (node.role != role) continue;
      std::string label = absl::StrCat(node.op, "\\n", DotEscape(node.name));
      const std::string attrs = NodeAttrsToString(node);
      if (!attrs.empty()) absl::StrAppend(&label, "\\n", DotEscape(attrs));
      std::string tooltip = node.name;
      if (!forward && !node.forward_node.empty()) {
        absl::StrAppend(&tooltip, " (gradient of ", node.forward_node, ")");
      }
      absl::StrAppend(
          &out, "    ", id(node.name), " [shape=ellipse, fillcolor=\"",
          forward ? kDotForwardColor : kDotGradientColor, "\", label=\"", label,
          "\", tooltip=\"", DotEscape(tooltip), "\"];\n");
    }
    absl::StrAppend(&out, "  }\n");
  }
  auto type_of = [&](const TensorRef& ref) -> std::string {
    if (const GraphNode* node = graph.FindNode(ref.node)) {
      if (ref.output >= 0 &&
          ref.output < static_cast<int>(node->outputs.size())) {
        return ShortType(node->outputs[ref.output]);
      }
      return "?";
    }
    auto it = single_type.find(ref.node);
    return it == single_type.end() ? "?" : ShortType(it->second);
  };
  for (const GraphNode& node : graph.nodes) {
    for (const TensorRef& ref : node.inputs) {
      absl::StrAppend(&out, "  ", id(ref.node), " -> ", id(node.name),
                      " [label=\"", DotEscape(type_of(ref)), "\"];\n");
    }
  }
  for (const GraphOutput& output : graph.outputs) {
    const std::string output_id = id(absl::StrCat("output\x1f", output.name));
    absl::StrAppend(&out, "  ", output_id,
                    " [shape=doubleoctagon, fillcolor=\"", kDotOutputColor,
                    "\", label=\"", DotEscape(output.name), "\"];\n");
    absl::StrAppend(&out, "  ", id(output.value.node), " -> ", output_id,
                    " [label=\"", DotEscape(type_of(output.value)), "\"];\n");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

bool GraphvizAvailable() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  for (absl::string_view dir : absl::StrSplit(path, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = absl::StrCat(dir, "/dot");
    struct stat info;
    if (stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::string> RenderDotToSvg(const std::string& dot) {
  if (!GraphvizAvailable()) {
    return absl::FailedPreconditionError(
        "SVG needs Graphviz's `dot`, which is not on PATH: install it "
        "(apt-get install graphviz) or write --format dot and render it "
        "elsewhere");
  }
  char dir_template[] = "/tmp/minigraph_dot_XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    return absl::InternalError("cannot create a temporary directory for dot");
  }
  const std::string dir = dir_template;
  const std::string in = dir + "/graph.dot";
  const std::string out = dir + "/graph.svg";
  auto cleanup = [&] {
    std::remove(in.c_str());
    std::remove(out.c_str());
    rmdir(dir.c_str());
  };
  if (absl::Status s = WriteFileAtomically(in, dot); !s.ok()) {
    cleanup();
    return s;
  }
  // Arguments passed directly, no shell: file names cannot be misread.
  std::string arg0 = "dot", arg1 = "-Tsvg", arg2 = "-o";
  std::string arg3 = out, arg4 = in;
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(),
                  arg3.data(), arg4.data(), nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "dot", nullptr, nullptr, argv, environ) != 0) {
    cleanup();
    return absl::InternalError("cannot start Graphviz's dot");
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    cleanup();
    return absl::InternalError(
        "Graphviz's dot failed to render the graph (see its message above)");
  }
  absl::StatusOr<std::string> svg = ReadFileToString(out, int64_t{1} << 31);
  cleanup();
  return svg;
}

}  // namespace minigraph
