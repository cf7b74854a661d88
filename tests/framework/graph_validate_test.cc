// Loading rejects every kind of bad graph with a message that names the
// source and the node (or field), before anything runs.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_replace.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "gtest/gtest.h"
#include "tests/framework/graph_test_util.h"

namespace minigraph {
namespace {

// x[2, 3] -> exp -> reshape to [3, 2] -> y.
// (Not an R"pb(...)" literal: clang-format would reflow it, and the
// mutations below match its exact text.)
constexpr char kValid[] = R"graph(
format_version: 1
name: "small"
symbols { name: "B" value: 2 }
inputs {
  name: "x"
  type { dtype: FLOAT32 shape { dims { size: 2 symbol: "B" } dims { size: 3 } } }
}
nodes {
  name: "e"
  op: "exp"
  inputs { node: "x" }
  outputs { dtype: FLOAT32 shape { dims { size: 2 symbol: "B" } dims { size: 3 } } }
}
nodes {
  name: "r"
  op: "reshape"
  inputs { node: "e" }
  attrs { key: "shape" value { shape { dims { size: 3 } dims { size: 2 } } } }
  outputs { dtype: FLOAT32 shape { dims { size: 3 } dims { size: 2 } } }
}
outputs { name: "y" value { node: "r" } }
)graph";

absl::Status Load(const std::string& text) {
  return ParseGraph(text, GraphFormat::kText, "bad.pbtxt").status();
}

std::string Replace(const std::string& from, const std::string& to) {
  const std::string text = absl::StrReplaceAll(kValid, {{from, to}});
  EXPECT_NE(text, kValid) << "mutation did not apply: " << from;
  return text;
}

TEST(GraphValidateTest, TheValidGraphLoadsAndRuns) {
  absl::StatusOr<Graph> graph =
      ParseGraph(kValid, GraphFormat::kText, "small.pbtxt");
  ASSERT_TRUE(graph.ok()) << graph.status();
  const Tensor x = Tensor::FromData<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  absl::StatusOr<std::vector<Tensor>> y = ExecuteGraph(*graph, {{"x", x}});
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ((*y)[0].shape(), (Shape{3, 2}));
  EXPECT_FLOAT_EQ((*y)[0].ToVector<float>()[5], std::exp(5.0f));
}

struct BadCase {
  const char* label;
  std::string text;
  // Every piece must appear in the message.
  std::vector<std::string> expected;
};

TEST(GraphValidateTest, EveryDefectIsANamedError) {
  const std::vector<BadCase> cases = {
      {"unknown op",
       Replace("op: \"exp\"", "op: \"expo\""),
       {"bad.pbtxt", "node 'e'", "unknown op 'expo'"}},
      {"attribute of the wrong type",
       Replace("value { shape { dims { size: 3 } dims { size: 2 } } }",
               "value { b: true }"),
       {"node 'r' (reshape)", "attribute 'shape' must be shape", "bool"}},
      {"missing attribute",
       Replace("attrs { key: \"shape\" value { shape { dims { size: 3 } dims { "
               "size: 2 } } } }",
               ""),
       {"node 'r' (reshape)", "missing required attribute 'shape'"}},
      {"unknown attribute",
       Replace("op: \"exp\"",
               "op: \"exp\" attrs { key: \"alpha\" value { f: 1 } }"),
       {"node 'e' (exp)", "unknown attribute 'alpha'"}},
      {"attribute holding a tensor",
       Replace("value { shape { dims { size: 3 } dims { size: 2 } } }",
               "value { tensor { dtype: FLOAT32 } }"),
       {"node 'r' (reshape)", "attribute 'shape'", "holds a tensor",
        "stores tensor values as constants or parameters"}},
      {"wrong arity",
       Replace("inputs { node: \"x\" }",
               "inputs { node: \"x\" } inputs { node: \"x\" }"),
       {"node 'e' (exp)", "expects 1 input(s)", "has 2"}},
      {"stored shape disagrees with inference",
       Replace("outputs { dtype: FLOAT32 shape { dims { size: 3 } dims { size: "
               "2 } } }",
               "outputs { dtype: FLOAT32 shape { dims { size: 2 } dims { size: "
               "3 } } }"),
       {"node 'r' (reshape)", "output 0", "float32[2, 3]",
        "shape inference gives float32[3, 2]"}},
      {"stored dtype disagrees with inference",
       Replace("outputs { dtype: FLOAT32 shape { dims { size: 3 }",
               "outputs { dtype: FLOAT64 shape { dims { size: 3 }"),
       {"node 'r' (reshape)", "float64[3, 2]", "float32[3, 2]"}},
      {"dtype mismatch between an input and its use",
       Replace("type { dtype: FLOAT32", "type { dtype: FLOAT64"),
       {"node 'e' (exp)", "float32"}},
      {"cycle",
       Replace("inputs { node: \"x\" }", "inputs { node: \"r\" }"),
       {"bad.pbtxt", "cycle", "e -> r -> e"}},
      {"dangling reference",
       Replace("inputs { node: \"x\" }", "inputs { node: \"nowhere\" }"),
       {"node 'e'", "unknown value 'nowhere'"}},
      {"missing output index",
       Replace("inputs { node: \"x\" }", "inputs { node: \"x\" output: 1 }"),
       {"node 'e'", "output 1 of 'x'"}},
      {"node output index out of range",
       Replace("inputs { node: \"e\" }", "inputs { node: \"e\" output: 3 }"),
       {"node 'r'", "output 3 of node 'e'", "1 output(s)"}},
      {"duplicate names",
       Replace("name: \"r\"", "name: \"e\""),
       {"duplicate name 'e'"}},
      {"negative dimension",
       Replace("type { dtype: FLOAT32 shape { dims { size: 2 symbol: \"B\" }",
               "type { dtype: FLOAT32 shape { dims { size: -2 }"),
       {"graph input 'x'", "negative dimension"}},
      {"enormous dimension",
       Replace("type { dtype: FLOAT32 shape { dims { size: 2 symbol: \"B\" }",
               "type { dtype: FLOAT32 shape { dims { size: 1000000000000000 }"),
       {"graph input 'x'", "more than 2^40 elements"}},
      {"symbol disagreeing with its size",
       Replace("symbols { name: \"B\" value: 2 }",
               "symbols { name: \"B\" value: 5 }"),
       {"graph input 'x'", "'B' = 5", "its size is 2"}},
      {"symbolic dimension that does not follow its symbol",
       absl::StrReplaceAll(
           Replace("symbols { name: \"B\" value: 2 }",
                   "symbols { name: \"B\" value: 2 } symbols { name: \"T\" "
                   "value: 2 }"),
           {{"outputs { dtype: FLOAT32 shape { dims { size: 2 symbol: \"B\" }",
             "outputs { dtype: FLOAT32 shape { dims { size: 2 symbol: \"T\" "
             "}"}}),
       {"node 'e' (exp)", "output 0 dimension 0 is stored as 'T'", "B=3, T=2",
        "gives 3"}},
      {"unknown symbol",
       Replace("symbols { name: \"B\" value: 2 }", ""),
       {"graph input 'x'", "'B'", "not a graph symbol"}},
      {"missing format version",
       Replace("format_version: 1", ""),
       {"bad.pbtxt", "format_version is missing"}},
      {"newer format version",
       Replace("format_version: 1", "format_version: 99"),
       {"bad.pbtxt", "format_version 99 is newer"}},
      {"graph output to nowhere",
       Replace("value { node: \"r\" }", "value { node: \"q\" }"),
       {"graph output 'y'", "unknown value 'q'"}},
      {"unknown field",
       Replace("name: \"small\"", "name: \"small\" colour: 3"),
       {"bad.pbtxt", "line", "colour"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.label);
    const absl::Status status = Load(c.text);
    ASSERT_FALSE(status.ok());
    for (const std::string& piece : c.expected) {
      EXPECT_NE(status.message().find(piece), std::string::npos)
          << "'" << piece << "' not in: " << status.message();
    }
  }
}

TEST(GraphValidateTest, BadBytesAreErrorsInEveryFormat) {
  const testing::TinyModel model =
      testing::MakeTinyModel(1, 2, DType::kFloat32, 1);
  absl::StatusOr<Graph> graph = testing::CaptureTinyModel(model);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const std::string pb = *SerializeGraph(*graph, GraphFormat::kBinary);
  const std::string text = *SerializeGraph(*graph, GraphFormat::kText);
  const std::string json = *SerializeGraph(*graph, GraphFormat::kJson);

  EXPECT_NE(ParseGraph("", GraphFormat::kBinary, "e.pb")
                .status()
                .message()
                .find("e.pb: empty file"),
            std::string::npos);
  // Truncated binary: cut inside the last message.
  const absl::Status truncated =
      ParseGraph(pb.substr(0, pb.size() - 3), GraphFormat::kBinary, "t.pb")
          .status();
  EXPECT_FALSE(truncated.ok());
  EXPECT_NE(truncated.message().find("t.pb"), std::string::npos);
  // Wrong format for the extension.
  EXPECT_FALSE(ParseGraph(text, GraphFormat::kBinary, "w.pb").ok());
  EXPECT_FALSE(ParseGraph(pb, GraphFormat::kText, "w.pbtxt").ok());
  EXPECT_FALSE(ParseGraph(pb, GraphFormat::kJson, "w.json").ok());
  const absl::Status json_as_text =
      ParseGraph(json, GraphFormat::kText, "w.pbtxt").status();
  EXPECT_NE(json_as_text.message().find("not a graph in protobuf text format"),
            std::string::npos)
      << json_as_text;
  // A parameter whose stored bytes do not fill its shape.
  proto::Graph message = GraphToProto(*graph);
  message.mutable_parameters(0)->mutable_value()->mutable_data()->resize(7);
  std::string bytes;
  ASSERT_TRUE(message.SerializeToString(&bytes));
  const absl::Status short_data =
      ParseGraph(bytes, GraphFormat::kBinary, "p.pb").status();
  EXPECT_NE(short_data.message().find("parameter 'w1'"), std::string::npos)
      << short_data;
  EXPECT_NE(short_data.message().find("needs 96 bytes"), std::string::npos)
      << short_data;
}

TEST(GraphValidateTest, FilesThatCannotBeReadAreErrors) {
  EXPECT_NE(ReadGraphFile("/nonexistent/g.pb")
                .status()
                .message()
                .find("/nonexistent/g.pb"),
            std::string::npos);
  EXPECT_NE(ReadGraphFile("graph.onnx")
                .status()
                .message()
                .find("unknown graph format 'onnx'"),
            std::string::npos);
  EXPECT_NE(ReadGraphFile("/tmp").status().message().find("no extension"),
            std::string::npos);
}

}  // namespace
}  // namespace minigraph
