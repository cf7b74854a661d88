// Graphs that follow their symbols: the expression language, the fit of
// integers seen at probing sizes, capture by tracing at several sizes,
// rebinding, and the attention module's forward and gradient graphs saved
// once and run at other (B, T), equal bit for bit to the eager run there.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/graph.h"
#include "framework/graph_backward.h"
#include "framework/graph_capture.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "tests/framework/graph_test_util.h"
#include "tools/minigraph/model_capture.h"

namespace minigraph {
namespace {

using ::minigraph::testing::BitDifference;
using Binding = std::map<std::string, int64_t>;

TEST(EvaluateSymbolicIntTest, SumsOfProducts) {
  const Binding sizes = {{"B", 3}, {"T", 7}};
  EXPECT_EQ(*EvaluateSymbolicInt("B*T", sizes), 21);
  EXPECT_EQ(*EvaluateSymbolicInt("T-1", sizes), 6);
  EXPECT_EQ(*EvaluateSymbolicInt("2*B*T+1", sizes), 43);
  EXPECT_EQ(*EvaluateSymbolicInt("-B+3", sizes), 0);
  EXPECT_EQ(*EvaluateSymbolicInt("B*T-B-T+1", sizes), 12);
  EXPECT_EQ(*EvaluateSymbolicInt("64", sizes), 64);
  EXPECT_EQ(*EvaluateSymbolicInt("1-T", sizes), -6);
  // Dimensions may not be negative.
  EXPECT_FALSE(EvaluateSymbol("1-T", sizes).ok());
  for (const char* bad : {"", "T--1", "T+", "*T", "X", "B**T", "T-", "1e3",
                          "9223372036854775807*B"}) {
    absl::StatusOr<int64_t> value = EvaluateSymbolicInt(bad, sizes);
    EXPECT_FALSE(value.ok()) << bad << " gave " << *value;
  }
}

// A function of (B, T), sampled at FitBindings around (B, T) = (2, 5).
std::optional<std::string> FitFunction(int64_t (*f)(int64_t, int64_t)) {
  const std::vector<Binding> bindings = FitBindings({{"B", 2}, {"T", 5}});
  std::vector<int64_t> values;
  for (const Binding& b : bindings) values.push_back(f(b.at("B"), b.at("T")));
  return FitSymbolicExpression({"B", "T"}, bindings, values);
}

TEST(FitSymbolicExpressionTest, NamesPolynomialsAndRejectsTheRest) {
  EXPECT_EQ(FitBindings({{"B", 2}, {"T", 5}}).size(), 6u);
  EXPECT_EQ(FitFunction([](int64_t b, int64_t t) { return b * t; }), "B*T");
  EXPECT_EQ(FitFunction([](int64_t, int64_t t) { return t - 1; }), "T-1");
  EXPECT_EQ(FitFunction([](int64_t, int64_t t) { return 8 * t + 8; }), "8*T+8");
  EXPECT_EQ(FitFunction([](int64_t b, int64_t t) { return b * t - b; }),
            "B*T-B");
  EXPECT_EQ(FitFunction([](int64_t b, int64_t) { return -b; }), "-B");
  EXPECT_EQ(FitFunction([](int64_t, int64_t) { return int64_t{64}; }), "");
  // Not of the form sum c_S prod(S): caught by the far checks.
  EXPECT_EQ(FitFunction([](int64_t, int64_t t) { return t * t; }),
            std::nullopt);
  EXPECT_EQ(FitFunction([](int64_t, int64_t t) { return t / 2; }),
            std::nullopt);
  EXPECT_EQ(FitFunction([](int64_t b, int64_t t) { return t > 6 ? b : 1; }),
            std::nullopt);
}

// x [B, T, 4] -> reshape [B*T, 4] -> slice rows 0 .. B*T-1 -> causal mask
// [T, T] added to a [T, T] matmul of the first row block.
absl::StatusOr<Graph> TraceScript(const Binding& sizes, bool fixed_constant) {
  const int64_t b = sizes.at("B"), t = sizes.at("T");
  Generator gen(1);
  const Tensor x = Tensor::Randn({b, t, 4}, gen, DType::kFloat64);
  GraphCapture capture("script");
  MG_RETURN_IF_ERROR(capture.AddInput(x, "x", {"B", "T", "4"}));
  Tensor flat, trimmed, scores;
  {
    GraphCapture::Scope recording(capture);
    flat = Reshape(x, {b * t, 4});
    trimmed = Slice(flat, 0, 0, b * t - 1);
    const Tensor first = Reshape(Slice(flat, 0, 0, t), {t, 4});
    scores = Matmul(first, first, false, true) +
             CausalMask(t, t, 0, DType::kFloat64);
    if (fixed_constant) {
      scores = scores + Tensor::Zeros({t, t}, DType::kFloat64);
    }
  }
  return capture.Finish({{"trimmed", trimmed}, {"scores", scores}});
}

TEST(CaptureSymbolicTest, IntegerAttributesBecomeExpressions) {
  absl::StatusOr<Graph> graph = CaptureSymbolic(
      [](const Binding& sizes) { return TraceScript(sizes, false); },
      {{"B", 2}, {"T", 3}});
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::map<std::string, std::string> shown;
  for (const GraphNode& node : graph->nodes) {
    shown[node.op] += NodeAttrsToString(node) + ";";
  }
  EXPECT_NE(shown["reshape"].find("shape=(B*T, 4)"), std::string::npos)
      << shown["reshape"];
  EXPECT_NE(shown["slice"].find("end=B*T-1"), std::string::npos)
      << shown["slice"];
  EXPECT_NE(shown["causal_mask"].find("rows=T"), std::string::npos)
      << shown["causal_mask"];
  EXPECT_EQ(graph->outputs[0].name, "trimmed");
  absl::StatusOr<ValueType> trimmed = graph->TypeOf(graph->outputs[0].value);
  ASSERT_TRUE(trimmed.ok());
  EXPECT_EQ(trimmed->ToString(), "float64[B*T-1, 4]");

  // Saved once, run at other sizes: what the script computes there.
  absl::StatusOr<Graph> loaded =
      ParseGraph(*SerializeGraph(*graph, GraphFormat::kText),
                 GraphFormat::kText, "script.pbtxt");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (const auto& [b, t] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {2, 3}, {4, 9}, {3, 2}}) {
    SCOPED_TRACE(absl::StrCat("B=", b, " T=", t));
    Generator gen(5);
    const Tensor x = Tensor::Randn({b, t, 4}, gen, DType::kFloat64);
    absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(*loaded, {{"x", x}});
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor flat = Reshape(x, {b * t, 4});
    const Tensor first = Reshape(Slice(flat, 0, 0, t), {t, 4});
    EXPECT_EQ(BitDifference((*out)[0], Slice(flat, 0, 0, b * t - 1)), "");
    EXPECT_EQ(
        BitDifference((*out)[1], Matmul(first, first, false, true) +
                                     CausalMask(t, t, 0, DType::kFloat64)),
        "");
  }
}

TEST(CaptureSymbolicTest, RefusesConstantsThatDependOnTheSizes) {
  absl::StatusOr<Graph> graph = CaptureSymbolic(
      [](const Binding& sizes) { return TraceScript(sizes, true); },
      {{"B", 2}, {"T", 3}});
  ASSERT_FALSE(graph.ok());
  EXPECT_NE(graph.status().message().find("changes with the sizes"),
            std::string::npos)
      << graph.status();
  EXPECT_NE(graph.status().message().find("float64[3, 3]"), std::string::npos)
      << graph.status();
}

TEST(RebindGraphTest, FixedAttributesFailNamingTheNode) {
  // Captured without tracing at other sizes: the reshape keeps [6, 4].
  absl::StatusOr<Graph> graph = TraceScript({{"B", 2}, {"T", 3}}, false);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<Graph> rebound = RebindGraph(*graph, {{"T", 4}});
  ASSERT_FALSE(rebound.ok());
  EXPECT_NE(rebound.status().message().find("at B=2, T=4: node"),
            std::string::npos)
      << rebound.status();
  EXPECT_NE(rebound.status().message().find("(reshape)"), std::string::npos)
      << rebound.status();
  EXPECT_FALSE(RebindGraph(*graph, {{"Q", 4}}).ok());
  EXPECT_FALSE(RebindGraph(*graph, {{"T", 0}}).ok());
}

TEST(ValidateGraphTest, ChecksSymbolicAttributes) {
  absl::StatusOr<Graph> graph = CaptureSymbolic(
      [](const Binding& sizes) { return TraceScript(sizes, false); },
      {{"B", 2}, {"T", 3}});
  ASSERT_TRUE(graph.ok()) << graph.status();
  GraphNode* reshape = nullptr;
  for (GraphNode& node : graph->nodes) {
    if (node.op == "reshape" && !node.attr_symbols.empty()) reshape = &node;
  }
  ASSERT_NE(reshape, nullptr);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"B*T", "", ""}, "symbolic expression"},
      {{"B*T+1", ""}, "the stored values are"},
      {{"B*Q", ""}, "not a graph symbol"},
      {{"B*T-", ""}, "empty term"}};
  for (const auto& [expressions, message] : cases) {
    Graph copy = *graph;
    for (GraphNode& node : copy.nodes) {
      if (node.name == reshape->name) node.attr_symbols["shape"] = expressions;
    }
    absl::Status status = ValidateGraph(copy, "bad.pbtxt");
    EXPECT_FALSE(status.ok()) << expressions[0];
    EXPECT_NE(status.message().find(message), std::string::npos) << status;
    EXPECT_NE(status.message().find(reshape->name), std::string::npos)
        << status;
  }
  Graph copy = *graph;
  for (GraphNode& node : copy.nodes) {
    if (node.op == "matmul") node.attr_symbols["transpose_a"] = {"T"};
  }
  EXPECT_FALSE(ValidateGraph(copy, "bad.pbtxt").ok());
}

ModelOptions AttentionAt(int64_t batch, int64_t seq, bool flash) {
  ModelOptions options;
  options.batch = batch;
  options.seq = seq;
  options.seed = 4;
  options.settings = {{"hidden", "64"},
                      {"heads", "4"},
                      {"kv_heads", "2"},
                      {"flash", flash ? "true" : "false"}};
  return options;
}

class SymbolicAttentionTest : public ::testing::TestWithParam<bool> {};

// Captured at (2, 5), saved, loaded, then run at other sizes: forward and
// gradients equal the eager module and the autograd engine there.
TEST_P(SymbolicAttentionTest, OneGraphRunsAtEverySize) {
  const bool flash = GetParam();
  absl::StatusOr<cli::CapturedModel> model =
      cli::CaptureModel("attention", AttentionAt(2, 5, flash));
  ASSERT_TRUE(model.ok()) << model.status();
  BackwardGraphOptions options;
  absl::StatusOr<Graph> backward = BuildBackwardGraph(model->graph, options);
  ASSERT_TRUE(backward.ok()) << backward.status();
  for (const GraphInput& input : backward->inputs) {
    EXPECT_EQ(input.type.ToString(), "float32[B, T, 64]") << input.name;
  }
  absl::StatusOr<Graph> forward =
      ParseGraph(*SerializeGraph(model->graph, GraphFormat::kBinary),
                 GraphFormat::kBinary, "attention.pb");
  ASSERT_TRUE(forward.ok()) << forward.status();
  absl::StatusOr<Graph> gradient =
      ParseGraph(*SerializeGraph(*backward, GraphFormat::kJson),
                 GraphFormat::kJson, "attention_grad.json");
  ASSERT_TRUE(gradient.ok()) << gradient.status();

  for (const auto& [b, t] : std::vector<std::pair<int64_t, int64_t>>{
           {2, 5}, {1, 1}, {3, 17}, {1, 70}}) {
    SCOPED_TRACE(absl::StrCat("B=", b, " T=", t));
    absl::StatusOr<ModelInstance> instance =
        FindModel("attention")->build(AttentionAt(b, t, flash));
    ASSERT_TRUE(instance.ok()) << instance.status();
    // The same weights at every size (they come first from the seed).
    for (size_t p = 0; p < instance->parameters.size(); ++p) {
      ASSERT_EQ(
          BitDifference(instance->parameters[p], model->instance.parameters[p]),
          "");
    }
    const Tensor& x = instance->inputs[0];
    const std::vector<Tensor> eager = instance->forward({x});
    absl::StatusOr<std::vector<Tensor>> out =
        ExecuteGraph(*forward, {{"x", x}});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(BitDifference((*out)[0], eager[0]), "");

    Generator gen(11);
    const Tensor seed = Tensor::Randn(eager[0].shape(), gen, DType::kFloat32);
    Tensor xg = x.ShallowCopy();
    xg.set_requires_grad(true);
    std::vector<Tensor> wrt = instance->parameters;
    wrt.push_back(xg);
    const std::vector<Tensor> engine =
        ValueOrDie(Gradients(instance->forward({xg}), wrt, {seed}));
    absl::StatusOr<std::vector<Tensor>> grads =
        ExecuteGraph(*gradient, {{"x", x}, {"grad_output/y", seed}});
    ASSERT_TRUE(grads.ok()) << grads.status();
    ASSERT_EQ(grads->size(), 1 + engine.size());
    EXPECT_EQ(BitDifference((*grads)[0], eager[0]), "");
    for (size_t i = 0; i < engine.size(); ++i) {
      EXPECT_EQ(BitDifference((*grads)[i + 1], engine[i]), "")
          << gradient->outputs[i + 1].name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FlashAndComposed, SymbolicAttentionTest,
                         ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "flash" : "composed";
                         });

ModelOptions LanguageModelAt(int64_t batch, int64_t seq, bool flash) {
  ModelOptions options;
  options.batch = batch;
  options.seq = seq;
  options.seed = 6;
  options.settings = {{"preset", "tiny"},
                      {"hidden", "64"},
                      {"heads", "4"},
                      {"kv_heads", "2"},
                      {"flash", flash ? "true" : "false"}};
  return options;
}

class SymbolicLanguageModelTest : public ::testing::TestWithParam<bool> {};

// MiniMind's whole LM: the forward graph (logits and loss) and the gradient
// graph of the loss, captured at (2, 5), saved and loaded, run at other
// sizes: the eager model's logits and loss and the engine's gradients there.
TEST_P(SymbolicLanguageModelTest, OneGraphRunsAtEverySize) {
  const bool flash = GetParam();
  absl::StatusOr<cli::CapturedModel> model =
      cli::CaptureModel("minimind", LanguageModelAt(2, 5, flash));
  ASSERT_TRUE(model.ok()) << model.status();
  BackwardGraphOptions options;
  options.outputs = {"loss"};
  options.wrt = model->instance.parameter_names;
  absl::StatusOr<Graph> backward = BuildBackwardGraph(model->graph, options);
  ASSERT_TRUE(backward.ok()) << backward.status();
  absl::StatusOr<Graph> forward =
      ParseGraph(*SerializeGraph(model->graph, GraphFormat::kBinary),
                 GraphFormat::kBinary, "lm.pb");
  ASSERT_TRUE(forward.ok()) << forward.status();
  absl::StatusOr<Graph> gradient =
      ParseGraph(*SerializeGraph(*backward, GraphFormat::kBinary),
                 GraphFormat::kBinary, "lm_grad.pb");
  ASSERT_TRUE(gradient.ok()) << gradient.status();
  EXPECT_EQ(gradient->inputs.size(), 2u);  // no seed: the loss is a scalar

  for (const auto& [b, t] : std::vector<std::pair<int64_t, int64_t>>{
           {2, 5}, {1, 2}, {3, 13}, {2, 40}}) {
    SCOPED_TRACE(absl::StrCat("B=", b, " T=", t));
    absl::StatusOr<ModelInstance> instance =
        FindModel("minimind")->build(LanguageModelAt(b, t, flash));
    ASSERT_TRUE(instance.ok()) << instance.status();
    for (size_t p = 0; p < instance->parameters.size(); ++p) {
      ASSERT_EQ(
          BitDifference(instance->parameters[p], model->instance.parameters[p]),
          "");
    }
    std::map<std::string, Tensor> feeds;
    for (size_t i = 0; i < instance->inputs.size(); ++i) {
      feeds[instance->input_names[i]] = instance->inputs[i];
    }
    const std::vector<Tensor> eager = instance->forward(instance->inputs);
    absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(*forward, feeds);
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->size(), eager.size());
    for (size_t i = 0; i < eager.size(); ++i) {
      EXPECT_EQ(BitDifference((*out)[i], eager[i]), "") << i;
    }
    EXPECT_EQ((*out)[0].shape(), (Shape{b, t, 259}));

    // The engine's gradients on a fresh instance (its parameters are
    // leaves that require grad).
    absl::StatusOr<ModelInstance> again =
        FindModel("minimind")->build(LanguageModelAt(b, t, flash));
    ASSERT_TRUE(again.ok());
    const std::vector<Tensor> traced = again->forward(again->inputs);
    const std::vector<Tensor> engine =
        ValueOrDie(Gradients({traced[1]}, again->parameters, {}));
    absl::StatusOr<std::vector<Tensor>> grads = ExecuteGraph(*gradient, feeds);
    ASSERT_TRUE(grads.ok()) << grads.status();
    ASSERT_EQ(grads->size(), eager.size() + engine.size());
    for (size_t i = 0; i < engine.size(); ++i) {
      EXPECT_EQ(BitDifference((*grads)[eager.size() + i], engine[i]), "")
          << gradient->outputs[eager.size() + i].name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FlashAndComposed, SymbolicLanguageModelTest,
                         ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "flash" : "composed";
                         });

}  // namespace
}  // namespace minigraph
