// Deterministic mutation fuzzing of the graph loader: 100,000+ mutants of
// valid .pb, .pbtxt and .json files (bit flips, truncations, byte
// insertions, chunk duplications). Every load must return a Status, never
// crash or hang; mutants that still load are executed with a small
// allocation limit.
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/graph_backward.h"
#include "framework/graph_capture.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "framework/graph_passes.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"
#include "tests/framework/graph_test_util.h"

namespace minigraph {
namespace {

// 24 seeds (forward and backward graphs of a fixed-size and of a symbolic
// script, with and without weights, three formats) of 4,167 mutants each:
// just over 100,000 files.
constexpr int kMutantsPerSeed = 4167;
constexpr int64_t kMinimumMutants = 100000;

std::string Mutate(const std::string& seed, std::mt19937_64& rng) {
  std::string bytes = seed;
  auto pick = [&](size_t n) {
    return static_cast<size_t>(rng() % std::max<size_t>(n, 1));
  };
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 5) {
      case 0:  // flip one bit
        if (!bytes.empty()) bytes[pick(bytes.size())] ^= 1 << (rng() % 8);
        break;
      case 1:  // truncate
        bytes.resize(pick(bytes.size() + 1));
        break;
      case 2: {  // insert random bytes
        const size_t at = pick(bytes.size() + 1);
        std::string inserted(1 + rng() % 8, '\0');
        for (char& c : inserted) c = static_cast<char>(rng());
        bytes.insert(at, inserted);
        break;
      }
      case 3:  // overwrite one byte
        if (!bytes.empty())
          bytes[pick(bytes.size())] = static_cast<char>(rng());
        break;
      case 4: {  // duplicate a chunk (repeats fields and nested messages)
        if (bytes.empty()) break;
        const size_t from = pick(bytes.size());
        const size_t length =
            1 + pick(std::min<size_t>(64, bytes.size() - from));
        bytes.insert(pick(bytes.size() + 1), bytes.substr(from, length));
        break;
      }
    }
  }
  return bytes;
}

// Runs a graph that loaded on seeded inputs of its stored types (each
// symbol moved by `grow`, so symbolic attributes are evaluated at other
// sizes), with a small allocation limit: errors are fine, crashes are not.
absl::Status TryExecute(const Graph& graph, int64_t grow = 0) {
  Generator gen(1);
  std::map<std::string, int64_t> sizes = graph.symbols;
  for (auto& [name, size] : sizes) size += grow;
  std::map<std::string, Tensor> feeds;
  int64_t elements = 0;
  for (const GraphInput& input : graph.inputs) {
    TensorMeta meta = input.type.meta();
    for (size_t d = 0; d < meta.shape.size(); ++d) {
      const std::string& symbol = input.type.shape[d].symbol;
      if (symbol.empty()) continue;
      absl::StatusOr<int64_t> size = EvaluateSymbol(symbol, sizes);
      if (!size.ok()) return size.status();
      meta.shape[d] = *size;
    }
    MG_RETURN_IF_ERROR(ValidateShape(meta.shape));
    elements += NumElements(meta.shape);
    if (elements > (1 << 16)) {
      return absl::ResourceExhaustedError("inputs too large to try");
    }
    feeds[input.name] = IsFloating(meta.dtype)
                            ? Tensor::Randn(meta.shape, gen, meta.dtype)
                            : Tensor::Zeros(meta.shape, meta.dtype);
  }
  ExecuteOptions options;
  options.max_tensor_bytes = 1 << 20;
  return ExecuteGraph(graph, feeds, options).status();
}

// A script whose attributes follow its symbols: a reshape to [B*T, 4], a
// slice ending at B*T-1, a causal mask of T x T.
absl::StatusOr<Graph> TraceSymbolicScript(
    const std::map<std::string, int64_t>& sizes) {
  const int64_t b = sizes.at("B"), t = sizes.at("T");
  Generator gen(2);
  const Tensor x = Tensor::Randn({b, t, 4}, gen);
  const Tensor w = Tensor::Randn({4, 4}, gen);
  GraphCapture capture("symbolic");
  MG_RETURN_IF_ERROR(capture.AddInput(x, "x", {"B", "T", "4"}));
  MG_RETURN_IF_ERROR(capture.AddParameter(w, "w"));
  Tensor y;
  {
    GraphCapture::Scope recording(capture);
    const Tensor flat = Matmul(Reshape(x, {b * t, 4}), w, false, true);
    const Tensor head = Reshape(Slice(flat, 0, 0, t), {t, 4});
    y = Sum(Slice(flat, 0, 0, b * t - 1)) +
        Sum(Softmax(Matmul(head, head, false, true) +
                        CausalMask(t, t, 0, DType::kFloat32),
                    -1));
  }
  return capture.Finish({{"y", y}});
}

TEST(GraphFuzzTest, MutatedGraphFilesAreStatusesNeverCrashes) {
  testing::TinyModel model = testing::MakeTinyModel(1, 2, DType::kFloat32, 3);
  absl::StatusOr<Graph> forward = testing::CaptureTinyModel(model);
  ASSERT_TRUE(forward.ok()) << forward.status();
  BackwardGraphOptions options;
  options.feeds = {{"x", model.x}};
  absl::StatusOr<Graph> backward = BuildBackwardGraph(*forward, options);
  ASSERT_TRUE(backward.ok()) << backward.status();
  absl::StatusOr<Graph> symbolic =
      CaptureSymbolic(TraceSymbolicScript, {{"B", 2}, {"T", 3}});
  ASSERT_TRUE(symbolic.ok()) << symbolic.status();
  int symbolic_attributes = 0;
  for (const GraphNode& node : symbolic->nodes) {
    symbolic_attributes += static_cast<int>(node.attr_symbols.size());
  }
  ASSERT_GE(symbolic_attributes, 4);
  absl::StatusOr<Graph> symbolic_backward = BuildBackwardGraph(*symbolic);
  ASSERT_TRUE(symbolic_backward.ok()) << symbolic_backward.status();

  struct Seed {
    std::string bytes;
    GraphFormat format;
  };
  std::vector<Seed> seeds;
  for (const Graph* graph :
       {&*forward, &*backward, &*symbolic, &*symbolic_backward}) {
    for (bool weights : {true, false}) {
      GraphWriteOptions write;
      write.with_weights = weights;
      for (GraphFormat format :
           {GraphFormat::kBinary, GraphFormat::kText, GraphFormat::kJson}) {
        absl::StatusOr<std::string> bytes =
            SerializeGraph(*graph, format, write);
        ASSERT_TRUE(bytes.ok()) << bytes.status();
        ASSERT_TRUE(ParseGraph(*bytes, format, "seed").ok());
        seeds.push_back({*std::move(bytes), format});
      }
    }
  }

  std::mt19937_64 rng(20261122);
  int64_t total = 0, loaded = 0, executed = 0, executed_rebound = 0,
          optimized_ok = 0;
  std::map<absl::StatusCode, int64_t> errors;
  std::map<GraphFormat, int64_t> total_by_format, loaded_by_format;
  for (const Seed& seed : seeds) {
    for (int i = 0; i < kMutantsPerSeed; ++i) {
      const std::string mutant = Mutate(seed.bytes, rng);
      absl::StatusOr<Graph> graph = ParseGraph(mutant, seed.format, "mutant");
      ++total;
      ++total_by_format[seed.format];
      if (!graph.ok()) {
        ++errors[graph.status().code()];
        // An error always says where it came from.
        ASSERT_NE(graph.status().message().find("mutant"), std::string::npos)
            << graph.status();
        continue;
      }
      ++loaded;
      ++loaded_by_format[seed.format];
      if (TryExecute(*graph).ok()) ++executed;
      // At other sizes (symbolic attributes evaluated there), and after the
      // graph passes: errors again, never crashes.
      if (!graph->symbols.empty() && TryExecute(*graph, 1).ok()) {
        ++executed_rebound;
      }
      Graph optimized = *graph;
      GraphPassOptions passes;
      passes.max_fold_bytes = 1 << 16;
      if (OptimizeGraph(optimized, passes).ok()) ++optimized_ok;
    }
  }
  std::printf(
      "graph fuzz: %lld mutants, %lld loaded (%lld of them ran, %lld at other "
      "sizes; passes accepted %lld), ",
      static_cast<long long>(total), static_cast<long long>(loaded),
      static_cast<long long>(executed),
      static_cast<long long>(executed_rebound),
      static_cast<long long>(optimized_ok));
  for (const auto& [code, count] : errors) {
    std::printf("%s: %lld  ", absl::StatusCodeToString(code).c_str(),
                static_cast<long long>(count));
  }
  std::printf("\n");
  for (const auto& [format, count] : total_by_format) {
    std::printf("  %s: %lld mutants, %lld loaded\n", GraphFormatName(format),
                static_cast<long long>(count),
                static_cast<long long>(loaded_by_format[format]));
  }
  ASSERT_GE(total, kMinimumMutants);
  EXPECT_EQ(total_by_format.size(), 3u);
  // Both outcomes occur in every format: the mutations are neither all
  // fatal nor all harmless, so the loader's checks and its happy path are
  // both exercised.
  for (const auto& [format, count] : total_by_format) {
    EXPECT_GT(loaded_by_format[format], 0) << GraphFormatName(format);
    EXPECT_GT(count - loaded_by_format[format], count / 2)
        << GraphFormatName(format);
  }
}

}  // namespace
}  // namespace minigraph
