// The float32 FMA peak of this machine, measured: what "% of peak" in the
// benchmarks is relative to. A register-only loop of independent FMA chains
// (no loads or stores), Highway's best target by dynamic dispatch, run on
// one or more threads at once.
#ifndef MINIGRAPH_TOOLS_BENCH_FMA_PEAK_H_
#define MINIGRAPH_TOOLS_BENCH_FMA_PEAK_H_

#include <cstddef>
#include <string>

namespace minigraph::bench {

struct FmaPeak {
  double gflops = 0.0;  // float32 GFLOP/s of all threads together (FMA = 2)
  int threads = 0;
  size_t lanes = 0;  // float32 lanes per vector of the dispatched target
  int accumulators = 0;
  std::string target;  // Highway's name for the dispatched target
};

// The loop's shape on this machine (lanes, accumulators, target), without
// running it; gflops and threads are 0.
FmaPeak DescribeFmaLoop();

// Runs the FMA loop on `threads` threads at once (each ~5 ms), `runs`
// times, and returns the median rate.
inline constexpr int kFmaPeakRuns = 15;
FmaPeak MeasureFmaPeak(int threads, int runs = kFmaPeakRuns);

}  // namespace minigraph::bench

#endif  // MINIGRAPH_TOOLS_BENCH_FMA_PEAK_H_
