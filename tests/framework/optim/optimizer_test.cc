// AdamW and SGD against independent scalar double-precision computations of
// their update rules over several steps, in float64 and float32; the update
// ops against the in-place Step, bit for bit; the same bits for every thread
// count; per-parameter step counts; and the errors of Step.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/op_registry.h"
#include "framework/optim/optim.h"
#include "framework/thread_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"
#include "ops/all_ops.h"
#include "tests/framework/optim/optim_test_util.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;
using testing_util::RandomTensor;
using testing_util::SameBits;
using testing_util::SetGrad;

// Reference states are compared with |actual - expected| <= tol * (1 +
// |expected|). float64: a few roundings of 2^-53 per operation over six
// steps stay far below 1e-14 for values of order 1. float32: the kernel
// rounds p, m and v to float (2^-24 ~ 6e-8) on every step; six steps stay
// below 1e-6.
double Tolerance(DType dtype) {
  return dtype == DType::kFloat64 ? 1e-14 : 1e-6;
}

void ExpectClose(const std::vector<double>& actual,
                 const std::vector<double>& expected, double tol,
                 const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_LE(std::abs(actual[i] - expected[i]),
              tol * (1 + std::abs(expected[i])))
        << what << "[" << i << "]: " << actual[i] << " vs " << expected[i];
  }
}

// The learning rate of step t (1-based) in these tests: not constant, so a
// step that used another step's lr would show.
double TestLr(int64_t t) { return 1e-2 * (1.0 + 0.25 * t); }

// ---- scalar references ------------------------------------------------------

// AdamW as the PyTorch documentation's algorithm states it: decoupled decay,
// then bias-corrected moments m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
// and p -= lr * m_hat / (sqrt(v_hat) + eps).
struct AdamWReference {
  std::vector<double> p, m, v;
  int64_t t = 0;

  explicit AdamWReference(std::vector<double> param)
      : p(std::move(param)), m(p.size(), 0.0), v(p.size(), 0.0) {}

  void Step(const std::vector<double>& g, double lr, const AdamWOptions& o) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] -= lr * o.weight_decay * p[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
      const double m_hat = m[i] / (1 - std::pow(o.beta1, t));
      const double v_hat = v[i] / (1 - std::pow(o.beta2, t));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + o.eps);
    }
  }
};

// SGD as the PyTorch documentation states it (the buffer starts as the
// first step's grad).
struct SgdReference {
  std::vector<double> p, b;
  int64_t t = 0;

  explicit SgdReference(std::vector<double> param)
      : p(std::move(param)), b(p.size(), 0.0) {}

  void Step(const std::vector<double>& grad, double lr, const SgdOptions& o) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i] + o.weight_decay * p[i];
      if (o.momentum != 0) {
        b[i] = t > 1 ? o.momentum * b[i] + (1 - o.dampening) * g : g;
        g = o.nesterov ? g + o.momentum * b[i] : b[i];
      }
      p[i] -= lr * g;
    }
  }
};

// Two parameters: one shorter than most vector widths' multiples (a tail)
// and one matrix.
NamedTensors MakeParams(DType dtype) {
  Tensor a = RandomTensor({37}, -1, 1, 1, dtype);
  Tensor b = RandomTensor({4, 9}, -1, 1, 2, dtype);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  return {{"layer.a", a}, {"layer.b", b}};
}

// The grad of parameter `index` at step t: fresh values every step.
Tensor GradAt(const Tensor& param, int index, int64_t t) {
  return RandomTensor(param.shape(), -1, 1, 100 * t + index, param.dtype());
}

Tensor StateTensor(const Optimizer& optimizer, const std::string& name) {
  const SafetensorsFile state = optimizer.StateDict();
  auto it = state.tensors.find(name);
  EXPECT_NE(it, state.tensors.end()) << name;
  return it == state.tensors.end() ? Tensor() : it->second;
}

class OptimizerDTypeTest : public ::testing::TestWithParam<DType> {};

INSTANTIATE_TEST_SUITE_P(Float, OptimizerDTypeTest,
                         ::testing::Values(DType::kFloat64, DType::kFloat32),
                         [](const auto& info) {
                           return std::string(DTypeName(info.param));
                         });

void RunAdamWAgainstReference(DType dtype, const AdamWOptions& options) {
  const NamedTensors params = MakeParams(dtype);
  std::vector<AdamWReference> refs;
  for (const auto& [name, p] : params) refs.emplace_back(p.ToVector<double>());
  std::unique_ptr<Optimizer> optimizer = MakeAdamW(params, options);
  for (int64_t t = 1; t <= 6; ++t) {
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor g = GradAt(params[i].second, static_cast<int>(i), t);
      SetGrad(params[i].second, g);
      refs[i].Step(g.ToVector<double>(), TestLr(t), options);
    }
    ASSERT_TRUE(optimizer->Step(TestLr(t)).ok());
    EXPECT_EQ(optimizer->step_count(), t);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& name = params[i].first;
    ExpectClose(params[i].second.ToVector<double>(), refs[i].p,
                Tolerance(dtype), name);
    ExpectClose(StateTensor(*optimizer, name + ".exp_avg").ToVector<double>(),
                refs[i].m, Tolerance(dtype), name + ".exp_avg");
    ExpectClose(
        StateTensor(*optimizer, name + ".exp_avg_sq").ToVector<double>(),
        refs[i].v, Tolerance(dtype), name + ".exp_avg_sq");
  }
}

TEST_P(OptimizerDTypeTest, AdamWWithWeightDecayMatchesTheFormula) {
  AdamWOptions options;
  options.weight_decay = 0.1;
  RunAdamWAgainstReference(GetParam(), options);
}

TEST_P(OptimizerDTypeTest, AdamWWithoutWeightDecayMatchesTheFormula) {
  AdamWOptions options;
  options.beta1 = 0.8;
  options.beta2 = 0.95;
  options.eps = 1e-6;
  options.weight_decay = 0.0;
  RunAdamWAgainstReference(GetParam(), options);
}

void RunSgdAgainstReference(DType dtype, const SgdOptions& options) {
  const NamedTensors params = MakeParams(dtype);
  std::vector<SgdReference> refs;
  for (const auto& [name, p] : params) refs.emplace_back(p.ToVector<double>());
  std::unique_ptr<Optimizer> optimizer = MakeSgd(params, options);
  for (int64_t t = 1; t <= 6; ++t) {
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor g = GradAt(params[i].second, static_cast<int>(i), t);
      SetGrad(params[i].second, g);
      refs[i].Step(g.ToVector<double>(), TestLr(t), options);
    }
    ASSERT_TRUE(optimizer->Step(TestLr(t)).ok());
  }
  const SafetensorsFile state = optimizer->StateDict();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& name = params[i].first;
    ExpectClose(params[i].second.ToVector<double>(), refs[i].p,
                Tolerance(dtype), name);
    const std::string buffer = name + ".momentum_buffer";
    if (options.momentum == 0) {
      EXPECT_EQ(state.tensors.count(buffer), 0u) << buffer;
    } else {
      ExpectClose(StateTensor(*optimizer, buffer).ToVector<double>(), refs[i].b,
                  Tolerance(dtype), buffer);
    }
  }
}

TEST_P(OptimizerDTypeTest, SgdPlainWithWeightDecayMatchesTheFormula) {
  SgdOptions options;
  options.weight_decay = 0.05;
  RunSgdAgainstReference(GetParam(), options);
}

TEST_P(OptimizerDTypeTest, SgdWithMomentumMatchesTheFormula) {
  SgdOptions options;
  options.momentum = 0.9;
  RunSgdAgainstReference(GetParam(), options);
}

TEST_P(OptimizerDTypeTest, SgdNesterovWithWeightDecayMatchesTheFormula) {
  SgdOptions options;
  options.momentum = 0.8;
  options.nesterov = true;
  options.weight_decay = 0.1;
  RunSgdAgainstReference(GetParam(), options);
}

TEST_P(OptimizerDTypeTest, SgdDampeningWithWeightDecayMatchesTheFormula) {
  SgdOptions options;
  options.momentum = 0.5;
  options.dampening = 0.3;
  options.weight_decay = 0.01;
  RunSgdAgainstReference(GetParam(), options);
}

// ---- PyTorch's rounding, bit for bit
// -------------------------------------------

// The kernels dispatch to AVX2 or AVX3 (with FMA) whenever the CPU has
// either; only then do they round as ATen's vectorized kernels do.
bool DispatchesToFma() {
  return (hwy::SupportedTargets() & HWY_TARGETS & (HWY_AVX2 | HWY_AVX3)) != 0;
}

// One element of PyTorch 1.13's _single_tensor_adamw, op by op as ATen's
// vectorized CPU kernels round it: Python-float scalars converted to T,
// every op rounded to T, add with alpha as fma(other, alpha, self), addcmul
// as fma(value * t1, t2, self) (its self + value * t1 * t2 comes out fused
// in Debian's AVX2 build of torch) and addcdiv as self + value * t1 / t2.
// The kernels were compared with torch 1.13 itself on this machine, bit for
// bit; this keeps that agreement from regressing.
template <typename T>
void TorchAdamWElement(T& p, T g, T& m, T& v, double lr, int64_t step,
                       const AdamWOptions& o) {
  const double bias_correction1 = 1 - std::pow(o.beta1, step);
  const double bias_correction2 = 1 - std::pow(o.beta2, step);
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  p = p * static_cast<T>(1 - lr * o.weight_decay);  // mul_
  m = std::fma(g, static_cast<T>(1 - o.beta1), m * static_cast<T>(o.beta1));
  const T value = static_cast<T>(1 - o.beta2);  // addcmul_
  v = std::fma(value * g, g, v * static_cast<T>(o.beta2));
  const T denom = std::sqrt(v) / static_cast<T>(bias_correction2_sqrt) +
                  static_cast<T>(o.eps);
  p = p + static_cast<T>(-step_size) * m / denom;  // addcdiv_
}

// One element of _single_tensor_sgd, rounded the same way.
template <typename T>
void TorchSgdElement(T& p, T g, T& buf, double lr, int64_t step,
                     const SgdOptions& o) {
  if (o.weight_decay != 0) g = std::fma(p, static_cast<T>(o.weight_decay), g);
  if (o.momentum != 0) {
    buf = step == 1 ? g
                    : std::fma(g, static_cast<T>(1 - o.dampening),
                               buf * static_cast<T>(o.momentum));
    g = o.nesterov ? std::fma(buf, static_cast<T>(o.momentum), g) : buf;
  }
  p = std::fma(g, static_cast<T>(-lr), p);
}

template <typename T>
void ExpectTorchBits(DType dtype) {
  const Tensor initial = RandomTensor({1037}, -1, 1, 21, dtype);
  Tensor adamw_param = CopyToContiguous(initial);
  Tensor sgd_param = CopyToContiguous(initial);
  AdamWOptions adamw_options;
  adamw_options.weight_decay = 0.1;
  SgdOptions sgd_options;
  sgd_options.momentum = 0.7;
  sgd_options.dampening = 0.2;
  sgd_options.weight_decay = 0.05;
  std::unique_ptr<Optimizer> adamw =
      MakeAdamW({{"w", adamw_param}}, adamw_options);
  std::unique_ptr<Optimizer> sgd = MakeSgd({{"w", sgd_param}}, sgd_options);
  std::vector<T> p_adamw = initial.ToVector<T>(), p_sgd = p_adamw;
  std::vector<T> m(p_adamw.size()), v(p_adamw.size()), buf(p_adamw.size());
  for (int64_t t = 1; t <= 5; ++t) {
    const Tensor g = GradAt(initial, 0, t);
    SetGrad(adamw_param, g);
    SetGrad(sgd_param, g);
    ASSERT_TRUE(adamw->Step(TestLr(t)).ok());
    ASSERT_TRUE(sgd->Step(TestLr(t)).ok());
    const std::vector<T> grad = g.ToVector<T>();
    for (size_t i = 0; i < grad.size(); ++i) {
      TorchAdamWElement(p_adamw[i], grad[i], m[i], v[i], TestLr(t), t,
                        adamw_options);
      TorchSgdElement(p_sgd[i], grad[i], buf[i], TestLr(t), t, sgd_options);
    }
  }
  // ToVector<T> of a T tensor copies the bits.
  EXPECT_EQ(adamw_param.ToVector<T>(), p_adamw);
  EXPECT_EQ(StateTensor(*adamw, "w.exp_avg").ToVector<T>(), m);
  EXPECT_EQ(StateTensor(*adamw, "w.exp_avg_sq").ToVector<T>(), v);
  EXPECT_EQ(sgd_param.ToVector<T>(), p_sgd);
  EXPECT_EQ(StateTensor(*sgd, "w.momentum_buffer").ToVector<T>(), buf);
}

TEST(TorchRoundingTest, AdamWAndSgdRoundAsPyTorchFloat32) {
  if (!DispatchesToFma()) GTEST_SKIP() << "no AVX2/AVX3 on this CPU";
  ExpectTorchBits<float>(DType::kFloat32);
}

TEST(TorchRoundingTest, AdamWAndSgdRoundAsPyTorchFloat64) {
  if (!DispatchesToFma()) GTEST_SKIP() << "no AVX2/AVX3 on this CPU";
  ExpectTorchBits<double>(DType::kFloat64);
}

// ---- the op path and the in-place step ----------------------------------

// Large enough for the kernels to split over threads, and odd (a tail).
constexpr int64_t kLarge = 70001;

TEST_P(OptimizerDTypeTest, AdamWUpdateOpGivesTheBitsOfStep) {
  const DType dtype = GetParam();
  Tensor param = RandomTensor({kLarge}, -1, 1, 7, dtype);
  // The op path carries its own copies of the parameter and state.
  Tensor p = CopyToContiguous(param);
  Tensor m = Tensor::Zeros({kLarge}, dtype);
  Tensor v = Tensor::Zeros({kLarge}, dtype);
  AdamWOptions options;
  options.weight_decay = 0.05;
  std::unique_ptr<Optimizer> optimizer = MakeAdamW({{"w", param}}, options);
  for (int64_t t = 1; t <= 3; ++t) {
    const Tensor g = GradAt(param, 0, t);
    SetGrad(param, g);
    ASSERT_TRUE(optimizer->Step(TestLr(t)).ok());
    absl::StatusOr<std::vector<Tensor>> out =
        CallOp("adamw_update",
               {p, g, m, v, Tensor::Scalar(TestLr(t), DType::kFloat64),
                Tensor::Scalar(static_cast<double>(t), DType::kInt64)},
               {{"beta1", options.beta1},
                {"beta2", options.beta2},
                {"eps", options.eps},
                {"weight_decay", options.weight_decay}});
    ASSERT_TRUE(out.ok()) << out.status();
    p = (*out)[0];
    m = (*out)[1];
    v = (*out)[2];
    EXPECT_TRUE(SameBits(p, param)) << "step " << t;
    EXPECT_TRUE(SameBits(m, StateTensor(*optimizer, "w.exp_avg")));
    EXPECT_TRUE(SameBits(v, StateTensor(*optimizer, "w.exp_avg_sq")));
  }
}

TEST_P(OptimizerDTypeTest, SgdUpdateOpGivesTheBitsOfStep) {
  const DType dtype = GetParam();
  Tensor param = RandomTensor({kLarge}, -1, 1, 8, dtype);
  Tensor p = CopyToContiguous(param);
  // The buffer input of step 1 is ignored; garbage shows if it is not.
  Tensor buffer = RandomTensor({kLarge}, -9, 9, 9, dtype);
  SgdOptions options;
  options.momentum = 0.9;
  options.nesterov = true;
  options.weight_decay = 0.01;
  std::unique_ptr<Optimizer> optimizer = MakeSgd({{"w", param}}, options);
  for (int64_t t = 1; t <= 3; ++t) {
    const Tensor g = GradAt(param, 0, t);
    SetGrad(param, g);
    ASSERT_TRUE(optimizer->Step(TestLr(t)).ok());
    const std::vector<Tensor> out = SgdUpdate(
        p, g, buffer, Tensor::Scalar(TestLr(t), DType::kFloat64),
        Tensor::Scalar(static_cast<double>(t), DType::kInt64), options.momentum,
        options.dampening, options.nesterov, options.weight_decay);
    p = out[0];
    buffer = out[1];
    EXPECT_TRUE(SameBits(p, param)) << "step " << t;
    EXPECT_TRUE(SameBits(buffer, StateTensor(*optimizer, "w.momentum_buffer")));
  }
}

// The user-API function and CallOp agree, and the op takes fresh outputs:
// its inputs are not touched.
TEST(UpdateOpTest, AdamWUpdateLeavesItsInputsAlone) {
  const Tensor p = RandomTensor({5}, -1, 1, 1, DType::kFloat64);
  const Tensor g = RandomTensor({5}, -1, 1, 2, DType::kFloat64);
  const Tensor m = RandomTensor({5}, -1, 1, 3, DType::kFloat64);
  const Tensor v = RandomTensor({5}, 0, 1, 4, DType::kFloat64);
  const Tensor p0 = CopyToContiguous(p);
  const Tensor m0 = CopyToContiguous(m);
  const Tensor v0 = CopyToContiguous(v);
  const std::vector<Tensor> out =
      AdamWUpdate(p, g, m, v, Tensor::Scalar(0.1, DType::kFloat64),
                  Tensor::Scalar(2, DType::kInt64));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(SameBits(p, p0));
  EXPECT_TRUE(SameBits(m, m0));
  EXPECT_TRUE(SameBits(v, v0));
  EXPECT_FALSE(SameBits(out[0], p0));
}

TEST(UpdateOpTest, ShapeAndStepErrorsNameTheInput) {
  const Tensor p = Tensor::Zeros({3}, DType::kFloat32);
  const Tensor lr = Tensor::Scalar(0.1, DType::kFloat64);
  const Tensor step = Tensor::Scalar(1, DType::kInt64);
  absl::StatusOr<std::vector<Tensor>> wrong_grad = CallOp(
      "adamw_update", {p, Tensor::Zeros({4}, DType::kFloat32), p, p, lr, step});
  ASSERT_FALSE(wrong_grad.ok());
  EXPECT_THAT(wrong_grad.status().message(), HasSubstr("grad must match"));
  absl::StatusOr<std::vector<Tensor>> vector_lr = CallOp(
      "sgd_update", {p, p, p, Tensor::Zeros({1}, DType::kFloat64), step});
  ASSERT_FALSE(vector_lr.ok());
  EXPECT_THAT(vector_lr.status().message(), HasSubstr("lr must be a 0-d"));
  absl::StatusOr<std::vector<Tensor>> float_step =
      CallOp("sgd_update", {p, p, p, lr, Tensor::Scalar(1, DType::kFloat64)});
  ASSERT_FALSE(float_step.ok());
  EXPECT_THAT(float_step.status().message(), HasSubstr("step must be a 0-d"));
  absl::StatusOr<std::vector<Tensor>> bad_beta =
      CallOp("adamw_update", {p, p, p, p, lr, step}, {{"beta1", 1.0}});
  ASSERT_FALSE(bad_beta.ok());
  EXPECT_THAT(bad_beta.status().message(), HasSubstr("beta1 must be in"));
}

TEST(UpdateOpDeathTest, StepZeroDies) {
  const Tensor p = Tensor::Zeros({3}, DType::kFloat64);
  EXPECT_DEATH(AdamWUpdate(p, p, p, p, Tensor::Scalar(0.1, DType::kFloat64),
                           Tensor::Scalar(0, DType::kInt64)),
               "adamw_update: step must be >= 1");
}

// ---- threads
// -------------------------------------------------------------------

class ThreadCountTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(SetNumThreads(2).ok()); }
};

TEST_F(ThreadCountTest, StepGivesTheSameBitsForEveryThreadCount) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
    std::vector<Tensor> results;
    for (int threads = 1; threads <= 4; ++threads) {
      ASSERT_TRUE(SetNumThreads(threads).ok());
      Tensor adamw_param = RandomTensor({kLarge}, -1, 1, 3, dtype);
      Tensor sgd_param = CopyToContiguous(adamw_param);
      SgdOptions sgd_options;
      sgd_options.momentum = 0.9;
      std::unique_ptr<Optimizer> adamw =
          MakeAdamW({{"w", adamw_param}}, AdamWOptions());
      std::unique_ptr<Optimizer> sgd = MakeSgd({{"w", sgd_param}}, sgd_options);
      for (int64_t t = 1; t <= 2; ++t) {
        SetGrad(adamw_param, GradAt(adamw_param, 0, t));
        SetGrad(sgd_param, GradAt(sgd_param, 0, t));
        ASSERT_TRUE(adamw->Step(TestLr(t)).ok());
        ASSERT_TRUE(sgd->Step(TestLr(t)).ok());
      }
      if (results.empty()) {
        results = {adamw_param, sgd_param};
      } else {
        EXPECT_TRUE(SameBits(adamw_param, results[0]))
            << DTypeName(dtype) << " adamw, " << threads << " threads";
        EXPECT_TRUE(SameBits(sgd_param, results[1]))
            << DTypeName(dtype) << " sgd, " << threads << " threads";
      }
    }
  }
}

// ---- step counts, grads from autograd, ZeroGrad ---------------------------

// A parameter without a grad is skipped and its own count stays behind, as
// PyTorch's per-parameter state['step'] does: its first update uses the
// bias correction of step 1.
TEST(OptimizerTest, ParameterWithoutGradKeepsItsOwnStepCount) {
  const NamedTensors params = MakeParams(DType::kFloat64);
  const Tensor& late = params[1].second;
  const Tensor late_initial = CopyToContiguous(late);
  AdamWReference late_ref(late.ToVector<double>());
  std::unique_ptr<Optimizer> optimizer = MakeAdamW(params, AdamWOptions());
  for (int64_t t = 1; t <= 3; ++t) {
    SetGrad(params[0].second, GradAt(params[0].second, 0, t));
    if (t >= 2) {
      const Tensor g = GradAt(late, 1, t);
      SetGrad(late, g);
      late_ref.Step(g.ToVector<double>(), TestLr(t), AdamWOptions());
    }
    ASSERT_TRUE(optimizer->Step(TestLr(t)).ok());
    if (t == 1) {
      EXPECT_TRUE(SameBits(late, late_initial));
    }
    optimizer->ZeroGrad();
  }
  ExpectClose(late.ToVector<double>(), late_ref.p, 1e-14, "late");
  EXPECT_EQ(optimizer->step_count(), 3);
  EXPECT_EQ(optimizer->StateDict().metadata.at("step.layer.b"), "2");
}

TEST(OptimizerTest, StepsOnGradsFromBackwardAndZeroGradClearsThem) {
  Tensor w = RandomTensor({3, 4}, -1, 1, 5, DType::kFloat64);
  w.set_requires_grad(true);
  const std::vector<double> before = w.ToVector<double>();
  std::unique_ptr<Optimizer> optimizer = MakeSgd({{"w", w}}, SgdOptions());
  // d/dw sum(w * w) = 2w, so plain SGD gives w - lr * 2w.
  ASSERT_TRUE(Sum(Mul(w, w)).Backward().ok());
  ASSERT_TRUE(w.grad().defined());
  ASSERT_TRUE(optimizer->Step(0.25).ok());
  const std::vector<double> after = w.ToVector<double>();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_DOUBLE_EQ(after[i], before[i] - 0.25 * 2 * before[i]);
  }
  optimizer->ZeroGrad();
  EXPECT_FALSE(w.grad().defined());
  // With no grads a step changes nothing but the count.
  ASSERT_TRUE(optimizer->Step(0.25).ok());
  EXPECT_EQ(w.ToVector<double>(), after);
  EXPECT_EQ(optimizer->step_count(), 2);
}

// ---- errors
// ---------------------------------------------------------------------

// Step's error, and that it left the parameters and the count alone.
std::string StepError(Optimizer& optimizer, double lr = 0.1) {
  std::vector<Tensor> before;
  for (const auto& [name, p] : optimizer.parameters()) {
    before.push_back(p.defined() ? CopyToContiguous(p) : Tensor());
  }
  const int64_t count = optimizer.step_count();
  const absl::Status status = optimizer.Step(lr);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(optimizer.step_count(), count);
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i].defined()) {
      EXPECT_TRUE(SameBits(optimizer.parameters()[i].second, before[i]));
    }
  }
  return std::string(status.message());
}

TEST(OptimizerErrorTest, GradShapeOrDTypeMismatchNamesTheParameter) {
  const NamedTensors params = MakeParams(DType::kFloat32);
  std::unique_ptr<Optimizer> optimizer = MakeAdamW(params, AdamWOptions());
  // The first parameter's grad is fine: nothing may change before the check
  // of the second fails.
  SetGrad(params[0].second, GradAt(params[0].second, 0, 1));
  SetGrad(params[1].second, Tensor::Zeros({9, 4}, DType::kFloat32));
  const std::string shape = StepError(*optimizer);
  EXPECT_THAT(shape, HasSubstr("'layer.b'"));
  EXPECT_THAT(shape, HasSubstr("float32[9, 4]"));
  EXPECT_THAT(shape, HasSubstr("expected float32[4, 9]"));
  SetGrad(params[1].second, Tensor::Zeros({4, 9}, DType::kFloat64));
  EXPECT_THAT(StepError(*optimizer), HasSubstr("float64[4, 9], expected"));
}

TEST(OptimizerErrorTest, BadParametersAreNamed) {
  const Tensor a = Tensor::Zeros({2, 3}, DType::kFloat32);
  EXPECT_THAT(
      StepError(*MakeSgd({{"x", a}, {"x", Tensor::Zeros({1})}}, SgdOptions())),
      HasSubstr("parameter 'x' is listed twice"));
  EXPECT_THAT(
      StepError(*MakeSgd({{"a", a}, {"tied", a}}, SgdOptions())),
      HasSubstr("parameter 'tied' is the same tensor as parameter 'a'"));
  EXPECT_THAT(StepError(*MakeSgd({{"t", Transpose(a, 0, 1)}}, SgdOptions())),
              HasSubstr("parameter 't' must be contiguous"));
  EXPECT_THAT(StepError(*MakeSgd({{"i", Tensor::Zeros({2}, DType::kInt64)}},
                                 SgdOptions())),
              HasSubstr("parameter 'i' must be float32 or float64"));
  EXPECT_THAT(StepError(*MakeSgd({{"u", Tensor()}}, SgdOptions())),
              HasSubstr("parameter 'u' is undefined"));
}

TEST(OptimizerErrorTest, BadOptionsAndLearningRatesAreNamed) {
  const NamedTensors params = MakeParams(DType::kFloat64);
  AdamWOptions beta;
  beta.beta2 = 1.0;
  EXPECT_THAT(StepError(*MakeAdamW(params, beta)),
              HasSubstr("adamw: beta2 must be in [0, 1), got 1"));
  AdamWOptions eps;
  eps.eps = std::nan("");
  EXPECT_THAT(StepError(*MakeAdamW(params, eps)), HasSubstr("eps must be"));
  SgdOptions nesterov;
  nesterov.nesterov = true;
  nesterov.momentum = 0.9;
  nesterov.dampening = 0.1;
  EXPECT_THAT(StepError(*MakeSgd(params, nesterov)),
              HasSubstr("nesterov needs momentum > 0 and dampening 0"));
  SgdOptions weight_decay;
  weight_decay.weight_decay = -1;
  EXPECT_THAT(StepError(*MakeSgd(params, weight_decay)),
              HasSubstr("sgd: weight_decay must be in [0, inf), got -1"));
  std::unique_ptr<Optimizer> adamw = MakeAdamW(params, AdamWOptions());
  EXPECT_THAT(StepError(*adamw, -0.5),
              HasSubstr("adamw step 1: lr must be finite and >= 0, got -0.5"));
  EXPECT_THAT(StepError(*adamw, std::nan("")), HasSubstr("got nan"));
}

}  // namespace
}  // namespace minigraph
