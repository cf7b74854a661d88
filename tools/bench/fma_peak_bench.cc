// The measured float32 FMA peak, one record per thread count:
//
//   fma_peak_t<n>  GFLOP/s of a register-only FMA loop on n threads at once
//                  (fma_peak.h); the figure every "% of peak" of the same
//                  run is relative to (PeakGflops remembers it). No baseline:
//                  the machine is the reference.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/bench/bench.h"
#include "tools/bench/fma_peak.h"

namespace minigraph::bench {
namespace {

void RunFmaPeak(const Context& ctx, std::vector<Record>* records) {
  for (int threads : ctx.threads) {
    const std::string name = absl::StrCat("fma_peak_t", threads);
    if (!ctx.Wants(name)) continue;
    // The rate PercentOfPeak uses (measured now unless an earlier record
    // needed it); the loop's shape for the note.
    const double gflops = PeakGflops(threads);
    const FmaPeak shape = DescribeFmaLoop();
    records->push_back(MakeRecord(
        name, gflops, kNotANumber, "GFLOP/s", true, "none",
        absl::StrFormat("register-only FMA loop, %d x %d-lane float32 "
                        "accumulators (%s), median of %d runs; %.1f per "
                        "thread",
                        shape.accumulators, static_cast<int>(shape.lanes),
                        shape.target.c_str(), kFmaPeakRuns, gflops / threads)));
  }
}

}  // namespace

MG_REGISTER_BENCH_GROUP(fma_peak, RunFmaPeak);

}  // namespace minigraph::bench
