// Proves that Google Benchmark links and runs: one tiny benchmark, run
// briefly by the test (see BUILD.bazel for its arguments).

#include <cstdint>
#include <numeric>
#include <vector>

#include "benchmark/benchmark.h"

namespace minigraph {
namespace {

void BM_Accumulate(benchmark::State& state) {
  std::vector<int32_t> data(static_cast<size_t>(state.range(0)), 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        std::accumulate(data.begin(), data.end(), int64_t{0}));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Accumulate)->Arg(1024);

}  // namespace
}  // namespace minigraph

BENCHMARK_MAIN();
