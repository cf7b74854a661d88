// Structure of the dumps (summary, DOT, SVG, JSON) and of the stats: counts,
// names, links and colours, not exact floating-point text.
#include "framework/graph_dump.h"

#include <cstdlib>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "framework/graph_backward.h"
#include "framework/graph_capture.h"
#include "framework/graph_io.h"
#include "framework/graph_stats.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
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

// The JSON dump read as plain JSON (google.protobuf.Struct), not through the
// graph schema, so field names and the shape of the document are checked
// independently of the loader.
google::protobuf::Struct ParseJsonDump(const Graph& graph) {
  const std::string json =
      ValueOrDie(SerializeGraph(graph, GraphFormat::kJson));
  google::protobuf::Struct document;
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, &document);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return document;
}

TEST(GraphDumpTest, JsonHasVersionNodesAndGradientLinks) {
  const Graphs graphs = MakeGraphs();
  for (const Graph* graph : {&graphs.forward, &graphs.backward}) {
    const google::protobuf::Struct document = ParseJsonDump(*graph);
    const auto& fields = document.fields();
    ASSERT_EQ(fields.count("format_version"), 1u);
    EXPECT_EQ(fields.at("format_version").number_value(), kGraphFormatVersion);
    ASSERT_EQ(fields.count("name"), 1u);
    EXPECT_EQ(fields.at("name").string_value(), graph->name);
    ASSERT_EQ(fields.count("nodes"), 1u);
    const auto& nodes = fields.at("nodes").list_value().values();
    ASSERT_EQ(nodes.size(), static_cast<int>(graph->nodes.size()));

    // Role of each node seen so far, by name: a link must point back.
    std::map<std::string, std::string> role_of;
    int gradient_nodes = 0;
    for (int i = 0; i < nodes.size(); ++i) {
      const auto& node = nodes[i].struct_value().fields();
      const GraphNode& expected = graph->nodes[i];
      ASSERT_EQ(node.count("name"), 1u);
      EXPECT_EQ(node.at("name").string_value(), expected.name);
      EXPECT_EQ(node.at("op").string_value(), expected.op);
      ASSERT_EQ(node.count("role"), 1u) << expected.name;
      const std::string role = node.at("role").string_value();
      role_of[expected.name] = role;
      if (role == "GRADIENT") {
        ++gradient_nodes;
        // Every gradient node of these graphs belongs to a forward node
        // (the output seed is a graph input, not a node).
        ASSERT_EQ(node.count("forward_node"), 1u) << expected.name;
        const std::string link = node.at("forward_node").string_value();
        EXPECT_EQ(link, expected.forward_node);
        auto it = role_of.find(link);
        ASSERT_NE(it, role_of.end())
            << expected.name << " links to " << link << ", not an earlier node";
        EXPECT_EQ(it->second, "FORWARD") << expected.name << " -> " << link;
      } else {
        EXPECT_EQ(role, "FORWARD") << expected.name;
        EXPECT_EQ(node.count("forward_node"), 0u) << expected.name;
      }
    }
    EXPECT_EQ(gradient_nodes, graph->CountNodes(NodeRole::kGradient));
  }
  EXPECT_GT(graphs.backward.CountNodes(NodeRole::kGradient), 0);
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

// Query/key pairs the causal mask lets through, counted from its definition:
// query i sees key j when j <= i + (kv_len - q_len).
int64_t VisiblePairs(int64_t q_len, int64_t kv_len, bool causal) {
  int64_t pairs = 0;
  for (int64_t i = 0; i < q_len; ++i) {
    for (int64_t j = 0; j < kv_len; ++j) {
      if (!causal || j <= i + (kv_len - q_len)) ++pairs;
    }
  }
  return pairs;
}

TEST(GraphStatsTest, FlashAttentionFlopsCountTheProductsOfVisiblePairs) {
  constexpr int64_t kBatch = 2, kQHeads = 4, kKvHeads = 2, kQLen = 8,
                    kKvLen = 12, kHeadDim = 16;
  for (bool causal : {false, true}) {
    Generator gen(7);
    Tensor q = Tensor::Randn({kBatch, kQHeads, kQLen, kHeadDim}, gen);
    Tensor k = Tensor::Randn({kBatch, kKvHeads, kKvLen, kHeadDim}, gen);
    Tensor v = Tensor::Randn({kBatch, kKvHeads, kKvLen, kHeadDim}, gen);
    GraphCapture capture("flash");
    ASSERT_TRUE(capture.AddInput(q, "q").ok());
    ASSERT_TRUE(capture.AddInput(k, "k").ok());
    ASSERT_TRUE(capture.AddInput(v, "v").ok());
    Tensor y;
    {
      GraphCapture::Scope recording(capture);
      y = FlashAttention(q, k, v, causal, 0.25);
    }
    absl::StatusOr<Graph> forward = capture.Finish({{"y", y}});
    ASSERT_TRUE(forward.ok()) << forward.status();
    BackwardGraphOptions options;
    options.feeds = {{"q", q}, {"k", k}, {"v", v}};
    absl::StatusOr<Graph> backward = BuildBackwardGraph(*forward, options);
    ASSERT_TRUE(backward.ok()) << backward.status();

    // Two products per pair forward (q.k, p*v), five backward (q.k again,
    // dy.v, p*dy, ds*k, ds*q), each a multiply-add over head_dim.
    const int64_t pairs = VisiblePairs(kQLen, kKvLen, causal);
    EXPECT_EQ(pairs, causal ? kQLen * kKvLen - kQLen * (kQLen - 1) / 2
                            : kQLen * kKvLen);
    const int64_t per_pair = 2 * kBatch * kQHeads * kHeadDim;
    std::map<std::string, int64_t> flops_by_op;
    const GraphStats stats = ComputeGraphStats(*backward);
    int64_t total = 0;
    for (const NodeCost& node : stats.nodes) {
      flops_by_op[node.op] += node.flops;
      total += node.flops;
    }
    EXPECT_EQ(stats.nodes_by_op.at("flash_attention"), 1);
    EXPECT_EQ(stats.nodes_by_op.at("flash_attention_backward"), 1);
    EXPECT_EQ(flops_by_op["flash_attention"], 2 * per_pair * pairs)
        << "causal=" << causal;
    EXPECT_EQ(flops_by_op["flash_attention_backward"], 5 * per_pair * pairs)
        << "causal=" << causal;
    EXPECT_EQ(stats.total_flops, total);
  }
}

TEST(GraphStatsTest, FlopsSaturateInsteadOfOverflowing) {
  // Within the allocation bound, yet 4 * (2^39)^2 FLOPs: the count stops at
  // INT64_MAX rather than wrapping around.
  constexpr int64_t kLen = int64_t{1} << 39;
  auto type = [](std::vector<int64_t> dims) {
    ValueType t;
    for (int64_t d : dims) t.shape.push_back(SymDim{d, ""});
    return t;
  };
  Graph graph;
  graph.name = "long";
  for (const char* name : {"q", "k", "v"}) {
    graph.inputs.push_back({name, type({1, 1, kLen, 1})});
  }
  GraphNode node;
  node.name = "attention";
  node.op = "flash_attention";
  node.inputs = {{"q", 0}, {"k", 0}, {"v", 0}};
  node.attrs = {{"causal", true}, {"scale", 1.0}};
  node.outputs = {type({1, 1, kLen, 1}), type({1, 1, kLen})};
  graph.nodes.push_back(node);
  node.name = "attention_again";
  graph.nodes.push_back(node);
  graph.outputs = {{"y", {"attention", 0}}, {"y2", {"attention_again", 0}}};
  const absl::Status valid = ValidateGraph(graph, "long");
  ASSERT_TRUE(valid.ok()) << valid;
  const GraphStats stats = ComputeGraphStats(graph);
  ASSERT_EQ(stats.nodes.size(), 2u);
  EXPECT_EQ(stats.nodes[0].flops, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(stats.total_flops, std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace minigraph
