// Optimizer updates: kernel dispatch, the in-place entry points, and the one
// definition of each op (adamw_update, sgd_update, and the gradient clipping
// steps sum_of_squares, clip_coefficient, scale_by). None has a gradient: an
// update, and the clipping that prepares it, is where differentiation ends.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/optimizer.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/optimizer-inl.h"

#if HWY_ONCE

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "ops/op_helpers.h"
#include "ops/optimizer.h"
#include "ops/shape_ops.h"

namespace minigraph {

HWY_EXPORT(AdamWUpdateF32);
HWY_EXPORT(AdamWUpdateF64);
HWY_EXPORT(SgdUpdateF32);
HWY_EXPORT(SgdUpdateF64);
HWY_EXPORT(SumOfSquaresF32);
HWY_EXPORT(SumOfSquaresF64);
HWY_EXPORT(ScaleF32);
HWY_EXPORT(ScaleF64);

// ---- per-step scalars -------------------------------------------------------

// As torch/optim/adamw.py (1.13, _single_tensor_adamw) computes them in
// Python floats: beta ** step with the step as a float, then math.sqrt.
AdamWStepScalars MakeAdamWStepScalars(double lr, int64_t step, double beta1,
                                      double beta2, double eps,
                                      double weight_decay) {
  const double bias_correction1 =
      1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 =
      1.0 - std::pow(beta2, static_cast<double>(step));
  AdamWStepScalars s;
  s.param_decay = 1.0 - lr * weight_decay;
  s.beta1 = beta1;
  s.one_minus_beta1 = 1.0 - beta1;
  s.beta2 = beta2;
  s.one_minus_beta2 = 1.0 - beta2;
  s.bias_correction2_sqrt = std::sqrt(bias_correction2);
  s.eps = eps;
  s.step_size = lr / bias_correction1;
  return s;
}

SgdStepScalars MakeSgdStepScalars(double lr, int64_t step, double momentum,
                                  double dampening, bool nesterov,
                                  double weight_decay) {
  SgdStepScalars s;
  s.lr = lr;
  s.momentum = momentum;
  s.one_minus_dampening = 1.0 - dampening;
  s.weight_decay = weight_decay;
  s.nesterov = nesterov;
  s.first_step = step == 1;
  return s;
}

// ---- kernels ----------------------------------------------------------------

void AdamWUpdateKernel(const AdamWArrays<float>& arrays, int64_t n,
                       const AdamWStepScalars& scalars) {
  HWY_DYNAMIC_DISPATCH(AdamWUpdateF32)(arrays, n, scalars);
}
void AdamWUpdateKernel(const AdamWArrays<double>& arrays, int64_t n,
                       const AdamWStepScalars& scalars) {
  HWY_DYNAMIC_DISPATCH(AdamWUpdateF64)(arrays, n, scalars);
}
void SgdUpdateKernel(const SgdArrays<float>& arrays, int64_t n,
                     const SgdStepScalars& scalars) {
  HWY_DYNAMIC_DISPATCH(SgdUpdateF32)(arrays, n, scalars);
}
void SgdUpdateKernel(const SgdArrays<double>& arrays, int64_t n,
                     const SgdStepScalars& scalars) {
  HWY_DYNAMIC_DISPATCH(SgdUpdateF64)(arrays, n, scalars);
}
double SumOfSquaresKernel(const float* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SumOfSquaresF32)(x, n);
}
double SumOfSquaresKernel(const double* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SumOfSquaresF64)(x, n);
}
void ScaleKernel(float* x, int64_t n, double scale) {
  HWY_DYNAMIC_DISPATCH(ScaleF32)(x, n, scale);
}
void ScaleKernel(double* x, int64_t n, double scale) {
  HWY_DYNAMIC_DISPATCH(ScaleF64)(x, n, scale);
}

// ---- user API ---------------------------------------------------------------

std::vector<Tensor> AdamWUpdate(const Tensor& param, const Tensor& grad,
                                const Tensor& exp_avg, const Tensor& exp_avg_sq,
                                const Tensor& lr, const Tensor& step,
                                double beta1, double beta2, double eps,
                                double weight_decay) {
  return ValueOrDie(CallOp(MG_OP_DEF("adamw_update"),
                           {param, grad, exp_avg, exp_avg_sq, lr, step},
                           {{"beta1", beta1},
                            {"beta2", beta2},
                            {"eps", eps},
                            {"weight_decay", weight_decay}}));
}

std::vector<Tensor> SgdUpdate(const Tensor& param, const Tensor& grad,
                              const Tensor& momentum_buffer, const Tensor& lr,
                              const Tensor& step, double momentum,
                              double dampening, bool nesterov,
                              double weight_decay) {
  return ValueOrDie(CallOp(MG_OP_DEF("sgd_update"),
                           {param, grad, momentum_buffer, lr, step},
                           {{"momentum", momentum},
                            {"dampening", dampening},
                            {"nesterov", nesterov},
                            {"weight_decay", weight_decay}}));
}

Tensor SumOfSquaresOp(const Tensor& x) {
  return CallOpOrDie(MG_OP_DEF("sum_of_squares"), {x});
}

Tensor ClipCoefficient(const Tensor& total_norm, double max_norm) {
  return CallOpOrDie(MG_OP_DEF("clip_coefficient"), {total_norm},
                     {{"max_norm", max_norm}});
}

Tensor ScaleBy(const Tensor& x, const Tensor& coef) {
  return CallOpOrDie(MG_OP_DEF("scale_by"), {x, coef});
}

namespace {

// ---- shared pieces of the definitions -------------------------------------

// t itself when contiguous, else a contiguous copy (never an op call).
Tensor ContiguousData(const Tensor& t) {
  return t.is_contiguous() ? t : CopyToContiguous(t);
}

// Input `index` (called `what`) has param's dtype and shape.
absl::Status CheckLikeParam(absl::Span<const TensorMeta> inputs, int index,
                            absl::string_view what) {
  const TensorMeta& param = inputs[0];
  const TensorMeta& other = inputs[index];
  if (other.dtype != param.dtype || other.shape != param.shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must match param ", DTypeName(param.dtype),
                     ShapeToString(param.shape), ", got ",
                     DTypeName(other.dtype), ShapeToString(other.shape)));
  }
  return absl::OkStatus();
}

// A scalar operand (lr, a norm, a coefficient) is a 0-d float tensor. A
// float32 one is accepted (its value is read as a double) so that graphs
// converted to float32 still run; float64 keeps a Python float exact.
absl::Status CheckFloatScalar(const TensorMeta& meta, absl::string_view what) {
  if (!IsFloating(meta.dtype) || !meta.shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be a 0-d float64 (or float32) tensor, got ",
                     DTypeName(meta.dtype), ShapeToString(meta.shape)));
  }
  return absl::OkStatus();
}

// lr is a 0-d float tensor, step a 0-d int64 tensor.
absl::Status CheckLrAndStep(const TensorMeta& lr, const TensorMeta& step) {
  MG_RETURN_IF_ERROR(CheckFloatScalar(lr, "lr"));
  if (step.dtype != DType::kInt64 || !step.shape.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("step must be a 0-d int64 tensor, got ",
                     DTypeName(step.dtype), ShapeToString(step.shape)));
  }
  return absl::OkStatus();
}

// `value` of attribute `name` lies in [low, high) (high = inf: no bound);
// written so that nan fails.
absl::Status CheckRange(absl::string_view name, double value, double low,
                        double high) {
  if (!(value >= low && value < high)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be in [", low, ", ", high, "), got ", value));
  }
  return absl::OkStatus();
}

// The step number is data, which inference never sees, and a kernel has no
// way to return an error: a step below 1 (whose bias correction would
// divide by zero) ends the process with a message naming the op.
int64_t StepOrDie(const char* op, const Tensor& step) {
  const int64_t value = step.At<int64_t>({});
  if (value < 1) {
    DieWithStatus(absl::OutOfRangeError(absl::StrCat(
        op, ": step must be >= 1 (the 1-based step being taken), got ",
        value)));
  }
  return value;
}

// Values in double, row-major, for the scalar references.
std::vector<double> Values(const Tensor& t) { return t.ToVector<double>(); }

Tensor Output(const std::vector<double>& values, const Tensor& like) {
  return ConvertDType(Tensor::FromData(values, like.shape()), like.dtype());
}

Tensor LrSample(double lr) { return Tensor::Scalar(lr, DType::kFloat64); }
Tensor StepSample(int64_t step) {
  return Tensor::Scalar(static_cast<double>(step), DType::kInt64);
}

// Large enough to be split over two threads.
const Shape kThreadedShape = {260, 129};

}  // namespace

// ---- adamw_update -----------------------------------------------------------

MG_REGISTER_OP(adamw_update) {
  OpDef def;
  def.name = "adamw_update";
  def.summary =
      "one AdamW step (PyTorch 1.13): p*(1-lr*wd) - lr/bc1 * m / "
      "(sqrt(v)/sqrt(bc2) + eps), m and v updated (no gradient)";
  def.inputs = {"param", "grad", "exp_avg", "exp_avg_sq", "lr", "step"};
  def.outputs = {"param_out", "exp_avg_out", "exp_avg_sq_out"};
  def.attrs = {
      {"beta1", AttrType::kFloat, AttrValue(0.9), "exp_avg decay, in [0, 1)"},
      {"beta2", AttrType::kFloat, AttrValue(0.999),
       "exp_avg_sq decay, in [0, 1)"},
      {"eps", AttrType::kFloat, AttrValue(1e-8),
       "added to the denominator, >= 0"},
      {"weight_decay", AttrType::kFloat, AttrValue(0.01),
       "decoupled decay: param *= 1 - lr * weight_decay, >= 0"}};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckFloat(ctx.inputs[0], "param"));
    MG_RETURN_IF_ERROR(CheckLikeParam(ctx.inputs, 1, "grad"));
    MG_RETURN_IF_ERROR(CheckLikeParam(ctx.inputs, 2, "exp_avg"));
    MG_RETURN_IF_ERROR(CheckLikeParam(ctx.inputs, 3, "exp_avg_sq"));
    MG_RETURN_IF_ERROR(CheckLrAndStep(ctx.inputs[4], ctx.inputs[5]));
    MG_RETURN_IF_ERROR(CheckRange("beta1", ctx.attrs.GetFloat("beta1"), 0, 1));
    MG_RETURN_IF_ERROR(CheckRange("beta2", ctx.attrs.GetFloat("beta2"), 0, 1));
    MG_RETURN_IF_ERROR(
        CheckRange("eps", ctx.attrs.GetFloat("eps"), 0, HUGE_VAL));
    MG_RETURN_IF_ERROR(CheckRange(
        "weight_decay", ctx.attrs.GetFloat("weight_decay"), 0, HUGE_VAL));
    return std::vector<TensorMeta>(3, ctx.inputs[0]);
  };
  def.forward = [](const KernelContext& ctx) {
    const int64_t step = StepOrDie("adamw_update", ctx.inputs[5]);
    const AdamWStepScalars scalars = MakeAdamWStepScalars(
        ctx.inputs[4].item(), step, ctx.attrs.GetFloat("beta1"),
        ctx.attrs.GetFloat("beta2"), ctx.attrs.GetFloat("eps"),
        ctx.attrs.GetFloat("weight_decay"));
    const Tensor param = ContiguousData(ctx.inputs[0]);
    const Tensor grad = ContiguousData(ctx.inputs[1]);
    const Tensor exp_avg = ContiguousData(ctx.inputs[2]);
    const Tensor exp_avg_sq = ContiguousData(ctx.inputs[3]);
    const TensorMeta& meta = ctx.outputs[0];
    std::vector<Tensor> out = {Tensor::Uninitialized(meta.shape, meta.dtype),
                               Tensor::Uninitialized(meta.shape, meta.dtype),
                               Tensor::Uninitialized(meta.shape, meta.dtype)};
    const int64_t n = param.numel();
    if (meta.dtype == DType::kFloat32) {
      AdamWUpdateKernel(
          AdamWArrays<float>{param.data<float>(), grad.data<float>(),
                             exp_avg.data<float>(), exp_avg_sq.data<float>(),
                             out[0].data<float>(), out[1].data<float>(),
                             out[2].data<float>()},
          n, scalars);
    } else {
      AdamWUpdateKernel(
          AdamWArrays<double>{param.data<double>(), grad.data<double>(),
                              exp_avg.data<double>(), exp_avg_sq.data<double>(),
                              out[0].data<double>(), out[1].data<double>(),
                              out[2].data<double>()},
          n, scalars);
    }
    return out;
  };
  // No backward: an optimizer update is not differentiated.
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const double beta1 = attrs.GetFloat("beta1");
    const double beta2 = attrs.GetFloat("beta2");
    const double eps = attrs.GetFloat("eps");
    const double weight_decay = attrs.GetFloat("weight_decay");
    const double lr = in[4].item();
    const double step = in[5].item();
    std::vector<double> p = Values(in[0]);
    const std::vector<double> g = Values(in[1]);
    std::vector<double> m = Values(in[2]);
    std::vector<double> v = Values(in[3]);
    const double bias_correction1 = 1.0 - std::pow(beta1, step);
    const double bias_correction2 = 1.0 - std::pow(beta2, step);
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] *= 1.0 - lr * weight_decay;
      m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
      const double denom = std::sqrt(v[i]) / std::sqrt(bias_correction2) + eps;
      p[i] -= lr / bias_correction1 * m[i] / denom;
    }
    return std::vector<Tensor>{Output(p, in[0]), Output(m, in[0]),
                               Output(v, in[0])};
  };
  def.samples = [] {
    auto sample = [](std::string label, const Shape& shape, uint64_t seed,
                     double lr, int64_t step, Attrs attrs) {
      return OpSample{std::move(label),
                      {SampleUniform(shape, -1, 1, seed),
                       SampleUniform(shape, -1, 1, seed + 1),
                       SampleUniform(shape, -0.1, 0.1, seed + 2),
                       SampleUniform(shape, 0, 0.01, seed + 3), LrSample(lr),
                       StepSample(step)},
                      std::move(attrs)};
    };
    std::vector<OpSample> samples = {
        // The first step starts from zero state.
        {"first_step_zero_state",
         {SampleUniform({4, 5}, -1, 1, 1), SampleUniform({4, 5}, -1, 1, 2),
          Tensor::Zeros({4, 5}, DType::kFloat64),
          Tensor::Zeros({4, 5}, DType::kFloat64), LrSample(1e-2),
          StepSample(1)},
         Attrs()},
        sample("step_7_no_decay", {37}, 10, 3e-3, 7,
               {{"beta1", 0.8},
                {"beta2", 0.99},
                {"eps", 1e-6},
                {"weight_decay", 0.0}}),
        sample("strided_grad", {6, 5}, 20, 1e-2, 3, {{"weight_decay", 0.1}}),
        sample("threaded", kThreadedShape, 30, 5e-4, 12, Attrs()),
    };
    // A transposed view, so the kernel sees a strided grad.
    samples[2].inputs[1] = Transpose(SampleUniform({5, 6}, -1, 1, 21), 0, 1);
    return samples;
  };
  def.flops = [](const FlopsContext& ctx) {
    // Per element: decay 1, m 3, v 4, sqrt, divide, add, multiply, divide,
    // subtract.
    return SaturatingProduct({14, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

// ---- sgd_update -------------------------------------------------------------

MG_REGISTER_OP(sgd_update) {
  OpDef def;
  def.name = "sgd_update";
  def.summary =
      "one SGD step (PyTorch 1.13) with momentum, dampening, nesterov and "
      "weight decay; the momentum buffer updated (no gradient)";
  def.inputs = {"param", "grad", "momentum_buffer", "lr", "step"};
  def.outputs = {"param_out", "momentum_buffer_out"};
  def.attrs = {
      {"momentum", AttrType::kFloat, AttrValue(0.0),
       "buffer decay, >= 0 (0: plain SGD, buffer passed through)"},
      {"dampening", AttrType::kFloat, AttrValue(0.0),
       "the grad enters the buffer scaled by 1 - dampening"},
      {"nesterov", AttrType::kBool, AttrValue(false),
       "step along g + momentum * buffer (needs momentum > 0, dampening 0)"},
      {"weight_decay", AttrType::kFloat, AttrValue(0.0),
       "L2 penalty: g += weight_decay * param, >= 0"}};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckFloat(ctx.inputs[0], "param"));
    MG_RETURN_IF_ERROR(CheckLikeParam(ctx.inputs, 1, "grad"));
    MG_RETURN_IF_ERROR(CheckLikeParam(ctx.inputs, 2, "momentum_buffer"));
    MG_RETURN_IF_ERROR(CheckLrAndStep(ctx.inputs[3], ctx.inputs[4]));
    const double momentum = ctx.attrs.GetFloat("momentum");
    const double dampening = ctx.attrs.GetFloat("dampening");
    MG_RETURN_IF_ERROR(CheckRange("momentum", momentum, 0, HUGE_VAL));
    MG_RETURN_IF_ERROR(CheckRange("dampening", dampening, -HUGE_VAL, HUGE_VAL));
    MG_RETURN_IF_ERROR(CheckRange(
        "weight_decay", ctx.attrs.GetFloat("weight_decay"), 0, HUGE_VAL));
    if (ctx.attrs.GetBool("nesterov") && !(momentum > 0 && dampening == 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "nesterov needs momentum > 0 and dampening 0, got momentum=",
          momentum, ", dampening=", dampening));
    }
    return std::vector<TensorMeta>(2, ctx.inputs[0]);
  };
  def.forward = [](const KernelContext& ctx) {
    const int64_t step = StepOrDie("sgd_update", ctx.inputs[4]);
    const SgdStepScalars scalars = MakeSgdStepScalars(
        ctx.inputs[3].item(), step, ctx.attrs.GetFloat("momentum"),
        ctx.attrs.GetFloat("dampening"), ctx.attrs.GetBool("nesterov"),
        ctx.attrs.GetFloat("weight_decay"));
    const Tensor param = ContiguousData(ctx.inputs[0]);
    const Tensor grad = ContiguousData(ctx.inputs[1]);
    const TensorMeta& meta = ctx.outputs[0];
    Tensor param_out = Tensor::Uninitialized(meta.shape, meta.dtype);
    // Without momentum the buffer passes through unchanged.
    if (scalars.momentum == 0.0) {
      Tensor buffer_out = CopyToContiguous(ctx.inputs[2]);
      if (meta.dtype == DType::kFloat32) {
        SgdUpdateKernel(
            SgdArrays<float>{param.data<float>(), grad.data<float>(), nullptr,
                             param_out.data<float>(), nullptr},
            param.numel(), scalars);
      } else {
        SgdUpdateKernel(
            SgdArrays<double>{param.data<double>(), grad.data<double>(),
                              nullptr, param_out.data<double>(), nullptr},
            param.numel(), scalars);
      }
      return std::vector<Tensor>{param_out, buffer_out};
    }
    const Tensor buffer = ContiguousData(ctx.inputs[2]);
    Tensor buffer_out = Tensor::Uninitialized(meta.shape, meta.dtype);
    if (meta.dtype == DType::kFloat32) {
      SgdUpdateKernel(
          SgdArrays<float>{param.data<float>(), grad.data<float>(),
                           buffer.data<float>(), param_out.data<float>(),
                           buffer_out.data<float>()},
          param.numel(), scalars);
    } else {
      SgdUpdateKernel(
          SgdArrays<double>{param.data<double>(), grad.data<double>(),
                            buffer.data<double>(), param_out.data<double>(),
                            buffer_out.data<double>()},
          param.numel(), scalars);
    }
    return std::vector<Tensor>{param_out, buffer_out};
  };
  // No backward: an optimizer update is not differentiated.
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const double momentum = attrs.GetFloat("momentum");
    const double dampening = attrs.GetFloat("dampening");
    const bool nesterov = attrs.GetBool("nesterov");
    const double weight_decay = attrs.GetFloat("weight_decay");
    const double lr = in[3].item();
    const bool first_step = in[4].item() == 1.0;
    std::vector<double> p = Values(in[0]);
    const std::vector<double> grad = Values(in[1]);
    std::vector<double> buf = Values(in[2]);
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i] + weight_decay * p[i];
      if (momentum != 0.0) {
        buf[i] = first_step ? g : momentum * buf[i] + (1.0 - dampening) * g;
        g = nesterov ? g + momentum * buf[i] : buf[i];
      }
      p[i] -= lr * g;
    }
    return std::vector<Tensor>{Output(p, in[0]), Output(buf, in[0])};
  };
  def.samples = [] {
    auto sample = [](std::string label, const Shape& shape, uint64_t seed,
                     int64_t step, Attrs attrs) {
      return OpSample{std::move(label),
                      {SampleUniform(shape, -1, 1, seed),
                       SampleUniform(shape, -1, 1, seed + 1),
                       SampleUniform(shape, -0.5, 0.5, seed + 2),
                       LrSample(0.05), StepSample(step)},
                      std::move(attrs)};
    };
    std::vector<OpSample> samples = {
        sample("plain", {4, 5}, 1, 1, Attrs()),
        // At step 1 the buffer input is ignored: buf = g.
        sample("momentum_first_step", {37}, 10, 1, {{"momentum", 0.9}}),
        sample("momentum_dampening_decay", {3, 7}, 20, 4,
               {{"momentum", 0.9}, {"dampening", 0.1}, {"weight_decay", 0.01}}),
        sample("nesterov_strided_grad", {6, 5}, 30, 3,
               {{"momentum", 0.8}, {"nesterov", true}, {"weight_decay", 0.1}}),
        sample("threaded", kThreadedShape, 40, 9,
               {{"momentum", 0.9}, {"weight_decay", 1e-4}}),
    };
    samples[3].inputs[1] = Transpose(SampleUniform({5, 6}, -1, 1, 31), 0, 1);
    return samples;
  };
  def.flops = [](const FlopsContext& ctx) {
    // Per element at most: decay 2, buffer 3, nesterov 2, step 2.
    return SaturatingProduct({9, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

// ---- gradient clipping ------------------------------------------------------
//
// ClipGradNorm (framework/optim/clip_grad.h) as three ops, so that a captured
// training step can clip inside its graph with the bits of the in-place code:
//   total = sqrt(sum_of_squares(g_1) + ... + sum_of_squares(g_k))  (add, sqrt)
//   coef = clip_coefficient(total, max_norm)
//   g_i = scale_by(g_i, coef)
// The sums of squares and the scaling call the very kernels ClipGradNorm
// calls; the adds and the sqrt are correctly rounded double operations, as
// its += and std::sqrt are.

MG_REGISTER_OP(sum_of_squares) {
  OpDef def;
  def.name = "sum_of_squares";
  def.summary =
      "y = sum(double(x_i)^2), a float64 scalar: squares and sums in double "
      "(no gradient)";
  def.inputs = {"x"};
  def.nondifferentiable_inputs = {0};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckFloat(ctx.inputs[0], "x"));
    return std::vector<TensorMeta>{{DType::kFloat64, {}}};
  };
  def.forward = [](const KernelContext& ctx) {
    const Tensor x = ContiguousData(ctx.inputs[0]);
    const double sum = x.dtype() == DType::kFloat32
                           ? SumOfSquaresKernel(x.data<float>(), x.numel())
                           : SumOfSquaresKernel(x.data<double>(), x.numel());
    return std::vector<Tensor>{Tensor::Scalar(sum, DType::kFloat64)};
  };
  // No backward: clipping a gradient is not differentiated.
  def.reference = [](absl::Span<const Tensor> in, const Attrs&) {
    double sum = 0.0;
    for (const double v : Values(in[0])) sum += v * v;
    return std::vector<Tensor>{Tensor::Scalar(sum, DType::kFloat64)};
  };
  def.samples = [] {
    std::vector<OpSample> samples = {
        {"vector", {SampleUniform({37}, -2, 2, 1)}},
        {"matrix", {SampleUniform({4, 5}, -1, 1, 2)}},
        {"scalar", {Tensor::Scalar(-1.5, DType::kFloat64)}},
        {"strided", {Transpose(SampleUniform({5, 6}, -1, 1, 3), 0, 1)}},
        // Three blocks of the kernel's fixed-order partial sums.
        {"threaded", {SampleUniform(kThreadedShape, -1, 1, 4)}},
    };
    return samples;
  };
  def.flops = [](const FlopsContext& ctx) {
    return SaturatingProduct({2, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

MG_REGISTER_OP(clip_coefficient) {
  OpDef def;
  def.name = "clip_coefficient";
  def.summary =
      "coef = max_norm / (total_norm + 1e-6) if total_norm is finite, "
      "max_norm > 0 and that is < 1, else 1 (float64 scalar, no gradient)";
  def.inputs = {"total_norm"};
  def.outputs = {"coef"};
  def.nondifferentiable_inputs = {0};
  def.attrs = {{"max_norm", AttrType::kFloat, AttrValue(1.0),
                "largest total norm kept; <= 0 (or nan) only measures: "
                "coef 1"}};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckFloatScalar(ctx.inputs[0], "total_norm"));
    return std::vector<TensorMeta>{{DType::kFloat64, {}}};
  };
  // The conditions and the quotient of ClipGradNorm, in its order: an inf
  // or nan total, or no max_norm, leaves the grads alone (coef exactly 1).
  def.forward = [](const KernelContext& ctx) {
    const double total = ctx.inputs[0].item();
    const double max_norm = ctx.attrs.GetFloat("max_norm");
    double coef = 1.0;
    if (std::isfinite(total) && max_norm > 0) {
      const double quotient = max_norm / (total + 1e-6);
      if (quotient < 1.0) coef = quotient;
    }
    return std::vector<Tensor>{Tensor::Scalar(coef, DType::kFloat64)};
  };
  // No backward: clipping a gradient is not differentiated.
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    // PyTorch's clamp(max_norm / (total + 1e-6), max=1), skipped (1) when
    // the total is not finite or there is nothing to clip to.
    const double total = in[0].item();
    const double max_norm = attrs.GetFloat("max_norm");
    const bool clip = !std::isnan(total) && !std::isinf(total) &&
                      max_norm > 0 && max_norm / (total + 1e-6) < 1.0;
    return std::vector<Tensor>{Tensor::Scalar(
        clip ? max_norm / (total + 1e-6) : 1.0, DType::kFloat64)};
  };
  def.samples = [] {
    auto total = [](double value) {
      return std::vector<Tensor>{Tensor::Scalar(value, DType::kFloat64)};
    };
    return std::vector<OpSample>{
        {"clips", total(3.0), Attrs()},
        {"below_max_norm", total(0.5), Attrs()},
        {"max_norm_zero", total(3.0), {{"max_norm", 0.0}}},
        {"inf_total", total(HUGE_VAL), {{"max_norm", 2.0}}},
        {"nan_total", total(std::nan("")), Attrs()},
    };
  };
  def.flops = [](const FlopsContext&) -> int64_t { return 2; };
  return def;
}

MG_REGISTER_OP(scale_by) {
  OpDef def;
  def.name = "scale_by";
  def.summary =
      "y = x * T(coef), coef a 0-d float rounded once to x's dtype T (no "
      "gradient)";
  def.inputs = {"x", "coef"};
  def.nondifferentiable_inputs = {0, 1};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckFloat(ctx.inputs[0], "x"));
    MG_RETURN_IF_ERROR(CheckFloatScalar(ctx.inputs[1], "coef"));
    return std::vector<TensorMeta>{ctx.inputs[0]};
  };
  // ScaleKernel works in place, hence the copy (always a fresh buffer). It
  // rounds coef to T once and multiplies in T; 1.0 is exact in either
  // dtype, so a coef of 1 gives back x's bits (a signalling nan aside,
  // which any multiply quiets).
  def.forward = [](const KernelContext& ctx) {
    Tensor y = CopyToContiguous(ctx.inputs[0]);
    const double coef = ctx.inputs[1].item();
    if (y.dtype() == DType::kFloat32) {
      ScaleKernel(y.data<float>(), y.numel(), coef);
    } else {
      ScaleKernel(y.data<double>(), y.numel(), coef);
    }
    return std::vector<Tensor>{y};
  };
  // No backward: clipping a gradient is not differentiated.
  def.reference = [](absl::Span<const Tensor> in, const Attrs&) {
    const double coef = in[1].item();
    return std::vector<Tensor>{
        ReferenceUnary(in[0], [coef](double x) { return x * coef; })};
  };
  def.samples = [] {
    auto coef = [](double value) {
      return Tensor::Scalar(value, DType::kFloat64);
    };
    return std::vector<OpSample>{
        {"clipped", {SampleUniform({4, 5}, -1, 1, 1), coef(0.3)}},
        {"unit_coef", {SampleUniform({37}, -2, 2, 2), coef(1.0)}},
        {"strided",
         {Transpose(SampleUniform({5, 6}, -1, 1, 3), 0, 1), coef(0.7)}},
        {"threaded", {SampleUniform(kThreadedShape, -1, 1, 4), coef(0.05)}},
    };
  };
  return def;
}

}  // namespace minigraph

#endif  // HWY_ONCE
