// Learning-rate schedules. `step` is 1-based (the optimizer step about to be
// taken) and total_steps is the number of optimizer steps in the run.
#ifndef MINIGRAPH_FRAMEWORK_OPTIM_SCHEDULE_H_
#define MINIGRAPH_FRAMEWORK_OPTIM_SCHEDULE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace minigraph {

enum class ScheduleKind { kConstant, kCosine, kMiniMind };

struct Schedule {
  ScheduleKind kind = ScheduleKind::kConstant;
  double lr = 1e-3;
  int64_t warmup_steps = 0;
  double min_lr = 0.0;
  int64_t total_steps = 1;
};

// constant: lr, after a linear warmup when warmup_steps > 0 (lr * step /
// warmup_steps up to step warmup_steps).
// cosine: the same warmup, then min_lr + 0.5 * (lr - min_lr) * (1 +
// cos(pi * progress)), progress = (step - warmup) / (total - warmup) clamped
// to [0, 1].
// minimind: lr * (0.1 + 0.45 * (1 + cos(pi * step / total))), MiniMind's
// get_lr (no warmup; min_lr unused: it ends at lr / 10).
double LearningRateAt(const Schedule& schedule, int64_t step);

// lr and min_lr finite and >= 0, warmup_steps >= 0, total_steps >= 1.
absl::Status ValidateSchedule(const Schedule& schedule);

// "constant" | "cosine" | "minimind".
absl::StatusOr<ScheduleKind> ParseScheduleKind(absl::string_view name);
std::string ScheduleKindName(ScheduleKind kind);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_OPTIM_SCHEDULE_H_
