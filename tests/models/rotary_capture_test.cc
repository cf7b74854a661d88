// RoPE tables under graph capture: the attention forward captured into a
// graph records a rotary_tables node (with the captured length and start as
// attributes) instead of storing [T, head_dim] tables as constants, even when
// an eager run made the same tables just before; every capture records its
// own; and the graph executes to the eager bits.
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/graph.h"
#include "framework/graph_capture.h"
#include "framework/graph_executor.h"
#include "framework/random.h"
#include "framework/tensor.h"
#include "gtest/gtest.h"
#include "models/attention.h"
#include "models/minimind_config.h"
#include "models/rotary.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

constexpr int64_t kBatch = 2;
constexpr int64_t kSeq = 5;

MiniMindConfig SmallConfig() {
  MiniMindConfig config;
  config.hidden_size = 16;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 1;
  config.rope_theta = 100.0;
  config.flash_attn = false;
  return config;
}

struct Captured {
  Graph graph;
  Tensor eager_y;  // what the recorded run computed
};

// Captures attention.Forward(x) with x declared [B, T, hidden].
absl::StatusOr<Captured> CaptureAttention(const Attention& attention,
                                          const Tensor& x,
                                          const AttentionOptions& options) {
  GraphCapture capture("attention");
  absl::Status status = capture.AddInput(
      x, "x", {"B", "T", std::to_string(attention.config().hidden_size)});
  if (!status.ok()) return status;
  for (const auto& [name, value] : attention.NamedParameters()) {
    status = capture.AddParameter(value, name);
    if (!status.ok()) return status;
  }
  absl::StatusOr<AttentionOutput> out;
  {
    GraphCapture::Scope recording(capture);
    out = attention.Forward(x, options);
  }
  if (!out.ok()) return out.status();
  absl::StatusOr<Graph> graph = capture.Finish({{"y", out->y}});
  if (!graph.ok()) return graph.status();
  return Captured{*std::move(graph), out->y};
}

std::vector<const GraphNode*> NodesOf(const Graph& graph,
                                      const std::string& op) {
  std::vector<const GraphNode*> nodes;
  for (const GraphNode& node : graph.nodes) {
    if (node.op == op) nodes.push_back(&node);
  }
  return nodes;
}

// Every constant whose shape is a table's, [T, d] or [T, 1, d]: "" when none.
std::string TableShapedConstants(const Graph& graph, int64_t seq,
                                 int64_t head_dim) {
  std::string found;
  for (const GraphConstant& constant : graph.constants) {
    const Shape& shape = constant.value.shape();
    if (shape == Shape({seq, head_dim}) || shape == Shape({seq, 1, head_dim})) {
      found += constant.name + ShapeToString(shape) + " ";
    }
  }
  return found;
}

// Bit equality of two float tensors of one dtype and shape.
bool SameBits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         a.ToVector<double>() == b.ToVector<double>();
}

class RotaryCaptureTest : public ::testing::TestWithParam<DType> {};

TEST_P(RotaryCaptureTest, AttentionGraphComputesTablesWithAnOpNode) {
  const DType dtype = GetParam();
  const MiniMindConfig config = SmallConfig();
  const int64_t head_dim = config.HeadDim();
  Generator gen(11);
  absl::StatusOr<Attention> attention = Attention::Create(config, gen, dtype);
  ASSERT_TRUE(attention.ok()) << attention.status();
  const Tensor x =
      Tensor::Randn({kBatch, kSeq, config.hidden_size}, gen, dtype);

  // An eager run first, so that tables of this very length already exist.
  absl::StatusOr<AttentionOutput> eager = attention->Forward(x);
  ASSERT_TRUE(eager.ok()) << eager.status();

  absl::StatusOr<Captured> captured = CaptureAttention(*attention, x, {});
  ASSERT_TRUE(captured.ok()) << captured.status();
  const Graph& graph = captured->graph;
  const std::vector<const GraphNode*> tables = NodesOf(graph, "rotary_tables");
  ASSERT_EQ(tables.size(), 1u);
  const GraphNode& node = *tables[0];
  EXPECT_TRUE(node.inputs.empty());
  EXPECT_EQ(node.attrs.GetInt("head_dim"), head_dim);
  EXPECT_EQ(node.attrs.GetFloat("theta"), config.rope_theta);
  EXPECT_EQ(node.attrs.GetInt("start"), 0);
  EXPECT_EQ(node.attrs.GetInt("count"), kSeq);
  EXPECT_EQ(node.attrs.GetDType("dtype"), dtype);
  ASSERT_EQ(node.outputs.size(), 2u);
  EXPECT_EQ(TableShapedConstants(graph, kSeq, head_dim), "");

  // The graph recomputes the tables and gives the eager bits.
  EXPECT_TRUE(SameBits(captured->eager_y, eager->y));
  absl::StatusOr<std::vector<Tensor>> run = ExecuteGraph(graph, {{"x", x}});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(SameBits((*run)[0], eager->y));
}

INSTANTIATE_TEST_SUITE_P(BothDTypes, RotaryCaptureTest,
                         ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

TEST(RotaryCaptureTest, EveryCaptureRecordsItsOwnNodeAtItsStart) {
  const MiniMindConfig config = SmallConfig();
  Generator gen(12);
  absl::StatusOr<Attention> attention =
      Attention::Create(config, gen, DType::kFloat32);
  ASSERT_TRUE(attention.ok()) << attention.status();
  const Tensor x = Tensor::Randn({1, 3, config.hidden_size}, gen);
  AttentionOptions at_seven;
  at_seven.start_pos = 7;
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    absl::StatusOr<Captured> captured =
        CaptureAttention(*attention, x, at_seven);
    ASSERT_TRUE(captured.ok()) << captured.status();
    const std::vector<const GraphNode*> tables =
        NodesOf(captured->graph, "rotary_tables");
    ASSERT_EQ(tables.size(), 1u);
    EXPECT_EQ(tables[0]->attrs.GetInt("start"), 7);
    EXPECT_EQ(tables[0]->attrs.GetInt("count"), 3);
    EXPECT_EQ(TableShapedConstants(captured->graph, 3, config.HeadDim()), "");
    absl::StatusOr<std::vector<Tensor>> run =
        ExecuteGraph(captured->graph, {{"x", x}});
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(SameBits((*run)[0], captured->eager_y));
  }
  // Eagerly the same call gives the same bits as under capture.
  absl::StatusOr<AttentionOutput> eager = attention->Forward(x, at_seven);
  ASSERT_TRUE(eager.ok()) << eager.status();
  absl::StatusOr<Captured> again = CaptureAttention(*attention, x, at_seven);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(SameBits(eager->y, again->eager_y));
}

TEST(RotaryCaptureTest, TablesMadeBeforeACaptureAreNotReusedInIt) {
  const RotaryTables before = MakeRotaryTables(8, 1e6, 0, 4, DType::kFloat32);
  GraphCapture capture("tables");
  RotaryTables inside_a, inside_b;
  {
    GraphCapture::Scope recording(capture);
    inside_a = MakeRotaryTables(8, 1e6, 0, 4, DType::kFloat32);
    inside_b = MakeRotaryTables(8, 1e6, 0, 4, DType::kFloat32);
  }
  // Fresh op outputs, each a node's, never the tensor made eagerly (which
  // would become a constant); the same values.
  EXPECT_NE(inside_a.cos.impl(), before.cos.impl());
  EXPECT_NE(inside_b.cos.impl(), before.cos.impl());
  EXPECT_NE(inside_a.cos.impl(), inside_b.cos.impl());
  EXPECT_TRUE(SameBits(inside_a.cos, before.cos));
  EXPECT_TRUE(SameBits(inside_b.sin, before.sin));
  absl::StatusOr<Graph> graph = capture.Finish(
      {{"cos", inside_a.cos}, {"sin", inside_a.sin}, {"cos_b", inside_b.cos}});
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(NodesOf(*graph, "rotary_tables").size(), 2u);
  EXPECT_TRUE(graph->constants.empty());
  // Other arguments, other tables.
  const RotaryTables shifted = MakeRotaryTables(8, 1e6, 1, 4, DType::kFloat32);
  EXPECT_FALSE(SameBits(shifted.cos, before.cos));
}

}  // namespace
}  // namespace minigraph
