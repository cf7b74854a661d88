// Capture -> serialize (pb, pbtxt, json) -> load -> execute gives the same
// bits as the eager run, for a model script and for every registered op's
// conformance samples, forward and backward.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/graph_backward.h"
#include "framework/graph_capture.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "framework/op_registry.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "tests/framework/graph_test_util.h"

namespace minigraph {
namespace {

using ::minigraph::testing::BitDifference;

constexpr GraphFormat kFormats[] = {GraphFormat::kBinary, GraphFormat::kText,
                                    GraphFormat::kJson};

// Serializes and loads again.
absl::StatusOr<Graph> RoundTrip(const Graph& graph, GraphFormat format,
                                bool with_weights = true) {
  GraphWriteOptions options;
  options.with_weights = with_weights;
  MG_ASSIGN_OR_RETURN(std::string bytes,
                      SerializeGraph(graph, format, options));
  return ParseGraph(bytes, format,
                    absl::StrCat("roundtrip.", GraphFormatName(format)));
}

TEST(GraphCaptureTest, TinyModelHasTheExpectedStructure) {
  const testing::TinyModel model =
      testing::MakeTinyModel(2, 3, DType::kFloat32, 1);
  absl::StatusOr<Graph> graph = testing::CaptureTinyModel(model);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::map<std::string, int> ops;
  for (const GraphNode& node : graph->nodes) ++ops[node.op];
  EXPECT_EQ(
      ops,
      (std::map<std::string, int>{
          {"add", 1}, {"matmul", 2}, {"mul", 2}, {"silu", 1}, {"sum", 1}}));
  ASSERT_EQ(graph->inputs.size(), 1u);
  EXPECT_EQ(graph->inputs[0].type.ToString(), "float32[B, T, 6]");
  EXPECT_EQ(graph->symbols,
            (std::map<std::string, int64_t>{{"B", 2}, {"T", 3}}));
  ASSERT_EQ(graph->parameters.size(), 3u);
  EXPECT_EQ(graph->parameters[0].name, "w1");
  // The 0.5 of `* 0.5` is the only value made outside an op call.
  ASSERT_EQ(graph->constants.size(), 1u);
  EXPECT_EQ(graph->constants[0].value.item(), 0.5);
  ASSERT_EQ(graph->outputs.size(), 1u);
  EXPECT_EQ(graph->outputs[0].name, "y");
  EXPECT_EQ(graph->CountNodes(NodeRole::kGradient), 0);
}

TEST(GraphRoundTripTest, TinyModelForwardGivesTheEagerBits) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    const testing::TinyModel model = testing::MakeTinyModel(2, 5, dtype, 7);
    const Tensor eager = model.Forward({model.x})[0];
    absl::StatusOr<Graph> graph = testing::CaptureTinyModel(model);
    ASSERT_TRUE(graph.ok()) << graph.status();
    for (GraphFormat format : kFormats) {
      SCOPED_TRACE(GraphFormatName(format));
      absl::StatusOr<Graph> loaded = RoundTrip(*graph, format);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      absl::StatusOr<std::vector<Tensor>> out =
          ExecuteGraph(*loaded, {{"x", model.x}});
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_EQ(BitDifference((*out)[0], eager), "");
    }
  }
}

TEST(GraphRoundTripTest, WithoutWeightsNeedsParametersFed) {
  const testing::TinyModel model =
      testing::MakeTinyModel(1, 4, DType::kFloat32, 3);
  absl::StatusOr<Graph> graph = testing::CaptureTinyModel(model);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<Graph> loaded =
      RoundTrip(*graph, GraphFormat::kBinary, /*with_weights=*/false);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (const GraphParameter& param : loaded->parameters) {
    EXPECT_FALSE(param.value.defined()) << param.name;
  }
  absl::StatusOr<std::vector<Tensor>> missing =
      ExecuteGraph(*loaded, {{"x", model.x}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("parameter 'w1'"),
            std::string::npos)
      << missing.status();
  absl::StatusOr<std::vector<Tensor>> fed = ExecuteGraph(
      *loaded,
      {{"x", model.x}, {"w1", model.w1}, {"w2", model.w2}, {"b", model.b}});
  ASSERT_TRUE(fed.ok()) << fed.status();
  EXPECT_EQ(BitDifference((*fed)[0], model.Forward({model.x})[0]), "");
}

TEST(GraphRoundTripTest, SymbolicDimensionsTakeOtherSizes) {
  const testing::TinyModel model =
      testing::MakeTinyModel(2, 3, DType::kFloat32, 5);
  absl::StatusOr<Graph> graph = testing::CaptureTinyModel(model);
  ASSERT_TRUE(graph.ok()) << graph.status();
  // Nothing in this graph fixes B or T, so it runs at another size.
  Generator gen(9);
  const Tensor x = Tensor::Randn({4, 7, 6}, gen, DType::kFloat32);
  absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(*graph, {{"x", x}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(BitDifference((*out)[0], model.Forward({x})[0]), "");
  // A fixed dimension may not change.
  const Tensor wrong = Tensor::Randn({2, 3, 5}, gen, DType::kFloat32);
  absl::StatusOr<std::vector<Tensor>> bad =
      ExecuteGraph(*graph, {{"x", wrong}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("float32[B, T, 6]"), std::string::npos)
      << bad.status();
}

// The autograd engine's gradients of sum(<seed, y>) for the tiny model.
std::vector<Tensor> EngineGradients(const testing::TinyModel& model,
                                    const Tensor& seed,
                                    const std::vector<Tensor>& wrt) {
  const Tensor y = model.Forward({model.x})[0];
  return ValueOrDie(Gradients({y}, wrt, {seed}));
}

TEST(GraphBackwardTest, TinyModelGradientGraphRoundTripsBitExactly) {
  testing::TinyModel model = testing::MakeTinyModel(2, 3, DType::kFloat64, 11);
  model.x.set_requires_grad(true);
  absl::StatusOr<Graph> forward = testing::CaptureTinyModel(model);
  ASSERT_TRUE(forward.ok()) << forward.status();
  Generator gen(12);
  const Tensor seed = Tensor::Randn({2, 3}, gen, DType::kFloat64);
  BackwardGraphOptions options;
  options.feeds = {{"x", model.x}, {"grad_output/y", seed}};
  absl::StatusOr<Graph> backward = BuildBackwardGraph(*forward, options);
  ASSERT_TRUE(backward.ok()) << backward.status();
  EXPECT_GT(backward->CountNodes(NodeRole::kGradient), 0);
  for (const GraphNode& node : backward->nodes) {
    if (node.role == NodeRole::kGradient && !node.forward_node.empty()) {
      EXPECT_NE(backward->FindNode(node.forward_node), nullptr) << node.name;
    }
  }
  std::vector<std::string> names;
  for (const GraphOutput& output : backward->outputs)
    names.push_back(output.name);
  EXPECT_EQ(names, (std::vector<std::string>{"y", "grad/w1", "grad/w2",
                                             "grad/b", "grad/x"}));

  const std::map<std::string, Tensor> feeds = {{"x", model.x},
                                               {"grad_output/y", seed}};
  absl::StatusOr<std::vector<Tensor>> in_memory =
      ExecuteGraph(*backward, feeds);
  ASSERT_TRUE(in_memory.ok()) << in_memory.status();
  for (GraphFormat format : kFormats) {
    SCOPED_TRACE(GraphFormatName(format));
    absl::StatusOr<Graph> loaded = RoundTrip(*backward, format);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->CountNodes(NodeRole::kGradient),
              backward->CountNodes(NodeRole::kGradient));
    absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(*loaded, feeds);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->size(), in_memory->size());
    for (size_t i = 0; i < out->size(); ++i) {
      EXPECT_EQ(BitDifference((*out)[i], (*in_memory)[i]), "") << names[i];
    }
  }
  // Against the autograd engine, an independent walk of the same rules: the
  // only freedom is the order in which fan-out contributions are summed.
  const std::vector<Tensor> engine =
      EngineGradients(model, seed, {model.w1, model.w2, model.b, model.x});
  for (size_t i = 0; i < engine.size(); ++i) {
    const std::vector<double> expected = engine[i].ToVector<double>();
    const std::vector<double> actual = (*in_memory)[i + 1].ToVector<double>();
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t k = 0; k < actual.size(); ++k) {
      EXPECT_NEAR(actual[k], expected[k], 1e-12 * (1 + std::abs(expected[k])))
          << names[i + 1] << "[" << k << "]";
    }
  }
}

TEST(GraphBackwardTest, GradientGraphDifferentiatesAgain) {
  testing::TinyModel model = testing::MakeTinyModel(1, 3, DType::kFloat64, 21);
  model.x.set_requires_grad(true);
  absl::StatusOr<Graph> forward = testing::CaptureTinyModel(model);
  ASSERT_TRUE(forward.ok()) << forward.status();
  Generator gen(22);
  const Tensor u = Tensor::Randn({1, 3}, gen, DType::kFloat64);
  const Tensor v = Tensor::Randn({4, 6}, gen, DType::kFloat64);
  BackwardGraphOptions first;
  first.feeds = {{"x", model.x}, {"grad_output/y", u}};
  absl::StatusOr<Graph> g1 = BuildBackwardGraph(*forward, first);
  ASSERT_TRUE(g1.ok()) << g1.status();
  // d<v, grad/w1>/d(w1, x): Hessian-vector products.
  BackwardGraphOptions second;
  second.outputs = {"grad/w1"};
  second.wrt = {"w1", "x"};
  second.gradient_prefix = "grad2/";
  second.seed_prefix = "grad2_output/";
  second.keep_forward_outputs = false;
  second.feeds = {
      {"x", model.x}, {"grad_output/y", u}, {"grad2_output/grad/w1", v}};
  absl::StatusOr<Graph> g2 = BuildBackwardGraph(*g1, second);
  ASSERT_TRUE(g2.ok()) << g2.status();
  const std::map<std::string, Tensor> feeds = second.feeds;
  absl::StatusOr<std::vector<Tensor>> in_memory = ExecuteGraph(*g2, feeds);
  ASSERT_TRUE(in_memory.ok()) << in_memory.status();
  ASSERT_EQ(in_memory->size(), 2u);
  for (GraphFormat format : kFormats) {
    SCOPED_TRACE(GraphFormatName(format));
    absl::StatusOr<Graph> loaded = RoundTrip(*g2, format);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(*loaded, feeds);
    ASSERT_TRUE(out.ok()) << out.status();
    for (size_t i = 0; i < out->size(); ++i) {
      EXPECT_EQ(BitDifference((*out)[i], (*in_memory)[i]), "");
    }
  }
  // The engine's double backward (create_graph) of the same quantity.
  BackwardOptions create;
  create.create_graph = true;
  const Tensor y = model.Forward({model.x})[0];
  const std::vector<Tensor> gw1 =
      ValueOrDie(Gradients({y}, {model.w1}, {u}, create));
  const std::vector<Tensor> hvp =
      ValueOrDie(Gradients({gw1[0]}, {model.w1, model.x}, {v}, {}, true));
  for (size_t i = 0; i < hvp.size(); ++i) {
    const std::vector<double> expected = hvp[i].ToVector<double>();
    const std::vector<double> actual = (*in_memory)[i].ToVector<double>();
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t k = 0; k < actual.size(); ++k) {
      EXPECT_NEAR(actual[k], expected[k], 1e-12 * (1 + std::abs(expected[k])));
    }
  }
}

}  // namespace
}  // namespace minigraph
