// The benchmark harness: groups of measurements, each against a baseline run
// in the same process, printed as a table and optionally written as JSON.
//
//   bazel run //tools/bench -- [--filter SUBSTRING] [--json FILE]
#ifndef MINIGRAPH_TOOLS_BENCH_BENCH_H_
#define MINIGRAPH_TOOLS_BENCH_BENCH_H_

#include <functional>
#include <string>
#include <vector>

namespace minigraph::bench {

// One row. ratio > 1 means minigraph is better: ours / baseline for
// higher-is-better units (GFLOP/s, GB/s, Gelem/s), baseline / ours for
// lower-is-better ones (ms, us, MiB).
struct Record {
  std::string name;
  double ours = 0.0;
  double baseline = 0.0;
  std::string unit;
  double ratio = 0.0;
  std::string baseline_name;  // what the baseline is: "openblas", "naive", ...
  std::string note;           // e.g. "42% of peak"
};

// Fills ratio from ours/baseline and whether the unit is higher-is-better.
Record MakeRecord(std::string name, double ours, double baseline,
                  std::string unit, bool higher_is_better,
                  std::string baseline_name, std::string note = "");

// Runs `fn` until at least `min_seconds` and `min_runs` have passed (after
// one warm-up call) and returns the median seconds per call.
double MedianSeconds(const std::function<void()>& fn, int min_runs = 5,
                     double min_seconds = 0.2);

struct Context {
  std::string filter;  // run only records whose name contains it
  bool quick = false;  // fewer sizes, for smoke runs in tests
  // Thread counts for records measured per thread count (names end in _t<n>).
  std::vector<int> threads = {1, 2};
  bool Wants(const std::string& name) const;
};

struct Group {
  std::string name;
  std::function<void(const Context&, std::vector<Record>*)> run;
};
bool RegisterGroup(Group group);
std::vector<const Group*> AllGroups();

// Peak float32 throughput of this machine used for "% of peak": 2 FMA ports x
// 16 lanes x 2 flops x ~2.0 GHz = 128 GFLOP/s per core.
inline constexpr double kPeakGflopsPerCore = 128.0;

}  // namespace minigraph::bench

#define MG_REGISTER_BENCH_GROUP(identifier, fn)                        \
  [[maybe_unused]] static const bool mg_bench_registered_##identifier = \
      ::minigraph::bench::RegisterGroup({#identifier, fn})

#endif  // MINIGRAPH_TOOLS_BENCH_BENCH_H_
