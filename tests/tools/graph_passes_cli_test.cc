// `minigraph run --passes` and the pass report of `minigraph stats`, end to
// end on a graph written here: a captured script with a repeated call and a
// constant subgraph, plus a node no output reads. Every choice of passes
// writes the eager script's bits; stats counts what each pass removed.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/graph_capture.h"
#include "framework/graph_io.h"
#include "framework/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "tests/framework/graph_test_util.h"
#include "tests/tools/cli_test_util.h"

namespace minigraph {
namespace {

using ::minigraph::testing::BitDifference;
using ::minigraph::testing::RunMinigraph;
using ::minigraph::testing::RunResult;
using ::minigraph::testing::TempPath;
using ::testing::HasSubstr;

// y = (exp(x) + exp(x)) * exp(c * 2) over x [2, 3]: exp(x) is computed
// twice, and exp(c * 2) reads only constants.
std::vector<Tensor> Script(const Tensor& x, const Tensor& c) {
  const Tensor scale = Exp(c * 2.0);
  return {(Exp(x) + Exp(x)) * scale};
}

struct Fixture {
  std::string graph_path;
  std::string inputs_path;
  Tensor expected;
};

// Writes the captured graph with one more node that nothing reads, and the
// inputs; `expected` is the eager script's output.
Fixture WriteFixture() {
  Generator gen(21);
  const Tensor x = Tensor::Randn({2, 3}, gen);
  const Tensor c = Tensor::Randn({2, 3}, gen);
  GraphCapture capture("passes");
  EXPECT_TRUE(capture.AddInput(x, "x").ok());
  std::vector<Tensor> y;
  {
    GraphCapture::Scope recording(capture);
    y = Script(x, c);
  }
  absl::StatusOr<Graph> graph = capture.Finish({{"y", y[0]}});
  EXPECT_TRUE(graph.ok()) << graph.status();
  GraphNode dead;
  dead.name = "dead";
  dead.op = "neg";
  dead.inputs = {{"x", 0}};
  dead.outputs = {ValueType::FromMeta(x.meta())};
  graph->nodes.push_back(dead);
  const absl::Status valid = ValidateGraph(*graph, "fixture");
  EXPECT_TRUE(valid.ok()) << valid;
  Fixture fixture;
  fixture.graph_path = TempPath("passes.pb");
  fixture.inputs_path = TempPath("passes_inputs.safetensors");
  EXPECT_TRUE(WriteGraphFile(fixture.graph_path, *graph).ok());
  SafetensorsFile inputs;
  inputs.tensors["x"] = x;
  EXPECT_TRUE(WriteSafetensors(fixture.inputs_path, inputs).ok());
  fixture.expected = y[0].Detach();
  return fixture;
}

TEST(GraphPassesCliTest, RunWritesTheSameBitsWithAnyPasses) {
  const Fixture fixture = WriteFixture();
  for (const std::string passes :
       {"all", "none", "dce", "cse", "fold_constants", "memory_plan", "dce,cse",
        "cse,fold_constants,memory_plan"}) {
    SCOPED_TRACE(passes);
    const std::string out = TempPath(absl::StrCat("out_", passes, ".st"));
    const RunResult result = RunMinigraph(
        {"run", fixture.graph_path, "--inputs", fixture.inputs_path, "--output",
         out, absl::StrCat("--passes=", passes)});
    ASSERT_EQ(result.exit_code, 0) << result.stderr_text;
    // The verb's own lines, unchanged by the passes.
    EXPECT_EQ(result.stdout_text,
              absl::StrCat("y: float32[2, 3]\nwrote ", out, "\n"));
    absl::StatusOr<SafetensorsFile> file = ReadSafetensors(out);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_EQ(file->tensors.count("y"), 1u);
    EXPECT_EQ(BitDifference(file->tensors.at("y"), fixture.expected), "");
  }
}

TEST(GraphPassesCliTest, RunRefusesUnknownPasses) {
  const Fixture fixture = WriteFixture();
  const std::string out = TempPath("out_bad.st");
  const RunResult result =
      RunMinigraph({"run", fixture.graph_path, "--inputs", fixture.inputs_path,
                    "--output", out, "--passes=dce,fold"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.stderr_text,
              HasSubstr("--passes: unknown pass 'fold' in 'dce,fold'"));
  EXPECT_EQ(testing::ReadFile(out), "");
}

TEST(GraphPassesCliTest, StatsReportsEachPassAndThePlannedPeak) {
  const Fixture fixture = WriteFixture();
  const RunResult all = RunMinigraph({"stats", fixture.graph_path});
  ASSERT_EQ(all.exit_code, 0) << all.stderr_text;
  // The graph as given first, as before.
  EXPECT_THAT(all.stdout_text, HasSubstr("nodes: 7 (7 forward, 0 gradient)"));
  EXPECT_THAT(all.stdout_text, HasSubstr("peak activation memory"));
  // dead goes; the second exp(x) merges; c * 2 and its exp fold, and the
  // constants they read die: exp(x), add and mul remain, reading one
  // constant.
  EXPECT_THAT(all.stdout_text,
              HasSubstr("graph passes (--passes=dce,cse,fold_constants,"
                        "memory_plan):\n"
                        "dce: nodes 7 -> 6, constants 2 -> 2\n"
                        "cse: nodes 6 -> 5, constants 2 -> 2\n"
                        "fold_constants: nodes 5 -> 3, constants 2 -> 4\n"
                        "cse: nodes 3 -> 3, constants 4 -> 4\n"
                        "dce: nodes 3 -> 3, constants 4 -> 1\n"
                        "optimized: nodes 7 -> 3, constants 2 -> 1\n"));
  // 24 bytes per value: exp(x) and the sum at once, then the sum and the
  // product; keeping all, three.
  EXPECT_THAT(all.stdout_text,
              HasSubstr("planned peak memory: 48 bytes releasing values after "
                        "their last use, 72 bytes keeping every value\n"));

  const RunResult none =
      RunMinigraph({"stats", fixture.graph_path, "--passes=none"});
  ASSERT_EQ(none.exit_code, 0) << none.stderr_text;
  EXPECT_THAT(none.stdout_text,
              HasSubstr("graph passes (--passes=none):\n"
                        "optimized: nodes 7 -> 7, constants 2 -> 2\n"));
  EXPECT_THAT(none.stdout_text, ::testing::Not(HasSubstr("planned peak")));

  const RunResult bad =
      RunMinigraph({"stats", fixture.graph_path, "--passes=everything"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.stderr_text, HasSubstr("unknown pass 'everything'"));
}

}  // namespace
}  // namespace minigraph
