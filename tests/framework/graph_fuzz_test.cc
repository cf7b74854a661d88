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
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "gtest/gtest.h"
#include "tests/framework/graph_test_util.h"

namespace minigraph {
namespace {

// 12 seeds (forward and backward graph, with and without weights, three
// formats) of 8,334 mutants each: just over 100,000 files.
constexpr int kMutantsPerSeed = 8334;
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

// Runs a graph that loaded on seeded inputs of its stored types, with a small
// allocation limit: errors are fine, crashes are not.
absl::Status TryExecute(const Graph& graph) {
  Generator gen(1);
  std::map<std::string, Tensor> feeds;
  int64_t elements = 0;
  for (const GraphInput& input : graph.inputs) {
    const TensorMeta meta = input.type.meta();
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

TEST(GraphFuzzTest, MutatedGraphFilesAreStatusesNeverCrashes) {
  testing::TinyModel model = testing::MakeTinyModel(1, 2, DType::kFloat32, 3);
  absl::StatusOr<Graph> forward = testing::CaptureTinyModel(model);
  ASSERT_TRUE(forward.ok()) << forward.status();
  BackwardGraphOptions options;
  options.feeds = {{"x", model.x}};
  absl::StatusOr<Graph> backward = BuildBackwardGraph(*forward, options);
  ASSERT_TRUE(backward.ok()) << backward.status();

  struct Seed {
    std::string bytes;
    GraphFormat format;
  };
  std::vector<Seed> seeds;
  for (const Graph* graph : {&*forward, &*backward}) {
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
  int64_t total = 0, loaded = 0, executed = 0;
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
    }
  }
  std::printf("graph fuzz: %lld mutants, %lld loaded (%lld of them ran), ",
              static_cast<long long>(total), static_cast<long long>(loaded),
              static_cast<long long>(executed));
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
