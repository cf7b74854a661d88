// The benchmark harness: groups of measurements, each against a baseline run
// in the same process, printed as a table and optionally written as JSON.
// "% of peak" is relative to the float32 FMA peak measured in the same
// process (PeakGflops), never to a figure assumed for the machine.
//
//   bazel run //tools/bench -- [--filter TERMS] [--json FILE] [--quick]
#ifndef MINIGRAPH_TOOLS_BENCH_BENCH_H_
#define MINIGRAPH_TOOLS_BENCH_BENCH_H_

#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace minigraph::bench {

inline constexpr double kNotANumber = std::numeric_limits<double>::quiet_NaN();

// One row. ratio > 1 means minigraph is better: ours / baseline for
// higher-is-better units (GFLOP/s, GB/s, Gelem/s), baseline / ours for
// lower-is-better ones (ms, us, MiB). A figure that does not exist (no
// baseline, a ratio of a zero) is NaN, written to JSON as null.
struct Record {
  std::string name;
  double ours = kNotANumber;
  double baseline = kNotANumber;
  std::string unit;
  double ratio = kNotANumber;
  std::string baseline_name;  // what the baseline is: "openblas", "naive", ...
  std::string note;           // e.g. "openblas 40% of peak"
  // Percent of the measured float32 FMA peak on the record's thread count
  // (PeakGflops) that `ours` reaches, for records with a GFLOP/s figure; NaN
  // (left out of the JSON) elsewhere.
  double pct_peak = kNotANumber;
  // For records of a loop's memory behaviour (the allocator comparison):
  // minor page faults per iteration in steady state and the process's peak
  // resident set in MiB; NaN (left out of the JSON) elsewhere.
  double faults_per_iter = kNotANumber;
  double peak_rss_mib = kNotANumber;
};

// Fills ratio from ours/baseline and whether the unit is higher-is-better.
Record MakeRecord(std::string name, double ours, double baseline,
                  std::string unit, bool higher_is_better,
                  std::string baseline_name, std::string note = "");

// Runs `fn` until at least `min_seconds` and `min_runs` have passed (after
// one warm-up call) and returns the median seconds per call.
double MedianSeconds(const std::function<void()>& fn, int min_runs = 5,
                     double min_seconds = 0.2);

// The most tensor storage (framework/memory_stats.h) alive while `fn` ran,
// above the level before it, in MiB.
double PeakMiB(const std::function<void()>& fn);

struct Context {
  // Run only records whose name, or whose group's name, contains one of these
  // terms; empty runs everything.
  std::vector<std::string> filter;
  std::string group;   // the group being run, set by the driver
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

// A figure with `digits` significant digits (%g), or `digits` after the
// point when `fixed`; `missing` when it is NaN or infinite.
std::string FormatFigure(double value, int digits, bool fixed,
                         const char* missing);

// The records as a JSON list of objects with keys name, ours, baseline, unit,
// ratio, baseline_name, note, and pct_peak, faults_per_iter and peak_rss_mib
// where they are set. JSON has no NaN or infinity: a figure that does not
// exist is null.
std::string RecordsToJson(const std::vector<Record>& records);

// Writes RecordsToJson to `path` through a temporary file beside it and a
// rename, so a failed run leaves no partial file. False on any I/O error.
bool WriteRecordsJson(const std::string& path,
                      const std::vector<Record>& records);

// Under `bazel run` the binary runs in its runfiles tree: a relative output
// path is taken relative to $BUILD_WORKING_DIRECTORY, the directory the
// command was typed in, when that is set.
std::string ResolveOutputPath(const std::string& path);

// The float32 FMA peak of `threads` threads running at once, in GFLOP/s:
// measured (fma_peak.h) the first time a thread count is asked for, then
// remembered for the rest of the process, so that every "% of peak" of a run
// is relative to the same figure from the same machine state. Thread safe.
double PeakGflops(int threads);

// 100 gflops / PeakGflops(threads): the percentage of the measured peak.
double PercentOfPeak(double gflops, int threads);

}  // namespace minigraph::bench

#define MG_REGISTER_BENCH_GROUP(identifier, fn)                         \
  [[maybe_unused]] static const bool mg_bench_registered_##identifier = \
      ::minigraph::bench::RegisterGroup({#identifier, fn})

#endif  // MINIGRAPH_TOOLS_BENCH_BENCH_H_
