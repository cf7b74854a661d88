// Learning-rate schedules at chosen steps, values worked out by hand; names
// and validation.
#include <cmath>

#include "framework/optim/optim.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

Schedule Make(ScheduleKind kind, double lr, int64_t warmup, double min_lr,
              int64_t total) {
  Schedule s;
  s.kind = kind;
  s.lr = lr;
  s.warmup_steps = warmup;
  s.min_lr = min_lr;
  s.total_steps = total;
  return s;
}

TEST(ScheduleTest, ConstantWithoutWarmup) {
  const Schedule s = Make(ScheduleKind::kConstant, 3e-4, 0, 0, 100);
  EXPECT_EQ(LearningRateAt(s, 1), 3e-4);
  EXPECT_EQ(LearningRateAt(s, 100), 3e-4);
  EXPECT_EQ(LearningRateAt(s, 1000), 3e-4);
}

TEST(ScheduleTest, ConstantWithLinearWarmup) {
  const Schedule s = Make(ScheduleKind::kConstant, 1e-3, 4, 0, 100);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 1), 0.25e-3);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 2), 0.5e-3);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 3), 0.75e-3);
  EXPECT_EQ(LearningRateAt(s, 4), 1e-3);
  EXPECT_EQ(LearningRateAt(s, 50), 1e-3);
}

// lr 1e-3, min_lr 1e-4, 10 warmup steps, 110 in all: the cosine spans steps
// 10 to 110.
TEST(ScheduleTest, CosineWithWarmup) {
  const Schedule s = Make(ScheduleKind::kCosine, 1e-3, 10, 1e-4, 110);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 1), 1e-4);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 5), 5e-4);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 10), 1e-3);  // progress 0
  // Progress 1/4: cos(pi/4) = sqrt(1/2).
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 35),
                   1e-4 + 0.5 * 9e-4 * (1 + std::sqrt(0.5)));
  // Progress 1/2: halfway between lr and min_lr.
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 60), 5.5e-4);
  // Progress 3/4: cos(3 pi/4) = -sqrt(1/2).
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 85),
                   1e-4 + 0.5 * 9e-4 * (1 - std::sqrt(0.5)));
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 110), 1e-4);
  // Past the end it stays at min_lr.
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 500), 1e-4);
}

TEST(ScheduleTest, CosineWithoutWarmupStartsAtLr) {
  const Schedule s = Make(ScheduleKind::kCosine, 2e-3, 0, 0, 8);
  // Step 1 of 8: progress 1/8.
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 1),
                   0.5 * 2e-3 * (1 + std::cos(3.14159265358979323846 / 8)));
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 4), 1e-3);
  EXPECT_NEAR(LearningRateAt(s, 8), 0.0, 1e-20);
}

// MiniMind: lr * (0.1 + 0.45 * (1 + cos(pi * step / total))).
TEST(ScheduleTest, MiniMindMatchesItsGetLr) {
  const double lr = 5e-4;
  const Schedule s = Make(ScheduleKind::kMiniMind, lr, 0, 0, 1000);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 0), lr);                   // 0.1 + 0.9
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 500), lr * (0.1 + 0.45));  // cos = 0
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 1000), lr * 0.1);          // cos = -1
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 250),
                   lr * (0.1 + 0.45 * (1 + std::sqrt(0.5))));
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 750),
                   lr * (0.1 + 0.45 * (1 - std::sqrt(0.5))));
  // Warmup and min_lr play no part in MiniMind's schedule.
  Schedule with_extras = s;
  with_extras.warmup_steps = 100;
  with_extras.min_lr = 1e-3;
  EXPECT_EQ(LearningRateAt(with_extras, 500), LearningRateAt(s, 500));
}

TEST(ScheduleTest, KindNamesRoundTrip) {
  for (ScheduleKind kind : {ScheduleKind::kConstant, ScheduleKind::kCosine,
                            ScheduleKind::kMiniMind}) {
    absl::StatusOr<ScheduleKind> parsed =
        ParseScheduleKind(ScheduleKindName(kind));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(ScheduleKindName(ScheduleKind::kMiniMind), "minimind");
  const absl::StatusOr<ScheduleKind> bad = ParseScheduleKind("linear");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'linear'"));
  EXPECT_THAT(bad.status().message(),
              HasSubstr("expected constant, cosine or minimind"));
}

TEST(ScheduleTest, ValidateNamesTheField) {
  EXPECT_TRUE(ValidateSchedule(Schedule()).ok());
  Schedule total = Make(ScheduleKind::kCosine, 1e-3, 0, 0, 0);
  EXPECT_THAT(ValidateSchedule(total).message(),
              HasSubstr("'cosine': total_steps must be >= 1, got 0"));
  Schedule warmup = Make(ScheduleKind::kConstant, 1e-3, -2, 0, 10);
  EXPECT_THAT(ValidateSchedule(warmup).message(),
              HasSubstr("warmup_steps must be >= 0, got -2"));
  Schedule lr = Make(ScheduleKind::kMiniMind, std::nan(""), 0, 0, 10);
  EXPECT_THAT(ValidateSchedule(lr).message(), HasSubstr("lr must be finite"));
  Schedule min_lr = Make(ScheduleKind::kCosine, 1e-3, 0, -1e-4, 10);
  EXPECT_THAT(ValidateSchedule(min_lr).message(),
              HasSubstr("min_lr must be finite and >= 0"));
}

}  // namespace
}  // namespace minigraph
