// Fused rms_norm and swiglu against the same math composed here from
// primitive ops (mul, mean, rsqrt; silu, mul): outputs and every gradient, in
// float32 and float64, on shapes whose rows end in a SIMD tail and that are
// large enough to be split between threads. Also: float64 finite-difference
// gradchecks of first and second order (the fused ops and their backward
// ops), extreme gates, error messages, and bitwise results across thread
// counts.
#include "ops/fused.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "framework/autograd.h"
#include "framework/gradcheck.h"
#include "framework/op_registry.h"
#include "framework/random.h"
#include "framework/tensor.h"
#include "framework/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

Tensor Random(const Shape& shape, double low, double high, uint64_t seed,
              DType dtype) {
  Generator gen(seed);
  return Tensor::Uniform(shape, low, high, gen, dtype);
}

// ---- the composed forms
// -------------------------------------------------------

// MiniMind's RMSNorm: weight * (x * rsqrt(mean(x^2, -1) + eps)).
Tensor ComposedRmsNorm(const Tensor& x, const Tensor& weight, double eps) {
  return weight * (x * Rsqrt(Mean(x * x, {-1}, true) + eps));
}

Tensor ComposedSwiGlu(const Tensor& gate, const Tensor& up) {
  return Silu(gate) * up;
}

// |a - b| <= atol + rtol |b| elementwise, reporting the first miss.
void ExpectClose(const Tensor& actual, const Tensor& expected, double atol,
                 double rtol) {
  ASSERT_EQ(actual.shape(), expected.shape());
  ASSERT_EQ(actual.dtype(), expected.dtype());
  const std::vector<double> a = actual.ToVector<double>();
  const std::vector<double> e = expected.ToVector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], e[i], atol + rtol * std::abs(e[i])) << "element " << i;
  }
}

struct Tolerance {
  double atol, rtol;
};
Tolerance TolFor(DType dtype) {
  return dtype == DType::kFloat32 ? Tolerance{1e-6, 1e-5}
                                  : Tolerance{1e-14, 1e-12};
}

// Outputs and gradients of y = f(inputs) for a cotangent dy: y first, then
// one gradient per input.
std::vector<Tensor> ValueAndGrads(
    const std::function<Tensor(const std::vector<Tensor>&)>& f,
    const std::vector<Tensor>& inputs, const Tensor& dy) {
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) {
    Tensor leaf = t.Detach();
    leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  const Tensor y = f(leaves);
  std::vector<Tensor> out = {y.Detach()};
  for (const Tensor& g : ValueOrDie(Gradients({y}, leaves, {dy}))) {
    out.push_back(g);
  }
  return out;
}

class FusedTest : public ::testing::TestWithParam<DType> {};

// [2, 70, 515]: rows of 32 vectors plus a tail in float32 AVX-512, 140 rows
// (five dweight blocks), 72k elements (split between two threads).
TEST_P(FusedTest, RmsNormMatchesComposedForwardAndBackward) {
  const DType dtype = GetParam();
  const Tensor x = Random({2, 70, 515}, -2, 2, 1, dtype);
  const Tensor w = Random({515}, 0.5, 1.5, 2, dtype);
  const Tensor dy = Random({2, 70, 515}, -1, 1, 3, dtype);
  for (double eps : {1e-5, 1e-6}) {
    SCOPED_TRACE(eps);
    const std::vector<Tensor> fused = ValueAndGrads(
        [eps](const std::vector<Tensor>& in) {
          return RmsNormFused(in[0], in[1], eps);
        },
        {x, w}, dy);
    const std::vector<Tensor> composed = ValueAndGrads(
        [eps](const std::vector<Tensor>& in) {
          return ComposedRmsNorm(in[0], in[1], eps);
        },
        {x, w}, dy);
    const Tolerance tol = TolFor(dtype);
    ExpectClose(fused[0], composed[0], tol.atol, tol.rtol);  // y
    ExpectClose(fused[1], composed[1], tol.atol, tol.rtol);  // dx
    // dweight sums 140 rows: the two sum in different orders.
    ExpectClose(fused[2], composed[2], 20 * tol.atol, 20 * tol.rtol);
  }
}

// [2, 37, 1409]: a tail in every vector width, 104k elements.
TEST_P(FusedTest, SwiGluMatchesComposedForwardAndBackward) {
  const DType dtype = GetParam();
  const Tensor gate = Random({2, 37, 1409}, -8, 8, 4, dtype);
  const Tensor up = Random({2, 37, 1409}, -2, 2, 5, dtype);
  const Tensor dy = Random({2, 37, 1409}, -1, 1, 6, dtype);
  const std::vector<Tensor> fused = ValueAndGrads(
      [](const std::vector<Tensor>& in) { return SwiGlu(in[0], in[1]); },
      {gate, up}, dy);
  const std::vector<Tensor> composed = ValueAndGrads(
      [](const std::vector<Tensor>& in) {
        return ComposedSwiGlu(in[0], in[1]);
      },
      {gate, up}, dy);
  const Tolerance tol = TolFor(dtype);
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    ExpectClose(fused[i], composed[i], tol.atol, tol.rtol);
  }
}

// Far out on either side the sigmoid is 0 or 1 to working precision:
// silu(g) = g or ~0, and so are the gradients, with nothing overflowing
// (e^1e4 would).
TEST_P(FusedTest, SwiGluOfExtremeGates) {
  const DType dtype = GetParam();
  const Tensor gate = ConvertDType(
      Tensor::FromData<double>({1e4, -1e4, 50.0, -50.0, 0.0}, {5}), dtype);
  const Tensor up = Tensor::Ones({5}, dtype);
  const std::vector<double> y = SwiGlu(gate, up).ToVector<double>();
  EXPECT_EQ(y[0], 1e4);
  EXPECT_EQ(y[1], 0.0);
  EXPECT_EQ(y[2], 50.0);
  EXPECT_NEAR(y[3], 0.0, 1e-19);  // -50 e^-50
  EXPECT_EQ(y[4], 0.0);
  const SwiGluGrads g = SwiGluBackward(gate, up, up);
  const std::vector<double> dgate = g.dgate.ToVector<double>();
  const std::vector<double> dup = g.dup.ToVector<double>();
  EXPECT_EQ(dgate[0], 1.0);
  EXPECT_EQ(dgate[1], 0.0);
  EXPECT_EQ(dgate[2], 1.0);
  EXPECT_NEAR(dgate[3], 0.0, 1e-19);  // -49 e^-50
  EXPECT_EQ(dgate[4], 0.5);           // silu'(0) = 1/2
  EXPECT_EQ(dup[0], 1e4);
  EXPECT_EQ(dup[1], 0.0);
  EXPECT_EQ(dup[4], 0.0);
}

// A row of zeros normalizes to zeros (r = 1 / sqrt(eps)); a row of equal
// values c to sign(c) * w / sqrt(1 + eps / c^2).
TEST_P(FusedTest, RmsNormOfConstantRows) {
  const DType dtype = GetParam();
  std::vector<double> values(2 * 21, 0.0);
  for (int i = 21; i < 42; ++i) values[i] = -3.0;
  const Tensor x = ConvertDType(Tensor::FromData(values, {2, 21}), dtype);
  const Tensor w = Tensor::Full({21}, 2.0, dtype);
  const std::vector<double> y = RmsNormFused(x, w, 1e-3).ToVector<double>();
  const double expected = -2.0 / std::sqrt(1.0 + 1e-3 / 9.0);
  for (int i = 0; i < 21; ++i) EXPECT_EQ(y[i], 0.0) << i;
  for (int i = 21; i < 42; ++i) {
    EXPECT_NEAR(y[i], expected, dtype == DType::kFloat32 ? 1e-6 : 1e-15) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(BothFloatTypes, FusedTest,
                         ::testing::Values(DType::kFloat32, DType::kFloat64),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

// ---- finite differences -----------------------------------------------------

TEST(FusedGradcheckTest, RmsNormFirstAndSecondOrderFloat64) {
  const Tensor x = Random({3, 2, 9}, -2, 2, 7, DType::kFloat64);
  const Tensor w = Random({9}, 0.5, 1.5, 8, DType::kFloat64);
  const DifferentiableFn fn = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{RmsNormFused(in[0], in[1], 1e-3)};
  };
  const GradcheckReport first = ValueOrDie(Gradcheck(fn, {x, w}));
  EXPECT_TRUE(first.passed) << first.ToString();
  const GradcheckReport second = ValueOrDie(GradGradcheck(fn, {x, w}));
  EXPECT_TRUE(second.passed) << second.ToString();
}

TEST(FusedGradcheckTest, RmsNormBackwardOpFirstAndSecondOrderFloat64) {
  const Tensor x = Random({4, 7}, -2, 2, 9, DType::kFloat64);
  const Tensor w = Random({7}, 0.5, 1.5, 10, DType::kFloat64);
  const Tensor dy = Random({4, 7}, -1, 1, 11, DType::kFloat64);
  const DifferentiableFn fn = [](const std::vector<Tensor>& in) {
    const RmsNormGrads g = RmsNormBackward(in[0], in[1], in[2], 1e-2);
    return std::vector<Tensor>{g.dx, g.dweight};
  };
  const GradcheckReport first = ValueOrDie(Gradcheck(fn, {x, w, dy}));
  EXPECT_TRUE(first.passed) << first.ToString();
  const GradcheckReport second = ValueOrDie(GradGradcheck(fn, {x, w, dy}));
  EXPECT_TRUE(second.passed) << second.ToString();
}

TEST(FusedGradcheckTest, SwiGluAndItsBackwardOpFloat64) {
  const Tensor gate = Random({3, 11}, -5, 5, 12, DType::kFloat64);
  const Tensor up = Random({3, 11}, -2, 2, 13, DType::kFloat64);
  const Tensor dy = Random({3, 11}, -1, 1, 14, DType::kFloat64);
  const DifferentiableFn forward = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{SwiGlu(in[0], in[1])};
  };
  const DifferentiableFn backward = [](const std::vector<Tensor>& in) {
    const SwiGluGrads g = SwiGluBackward(in[0], in[1], in[2]);
    return std::vector<Tensor>{g.dgate, g.dup};
  };
  for (const auto& [fn, inputs] :
       {std::pair{forward, std::vector<Tensor>{gate, up}},
        std::pair{backward, std::vector<Tensor>{gate, up, dy}}}) {
    const GradcheckReport first = ValueOrDie(Gradcheck(fn, inputs));
    EXPECT_TRUE(first.passed) << first.ToString();
    const GradcheckReport second = ValueOrDie(GradGradcheck(fn, inputs));
    EXPECT_TRUE(second.passed) << second.ToString();
  }
}

// ---- errors -----------------------------------------------------------------

TEST(FusedErrorTest, MessagesNameTheOpAndWhatWasExpected) {
  const Tensor x = Tensor::Zeros({2, 4});
  absl::StatusOr<std::vector<Tensor>> r =
      CallOp("rms_norm", {x, Tensor::Ones({3})}, {{"eps", 1e-5}}, "norm");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("rms_norm (node 'norm')"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("weight must be float32[4] like x's last axis, got "
                        "float32[3]"));

  r = CallOp("rms_norm", {x, Tensor::Ones({4})}, {{"eps", -1.0}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("eps must be finite and >= 0, got -1"));

  r = CallOp("rms_norm", {x, Tensor::Ones({4}, DType::kFloat64)});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("got float64[4]"));

  r = CallOp("rms_norm_backward",
             {x, Tensor::Ones({4}), Tensor::Zeros({4, 2})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("dy must be float32[2, 4] like x, got float32[4, 2]"));

  r = CallOp("swiglu", {x, Tensor::Zeros({4})}, {}, "mlp");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("swiglu (node 'mlp')"));
  EXPECT_THAT(r.status().message(),
              HasSubstr("up must be float32[2, 4] like gate, got float32[4]"));

  r = CallOp("swiglu", {Tensor::FromData<int64_t>({1, 2}, {2}),
                        Tensor::FromData<int64_t>({1, 2}, {2})});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("gate must be float32 or"));
}

// ---- threads ----------------------------------------------------------------

std::vector<char> Bytes(const Tensor& t) {
  const Tensor c = CopyToContiguous(t);
  const char* data = static_cast<const char*>(c.storage()->data()) +
                     c.offset() * DTypeSize(c.dtype());
  return std::vector<char>(data, data + c.numel() * DTypeSize(c.dtype()));
}

// Rows and elements are each computed by one thread; dweight's row blocks are
// summed in block order whatever thread summed each block.
TEST(FusedThreadingTest, SameBitsWithOneAndTwoThreads) {
  const int original = NumThreads();
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    SCOPED_TRACE(DTypeName(dtype));
    const Tensor x = Random({300, 512}, -2, 2, 15, dtype);
    const Tensor w = Random({512}, 0.5, 1.5, 16, dtype);
    const Tensor dy = Random({300, 512}, -1, 1, 17, dtype);
    auto run = [&](int threads) {
      EXPECT_TRUE(SetNumThreads(threads).ok());
      const RmsNormGrads norm = RmsNormBackward(x, w, dy, 1e-5);
      const SwiGluGrads glu = SwiGluBackward(x, w * x, dy);
      return std::vector<std::vector<char>>{Bytes(RmsNormFused(x, w, 1e-5)),
                                            Bytes(norm.dx),
                                            Bytes(norm.dweight),
                                            Bytes(SwiGlu(x, dy)),
                                            Bytes(glu.dgate),
                                            Bytes(glu.dup)};
    };
    const std::vector<std::vector<char>> one = run(1);
    const std::vector<std::vector<char>> two = run(2);
    for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(one[i] == two[i]) << i;
  }
  ASSERT_TRUE(SetNumThreads(original).ok());
}

}  // namespace
}  // namespace minigraph
