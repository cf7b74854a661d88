#include "framework/optim/schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace minigraph {
namespace {

constexpr double kPi = 3.14159265358979323846;

// lr * step / warmup_steps: from lr / warmup at step 1 to lr at step warmup.
double Warmup(const Schedule& s, int64_t step) {
  return s.lr * static_cast<double>(step) / static_cast<double>(s.warmup_steps);
}

bool InWarmup(const Schedule& s, int64_t step) {
  return s.warmup_steps > 0 && step < s.warmup_steps;
}

}  // namespace

double LearningRateAt(const Schedule& s, int64_t step) {
  switch (s.kind) {
    case ScheduleKind::kConstant:
      return InWarmup(s, step) ? Warmup(s, step) : s.lr;
    case ScheduleKind::kCosine: {
      if (InWarmup(s, step)) return Warmup(s, step);
      const double span = static_cast<double>(s.total_steps - s.warmup_steps);
      // Past the end (or with no steps left after warmup) it stays at min_lr.
      const double progress =
          span > 0
              ? std::clamp(static_cast<double>(step - s.warmup_steps) / span,
                           0.0, 1.0)
              : 1.0;
      return s.min_lr +
             0.5 * (s.lr - s.min_lr) * (1.0 + std::cos(kPi * progress));
    }
    case ScheduleKind::kMiniMind:
      // MiniMind's trainer/trainer_utils.py:
      //   get_lr(current_step, total_steps, lr) =
      //       lr * (0.1 + 0.45 * (1 + cos(pi * current_step / total_steps)))
      // called with the 1-based step (train_pretrain.py enumerates batches
      // from start_step + 1): lr * 1.0 at 0, lr * 0.55 halfway, lr / 10 at
      // the end.
      return s.lr *
             (0.1 +
              0.45 * (1.0 + std::cos(kPi * static_cast<double>(step) /
                                     static_cast<double>(s.total_steps))));
  }
  return s.lr;
}

absl::Status ValidateSchedule(const Schedule& s) {
  const std::string where =
      absl::StrCat("learning-rate schedule '", ScheduleKindName(s.kind), "'");
  // Written so that nan fails.
  if (!(std::isfinite(s.lr) && s.lr >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": lr must be finite and >= 0, got ", s.lr));
  }
  if (!(std::isfinite(s.min_lr) && s.min_lr >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": min_lr must be finite and >= 0, got ", s.min_lr));
  }
  if (s.warmup_steps < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": warmup_steps must be >= 0, got ", s.warmup_steps));
  }
  if (s.total_steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": total_steps must be >= 1, got ", s.total_steps));
  }
  return absl::OkStatus();
}

absl::StatusOr<ScheduleKind> ParseScheduleKind(absl::string_view name) {
  for (ScheduleKind kind : {ScheduleKind::kConstant, ScheduleKind::kCosine,
                            ScheduleKind::kMiniMind}) {
    if (name == ScheduleKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown learning-rate schedule '", name,
                   "' (expected constant, cosine or minimind)"));
}

std::string ScheduleKindName(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kConstant:
      return "constant";
    case ScheduleKind::kCosine:
      return "cosine";
    case ScheduleKind::kMiniMind:
      return "minimind";
  }
  return "unknown";
}

}  // namespace minigraph
