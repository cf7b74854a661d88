// The gradient checks of the `minigraph` verbs: progress shown by elapsed
// time, and an error of the checked function ending the check as a Status.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "framework/op_registry.h"
#include "framework/random.h"
#include "gtest/gtest.h"
#include "tools/minigraph/gradcheck_support.h"

namespace minigraph::cli {
namespace {

// A clock the test moves by hand.
struct FakeClock {
  absl::Time now = absl::UnixEpoch();
  std::function<absl::Time()> Reader() {
    return [this] { return now; };
  }
};

// Everything written to a temporary file, which is not a terminal: one line
// per progress report.
std::vector<std::string> Lines(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[256];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), file)) > 0;) {
    text.append(buffer, n);
  }
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(ProgressPrinterTest, QuickChecksShowNothing) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  FakeClock clock;
  auto progress = ProgressPrinter("quick", out, clock.Reader());
  for (int done = 1; done <= 500; ++done) {
    clock.now += absl::Milliseconds(1);
    progress(done, 500);
  }
  EXPECT_TRUE(Lines(out).empty());
  std::fclose(out);
}

TEST(ProgressPrinterTest, SlowChecksShowALineEverySecondAndTheEnd) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  FakeClock clock;
  auto progress = ProgressPrinter("slow", out, clock.Reader());
  // Ten steps of 400 ms: shown at 1.2 s (the first past 1 s), 2.4 s and
  // 3.6 s (each the first a second after the last shown), and at the end.
  for (int done = 1; done <= 10; ++done) {
    clock.now += absl::Milliseconds(400);
    progress(done, 10);
  }
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 4u) << absl::StrJoin(lines, "\n");
  EXPECT_EQ(lines[0], "  slow: 3/10 (30%, 1s)");
  EXPECT_EQ(lines[1], "  slow: 6/10 (60%, 2s)");
  EXPECT_EQ(lines[2], "  slow: 9/10 (90%, 4s)");
  EXPECT_EQ(lines[3], "  slow: 10/10 (100%, 4s)");
  std::fclose(out);
}

TEST(ProgressPrinterTest, FewSlowStepsAreShownToo) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  FakeClock clock;
  auto progress = ProgressPrinter("few", out, clock.Reader());
  clock.now += absl::Seconds(2);
  progress(1, 2);
  clock.now += absl::Seconds(2);
  progress(2, 2);
  const std::vector<std::string> lines = Lines(out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "  few: 1/2 (50%, 2s)");
  EXPECT_EQ(lines[1], "  few: 2/2 (100%, 4s)");
  std::fclose(out);
}

// exp of a float64 input that fails from call `fail_at` on (0: never).
FallibleFn ExpFailingAt(int fail_at, std::shared_ptr<int> calls) {
  return [fail_at, calls](const std::vector<Tensor>& xs)
             -> absl::StatusOr<std::vector<Tensor>> {
    if (++*calls == fail_at) {
      return absl::InternalError("kernel gave up on call " +
                                 std::to_string(*calls));
    }
    return CallOp("exp", {xs[0]});
  };
}

std::vector<Tensor> Inputs() {
  Generator gen(3);
  return {Tensor::Randn({2, 3}, gen, DType::kFloat64)};
}

TEST(CheckGradientsTest, AWorkingFunctionGetsGradchecksReport) {
  for (CheckOrder order : {CheckOrder::kFirst, CheckOrder::kSecond}) {
    auto calls = std::make_shared<int>(0);
    absl::StatusOr<GradcheckReport> report =
        CheckGradients(ExpFailingAt(0, calls), Inputs(), {}, order);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->passed) << report->ToString();
    EXPECT_EQ(report->mode,
              order == CheckOrder::kFirst ? "full" : "second-order full");
    // Full Jacobians of 6 outputs by 6 entries: x alone, then x and the
    // output weights u of the second-order check.
    ASSERT_EQ(report->inputs.size(), order == CheckOrder::kFirst ? 1u : 2u);
    for (const InputGradReport& input : report->inputs) {
      EXPECT_EQ(input.entries_compared, 36);
    }
  }
}

TEST(CheckGradientsTest, AnErrorBeforeTheCheckIsReturnedAsIs) {
  auto calls = std::make_shared<int>(0);
  absl::StatusOr<GradcheckReport> report =
      CheckGradients(ExpFailingAt(1, calls), Inputs(), {}, CheckOrder::kFirst);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(report.status().message(), "kernel gave up on call 1");
  EXPECT_EQ(*calls, 1);
}

TEST(CheckGradientsTest, AnErrorDuringTheCheckEndsItAsAStatus) {
  for (CheckOrder order : {CheckOrder::kFirst, CheckOrder::kSecond}) {
    auto calls = std::make_shared<int>(0);
    absl::StatusOr<GradcheckReport> report =
        CheckGradients(ExpFailingAt(5, calls), Inputs(), {}, order);
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.status().code(), absl::StatusCode::kInternal);
    const std::string message(report.status().message());
    EXPECT_TRUE(absl::StrContains(message, "kernel gave up on call 5"))
        << message;
    EXPECT_TRUE(absl::StrContains(
        message, order == CheckOrder::kFirst
                     ? "during the gradient check"
                     : "during the second-order gradient check"))
        << message;
    // After the error the function is not called again.
    EXPECT_EQ(*calls, 5);
  }
}

}  // namespace
}  // namespace minigraph::cli
