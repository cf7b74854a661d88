// The rotary_tables op: its tables bit for bit against a float32 reference
// written here from the formula, hand-worked entries, both dtypes, empty
// tables, positions from an offset, and the errors for bad attributes.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/op_registry.h"
#include "framework/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/nn.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

struct Case {
  int64_t head_dim;
  double theta;  // exactly representable in float32
  int64_t start;
  int64_t count;
};

// What MiniMind's precompute_freqs_cis computes, in float32:
//   freqs = 1 / theta ** (arange(0, d, 2).float() / d)
//   angles = outer(arange(start, start + count).float(), freqs)
//   cos = cat(cos(angles), cos(angles)), likewise sin
// Each float32 operation is taken exactly and rounded once (double holds
// float products and quotients well enough), cos and sin of the float32
// angle rounded to float32. Row-major [count, d]; `want_sin` picks the table.
std::vector<float> ReferenceTable(const Case& c, bool want_sin) {
  const int64_t d = c.head_dim;
  const float theta = static_cast<float>(c.theta);
  std::vector<float> freqs;
  for (int64_t k = 0; k < d; k += 2) {
    const float exponent = static_cast<float>(k) / static_cast<float>(d);
    const float power = static_cast<float>(
        std::pow(static_cast<double>(theta), static_cast<double>(exponent)));
    freqs.push_back(1.0f / power);
  }
  std::vector<float> table;
  for (int64_t row = 0; row < c.count; ++row) {
    const float t = static_cast<float>(c.start + row);
    std::vector<float> half;
    for (const float f : freqs) {
      const double angle = static_cast<double>(t * f);
      half.push_back(
          static_cast<float>(want_sin ? std::sin(angle) : std::cos(angle)));
    }
    table.insert(table.end(), half.begin(), half.end());
    table.insert(table.end(), half.begin(), half.end());
  }
  return table;
}

absl::StatusOr<std::vector<Tensor>> CallTables(int64_t head_dim, double theta,
                                               int64_t start, int64_t count,
                                               DType dtype) {
  return CallOp("rotary_tables", {},
                {{"head_dim", head_dim},
                 {"theta", theta},
                 {"start", start},
                 {"count", count},
                 {"dtype", dtype}});
}

TEST(RotaryTablesTest, MatchesFloat32ReferenceBitForBitInBothDTypes) {
  const std::vector<Case> cases = {
      {2, 10000.0, 0, 4},        // one frequency, inv_freq 1: angle = t
      {8, 1e6, 0, 5},            // MiniMind's theta
      {6, 10000.0, 7, 3},        // three frequencies, from position 7
      {64, 1e6, 100, 33},        // a real head size past a cache of 100
      {16, 10.0, 0, 0},          // no positions
      {4, 500000.0, 1000003, 2}  // positions above 2^20: float(t) rounds
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message()
                 << "head_dim=" << c.head_dim << " theta=" << c.theta
                 << " start=" << c.start << " count=" << c.count);
    const std::vector<float> want_cos = ReferenceTable(c, false);
    const std::vector<float> want_sin = ReferenceTable(c, true);
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(DTypeName(dtype));
      const RotaryTables tables =
          RotaryCosSin(c.head_dim, c.theta, c.start, c.count, dtype);
      ASSERT_EQ(tables.cos.dtype(), dtype);
      ASSERT_EQ(tables.sin.dtype(), dtype);
      ASSERT_EQ(tables.cos.shape(), Shape({c.count, c.head_dim}));
      ASSERT_EQ(tables.sin.shape(), Shape({c.count, c.head_dim}));
      // float -> double is exact, so float64 tables hold the float32 values.
      const std::vector<double> cos = tables.cos.ToVector<double>();
      const std::vector<double> sin = tables.sin.ToVector<double>();
      ASSERT_EQ(cos.size(), want_cos.size());
      for (size_t i = 0; i < cos.size(); ++i) {
        ASSERT_EQ(cos[i], static_cast<double>(want_cos[i])) << "cos " << i;
        ASSERT_EQ(sin[i], static_cast<double>(want_sin[i])) << "sin " << i;
      }
    }
  }
}

TEST(RotaryTablesTest, HandWorkedEntries) {
  // head_dim 4, theta 100: inv_freq = {1, 100^-0.5 = 0.1}.
  const RotaryTables t = RotaryCosSin(4, 100.0, 0, 3, DType::kFloat64);
  const std::vector<double> cos = t.cos.ToVector<double>();
  const std::vector<double> sin = t.sin.ToVector<double>();
  // Position 0: cos 1, sin 0 everywhere.
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(cos[j], 1.0);
    EXPECT_EQ(sin[j], 0.0);
  }
  // Position 2, frequency 1: angle 2 (exact), in both halves of the row.
  EXPECT_EQ(cos[8], static_cast<double>(static_cast<float>(std::cos(2.0))));
  EXPECT_EQ(cos[10], cos[8]);
  EXPECT_NEAR(cos[8], -0.4161468365, 1e-7);
  EXPECT_NEAR(sin[8], 0.9092974268, 1e-7);
  EXPECT_EQ(sin[10], sin[8]);
  // Position 1, frequency 0.1: angle float(0.1), cos(0.1) to float32.
  EXPECT_NEAR(cos[5], 0.9950041653, 1e-7);
  EXPECT_NEAR(sin[5], 0.0998334166, 1e-7);
  EXPECT_EQ(cos[7], cos[5]);
  EXPECT_EQ(sin[7], sin[5]);
}

TEST(RotaryTablesTest, WrapperAndCallOpAgreeAndNameTheOutputs) {
  const OpDef* def = FindOp("rotary_tables");
  ASSERT_NE(def, nullptr);
  EXPECT_TRUE(def->inputs.empty());
  EXPECT_EQ(def->outputs, std::vector<std::string>({"cos", "sin"}));
  EXPECT_FALSE(def->backward);
  absl::StatusOr<std::vector<Tensor>> out =
      CallTables(6, 1e6, 3, 4, DType::kFloat32);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  const RotaryTables tables = RotaryCosSin(6, 1e6, 3, 4);
  EXPECT_EQ((*out)[0].ToVector<float>(), tables.cos.ToVector<float>());
  EXPECT_EQ((*out)[1].ToVector<float>(), tables.sin.ToVector<float>());
  EXPECT_FALSE(tables.cos.requires_grad());
  // The start shifts rows: rows 1.. of a table from 3 are the table from 4.
  const RotaryTables later = RotaryCosSin(6, 1e6, 4, 3);
  const std::vector<float> all = tables.sin.ToVector<float>();
  EXPECT_EQ(std::vector<float>(all.begin() + 6, all.end()),
            later.sin.ToVector<float>());
}

TEST(RotaryTablesTest, RejectsBadAttributes) {
  struct Bad {
    int64_t head_dim;
    double theta;
    int64_t start;
    int64_t count;
    DType dtype;
    std::string message;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const int64_t max = std::numeric_limits<int64_t>::max();
  const std::vector<Bad> bad = {
      {0, 1e4, 0, 2, DType::kFloat32,
       "head_dim must be even and > 0, got head_dim=0"},
      {7, 1e4, 0, 2, DType::kFloat32,
       "head_dim must be even and > 0, got head_dim=7"},
      {-4, 1e4, 0, 2, DType::kFloat32,
       "head_dim must be even and > 0, got head_dim=-4"},
      {4, 0.0, 0, 2, DType::kFloat32,
       "theta must be finite and > 0, got theta=0"},
      {4, -1.0, 0, 2, DType::kFloat32,
       "theta must be finite and > 0, got theta=-1"},
      {4, nan, 0, 2, DType::kFloat32,
       "theta must be finite and > 0, got theta=nan"},
      {4, inf, 0, 2, DType::kFloat32,
       "theta must be finite and > 0, got theta=inf"},
      {4, 1e4, -1, 2, DType::kFloat32, "start=-1, count=2"},
      {4, 1e4, 0, -3, DType::kFloat32, "start=0, count=-3"},
      {4, 1e4, max, 2, DType::kFloat32, "start + count overflows int64"},
      {4, 1e4, 0, 2, DType::kInt64, "float32 or float64, got int64"},
      // 2^40 elements per table is the allocation bound.
      {4, 1e4, 0, int64_t{1} << 39, DType::kFloat32, "shape [549755813888, 4]"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.message);
    absl::StatusOr<std::vector<Tensor>> r =
        CallTables(b.head_dim, b.theta, b.start, b.count, b.dtype);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("rotary_tables"));
    EXPECT_THAT(r.status().message(), HasSubstr(b.message));
  }
  // A missing required attribute is named.
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("rotary_tables", {}, {{"head_dim", int64_t{4}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("count"));
}

}  // namespace
}  // namespace minigraph
