// The registered attention model through graphs: capture, save in every
// format, load, execute: the eager forward's bits; its gradient graph: the
// autograd engine's gradients; and (composed path) the gradient graph
// differentiated again against the engine's double backward.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/graph_backward.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "gtest/gtest.h"
#include "tests/framework/graph_test_util.h"
#include "tools/minigraph/model_capture.h"

namespace minigraph {
namespace {

using ::minigraph::testing::BitDifference;

ModelOptions SmallAttention(bool flash, DType dtype) {
  ModelOptions options;
  options.batch = 2;
  options.seq = 5;
  options.dtype = dtype;
  options.seed = 3;
  options.settings = {{"hidden", "64"},
                      {"heads", "4"},
                      {"kv_heads", "2"},
                      {"flash", flash ? "true" : "false"}};
  return options;
}

// Gradients of sum(<seed, y>) by the engine, for every parameter then x.
std::vector<Tensor> EngineGradients(const cli::CapturedModel& model,
                                    const Tensor& seed) {
  const ModelInstance& instance = model.instance;
  Tensor x = instance.inputs[0].ShallowCopy();
  x.set_requires_grad(true);
  const std::vector<Tensor> y = instance.forward({x});
  std::vector<Tensor> wrt = instance.parameters;
  wrt.push_back(x);
  return ValueOrDie(Gradients({y[0]}, wrt, {seed}));
}

class GraphModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(GraphModelTest, AttentionForwardAndBackwardRoundTripBitExactly) {
  const bool flash = GetParam();
  absl::StatusOr<cli::CapturedModel> model =
      cli::CaptureModel("attention", SmallAttention(flash, DType::kFloat32));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->graph.inputs[0].type.ToString(), "float32[B, T, 64]");
  Generator gen(8);
  const Tensor& y = model->eager_outputs[0];
  const Tensor seed = Tensor::Randn(y.shape(), gen, y.dtype());
  BackwardGraphOptions options;
  options.feeds = model->feeds;
  options.feeds["grad_output/y"] = seed;
  absl::StatusOr<Graph> backward = BuildBackwardGraph(model->graph, options);
  ASSERT_TRUE(backward.ok()) << backward.status();
  EXPECT_GT(backward->CountNodes(NodeRole::kGradient), 10);
  const std::vector<Tensor> engine = EngineGradients(*model, seed);

  for (GraphFormat format :
       {GraphFormat::kBinary, GraphFormat::kText, GraphFormat::kJson}) {
    SCOPED_TRACE(GraphFormatName(format));
    const std::string source =
        absl::StrCat("attention.", GraphFormatName(format));
    absl::StatusOr<Graph> forward =
        ParseGraph(*SerializeGraph(model->graph, format), format, source);
    ASSERT_TRUE(forward.ok()) << forward.status();
    absl::StatusOr<std::vector<Tensor>> out =
        ExecuteGraph(*forward, model->feeds);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(BitDifference((*out)[0], y), "");

    absl::StatusOr<Graph> loaded =
        ParseGraph(*SerializeGraph(*backward, format), format, source);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    absl::StatusOr<std::vector<Tensor>> grads = ExecuteGraph(
        *loaded, {{"x", model->feeds.at("x")}, {"grad_output/y", seed}});
    ASSERT_TRUE(grads.ok()) << grads.status();
    ASSERT_EQ(grads->size(), 1 + engine.size());
    EXPECT_EQ(BitDifference((*grads)[0], y), "");
    // The same rules in the same order as the engine: the same bits.
    for (size_t i = 0; i < engine.size(); ++i) {
      EXPECT_EQ(BitDifference((*grads)[i + 1], engine[i]), "")
          << loaded->outputs[i + 1].name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FlashAndComposed, GraphModelTest,
                         ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "flash" : "composed";
                         });

TEST(GraphModelSecondOrderTest, AttentionGradientGraphDifferentiatesAgain) {
  absl::StatusOr<cli::CapturedModel> model = cli::CaptureModel(
      "attention", SmallAttention(/*flash=*/false, DType::kFloat64));
  ASSERT_TRUE(model.ok()) << model.status();
  Generator gen(9);
  const Tensor& y = model->eager_outputs[0];
  const Tensor u = Tensor::Randn(y.shape(), gen, DType::kFloat64);
  const ModelInstance& instance = model->instance;
  const Tensor& wq = instance.parameters[0];
  const std::string wq_name = instance.parameter_names[0];
  const Tensor v = Tensor::Randn(wq.shape(), gen, DType::kFloat64);

  BackwardGraphOptions first;
  first.feeds = model->feeds;
  first.feeds["grad_output/y"] = u;
  absl::StatusOr<Graph> g1 = BuildBackwardGraph(model->graph, first);
  ASSERT_TRUE(g1.ok()) << g1.status();
  BackwardGraphOptions second;
  second.outputs = {"grad/" + wq_name};
  second.wrt = {wq_name};
  second.gradient_prefix = "grad2/";
  second.seed_prefix = "grad2_output/";
  second.keep_forward_outputs = false;
  second.feeds = first.feeds;
  second.feeds["grad2_output/grad/" + wq_name] = v;
  absl::StatusOr<Graph> g2 = BuildBackwardGraph(*g1, second);
  ASSERT_TRUE(g2.ok()) << g2.status();
  absl::StatusOr<Graph> loaded =
      ParseGraph(*SerializeGraph(*g2, GraphFormat::kBinary),
                 GraphFormat::kBinary, "g2.pb");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  std::map<std::string, Tensor> feeds;
  for (const GraphInput& input : loaded->inputs) {
    feeds[input.name] = second.feeds.at(input.name);
  }
  absl::StatusOr<std::vector<Tensor>> hvp = ExecuteGraph(*loaded, feeds);
  ASSERT_TRUE(hvp.ok()) << hvp.status();

  // The engine: d<v, d<u, y>/dwq>/dwq with create_graph.
  BackwardOptions create;
  create.create_graph = true;
  const std::vector<Tensor> out = instance.forward(instance.inputs);
  const std::vector<Tensor> g =
      ValueOrDie(Gradients({out[0]}, {wq}, {u}, create));
  const std::vector<Tensor> expected = ValueOrDie(Gradients({g[0]}, {wq}, {v}));
  const std::vector<double> a = (*hvp)[0].ToVector<double>();
  const std::vector<double> e = expected[0].ToVector<double>();
  ASSERT_EQ(a.size(), e.size());
  double scale = 0;
  for (double x : e) scale = std::max(scale, std::abs(x));
  EXPECT_GT(scale, 0.0);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], e[i], 1e-10 * (1 + scale)) << i;
  }
}

}  // namespace
}  // namespace minigraph
