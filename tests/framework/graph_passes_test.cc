// The graph passes on hand-built graphs whose result is known node by node,
// and on the captured attention module's forward and gradient graphs: every
// pass keeps the bits of every output, and the memory plan drops exactly the
// values it names, when it names them.
#include "framework/graph_passes.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph_backward.h"
#include "framework/graph_capture.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "framework/graph_stats.h"
#include "framework/memory_stats.h"
#include "framework/op_registry.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "tests/framework/graph_test_util.h"
#include "tools/minigraph/model_capture.h"

namespace minigraph {
namespace {

using ::minigraph::testing::BitDifference;

// ---- building graphs by hand -------------------------------------------

ValueType TypeOfDims(const std::vector<int64_t>& dims,
                     DType dtype = DType::kFloat32) {
  ValueType type;
  type.dtype = dtype;
  for (int64_t d : dims) type.shape.push_back(SymDim{d, ""});
  return type;
}

// Adds nodes with their output types from the op's own inference, so that
// every graph here is one ValidateGraph accepts.
class GraphBuilder {
 public:
  explicit GraphBuilder(std::string name) { graph_.name = std::move(name); }

  void Input(const std::string& name, ValueType type) {
    graph_.inputs.push_back({name, std::move(type)});
  }
  void Parameter(const std::string& name, Tensor value) {
    graph_.parameters.push_back(
        {name, ValueType::FromMeta(value.meta()), std::move(value)});
  }
  void Constant(const std::string& name, Tensor value) {
    graph_.constants.push_back({name, std::move(value)});
  }
  void Symbol(const std::string& name, int64_t size) {
    graph_.symbols[name] = size;
  }

  // Node `name` calling `op`; returns its first output.
  TensorRef Op(const std::string& name, const std::string& op,
               std::vector<TensorRef> inputs, Attrs attrs = {},
               std::map<std::string, std::vector<std::string>> symbols = {},
               NodeRole role = NodeRole::kForward,
               std::string forward_node = "") {
    const OpDef* def = FindOp(op);
    EXPECT_NE(def, nullptr) << op;
    EXPECT_TRUE(ValidateAttrs(def->attrs, op, attrs).ok());
    std::vector<TensorMeta> metas;
    for (const TensorRef& ref : inputs) {
      absl::StatusOr<ValueType> type = graph_.TypeOf(ref);
      EXPECT_TRUE(type.ok()) << type.status();
      metas.push_back(type->meta());
    }
    absl::StatusOr<std::vector<TensorMeta>> inferred =
        def->infer(InferContext{metas, attrs});
    EXPECT_TRUE(inferred.ok()) << name << ": " << inferred.status();
    GraphNode node;
    node.name = name;
    node.op = op;
    node.inputs = std::move(inputs);
    node.attrs = std::move(attrs);
    node.attr_symbols = std::move(symbols);
    for (const TensorMeta& meta : *inferred) {
      node.outputs.push_back(ValueType::FromMeta(meta));
    }
    node.role = role;
    node.forward_node = std::move(forward_node);
    graph_.nodes.push_back(std::move(node));
    return {name, 0};
  }
  void Output(const std::string& name, TensorRef ref) {
    graph_.outputs.push_back({name, std::move(ref)});
  }

  // The graph, with symbolic dimensions annotated where symbols are given,
  // as a loader would accept it.
  Graph Finish() {
    if (!graph_.symbols.empty()) AnnotateSymbolicDims(graph_);
    const absl::Status valid = ValidateGraph(graph_, graph_.name);
    EXPECT_TRUE(valid.ok()) << valid;
    return graph_;
  }

 private:
  Graph graph_;
};

std::vector<std::string> NodeNames(const Graph& graph) {
  std::vector<std::string> names;
  for (const GraphNode& node : graph.nodes) names.push_back(node.name);
  return names;
}

std::vector<std::string> ConstantNames(const Graph& graph) {
  std::vector<std::string> names;
  for (const GraphConstant& constant : graph.constants) {
    names.push_back(constant.name);
  }
  return names;
}

const GraphNode& NodeOrDie(const Graph& graph, const std::string& name) {
  const GraphNode* node = graph.FindNode(name);
  if (node == nullptr) {
    std::fprintf(stderr, "no node '%s'\n", name.c_str());
    std::abort();
  }
  return *node;
}

const Tensor& ConstantOrDie(const Graph& graph, const std::string& name) {
  for (const GraphConstant& constant : graph.constants) {
    if (constant.name == name) return constant.value;
  }
  std::fprintf(stderr, "no constant '%s'\n", name.c_str());
  std::abort();
}

std::vector<Tensor> RunOutputs(const Graph& graph,
                               const std::map<std::string, Tensor>& feeds,
                               const ExecuteOptions& options = {}) {
  absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(graph, feeds, options);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<Tensor>{};
}

// Every output of `a` and `b` on `feeds` has the same bits.
void ExpectSameOutputs(const Graph& a, const Graph& b,
                       const std::map<std::string, Tensor>& feeds,
                       const ExecuteOptions& options_b = {}) {
  const std::vector<Tensor> out_a = RunOutputs(a, feeds);
  const std::vector<Tensor> out_b = RunOutputs(b, feeds, options_b);
  ASSERT_EQ(out_a.size(), a.outputs.size());
  ASSERT_EQ(out_b.size(), out_a.size());
  for (size_t i = 0; i < out_a.size(); ++i) {
    EXPECT_EQ(BitDifference(out_a[i], out_b[i]), "") << a.outputs[i].name;
  }
}

Tensor Seeded(const Shape& shape, uint64_t seed,
              DType dtype = DType::kFloat32) {
  Generator gen(seed);
  return Tensor::Randn(shape, gen, dtype);
}

// ---- options --------------------------------------------------------------

TEST(GraphPassOptionsTest, ParsesAllNoneAndLists) {
  absl::StatusOr<GraphPassOptions> all = ParseGraphPasses("all", "--passes");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->dce && all->cse && all->fold_constants && all->memory_plan);
  absl::StatusOr<GraphPassOptions> none = ParseGraphPasses("none", "--passes");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->dce || none->cse || none->fold_constants ||
               none->memory_plan);
  absl::StatusOr<GraphPassOptions> some =
      ParseGraphPasses("cse,memory_plan", "--passes");
  ASSERT_TRUE(some.ok());
  EXPECT_FALSE(some->dce || some->fold_constants);
  EXPECT_TRUE(some->cse && some->memory_plan);
  EXPECT_EQ(GraphPassesToString(*some), "cse,memory_plan");
  EXPECT_EQ(GraphPassesToString(*none), "none");
  EXPECT_EQ(GraphPassesToString(*all), "dce,cse,fold_constants,memory_plan");
  const absl::StatusOr<GraphPassOptions> bad =
      ParseGraphPasses("dce,inline", "--passes");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--passes: unknown pass 'inline'"),
            std::string::npos)
      << bad.status();
  EXPECT_FALSE(ParseGraphPasses("", "--passes").ok());
}

// ---- dead-code elimination -------------------------------------------------

TEST(DeadCodeTest, DropsExactlyWhatNoOutputNeeds) {
  GraphBuilder b("dce");
  b.Input("x", TypeOfDims({2, 3}));
  b.Input("unused_input", TypeOfDims({4}));
  b.Parameter("w", Seeded({2, 3}, 1));
  b.Parameter("unused_param", Seeded({5}, 2));
  b.Constant("c_used", Seeded({2, 3}, 3));
  b.Constant("c_dead", Seeded({2, 3}, 4));
  const TensorRef a = b.Op("a", "exp", {{"x", 0}});
  const TensorRef prod = b.Op("prod", "mul", {a, {"c_used", 0}});
  const TensorRef dead1 = b.Op("dead1", "neg", {{"x", 0}});
  b.Op("dead2", "add", {dead1, {"c_dead", 0}});
  // A live gradient node linked to a dead forward node keeps working.
  const TensorRef g =
      b.Op("g", "add", {prod, {"w", 0}}, {}, {}, NodeRole::kGradient, "dead1");
  b.Output("y", g);
  const Graph original = b.Finish();
  Graph graph = original;
  const PassStats stats = EliminateDeadCode(graph);
  EXPECT_EQ(NodeNames(graph), (std::vector<std::string>{"a", "prod", "g"}));
  EXPECT_EQ(ConstantNames(graph), (std::vector<std::string>{"c_used"}));
  EXPECT_EQ(graph.inputs.size(), 2u);
  EXPECT_EQ(graph.parameters.size(), 2u);
  EXPECT_EQ(NodeOrDie(graph, "g").forward_node, "");
  EXPECT_EQ(stats.nodes_before, 5);
  EXPECT_EQ(stats.nodes_after, 3);
  EXPECT_EQ(stats.constants_before, 2);
  EXPECT_EQ(stats.constants_after, 1);
  ASSERT_TRUE(ValidateGraph(graph, "after dce").ok());
  // Running it again finds nothing more.
  const PassStats again = EliminateDeadCode(graph);
  EXPECT_EQ(again.nodes_after, again.nodes_before);
  ExpectSameOutputs(
      original, graph,
      {{"x", Seeded({2, 3}, 5)}, {"unused_input", Seeded({4}, 6)}});
}

// ---- common subexpression elimination --------------------------------------

TEST(CommonSubexpressionTest, MergesDuplicatedChainsAndEqualConstants) {
  GraphBuilder b("cse");
  b.Input("x", TypeOfDims({2, 3}));
  // Equal bytes under two names; a third differs in one element's bits.
  const Tensor half = Tensor::Full({2, 3}, 0.5);
  b.Constant("half1", half);
  b.Constant("half2", CopyToContiguous(half));
  b.Constant("half_f64", Tensor::Full({2, 3}, 0.5, DType::kFloat64));
  const TensorRef e1 = b.Op("e1", "exp", {{"x", 0}});
  const TensorRef e2 = b.Op("e2", "exp", {{"x", 0}});
  const TensorRef s1 = b.Op("s1", "add", {e1, {"x", 0}});
  const TensorRef s2 = b.Op("s2", "add", {e2, {"x", 0}});
  const TensorRef m1 = b.Op("m1", "mul", {s1, {"half1", 0}});
  const TensorRef m2 =
      b.Op("m2", "mul", {s2, {"half2", 0}}, {}, {}, NodeRole::kGradient, "s2");
  // The operands swapped: not the same call.
  const TensorRef m3 = b.Op("m3", "mul", {{"half1", 0}, s1});
  b.Op("cast64", "cast", {m1}, {{"dtype", DType::kFloat64}});
  const TensorRef total = b.Op("total", "add", {m1, m2});
  b.Output("y", total);
  b.Output("y2", m2);
  b.Output("y3", m3);
  b.Output("c", {"half_f64", 0});
  const Graph original = b.Finish();
  Graph graph = original;
  const PassStats stats = EliminateCommonSubexpressions(graph);
  EXPECT_EQ(NodeNames(graph), (std::vector<std::string>{"e1", "s1", "m1", "m3",
                                                        "cast64", "total"}));
  EXPECT_EQ(ConstantNames(graph),
            (std::vector<std::string>{"half1", "half_f64"}));
  EXPECT_EQ(stats.nodes_before, 9);
  EXPECT_EQ(stats.nodes_after, 6);
  // The chain merged link by link; references point at the first node,
  // which keeps its forward role.
  EXPECT_EQ(NodeOrDie(graph, "total").inputs,
            (std::vector<TensorRef>{{"m1", 0}, {"m1", 0}}));
  EXPECT_EQ(graph.outputs[1].value, (TensorRef{"m1", 0}));
  EXPECT_EQ(NodeOrDie(graph, "m1").role, NodeRole::kForward);
  ASSERT_TRUE(ValidateGraph(graph, "after cse").ok());
  ExpectSameOutputs(original, graph, {{"x", Seeded({2, 3}, 7)}});
}

TEST(CommonSubexpressionTest, KeepsDifferentAttributesApart) {
  GraphBuilder b("attrs");
  b.Input("x", TypeOfDims({6}));
  const TensorRef r23 =
      b.Op("r23", "reshape", {{"x", 0}}, {{"shape", ShapeAttr{{2, 3}}}});
  const TensorRef r32 =
      b.Op("r32", "reshape", {{"x", 0}}, {{"shape", ShapeAttr{{3, 2}}}});
  // 0.0 == -0.0 as numbers, yet the two fills differ in their sign bits.
  const TensorRef zero =
      b.Op("zero", "full", {}, {{"shape", ShapeAttr{{6}}}, {"value", 0.0}});
  const TensorRef minus_zero = b.Op(
      "minus_zero", "full", {}, {{"shape", ShapeAttr{{6}}}, {"value", -0.0}});
  // Dropout is a function of its seed: equal seeds merge, others do not.
  const TensorRef d1 =
      b.Op("d1", "dropout", {{"x", 0}}, {{"p", 0.5}, {"seed", int64_t{7}}});
  const TensorRef d2 =
      b.Op("d2", "dropout", {{"x", 0}}, {{"p", 0.5}, {"seed", int64_t{7}}});
  const TensorRef d3 =
      b.Op("d3", "dropout", {{"x", 0}}, {{"p", 0.5}, {"seed", int64_t{8}}});
  b.Output("r23", r23);
  b.Output("r32", r32);
  b.Output("zero", zero);
  b.Output("minus_zero", minus_zero);
  b.Output("d1", d1);
  b.Output("d2", d2);
  b.Output("d3", d3);
  const Graph original = b.Finish();
  Graph graph = original;
  EliminateCommonSubexpressions(graph);
  EXPECT_EQ(NodeNames(graph),
            (std::vector<std::string>{"r23", "r32", "zero", "minus_zero", "d1",
                                      "d3"}));
  EXPECT_EQ(graph.outputs[5].value, (TensorRef{"d1", 0}));
  const std::map<std::string, Tensor> feeds = {{"x", Seeded({6}, 8)}};
  ExpectSameOutputs(original, graph, feeds);
  // What merging the fills or the seeds would have broken.
  const std::vector<Tensor> out = RunOutputs(graph, feeds);
  EXPECT_NE(BitDifference(out[2], out[3]), "");
  EXPECT_NE(BitDifference(out[4], out[6]), "");
}

TEST(CommonSubexpressionTest, KeepsDifferentSymbolicAttributesApart) {
  // x [B, 3]: a reshape to [3*B] follows B, one to a fixed [6] does not;
  // at B = 2 both store shape (6).
  GraphBuilder b("symbolic");
  b.Symbol("B", 2);
  ValueType x = TypeOfDims({2, 3});
  x.shape[0].symbol = "B";
  b.Input("x", x);
  const std::map<std::string, std::vector<std::string>> follows = {
      {"shape", {"3*B"}}};
  const TensorRef flat1 = b.Op("flat1", "reshape", {{"x", 0}},
                               {{"shape", ShapeAttr{{6}}}}, follows);
  const TensorRef flat2 = b.Op("flat2", "reshape", {{"x", 0}},
                               {{"shape", ShapeAttr{{6}}}}, follows);
  const TensorRef fixed =
      b.Op("fixed", "reshape", {{"x", 0}}, {{"shape", ShapeAttr{{6}}}});
  b.Output("a", b.Op("a", "add", {flat1, flat2}));
  b.Output("fixed", fixed);
  const Graph original = b.Finish();
  Graph graph = original;
  EliminateCommonSubexpressions(graph);
  EXPECT_EQ(NodeNames(graph),
            (std::vector<std::string>{"flat1", "fixed", "a"}));
  EXPECT_EQ(NodeOrDie(graph, "a").inputs,
            (std::vector<TensorRef>{{"flat1", 0}, {"flat1", 0}}));
  ASSERT_TRUE(ValidateGraph(graph, "after cse").ok());
  ExpectSameOutputs(original, graph, {{"x", Seeded({2, 3}, 9)}});
}

// ---- constant folding ------------------------------------------------------

// x [3, 4] plus a subgraph of constants: exp(c * 0.25), a causal mask and
// rotary tables (two outputs), none of which depends on x.
Graph FoldingGraph() {
  GraphBuilder b("fold");
  b.Input("x", TypeOfDims({3, 4}));
  b.Constant("c", Seeded({3, 4}, 10));
  b.Constant("quarter", Tensor::Scalar(0.25));
  const TensorRef scaled = b.Op("scaled", "mul", {{"c", 0}, {"quarter", 0}});
  const TensorRef e = b.Op("e", "exp", {scaled});
  const TensorRef mask = b.Op(
      "mask", "causal_mask", {},
      {{"rows", int64_t{3}}, {"cols", int64_t{4}}, {"offset", int64_t{1}}});
  const TensorRef cos = b.Op("rot", "rotary_tables", {},
                             {{"head_dim", int64_t{4}}, {"count", int64_t{3}}});
  const TensorRef sin{"rot", 1};
  const TensorRef h = b.Op("h", "add", {{"x", 0}, e});
  const TensorRef masked = b.Op("masked", "add", {h, mask});
  const TensorRef rc = b.Op("rc", "mul", {masked, cos});
  const TensorRef rs = b.Op("rs", "mul", {h, sin});
  b.Output("y", b.Op("y", "add", {rc, rs}));
  b.Output("sin", sin);
  return b.Finish();
}

TEST(ConstantFoldingTest, ReplacesTheConstantSubgraphByItsValues) {
  const Graph original = FoldingGraph();
  Graph graph = original;
  absl::StatusOr<PassStats> stats = FoldConstants(graph);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(NodeNames(graph),
            (std::vector<std::string>{"h", "masked", "rc", "rs", "y"}));
  EXPECT_EQ(ConstantNames(graph),
            (std::vector<std::string>{"c", "quarter", "scaled", "e", "mask",
                                      "rot", "rot/output_1"}));
  EXPECT_EQ(stats->skipped, 0);
  EXPECT_EQ(NodeOrDie(graph, "rs").inputs[1], (TensorRef{"rot/output_1", 0}));
  EXPECT_EQ(graph.outputs[1].value, (TensorRef{"rot/output_1", 0}));
  // The mask by its definition: 0 where col <= row + 1, -inf elsewhere.
  const std::vector<float> mask =
      ConstantOrDie(graph, "mask").ToVector<float>();
  ASSERT_EQ(mask.size(), 12u);
  for (int row = 0; row < 3; ++row) {
    for (int col = 0; col < 4; ++col) {
      const float v = mask[row * 4 + col];
      if (col <= row + 1) {
        EXPECT_EQ(v, 0.0f) << row << "," << col;
      } else {
        EXPECT_TRUE(std::isinf(v) && v < 0) << row << "," << col;
      }
    }
  }
  // Rotary row t, column i < 2: cos(t * 10000^(-i/2)) in float32.
  const std::vector<float> cos = ConstantOrDie(graph, "rot").ToVector<float>();
  EXPECT_EQ(cos[0 * 4 + 0], 1.0f);
  EXPECT_EQ(cos[2 * 4 + 0], static_cast<float>(std::cos(2.0)));
  EXPECT_EQ(cos[2 * 4 + 2], cos[2 * 4 + 0]);
  EXPECT_NEAR(cos[1 * 4 + 1], std::cos(0.01), 1e-7);
  ASSERT_TRUE(ValidateGraph(graph, "after folding").ok());
  ExpectSameOutputs(original, graph, {{"x", Seeded({3, 4}, 11)}});
  // The constants the folded nodes read are now dead.
  EliminateDeadCode(graph);
  EXPECT_EQ(ConstantNames(graph),
            (std::vector<std::string>{"e", "mask", "rot", "rot/output_1"}));
  ExpectSameOutputs(original, graph, {{"x", Seeded({3, 4}, 11)}});
}

TEST(ConstantFoldingTest, LeavesNodesOverTheSizeBound) {
  Graph graph = FoldingGraph();
  GraphPassOptions options;
  // The mask and each rotary table are 48 bytes, as are scaled and e.
  options.max_fold_bytes = 47;
  absl::StatusOr<PassStats> stats = FoldConstants(graph, options);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->nodes_after, stats->nodes_before);
  // e reads scaled, which stays a node: e cannot fold at all.
  EXPECT_EQ(stats->skipped, 3);
  // A total bound lets the first ones in graph order fold, then stops.
  graph = FoldingGraph();
  options.max_fold_bytes = 1000;
  options.max_total_fold_bytes = 96;
  stats = FoldConstants(graph, options);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(ConstantNames(graph),
            (std::vector<std::string>{"c", "quarter", "scaled", "e"}));
  EXPECT_EQ(stats->skipped, 2);
}

// x [T, T] + causal_mask(T, T): the mask follows the symbol.
Graph SymbolicMaskGraph() {
  GraphBuilder b("symbolic_mask");
  b.Symbol("T", 3);
  ValueType x = TypeOfDims({3, 3});
  x.shape[0].symbol = x.shape[1].symbol = "T";
  b.Input("x", x);
  const TensorRef mask = b.Op("mask", "causal_mask", {},
                              {{"rows", int64_t{3}}, {"cols", int64_t{3}}},
                              {{"rows", {"T"}}, {"cols", {"T"}}});
  const TensorRef twice = b.Op("twice", "add", {{"x", 0}, {"x", 0}});
  b.Output("y", b.Op("y", "add", {twice, mask}));
  return b.Finish();
}

TEST(ConstantFoldingTest, SymbolicNodesFoldOnlyOnceFrozen) {
  const Graph original = SymbolicMaskGraph();
  Graph graph = original;
  absl::StatusOr<PassStats> stats = FoldConstants(graph);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->nodes_after, stats->nodes_before);
  EXPECT_EQ(stats->skipped, 0);

  // Frozen at T = 5 (as the executor's rebound graph for a T = 5 feed), the
  // mask folds and the graph runs at that size only.
  absl::StatusOr<Graph> rebound = RebindGraph(original, {{"T", 5}});
  ASSERT_TRUE(rebound.ok()) << rebound.status();
  Graph frozen = *rebound;
  GraphPassOptions options;
  options.fix_symbol_sizes = true;
  absl::StatusOr<GraphPassReport> report = OptimizeGraph(frozen, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(NodeNames(frozen), (std::vector<std::string>{"twice", "y"}));
  EXPECT_EQ(ConstantOrDie(frozen, "mask").shape(), (Shape{5, 5}));
  EXPECT_TRUE(frozen.symbols.empty());
  const std::map<std::string, Tensor> feeds5 = {{"x", Seeded({5, 5}, 12)}};
  ExpectSameOutputs(original, frozen, feeds5);
  EXPECT_FALSE(ExecuteGraph(frozen, {{"x", Seeded({3, 3}, 13)}}).ok());

  // The executor does the same on request when it rebinds; the outputs do
  // not change, at the stored size or another.
  ExecuteOptions on_request;
  on_request.rebound_passes = GraphPassOptions{};
  on_request.release_dead_values = true;
  ExpectSameOutputs(original, original, feeds5, on_request);
  ExpectSameOutputs(original, original, {{"x", Seeded({3, 3}, 14)}},
                    on_request);
}

TEST(ConstantFoldingTest, ExecutorAnswersForOutputsTheRebindingMoved) {
  // Outputs on a folded node's second output and on a merged duplicate:
  // the rebound graph holds them under other names.
  GraphBuilder b("moved");
  b.Symbol("T", 2);
  ValueType x = TypeOfDims({2, 4});
  x.shape[0].symbol = "T";
  b.Input("x", x);
  b.Op("rot", "rotary_tables", {},
       {{"head_dim", int64_t{4}}, {"count", int64_t{2}}}, {{"count", {"T"}}});
  const TensorRef e1 = b.Op("e1", "exp", {{"x", 0}});
  const TensorRef e2 = b.Op("e2", "exp", {{"x", 0}});
  b.Output("y", b.Op("y", "mul", {e1, {"rot", 0}}));
  b.Output("sin", {"rot", 1});
  b.Output("e2", e2);
  const Graph graph = b.Finish();
  ExecuteOptions on_request;
  on_request.rebound_passes = GraphPassOptions{};
  on_request.release_dead_values = true;
  const std::map<std::string, Tensor> feeds = {{"x", Seeded({6, 4}, 15)}};
  ExpectSameOutputs(graph, graph, feeds, on_request);
  absl::StatusOr<GraphValues> values = RunGraph(graph, feeds, on_request);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->Get({"rot", 1}).shape(), (Shape{6, 4}));
  EXPECT_EQ(BitDifference(values->Get({"e2", 0}), values->Get({"e1", 0})), "");
}

// ---- memory plan -----------------------------------------------------------

// Five nodes on x [64, 64]: a = exp(x), b = neg(a), e = sin(x) (read by
// nothing), c = a + b, d = c * c; outputs d and b.
Graph LivenessGraph() {
  GraphBuilder b("liveness");
  b.Input("x", TypeOfDims({64, 64}));
  const TensorRef a = b.Op("a", "exp", {{"x", 0}});
  const TensorRef neg = b.Op("b", "neg", {a});
  b.Op("e", "sin", {{"x", 0}});
  const TensorRef c = b.Op("c", "add", {a, neg});
  b.Output("d", b.Op("d", "mul", {c, c}));
  b.Output("b", neg);
  return b.Finish();
}

std::vector<std::vector<std::string>> PlanNames(const MemoryPlan& plan) {
  std::vector<std::vector<std::string>> names;
  for (const std::vector<TensorRef>& refs : plan.release_after) {
    names.emplace_back();
    for (const TensorRef& ref : refs) names.back().push_back(ref.ToString());
  }
  return names;
}

// Sees each node's outputs as they are made, and at every later call which
// of them are gone (the executor dropped the last reference).
class LifetimeObserver : public OpCallObserver {
 public:
  void OnOpCall(const OpDef&, const Attrs&, absl::Span<const Tensor>,
                absl::Span<const Tensor> outputs,
                absl::string_view node_name) override {
    std::set<std::string> gone;
    for (const auto& [name, impl] : made_) {
      if (impl.expired()) gone.insert(name);
    }
    gone_at_call_.push_back(std::move(gone));
    made_.emplace_back(std::string(node_name), outputs[0].impl_ptr());
  }
  // Names whose output was gone when each node was called, in order.
  const std::vector<std::set<std::string>>& gone_at_call() const {
    return gone_at_call_;
  }
  std::set<std::string> GoneNow() const {
    std::set<std::string> gone;
    for (const auto& [name, impl] : made_) {
      if (impl.expired()) gone.insert(name);
    }
    return gone;
  }

 private:
  std::vector<std::pair<std::string, std::weak_ptr<TensorImpl>>> made_;
  std::vector<std::set<std::string>> gone_at_call_;
};

// x -> exp -> neg -> mul(., x) -> silu, and exp's output read twice by a
// second branch when `shared`.
Graph ElementwiseChain(bool shared) {
  const Tensor x = Seeded({64, 64}, 21);
  GraphCapture capture("chain");
  EXPECT_TRUE(capture.AddInput(x, "x").ok());
  Tensor y;
  {
    GraphCapture::Scope recording(capture);
    const Tensor a = Exp(x);
    const Tensor b = shared ? Mul(a, a) : Neg(a);
    y = Silu(Mul(b, x));
  }
  return ValueOrDie(capture.Finish({{"y", y}}));
}

TEST(MemoryPlanTest, WritesInPlaceIntoInputsThatDie) {
  const Graph graph = ElementwiseChain(/*shared=*/false);
  const MemoryPlan plan = PlanMemory(graph);
  // neg takes exp's buffer, mul neg's (its input 0; x is a graph input and
  // stays), silu mul's.
  EXPECT_EQ(plan.donate, (std::vector<int>{-1, 0, 0, 0}));
  // One 16 KiB buffer carries the whole chain.
  EXPECT_EQ(PeakLiveBytes(graph, &plan), 16384);
  EXPECT_EQ(PeakLiveBytes(graph, nullptr), 4 * 16384);
  // exp's output read twice by one mul cannot be its output's buffer.
  EXPECT_EQ(PlanMemory(ElementwiseChain(/*shared=*/true)).donate,
            (std::vector<int>{-1, -1, 0, 0}));

  const Tensor x = Seeded({64, 64}, 22);
  absl::StatusOr<std::vector<Tensor>> kept = ExecuteGraph(graph, {{"x", x}});
  ASSERT_TRUE(kept.ok()) << kept.status();
  ExecuteOptions release;
  release.release_dead_values = true;
  ResetPeakAllocatedBytes();
  const int64_t base = CurrentAllocatedBytes();
  absl::StatusOr<std::vector<Tensor>> in_place =
      ExecuteGraph(graph, {{"x", x}}, release);
  const int64_t peak = PeakAllocatedBytes() - base;
  ASSERT_TRUE(in_place.ok()) << in_place.status();
  // The allocator saw one buffer, and the bits are those of the run that
  // kept every value.
  EXPECT_EQ(peak, 16384);
  EXPECT_EQ(testing::BitDifference((*in_place)[0], (*kept)[0]), "");
  // The feed is untouched.
  EXPECT_EQ(testing::BitDifference(x, Seeded({64, 64}, 22)), "");
}

TEST(MemoryPlanTest, ReleasesEachValueAfterItsLastReader) {
  const Graph graph = LivenessGraph();
  const MemoryPlan plan = PlanMemory(graph);
  // Worked by hand: e dies at once, a after c (its last reader), c after d;
  // b and d are outputs.
  EXPECT_EQ(PlanNames(plan), (std::vector<std::vector<std::string>>{
                                 {}, {}, {"e"}, {"a"}, {"c"}}));
  // 16 KiB each: a, b, e alive at e (then e goes), a, b, c at c (then a
  // goes), b, c, d at d. Keeping all, five at the end.
  EXPECT_EQ(PeakLiveBytes(graph, &plan), 3 * 16384);
  EXPECT_EQ(PeakLiveBytes(graph, nullptr), 5 * 16384);
  const GraphStats stats = ComputeGraphStats(graph);
  EXPECT_EQ(stats.peak_activation_bytes, 3 * 16384);
  EXPECT_EQ(stats.peak_activation_bytes_keeping_all, 5 * 16384);

  const Tensor x = Seeded({64, 64}, 16);
  for (bool release : {false, true}) {
    SCOPED_TRACE(release ? "releasing" : "keeping");
    ExecuteOptions options;
    options.release_dead_values = release;
    LifetimeObserver observer;
    OpCallObserver* previous = SetOpCallObserver(&observer);
    ResetPeakAllocatedBytes();
    const int64_t base = CurrentAllocatedBytes();
    absl::StatusOr<GraphValues> values = RunGraph(graph, {{"x", x}}, options);
    const int64_t peak = PeakAllocatedBytes() - base;
    SetOpCallObserver(previous);
    ASSERT_TRUE(values.ok()) << values.status();
    using Gone = std::vector<std::set<std::string>>;
    if (release) {
      EXPECT_EQ(observer.gone_at_call(), (Gone{{}, {}, {}, {"e"}, {"a", "e"}}));
      EXPECT_EQ(observer.GoneNow(), (std::set<std::string>{"a", "c", "e"}));
      for (const char* name : {"a", "c", "e"}) EXPECT_FALSE(values->Has(name));
    } else {
      EXPECT_EQ(observer.gone_at_call(), (Gone{{}, {}, {}, {}, {}}));
      EXPECT_TRUE(observer.GoneNow().empty());
    }
    for (const char* name : {"x", "b", "d"}) EXPECT_TRUE(values->Has(name));
    // The allocator saw the planned peak: these kernels allocate nothing
    // but their outputs.
    EXPECT_EQ(peak, release ? 3 * 16384 : 5 * 16384);
  }
  // The outputs do not depend on it.
  ExecuteOptions release;
  release.release_dead_values = true;
  ExpectSameOutputs(graph, graph, {{"x", x}}, release);
}

TEST(MemoryPlanTest, ReleasingKeepsGradientsFlowing) {
  const Graph graph = LivenessGraph();
  for (bool release : {false, true}) {
    Tensor x = Seeded({64, 64}, 17);
    x.set_requires_grad(true);
    ExecuteOptions options;
    options.record_gradients = true;
    options.release_dead_values = release;
    absl::StatusOr<std::vector<Tensor>> out =
        ExecuteGraph(graph, {{"x", x}}, options);
    ASSERT_TRUE(out.ok()) << out.status();
    const Tensor loss = Sum((*out)[1]);
    ASSERT_TRUE(loss.Backward().ok());
    // d(sum(-exp(x)))/dx = -exp(x).
    const Tensor expected = Neg(Exp(x.Detach()));
    EXPECT_EQ(BitDifference(x.grad(), expected), "") << release;
  }
}

// ---- everything on a captured model -----------------------------------------

ModelOptions SmallAttention(bool flash) {
  ModelOptions options;
  options.batch = 2;
  options.seq = 5;
  options.dtype = DType::kFloat32;
  options.seed = 3;
  options.settings = {{"hidden", "64"},
                      {"heads", "4"},
                      {"kv_heads", "2"},
                      {"flash", flash ? "true" : "false"}};
  return options;
}

class AttentionPassesTest : public ::testing::TestWithParam<bool> {};

TEST_P(AttentionPassesTest, AllPassesKeepForwardAndBackwardBits) {
  absl::StatusOr<cli::CapturedModel> model =
      cli::CaptureModel("attention", SmallAttention(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status();
  const Tensor& y = model->eager_outputs[0];
  const Tensor seed = Seeded(y.shape(), 18);
  BackwardGraphOptions backward_options;
  backward_options.feeds = model->feeds;
  backward_options.feeds["grad_output/y"] = seed;
  absl::StatusOr<Graph> backward =
      BuildBackwardGraph(model->graph, backward_options);
  ASSERT_TRUE(backward.ok()) << backward.status();
  const Tensor& x = model->feeds.at("x");

  struct Case {
    const char* label;
    const Graph* graph;
    std::map<std::string, Tensor> feeds;
  };
  for (const Case& c :
       {Case{"forward", &model->graph, {{"x", x}}},
        Case{"backward", &*backward, {{"x", x}, {"grad_output/y", seed}}}}) {
    SCOPED_TRACE(c.label);
    Graph optimized = *c.graph;
    absl::StatusOr<GraphPassReport> report = OptimizeGraph(optimized);
    ASSERT_TRUE(report.ok()) << report.status();
    std::printf("attention (%s) %s:\n%s", GetParam() ? "flash" : "composed",
                c.label, report->ToString().c_str());
    EXPECT_EQ(report->nodes_before, static_cast<int>(c.graph->nodes.size()));
    EXPECT_LE(report->nodes_after, report->nodes_before);
    EXPECT_LE(report->peak_bytes_planned, report->peak_bytes_keeping_all);
    ExecuteOptions release;
    release.release_dead_values = true;
    ExpectSameOutputs(*c.graph, optimized, c.feeds, release);
    // At another sequence length too, through the rebound graph.
    std::map<std::string, Tensor> longer = c.feeds;
    longer["x"] = Seeded({2, 7, 64}, 19);
    if (longer.count("grad_output/y") != 0) {
      longer["grad_output/y"] = Seeded({2, 7, 64}, 20);
    }
    ExpectSameOutputs(*c.graph, optimized, longer, release);
    ExecuteOptions on_request = release;
    on_request.rebound_passes = GraphPassOptions{};
    ExpectSameOutputs(*c.graph, *c.graph, longer, on_request);
    // What comes out saves and loads like any graph.
    absl::StatusOr<Graph> loaded =
        ParseGraph(*SerializeGraph(optimized, GraphFormat::kBinary),
                   GraphFormat::kBinary, "optimized.pb");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ExpectSameOutputs(*c.graph, *loaded, c.feeds);
  }
}

INSTANTIATE_TEST_SUITE_P(FlashAndComposed, AttentionPassesTest,
                         ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "flash" : "composed";
                         });

}  // namespace
}  // namespace minigraph
