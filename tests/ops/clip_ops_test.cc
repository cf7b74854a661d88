// The gradient clipping ops (sum_of_squares, clip_coefficient, scale_by)
// composed with add and sqrt, bit for bit against ClipGradNorm's in-place
// clipping; each op against hand-worked values; their errors; and the
// composition captured as a graph, serialized, loaded and run.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "framework/graph_capture.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "framework/optim/clip_grad.h"
#include "framework/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

uint64_t Bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

// Same dtype, shape and bytes, element by element in row-major order.
bool SameBits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = CopyToContiguous(a);
  const Tensor cb = CopyToContiguous(b);
  const size_t bytes = static_cast<size_t>(a.numel()) * DTypeSize(a.dtype());
  return std::memcmp(ca.storage()->data(), cb.storage()->data(), bytes) == 0;
}

// How one gradient of a list is laid out.
struct GradSpec {
  DType dtype;
  int64_t numel;            // contiguous [numel]; ignored when transposed
  bool transposed = false;  // a [65, 33] transposed view of a [33, 65] base
};

// A fresh tensor per call, same values for the same seed.
Tensor MakeGrad(const GradSpec& spec, uint64_t seed) {
  Generator gen(seed);
  if (spec.transposed) {
    return Transpose(Tensor::Uniform({33, 65}, -1, 1, gen, spec.dtype), 0, 1);
  }
  return Tensor::Uniform({spec.numel}, -1, 1, gen, spec.dtype);
}

std::vector<Tensor> MakeGrads(const std::vector<GradSpec>& specs) {
  std::vector<Tensor> grads;
  for (size_t i = 0; i < specs.size(); ++i) {
    grads.push_back(MakeGrad(specs[i], 100 + i));
  }
  return grads;
}

// The norm the long way: float64 squares summed one by one.
double NaiveTotalNorm(const std::vector<Tensor>& grads) {
  double sum = 0.0;
  for (const Tensor& g : grads) {
    for (const double v : g.ToVector<double>()) sum += v * v;
  }
  return std::sqrt(sum);
}

struct Clipped {
  Tensor total;
  Tensor coef;
  std::vector<Tensor> grads;
};

// ClipGradNorm as ops: the per-tensor sums added in order from the first.
Clipped ClipWithOps(const std::vector<Tensor>& grads, double max_norm) {
  Tensor sum = SumOfSquaresOp(grads[0]);
  for (size_t i = 1; i < grads.size(); ++i) {
    sum = Add(sum, SumOfSquaresOp(grads[i]));
  }
  Clipped out;
  out.total = Sqrt(sum);
  out.coef = ClipCoefficient(out.total, max_norm);
  for (const Tensor& g : grads) out.grads.push_back(ScaleBy(g, out.coef));
  return out;
}

// ClipGradNorm on parameters whose grads hold `grads` (the tensors
// themselves, which it may scale in place or replace); returns the total and
// leaves the clipped grads in `grads`.
double ClipInPlace(std::vector<Tensor>& grads, double max_norm) {
  NamedTensors params;
  for (size_t i = 0; i < grads.size(); ++i) {
    Tensor p = Tensor::Zeros(grads[i].shape(), grads[i].dtype());
    p.set_requires_grad(true);
    p.impl()->grad = grads[i].impl_ptr();
    params.emplace_back(absl::StrCat("p", i), p);
  }
  const double total = ClipGradNorm(params, max_norm);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = params[i].second.grad();
  return total;
}

enum class Regime { kClips, kBelowMaxNorm, kZeroMaxNorm };

// Ops and ClipGradNorm on the same values, in one regime; checks bits.
void ExpectOpsMatchClipGradNorm(const std::vector<GradSpec>& specs,
                                Regime regime) {
  const std::vector<Tensor> grads = MakeGrads(specs);
  const double naive = NaiveTotalNorm(grads);
  const double max_norm = regime == Regime::kClips          ? 0.25 * naive
                          : regime == Regime::kBelowMaxNorm ? 1e6
                                                            : 0.0;
  const Clipped ops = ClipWithOps(grads, max_norm);
  std::vector<Tensor> in_place = MakeGrads(specs);
  const double total = ClipInPlace(in_place, max_norm);

  ASSERT_EQ(ops.total.dtype(), DType::kFloat64);
  ASSERT_EQ(ops.total.shape(), Shape{});
  EXPECT_EQ(Bits(ops.total.item()), Bits(total))
      << ops.total.item() << " vs " << total;
  EXPECT_NEAR(total, naive, 1e-12 * naive);
  const double coef = ops.coef.item();
  if (regime == Regime::kClips) {
    EXPECT_LT(coef, 1.0);
    EXPECT_EQ(coef, max_norm / (total + 1e-6));
  } else {
    EXPECT_EQ(coef, 1.0);
  }
  for (size_t i = 0; i < grads.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(SameBits(ops.grads[i], in_place[i]));
    // Clipping changed the values; otherwise they are the inputs' bits.
    EXPECT_EQ(SameBits(ops.grads[i], grads[i]), regime != Regime::kClips);
  }
}

GradSpec F32(int64_t n) { return {DType::kFloat32, n}; }
GradSpec F64(int64_t n) { return {DType::kFloat64, n}; }
GradSpec View(DType dtype) { return {dtype, 0, true}; }

class ClipOpsDTypeTest : public ::testing::TestWithParam<DType> {};

INSTANTIATE_TEST_SUITE_P(Float, ClipOpsDTypeTest,
                         ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const auto& info) {
                           return std::string(DTypeName(info.param));
                         });

TEST_P(ClipOpsDTypeTest, ComposedOpsGiveClipGradNormsBits) {
  const DType t = GetParam();
  const std::vector<std::vector<GradSpec>> lists = {
      {{t, 1}},
      {{t, 7}},
      {{t, 1000}},
      {{t, 4097}},
      {View(t)},
      {{t, 7}, {t, 1000}},
      {{t, 1}, {t, 7}, {t, 1000}, {t, 4097}, View(t)},
      {View(t), {t, 4097}, {t, 1}},
      // Several of the kernel's fixed 16384-element blocks.
      {{t, 40000}, {t, 7}},
  };
  for (size_t l = 0; l < lists.size(); ++l) {
    SCOPED_TRACE(absl::StrCat("list ", l));
    for (Regime regime :
         {Regime::kClips, Regime::kBelowMaxNorm, Regime::kZeroMaxNorm}) {
      SCOPED_TRACE(static_cast<int>(regime));
      ExpectOpsMatchClipGradNorm(lists[l], regime);
    }
  }
}

TEST(ClipOpsTest, MixedDTypeListGivesClipGradNormsBits) {
  const std::vector<GradSpec> list = {F32(1000), F64(7), View(DType::kFloat32),
                                      F64(4097)};
  for (Regime regime :
       {Regime::kClips, Regime::kBelowMaxNorm, Regime::kZeroMaxNorm}) {
    SCOPED_TRACE(static_cast<int>(regime));
    ExpectOpsMatchClipGradNorm(list, regime);
  }
}

// An inf or nan grad makes the total inf or nan: ClipGradNorm leaves the
// grads alone, and the ops scale by exactly 1.
TEST(ClipOpsTest, NonFiniteTotalLeavesGradsAlone) {
  for (double bad : {kInf, kNan}) {
    SCOPED_TRACE(bad);
    auto grads = [&] {
      std::vector<Tensor> g = MakeGrads({F32(7), F64(1000)});
      g[1].data<double>()[500] = bad;
      return g;
    };
    const std::vector<Tensor> original = grads();
    const Clipped ops = ClipWithOps(original, 1.0);
    std::vector<Tensor> in_place = grads();
    const double total = ClipInPlace(in_place, 1.0);
    EXPECT_EQ(std::isnan(ops.total.item()), std::isnan(bad));
    EXPECT_EQ(std::isinf(ops.total.item()), std::isinf(bad));
    EXPECT_EQ(std::isnan(total), std::isnan(bad));
    EXPECT_EQ(ops.coef.item(), 1.0);
    for (size_t i = 0; i < original.size(); ++i) {
      EXPECT_TRUE(SameBits(ops.grads[i], in_place[i]));
      EXPECT_TRUE(SameBits(ops.grads[i], original[i]));
    }
  }
}

// The composition relies on the sqrt op being correctly rounded on float64
// scalars, as std::sqrt is, and on add being one double addition.
TEST(ClipOpsTest, SqrtAndAddOnFloat64ScalarsAreExact) {
  Generator gen(7);
  std::vector<double> values = {0.0,      1.0,   2.0,  3.0, 1e-300,
                                4.9e-324, 1e300, kInf, 0.1, 12345.678};
  for (int i = 0; i < 4000; ++i) {
    // Magnitudes from 2^-60 to 2^60, every mantissa pattern.
    values.push_back(std::ldexp(1.0 + gen.NextUnit(),
                                static_cast<int>(gen.NextBits() % 121) - 60));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    const Tensor x = Tensor::Scalar(v, DType::kFloat64);
    ASSERT_EQ(Bits(Sqrt(x).item()), Bits(std::sqrt(v))) << v;
    const double w = values[(i * 7 + 3) % values.size()];
    ASSERT_EQ(Bits(Add(x, Tensor::Scalar(w, DType::kFloat64)).item()),
              Bits(v + w))
        << v << " + " << w;
  }
}

TEST(ClipOpsTest, SumOfSquaresHandWorked) {
  const Tensor x = Tensor::FromData(std::vector<double>{3, -4, 12}, {3});
  EXPECT_EQ(SumOfSquaresOp(x).item(), 169.0);
  // float32 input: each element widened to double before squaring.
  const float tenth = 0.1f;
  const Tensor y =
      ConvertDType(Tensor::FromData(std::vector<double>{tenth, -2.0}, {2, 1}),
                   DType::kFloat32);
  const Tensor s = SumOfSquaresOp(y);
  EXPECT_EQ(s.dtype(), DType::kFloat64);
  EXPECT_EQ(s.shape(), Shape{});
  const double widened = tenth;
  EXPECT_EQ(s.item(), widened * widened + 4.0);
  EXPECT_EQ(SumOfSquaresOp(Tensor::Scalar(-1.5, DType::kFloat64)).item(), 2.25);
  EXPECT_EQ(SumOfSquaresOp(Tensor::Zeros({0, 3}, DType::kFloat32)).item(), 0.0);
}

TEST(ClipOpsTest, ClipCoefficientHandWorked) {
  auto coef = [](double total, double max_norm) {
    const Tensor c =
        ClipCoefficient(Tensor::Scalar(total, DType::kFloat64), max_norm);
    EXPECT_EQ(c.dtype(), DType::kFloat64);
    EXPECT_EQ(c.shape(), Shape{});
    return c.item();
  };
  EXPECT_EQ(coef(3.0, 1.0), 1.0 / (3.0 + 1e-6));
  EXPECT_EQ(coef(0.5, 1.0), 1.0);
  EXPECT_EQ(coef(kInf, 1.0), 1.0);
  EXPECT_EQ(coef(kNan, 1.0), 1.0);
  // max_norm <= 0 (or nan) only measures.
  EXPECT_EQ(coef(3.0, 0.0), 1.0);
  EXPECT_EQ(coef(3.0, -1.0), 1.0);
  EXPECT_EQ(coef(3.0, kNan), 1.0);
  // At total == max_norm the 1e-6 still makes coef just below 1.
  EXPECT_EQ(coef(13.0, 13.0), 13.0 / (13.0 + 1e-6));
  EXPECT_LT(coef(13.0, 13.0), 1.0);
  // A total just below max_norm - 1e-6 gives a quotient above 1: no clip.
  EXPECT_EQ(coef(0.999998, 1.0), 1.0);
  EXPECT_EQ(coef(0.0, 1.0), 1.0);
  // The default max_norm is 1; a float32 total is read as its double value.
  EXPECT_EQ(ClipCoefficient(Tensor::Scalar(4.0, DType::kFloat32)).item(),
            1.0 / (4.0 + 1e-6));
}

TEST(ClipOpsTest, ScaleByHandWorked) {
  const Tensor x = Tensor::FromData(std::vector<double>{1, -2, 4}, {3});
  const Tensor half = Tensor::Scalar(0.5, DType::kFloat64);
  EXPECT_EQ(ScaleBy(x, half).ToVector<double>(),
            (std::vector<double>{0.5, -1, 2}));
  // float32: coef rounded to float once, then a float multiply.
  const std::vector<float> values = {0.3f, -7.1f, 1e-20f};
  const Tensor xf = ConvertDType(
      Tensor::FromData(std::vector<double>(values.begin(), values.end()), {3}),
      DType::kFloat32);
  const double coef = 1.0 / 3.0;
  const Tensor yf = ScaleBy(xf, Tensor::Scalar(coef, DType::kFloat64));
  ASSERT_EQ(yf.dtype(), DType::kFloat32);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(yf.data<float>()[i], values[i] * static_cast<float>(coef));
  }
  // The input is not written.
  EXPECT_EQ(x.ToVector<double>(), (std::vector<double>{1, -2, 4}));
  // A strided input keeps its logical order.
  const Tensor m = Tensor::FromData(std::vector<double>{1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(ScaleBy(Transpose(m, 0, 1), Tensor::Scalar(2.0, DType::kFloat64))
                .ToVector<double>(),
            (std::vector<double>{2, 6, 4, 8}));
}

// coef 1 gives back every bit, signed zeros, infinities, subnormals and
// nans included.
TEST(ClipOpsTest, ScaleByOneKeepsBits) {
  const std::vector<double> special = {-0.0,     0.0,     kInf, -kInf,    kNan,
                                       4.9e-324, -1e-310, 1.5,  -3.25e200};
  const Tensor one = Tensor::Scalar(1.0, DType::kFloat64);
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    SCOPED_TRACE(DTypeName(dtype));
    // 37 elements: whole vectors and a tail, for every target's width.
    std::vector<double> values;
    for (int i = 0; i < 37; ++i) values.push_back(special[i % special.size()]);
    const Tensor x = ConvertDType(Tensor::FromData(values, {37}), dtype);
    EXPECT_TRUE(SameBits(ScaleBy(x, one), x));
  }
}

TEST(ClipOpsTest, NoGradientIsRecorded) {
  Tensor x = Tensor::Ones({3}, DType::kFloat64);
  x.set_requires_grad(true);
  Tensor coef = Tensor::Scalar(0.5, DType::kFloat64);
  coef.set_requires_grad(true);
  EXPECT_FALSE(SumOfSquaresOp(x).requires_grad());
  EXPECT_FALSE(ClipCoefficient(SumOfSquaresOp(x)).requires_grad());
  EXPECT_FALSE(ScaleBy(x, coef).requires_grad());
  for (const char* name : {"sum_of_squares", "clip_coefficient", "scale_by"}) {
    const OpDef* def = FindOp(name);
    ASSERT_NE(def, nullptr) << name;
    EXPECT_FALSE(def->backward) << name;
    for (size_t i = 0; i < def->inputs.size(); ++i) {
      EXPECT_FALSE(def->IsDifferentiable(static_cast<int>(i))) << name;
    }
  }
}

// The error of op `name` on `inputs`, which must fail.
std::string ErrorOf(const std::string& name, std::vector<Tensor> inputs,
                    Attrs attrs = {}) {
  absl::StatusOr<std::vector<Tensor>> out =
      CallOp(name, std::move(inputs), std::move(attrs));
  EXPECT_FALSE(out.ok()) << name;
  return out.ok() ? "" : std::string(out.status().message());
}

TEST(ClipOpsTest, BadDTypesAndShapesNameTheOpAndOperand) {
  const Tensor ints = Tensor::Zeros({3}, DType::kInt64);
  const Tensor vec = Tensor::Zeros({3}, DType::kFloat64);
  const Tensor scalar = Tensor::Scalar(1.0, DType::kFloat64);
  const Tensor int_scalar = Tensor::Scalar(1.0, DType::kInt64);
  EXPECT_THAT(ErrorOf("sum_of_squares", {ints}),
              AllOf(HasSubstr("sum_of_squares"),
                    HasSubstr("x must be float32 or float64, got int64[3]")));
  EXPECT_THAT(ErrorOf("clip_coefficient", {vec}),
              AllOf(HasSubstr("clip_coefficient"),
                    HasSubstr("total_norm must be a 0-d float64 (or float32) "
                              "tensor, got float64[3]")));
  EXPECT_THAT(
      ErrorOf("clip_coefficient", {int_scalar}),
      AllOf(HasSubstr("clip_coefficient"),
            HasSubstr("total_norm must be a 0-d"), HasSubstr("got int64[]")));
  EXPECT_THAT(ErrorOf("clip_coefficient", {scalar}, {{"max_norm", true}}),
              AllOf(HasSubstr("clip_coefficient"), HasSubstr("max_norm")));
  EXPECT_THAT(ErrorOf("scale_by", {ints, scalar}),
              AllOf(HasSubstr("scale_by"),
                    HasSubstr("x must be float32 or float64, got int64[3]")));
  EXPECT_THAT(ErrorOf("scale_by", {vec, vec}),
              AllOf(HasSubstr("scale_by"),
                    HasSubstr("coef must be a 0-d float64 (or float32) "
                              "tensor, got float64[3]")));
  EXPECT_THAT(ErrorOf("scale_by", {vec, int_scalar}),
              AllOf(HasSubstr("scale_by"), HasSubstr("coef must be a 0-d"),
                    HasSubstr("got int64[]")));
  EXPECT_THAT(ErrorOf("scale_by", {vec}),
              AllOf(HasSubstr("scale_by"), HasSubstr("expects 2 input(s)")));
}

// The clipping step captured as a graph, written as protobuf, read back and
// run on fresh grads: the same bits as ClipGradNorm.
TEST(ClipOpsTest, CapturedGraphGivesClipGradNormsBits) {
  const std::vector<GradSpec> specs = {F32(1000), View(DType::kFloat32),
                                       F32(7)};
  const std::vector<Tensor> example = MakeGrads(specs);
  const double max_norm = 0.25 * NaiveTotalNorm(example);
  GraphCapture capture("clip_grad_norm");
  for (size_t i = 0; i < example.size(); ++i) {
    ASSERT_TRUE(capture.AddInput(example[i], absl::StrCat("g", i)).ok());
  }
  Clipped traced;
  {
    GraphCapture::Scope recording(capture);
    traced = ClipWithOps(example, max_norm);
  }
  std::vector<std::pair<std::string, Tensor>> outputs = {
      {"total", traced.total}};
  for (size_t i = 0; i < traced.grads.size(); ++i) {
    outputs.emplace_back(absl::StrCat("clipped", i), traced.grads[i]);
  }
  absl::StatusOr<Graph> graph = capture.Finish(outputs);
  ASSERT_TRUE(graph.ok()) << graph.status();
  absl::StatusOr<std::string> bytes =
      SerializeGraph(*graph, GraphFormat::kBinary);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Graph> loaded =
      ParseGraph(*bytes, GraphFormat::kBinary, "clip_grad_norm");
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  std::map<std::string, Tensor> feeds;
  const std::vector<Tensor> fresh = MakeGrads(specs);
  for (size_t i = 0; i < fresh.size(); ++i) {
    feeds[absl::StrCat("g", i)] = fresh[i];
  }
  absl::StatusOr<std::vector<Tensor>> run = ExecuteGraph(*loaded, feeds);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->size(), 1 + specs.size());

  std::vector<Tensor> in_place = MakeGrads(specs);
  const double total = ClipInPlace(in_place, max_norm);
  EXPECT_EQ(Bits((*run)[0].item()), Bits(total));
  for (size_t i = 0; i < in_place.size(); ++i) {
    EXPECT_TRUE(SameBits((*run)[1 + i], in_place[i])) << i;
    EXPECT_FALSE(SameBits((*run)[1 + i], fresh[i])) << i;
  }
}

}  // namespace
}  // namespace minigraph
