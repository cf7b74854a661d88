// Structure of the human-facing dumps (summary, DOT, SVG) and of the stats:
// counts, names and colours, not exact floating-point text.
#include "framework/graph_dump.h"

#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/graph_backward.h"
#include "framework/graph_stats.h"
#include "gtest/gtest.h"
#include "tests/framework/graph_test_util.h"

namespace minigraph {
namespace {

int Count(const std::string& text, const std::string& piece) {
  int count = 0;
  for (size_t at = text.find(piece); at != std::string::npos;
       at = text.find(piece, at + 1)) {
    ++count;
  }
  return count;
}

struct Graphs {
  Graph forward;
  Graph backward;
};

Graphs MakeGraphs() {
  testing::TinyModel model = testing::MakeTinyModel(2, 3, DType::kFloat32, 4);
  Graphs graphs;
  graphs.forward = ValueOrDie(testing::CaptureTinyModel(model));
  BackwardGraphOptions options;
  options.feeds = {{"x", model.x}};
  graphs.backward = ValueOrDie(BuildBackwardGraph(graphs.forward, options));
  return graphs;
}

TEST(GraphDumpTest, SummaryHasOneLinePerNodeInTheDocumentedForm) {
  const Graphs graphs = MakeGraphs();
  for (const Graph* graph : {&graphs.forward, &graphs.backward}) {
    const std::string summary = GraphSummary(*graph);
    const std::regex node_line(
        R"(^[^ ]+ = [a-z_]+\(.*\) : (float32|float64|int64)\[[^\]]*\].*$)");
    int node_lines = 0;
    int gradient_lines = 0;
    for (absl::string_view line : absl::StrSplit(summary, '\n')) {
      const std::string text(line);
      if (std::regex_match(text, node_line)) ++node_lines;
      if (absl::StrContains(text, "  # grad")) ++gradient_lines;
    }
    EXPECT_EQ(node_lines, static_cast<int>(graph->nodes.size())) << summary;
    EXPECT_EQ(gradient_lines, graph->CountNodes(NodeRole::kGradient));
    EXPECT_TRUE(absl::StrContains(summary, "input x : float32[B, T, 6]"))
        << summary;
    EXPECT_TRUE(absl::StrContains(summary, "symbols: B=2, T=3")) << summary;
  }
  const std::string forward = GraphSummary(graphs.forward);
  EXPECT_TRUE(std::regex_search(
      forward, std::regex(R"(matmul_\d+ = matmul\(x, w1, transpose_a=false, )"
                          R"(transpose_b=true\) : float32\[B, T, 4\])")))
      << forward;
  EXPECT_TRUE(absl::StrContains(forward, "const const : float32[] = 0.5"))
      << forward;
}

TEST(GraphDumpTest, DotColoursEveryKindAndClustersForwardAndBackward) {
  const Graphs graphs = MakeGraphs();
  const Graph& g = graphs.backward;
  const std::string dot = GraphToDot(g);
  EXPECT_TRUE(absl::StartsWith(dot, "digraph \"tiny_grad\" {")) << dot;
  EXPECT_EQ(Count(dot, "subgraph cluster_forward"), 1);
  EXPECT_EQ(Count(dot, "subgraph cluster_backward"), 1);
  EXPECT_EQ(Count(dot, absl::StrCat("fillcolor=\"", kDotInputColor, "\"")),
            static_cast<int>(g.inputs.size()));
  EXPECT_EQ(Count(dot, absl::StrCat("fillcolor=\"", kDotParameterColor, "\"")),
            static_cast<int>(g.parameters.size()));
  EXPECT_EQ(Count(dot, absl::StrCat("fillcolor=\"", kDotConstantColor, "\"")),
            static_cast<int>(g.constants.size()));
  EXPECT_EQ(Count(dot, absl::StrCat("fillcolor=\"", kDotForwardColor, "\"")),
            g.CountNodes(NodeRole::kForward));
  EXPECT_EQ(Count(dot, absl::StrCat("fillcolor=\"", kDotGradientColor, "\"")),
            g.CountNodes(NodeRole::kGradient));
  EXPECT_EQ(Count(dot, absl::StrCat("fillcolor=\"", kDotOutputColor, "\"")),
            static_cast<int>(g.outputs.size()));
  int edges = static_cast<int>(g.outputs.size());
  for (const GraphNode& node : g.nodes) edges += node.inputs.size();
  EXPECT_EQ(Count(dot, " -> "), edges);
  // Edges carry shapes, symbolic where the graph has them.
  EXPECT_TRUE(absl::StrContains(dot, "[label=\"f32[B,T,6]\"]")) << dot;
  // The forward graph alone has no backward cluster.
  EXPECT_EQ(Count(GraphToDot(graphs.forward), "cluster_backward"), 0);
}

TEST(GraphDumpTest, SvgThroughGraphvizOrAClearMessage) {
  const Graphs graphs = MakeGraphs();
  const std::string dot = GraphToDot(graphs.forward);
  if (GraphvizAvailable()) {
    absl::StatusOr<std::string> svg = RenderDotToSvg(dot);
    ASSERT_TRUE(svg.ok()) << svg.status();
    EXPECT_TRUE(absl::StrContains(*svg, "<svg")) << svg->substr(0, 200);
    const int value_nodes = static_cast<int>(
        graphs.forward.inputs.size() + graphs.forward.parameters.size() +
        graphs.forward.constants.size() + graphs.forward.nodes.size() +
        graphs.forward.outputs.size());
    EXPECT_EQ(Count(*svg, "class=\"node\""), value_nodes);
  }
  // Without `dot` on PATH: an error that says what to install.
  const char* saved = std::getenv("PATH");
  const std::string path = saved == nullptr ? "" : saved;
  setenv("PATH", "/nonexistent", 1);
  absl::StatusOr<std::string> missing = RenderDotToSvg(dot);
  setenv("PATH", path.c_str(), 1);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(
      absl::StrContains(missing.status().message(), "apt-get install graphviz"))
      << missing.status();
}

TEST(GraphStatsTest, CountsParametersFlopsAndMemory) {
  const Graphs graphs = MakeGraphs();
  const GraphStats stats = ComputeGraphStats(graphs.forward);
  EXPECT_EQ(stats.parameter_count, 4 * 6 * 2 + 4);
  EXPECT_EQ(stats.parameter_bytes, (4 * 6 * 2 + 4) * 4);
  EXPECT_EQ(stats.nodes_by_op.at("matmul"), 2);
  EXPECT_EQ(stats.forward_nodes, 7);
  EXPECT_EQ(stats.gradient_nodes, 0);
  // x [2, 3, 6] @ w^T [6, 4]: 2 * (2*3*4) * 6 per matmul.
  int64_t matmul_flops = 0;
  for (const NodeCost& node : stats.nodes) {
    if (node.op == "matmul") {
      EXPECT_EQ(node.flops, 2 * 24 * 6);
      matmul_flops += node.flops;
    }
  }
  EXPECT_EQ(matmul_flops, 576);
  // Seven outputs of at most [2, 3, 4] floats: the peak holds at least the
  // two matmul results at once and never more than all outputs.
  EXPECT_GE(stats.peak_activation_bytes, 2 * 24 * 4);
  EXPECT_LE(stats.peak_activation_bytes, 7 * 24 * 4);
  EXPECT_GT(stats.total_bytes, 0);
  const std::string text = stats.ToString();
  EXPECT_TRUE(absl::StrContains(text, "peak activation memory")) << text;
  const GraphStats backward = ComputeGraphStats(graphs.backward);
  EXPECT_EQ(backward.gradient_nodes,
            graphs.backward.CountNodes(NodeRole::kGradient));
  EXPECT_GT(backward.total_flops, stats.total_flops);
}

}  // namespace
}  // namespace minigraph
