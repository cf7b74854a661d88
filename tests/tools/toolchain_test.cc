// Smoke test for the offline toolchain: a generated protobuf message,
// absl::StatusOr error propagation and a Highway kernel reached through
// dynamic dispatch.

#include <cstddef>
#include <cstdint>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

// Highway compiles this file once per enabled target, starting here.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/tools/toolchain_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

// Sums `size` values, one vector at a time, then the remainder one by one.
// Each lane accumulates in int32: callers keep the values small.
int64_t SumInt32(const int32_t* HWY_RESTRICT data, size_t size) {
  const hn::ScalableTag<int32_t> d;
  const size_t lanes = hn::Lanes(d);
  auto acc = hn::Zero(d);
  size_t i = 0;
  for (; i + lanes <= size; i += lanes) {
    acc = hn::Add(acc, hn::LoadU(d, data + i));
  }
  int64_t sum = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; i < size; ++i) {
    sum += data[i];
  }
  return sum;
}

// The target this copy of the code was compiled for.
int64_t CompiledTarget() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/tools/toolchain_smoke.pb.h"

namespace minigraph {

HWY_EXPORT(SumInt32);
HWY_EXPORT(CompiledTarget);

namespace {

// --- protobuf ---------------------------------------------------------------

TEST(ToolchainTest, ProtoRoundTrip) {
  toolchain_smoke::SmokeMessage message;
  message.set_name("matmul_0");
  message.set_id(42);
  message.set_kind(toolchain_smoke::SmokeMessage::KIND_MATMUL);
  message.mutable_shape()->add_dims(3);
  message.mutable_shape()->add_dims(4);
  message.add_values(1.5f);
  message.add_values(-2.25f);
  (*message.mutable_attributes())["layout"] = "row_major";
  message.mutable_created()->set_seconds(1700000000);
  message.mutable_created()->set_nanos(5);

  std::string wire;
  ASSERT_TRUE(message.SerializeToString(&wire));
  ASSERT_FALSE(wire.empty());

  toolchain_smoke::SmokeMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(parsed.name(), "matmul_0");
  EXPECT_EQ(parsed.id(), 42);
  EXPECT_EQ(parsed.kind(), toolchain_smoke::SmokeMessage::KIND_MATMUL);
  ASSERT_EQ(parsed.shape().dims_size(), 2);
  EXPECT_EQ(parsed.shape().dims(0), 3);
  EXPECT_EQ(parsed.shape().dims(1), 4);
  ASSERT_EQ(parsed.values_size(), 2);
  EXPECT_EQ(parsed.values(0), 1.5f);
  EXPECT_EQ(parsed.values(1), -2.25f);
  ASSERT_EQ(parsed.attributes().count("layout"), 1u);
  EXPECT_EQ(parsed.attributes().at("layout"), "row_major");
  EXPECT_EQ(parsed.created().seconds(), 1700000000);
  EXPECT_EQ(parsed.created().nanos(), 5);
  EXPECT_EQ(parsed.SerializeAsString(), wire);
}

// --- absl::StatusOr ---------------------------------------------------------

absl::StatusOr<int> ParsePositive(absl::string_view text) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an integer: '", text, "'"));
  }
  if (value <= 0) {
    return absl::OutOfRangeError(absl::StrCat("not positive: ", value));
  }
  return value;
}

// Propagates any error from ParsePositive unchanged.
absl::StatusOr<int> ParseAndDouble(absl::string_view text) {
  absl::StatusOr<int> value = ParsePositive(text);
  if (!value.ok()) return value.status();
  return 2 * *value;
}

TEST(ToolchainTest, StatusOrPropagatesErrors) {
  absl::StatusOr<int> doubled = ParseAndDouble("21");
  ASSERT_TRUE(doubled.ok()) << doubled.status();
  EXPECT_EQ(*doubled, 42);

  absl::StatusOr<int> not_a_number = ParseAndDouble("abc");
  ASSERT_FALSE(not_a_number.ok());
  EXPECT_EQ(not_a_number.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(not_a_number.status().message(), "not an integer: 'abc'");

  absl::StatusOr<int> negative = ParseAndDouble("-5");
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(negative.status().message(), "not positive: -5");
}

// --- Highway ----------------------------------------------------------------

// The project-wide HWY_DISABLED_TARGETS (.bazelrc) leaves exactly the static
// target plus SSE4, AVX2 and AVX3 to compile.
static_assert(HWY_TARGETS ==
                  (HWY_STATIC_TARGET | HWY_SSE4 | HWY_AVX2 | HWY_AVX3),
              "unexpected Highway target set; see HWY_DISABLED_TARGETS");

TEST(ToolchainTest, HighwayDispatchedSumMatchesScalarSum) {
  // Odd length so that every target also runs its remainder loop.
  std::vector<int32_t> data(10007);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<int32_t>(i % 1000) - 499;
  }
  const int64_t expected =
      std::accumulate(data.begin(), data.end(), int64_t{0});

  EXPECT_EQ(HWY_DYNAMIC_DISPATCH(SumInt32)(data.data(), data.size()), expected);
  EXPECT_EQ(HWY_DYNAMIC_DISPATCH(SumInt32)(data.data(), 3),
            int64_t{-499 - 498 - 497});
  EXPECT_EQ(HWY_DYNAMIC_DISPATCH(SumInt32)(data.data(), 0), 0);
}

TEST(ToolchainTest, HighwayEveryCompiledTargetAgrees) {
  std::vector<int32_t> data(1001);
  std::iota(data.begin(), data.end(), -500);
  const int64_t expected =
      std::accumulate(data.begin(), data.end(), int64_t{0});
  // Run the kernel once for each target that is both compiled and supported.
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    EXPECT_EQ(HWY_DYNAMIC_DISPATCH(CompiledTarget)(), target)
        << hwy::TargetName(target);
    EXPECT_EQ(HWY_DYNAMIC_DISPATCH(SumInt32)(data.data(), data.size()),
              expected)
        << hwy::TargetName(target);
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(ToolchainTest, HighwayDispatchesBestSupportedTarget) {
  std::cout << "Highway targets compiled and supported here:";
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    std::cout << " " << hwy::TargetName(target);
  }
  const int64_t chosen = HWY_DYNAMIC_DISPATCH(CompiledTarget)();
  std::cout << "; dispatched: " << hwy::TargetName(chosen) << "\n";

  // Lower bits are better targets: dispatch must pick the best one.
  const int64_t usable = hwy::SupportedTargets() & HWY_TARGETS;
  EXPECT_EQ(chosen, usable & -usable);
  if (hwy::SupportedTargets() & HWY_AVX3) {
    EXPECT_EQ(chosen, HWY_AVX3) << hwy::TargetName(chosen);
  }
}

}  // namespace
}  // namespace minigraph

#endif  // HWY_ONCE
