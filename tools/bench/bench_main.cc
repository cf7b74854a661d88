// Runs the registered benchmark groups, prints one table, and with --json
// writes the records (see WriteRecordsJson in bench.h).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/bench/bench.h"

ABSL_FLAG(std::vector<std::string>, filter, std::vector<std::string>(),
          "comma-separated terms: run only the records whose name or whose "
          "group's name contains one of them (groups: see --list)");
ABSL_FLAG(std::string, json, "",
          "also write the records as JSON to this file (relative to the "
          "directory `bazel run` was called from)");
ABSL_FLAG(bool, quick, false, "fewer and smaller cases (a smoke run)");
ABSL_FLAG(bool, list, false, "list the benchmark groups and exit");
ABSL_FLAG(std::vector<std::string>, threads,
          std::vector<std::string>({"1", "2"}),
          "comma-separated thread counts for the per-thread-count records");

namespace minigraph::bench {
namespace {

// OpenBLAS's worker threads busy-wait for 2^OPENBLAS_THREAD_TIMEOUT cycles
// after each call (2^28, about 0.1 s, by default). With two cores the
// spinning worker takes a core from minigraph's pool during the next sample
// of a paired measurement and halves its rate (seen at 512 to 2048 on 2
// threads). 2^17 cycles, about 50 us, is the polling time of minigraph's own
// pool (kSpinTime in framework/thread_pool.cc), so both sides wait alike.
// OpenBLAS reads the variable when it loads, before main, so the binary
// runs itself again once with it set; a value the caller set is kept.
void SetOpenBlasThreadTimeout(char** argv) {
  if (std::getenv("OPENBLAS_THREAD_TIMEOUT") != nullptr) return;
  setenv("OPENBLAS_THREAD_TIMEOUT", "17", /*overwrite=*/1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr,
               "bench: cannot restart with OPENBLAS_THREAD_TIMEOUT set; "
               "2-thread matmul ratios may be low\n");
}

int Main(int argc, char** argv) {
  SetOpenBlasThreadTimeout(argv);
  absl::SetProgramUsageMessage(
      "minigraph benchmarks: each row against a baseline from the same run.\n"
      "  bench [--filter TERM,...] [--json FILE] [--quick] [--threads 1,2]\n"
      "  e.g. --filter matmul_512,overhead (record or group name substrings)");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_list)) {
    for (const Group* group : AllGroups())
      std::printf("%s\n", group->name.c_str());
    return 0;
  }
  Context context;
  for (const std::string& term : absl::GetFlag(FLAGS_filter)) {
    if (!term.empty()) context.filter.push_back(term);
  }
  context.quick = absl::GetFlag(FLAGS_quick);
  context.threads.clear();
  for (const std::string& text : absl::GetFlag(FLAGS_threads)) {
    int threads = 0;
    if (!absl::SimpleAtoi(text, &threads) || threads < 1 || threads > 1024) {
      std::fprintf(stderr,
                   "bench: --threads: '%s' is not a thread count (1 to 1024)\n",
                   text.c_str());
      return 2;
    }
    context.threads.push_back(threads);
  }
  const std::string json = ResolveOutputPath(absl::GetFlag(FLAGS_json));
  std::vector<Record> records;
  std::printf("%-32s %12s %12s %-9s %7s %6s  %-14s %s\n", "name", "ours",
              "baseline", "unit", "ratio", "%peak", "baseline", "note");
  for (const Group* group : AllGroups()) {
    context.group = group->name;
    std::vector<Record> group_records;
    group->run(context, &group_records);
    for (const Record& r : group_records) {
      // Memory figures, where a record has them, lead its note.
      std::string note = r.note;
      if (std::isfinite(r.faults_per_iter) || std::isfinite(r.peak_rss_mib)) {
        note = absl::StrCat(FormatFigure(r.faults_per_iter, 3, false, "-"),
                            " faults/iter, peak RSS ",
                            FormatFigure(r.peak_rss_mib, 0, true, "-"),
                            " MiB; ", note);
      }
      std::printf("%-32s %12s %12s %-9s %7s %6s  %-14s %s\n", r.name.c_str(),
                  FormatFigure(r.ours, 4, false, "-").c_str(),
                  FormatFigure(r.baseline, 4, false, "-").c_str(),
                  r.unit.c_str(), FormatFigure(r.ratio, 3, true, "-").c_str(),
                  FormatFigure(r.pct_peak, 0, true, "-").c_str(),
                  r.baseline_name.c_str(), note.c_str());
      std::fflush(stdout);
    }
    records.insert(records.end(), group_records.begin(), group_records.end());
  }
  if (records.empty() && !context.filter.empty()) {
    std::fprintf(stderr, "bench: no record matches --filter\n");
    return 2;
  }
  if (!json.empty() && !WriteRecordsJson(json, records)) {
    std::fprintf(stderr, "bench: cannot write %s\n", json.c_str());
    return 2;
  }
  return 0;
}

}  // namespace
}  // namespace minigraph::bench

int main(int argc, char** argv) { return minigraph::bench::Main(argc, argv); }
