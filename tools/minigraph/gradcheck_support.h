// Gradient checks as the CLI verbs (gradcheck, demo) run them: progress on
// standard error once a check is slow enough for someone to wonder, and
// functions that may fail, whose first error ends the check as a Status
// instead of aborting the process.
#ifndef MINIGRAPH_TOOLS_MINIGRAPH_GRADCHECK_SUPPORT_H_
#define MINIGRAPH_TOOLS_MINIGRAPH_GRADCHECK_SUPPORT_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "framework/gradcheck.h"
#include "framework/tensor.h"

namespace minigraph::cli {

// Nothing is shown for checks shorter than this; slower ones show a line
// this often.
inline constexpr absl::Duration kProgressInterval = absl::Seconds(1);

// A GradcheckOptions::progress callback: "  WHAT: done/total (p%, Ns)" on
// `out`, first once kProgressInterval has passed since the printer was made,
// then at most once per interval, and the final count when anything was
// shown. On a terminal the line is redrawn in place. `now` is for tests.
std::function<void(int64_t, int64_t)> ProgressPrinter(
    std::string what, std::FILE* out = stderr,
    std::function<absl::Time()> now = [] { return absl::Now(); });

// What the verbs check: graph execution or an op call, either of which
// reports errors as a Status.
using FallibleFn = std::function<absl::StatusOr<std::vector<Tensor>>(
    const std::vector<Tensor>&)>;

enum class CheckOrder { kFirst, kSecond };

// Gradcheck (kFirst) or GradGradcheck (kSecond) of `fn` at `inputs`. fn runs
// once on the inputs first, so an error there is returned before the check
// starts; an error of any later call is returned instead of the report,
// naming the check as where it happened. (Gradcheck takes functions that
// cannot fail: after an error each call returns zeros of fn's output shapes
// without calling fn, so the check runs out quickly.)
absl::StatusOr<GradcheckReport> CheckGradients(
    const FallibleFn& fn, const std::vector<Tensor>& inputs,
    const GradcheckOptions& options, CheckOrder order);

}  // namespace minigraph::cli

#endif  // MINIGRAPH_TOOLS_MINIGRAPH_GRADCHECK_SUPPORT_H_
