// Writes the graph fuzzer's seed corpus: a small captured graph (matmul,
// softmax, silu, sum, a constant, symbolic dimensions) and its gradient
// graph, each in the three formats, as <dir>/<name>.<format> with the
// fuzzer's leading format byte (0 binary, 1 text, 2 JSON).
//   bazel run //tools/fuzz:graph_seed_writer -- $PWD/tools/fuzz/corpus/graph
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "framework/graph_backward.h"
#include "framework/graph_capture.h"
#include "framework/graph_io.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

absl::StatusOr<Graph> CaptureSmallModel() {
  Generator gen(1);
  Tensor x = Tensor::Randn({2, 3, 4}, gen);
  Tensor w = Tensor::Randn({4, 4}, gen);
  GraphCapture capture("seed");
  MG_RETURN_IF_ERROR(capture.AddInput(x, "x", {"B", "T", "4"}));
  MG_RETURN_IF_ERROR(capture.AddParameter(w, "w"));
  Tensor y;
  {
    GraphCapture::Scope recording(capture);
    Tensor h = Matmul(x, w, false, /*transpose_b=*/true) * 0.5;
    y = Sum(Silu(Softmax(h, -1)) + x);
  }
  return capture.Finish({{"y", y}});
}

// Attributes that follow the symbols: a reshape to [B*T, 4], a slice ending
// at T-1, a causal mask of T x T.
absl::StatusOr<Graph> TraceSymbolicModel(
    const std::map<std::string, int64_t>& sizes) {
  const int64_t b = sizes.at("B"), t = sizes.at("T");
  Generator gen(2);
  Tensor x = Tensor::Randn({b, t, 4}, gen);
  GraphCapture capture("symbolic_seed");
  MG_RETURN_IF_ERROR(capture.AddInput(x, "x", {"B", "T", "4"}));
  Tensor y;
  {
    GraphCapture::Scope recording(capture);
    const Tensor rows = Reshape(x, {b * t, 4});
    const Tensor head = Reshape(Slice(rows, 0, 0, t), {t, 4});
    y = Sum(Slice(rows, 0, 0, t - 1)) +
        Sum(Softmax(Matmul(head, head, false, true) +
                        CausalMask(t, t, 0, DType::kFloat32),
                    -1));
  }
  return capture.Finish({{"y", y}});
}

absl::Status WriteSeeds(const std::string& dir) {
  MG_ASSIGN_OR_RETURN(Graph forward, CaptureSmallModel());
  MG_ASSIGN_OR_RETURN(Graph backward, BuildBackwardGraph(forward));
  MG_ASSIGN_OR_RETURN(Graph symbolic, CaptureSymbolic(TraceSymbolicModel,
                                                      {{"B", 2}, {"T", 3}}));
  MG_ASSIGN_OR_RETURN(Graph symbolic_backward, BuildBackwardGraph(symbolic));
  const std::pair<const char*, const Graph*> graphs[] = {
      {"forward", &forward},
      {"backward", &backward},
      {"symbolic_forward", &symbolic},
      {"symbolic_backward", &symbolic_backward}};
  const GraphFormat formats[] = {GraphFormat::kBinary, GraphFormat::kText,
                                 GraphFormat::kJson};
  for (const auto& [name, graph] : graphs) {
    for (int f = 0; f < 3; ++f) {
      MG_ASSIGN_OR_RETURN(std::string bytes,
                          SerializeGraph(*graph, formats[f]));
      const std::string path =
          absl::StrCat(dir, "/", name, ".", GraphFormatName(formats[f]));
      // A seed the loader rejects would only teach the fuzzer error paths.
      MG_RETURN_IF_ERROR(ParseGraph(bytes, formats[f], path).status());
      std::ofstream out(path, std::ios::binary);
      out << static_cast<char>(f) << bytes;
      if (!out) return absl::InternalError("cannot write " + path);
    }
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace minigraph

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: graph_seed_writer DIR\n");
    return 2;
  }
  MG_CHECK_OK(minigraph::WriteSeeds(argv[1]));
  return 0;
}
