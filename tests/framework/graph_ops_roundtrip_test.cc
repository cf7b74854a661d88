// Walks every registered op's conformance samples through graphs: capture the
// call, save as pb, pbtxt and json, load, execute, and compare bits with the
// eager call; then the same for the gradient graph against the autograd
// engine's gradients for the same output weights.
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

struct SampleGraph {
  Graph graph;
  std::map<std::string, Tensor> feeds;
  std::vector<Tensor> eager;
};

// One op call on the sample's inputs, captured with inputs x0, x1, ...
absl::StatusOr<SampleGraph> CaptureSample(const OpDef& def,
                                          const OpSample& sample) {
  GraphCapture capture(def.name);
  SampleGraph result;
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < sample.inputs.size(); ++i) {
    // A fresh handle per input, so one tensor passed twice is two inputs.
    Tensor input = sample.inputs[i].ShallowCopy();
    const std::string name = absl::StrCat("x", i);
    MG_RETURN_IF_ERROR(capture.AddInput(input, name));
    result.feeds[name] = input;
    inputs.push_back(input);
  }
  {
    GraphCapture::Scope recording(capture);
    MG_ASSIGN_OR_RETURN(result.eager, CallOp(def.name, inputs, sample.attrs));
  }
  std::vector<std::pair<std::string, Tensor>> outputs;
  for (size_t i = 0; i < result.eager.size(); ++i) {
    outputs.emplace_back(absl::StrCat("y", i), result.eager[i]);
  }
  MG_ASSIGN_OR_RETURN(result.graph, capture.Finish(outputs));
  return result;
}

TEST(GraphOpsRoundTripTest, EverySampleOfEveryOp) {
  int forward_checked = 0;
  int backward_checked = 0;
  for (const OpDef* def : AllOps()) {
    for (const OpSample& sample : def->samples()) {
      SCOPED_TRACE(absl::StrCat(def->name, "/", sample.label));
      absl::StatusOr<SampleGraph> captured = CaptureSample(*def, sample);
      ASSERT_TRUE(captured.ok()) << captured.status();
      ASSERT_EQ(captured->graph.nodes.size(), 1u);
      for (GraphFormat format : kFormats) {
        SCOPED_TRACE(GraphFormatName(format));
        absl::StatusOr<std::string> bytes =
            SerializeGraph(captured->graph, format);
        ASSERT_TRUE(bytes.ok()) << bytes.status();
        absl::StatusOr<Graph> loaded = ParseGraph(*bytes, format, "sample");
        ASSERT_TRUE(loaded.ok()) << loaded.status();
        EXPECT_EQ(loaded->nodes[0].attrs, captured->graph.nodes[0].attrs);
        absl::StatusOr<std::vector<Tensor>> out =
            ExecuteGraph(*loaded, captured->feeds);
        ASSERT_TRUE(out.ok()) << out.status();
        ASSERT_EQ(out->size(), captured->eager.size());
        for (size_t i = 0; i < out->size(); ++i) {
          EXPECT_EQ(BitDifference((*out)[i], captured->eager[i]), "");
        }
        ++forward_checked;
      }

      // Backward: with respect to every differentiable float input.
      std::vector<std::string> wrt;
      std::vector<int> wrt_index;
      for (size_t i = 0; i < sample.inputs.size(); ++i) {
        if (IsFloating(sample.inputs[i].dtype()) &&
            def->IsDifferentiable(static_cast<int>(i))) {
          wrt.push_back(absl::StrCat("x", i));
          wrt_index.push_back(static_cast<int>(i));
        }
      }
      if (wrt.empty()) continue;
      Generator gen(17);
      BackwardGraphOptions options;
      options.wrt = wrt;
      options.feeds = captured->feeds;
      std::vector<Tensor> seeds;
      for (size_t i = 0; i < captured->eager.size(); ++i) {
        const Tensor& y = captured->eager[i];
        Tensor seed = y.numel() == 1 ? Tensor::Ones(y.shape(), y.dtype())
                                     : Tensor::Randn(y.shape(), gen, y.dtype());
        options.feeds[absl::StrCat("grad_output/y", i)] = seed;
        seeds.push_back(seed);
      }
      absl::StatusOr<Graph> backward =
          BuildBackwardGraph(captured->graph, options);
      ASSERT_TRUE(backward.ok()) << backward.status();

      // The engine on leaves holding the same values and layouts.
      std::vector<Tensor> leaves;
      for (const Tensor& t : sample.inputs) leaves.push_back(t.ShallowCopy());
      std::vector<Tensor> wrt_leaves;
      for (int i : wrt_index) {
        leaves[i].set_requires_grad(true);
        wrt_leaves.push_back(leaves[i]);
      }
      const std::vector<Tensor> ys =
          ValueOrDie(CallOp(def->name, leaves, sample.attrs));
      std::vector<Tensor> used_ys, used_seeds;
      for (size_t i = 0; i < ys.size(); ++i) {
        if (ys[i].requires_grad()) {
          used_ys.push_back(ys[i]);
          used_seeds.push_back(seeds[i]);
        }
      }
      const std::vector<Tensor> engine = ValueOrDie(Gradients(
          used_ys, wrt_leaves, used_seeds, {}, /*allow_unused=*/true));

      for (GraphFormat format : kFormats) {
        SCOPED_TRACE(absl::StrCat("backward ", GraphFormatName(format)));
        absl::StatusOr<std::string> bytes = SerializeGraph(*backward, format);
        ASSERT_TRUE(bytes.ok()) << bytes.status();
        absl::StatusOr<Graph> loaded = ParseGraph(*bytes, format, "sample");
        ASSERT_TRUE(loaded.ok()) << loaded.status();
        std::map<std::string, Tensor> feeds;
        for (const GraphInput& input : loaded->inputs) {
          feeds[input.name] = options.feeds.at(input.name);
        }
        absl::StatusOr<std::vector<Tensor>> out = ExecuteGraph(*loaded, feeds);
        ASSERT_TRUE(out.ok()) << out.status();
        // Outputs: the forward outputs, then one gradient per wrt input.
        ASSERT_EQ(out->size(), captured->eager.size() + wrt.size());
        for (size_t k = 0; k < wrt.size(); ++k) {
          EXPECT_EQ(
              BitDifference((*out)[captured->eager.size() + k], engine[k]), "")
              << wrt[k];
        }
        ++backward_checked;
      }
    }
  }
  std::printf("graph round trips: %d forward, %d backward (3 formats each)\n",
              forward_checked, backward_checked);
  EXPECT_GT(forward_checked, 3 * 38);
  EXPECT_GT(backward_checked, 3 * 30);
}

}  // namespace
}  // namespace minigraph
