// Fused ops of the MiniMind block: kernel dispatch, the user API and the one
// definition of each op (rms_norm, rms_norm_backward, swiglu,
// swiglu_backward).

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/fused.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/fused-inl.h"

#if HWY_ONCE

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "ops/elementwise.h"
#include "ops/fused.h"
#include "ops/op_helpers.h"
#include "ops/reduction.h"
#include "ops/shape_ops.h"

namespace minigraph {

HWY_EXPORT(RmsNormForwardF32);
HWY_EXPORT(RmsNormForwardF64);
HWY_EXPORT(RmsNormBackwardF32);
HWY_EXPORT(RmsNormBackwardF64);
HWY_EXPORT(SwiGluForwardF32);
HWY_EXPORT(SwiGluForwardF64);
HWY_EXPORT(SwiGluBackwardF32);
HWY_EXPORT(SwiGluBackwardF64);

// ---- user API ---------------------------------------------------------------

Tensor RmsNormFused(const Tensor& x, const Tensor& weight, double eps) {
  return CallOpOrDie(MG_OP_DEF("rms_norm"), {x, weight}, {{"eps", eps}});
}

RmsNormGrads RmsNormBackward(const Tensor& x, const Tensor& weight,
                             const Tensor& dy, double eps) {
  std::vector<Tensor> out = ValueOrDie(
      CallOp(MG_OP_DEF("rms_norm_backward"), {x, weight, dy}, {{"eps", eps}}));
  return {out[0], out[1]};
}

Tensor SwiGlu(const Tensor& gate, const Tensor& up) {
  return CallOpOrDie(MG_OP_DEF("swiglu"), {gate, up});
}

SwiGluGrads SwiGluBackward(const Tensor& gate, const Tensor& up,
                           const Tensor& dy) {
  std::vector<Tensor> out =
      ValueOrDie(CallOp(MG_OP_DEF("swiglu_backward"), {gate, up, dy}));
  return {out[0], out[1]};
}

namespace {

// ---- shared pieces of the definitions -------------------------------------

Tensor Dense(const Tensor& t) {
  return t.is_contiguous() ? t : CopyToContiguous(t);
}

Tensor AsDType(const std::vector<double>& values, const Shape& shape,
               DType dtype) {
  return ConvertDType(Tensor::FromData(values, shape), dtype);
}

absl::Status CheckLike(const TensorMeta& meta, const char* name,
                       const TensorMeta& like, const char* like_name) {
  if (meta.dtype != like.dtype || meta.shape != like.shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be ", DTypeName(like.dtype),
                     ShapeToString(like.shape), " like ", like_name, ", got ",
                     DTypeName(meta.dtype), ShapeToString(meta.shape)));
  }
  return absl::OkStatus();
}

// x [..., D] float and weight [D] of x's dtype; eps >= 0 and finite.
absl::Status CheckRmsNorm(const InferContext& ctx) {
  const TensorMeta& x = ctx.inputs[0];
  const TensorMeta& weight = ctx.inputs[1];
  MG_RETURN_IF_ERROR(CheckFloat(x, "x"));
  if (x.shape.empty()) {
    return absl::InvalidArgumentError(
        "x must have a feature axis (shape [..., D]), got a scalar");
  }
  MG_RETURN_IF_ERROR(CheckLike(weight, "weight", {x.dtype, {x.shape.back()}},
                               "x's last axis"));
  const double eps = ctx.attrs.GetFloat("eps");
  if (!(eps >= 0.0 && std::isfinite(eps))) {
    return absl::InvalidArgumentError(
        absl::StrCat("eps must be finite and >= 0, got ", eps));
  }
  return absl::OkStatus();
}

std::vector<AttrDef> RmsNormAttrs() {
  return {{"eps", AttrType::kFloat, AttrValue(1e-5),
           "added to mean(x^2) before the square root"}};
}

// Every dimension but the last: where per-row values broadcast from.
std::vector<int64_t> LeadingAxes(const Tensor& x) {
  std::vector<int64_t> axes;
  for (int d = 0; d + 1 < x.dim(); ++d) axes.push_back(d);
  return axes;
}

// 1 / sqrt(mean(row^2) + eps) of a row in double.
double ReferenceRmsScale(const double* row, int64_t n, double eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += row[i] * row[i];
  return 1.0 / std::sqrt(sum / n + eps);
}

// Samples: rows of 7 (under one AVX-512 float32 vector), [2, 3, 37] with a
// tail and a larger eps, 70 rows of 5 (more than one dweight block of rows),
// a transposed x and a 1-d x.
std::vector<OpSample> RmsNormSamples() {
  std::vector<OpSample> samples = {
      {"rows_of_7",
       {SampleUniform({3, 7}, -2, 2, 1), SampleUniform({7}, 0.5, 1.5, 2)},
       {{"eps", 1e-5}}},
      {"batch_time_37",
       {SampleUniform({2, 3, 37}, -2, 2, 3), SampleUniform({37}, 0.5, 1.5, 4)},
       {{"eps", 0.1}}},
      {"many_rows",
       {SampleUniform({70, 5}, -2, 2, 5), SampleUniform({5}, 0.5, 1.5, 6)},
       {{"eps", 1e-6}}},
      {"vector",
       {SampleUniform({19}, -2, 2, 7), SampleUniform({19}, -1, 1, 8)},
       {{"eps", 1e-5}}},
  };
  samples.push_back({"strided_x",
                     {Transpose(SampleUniform({6, 4}, -2, 2, 9), 0, 1),
                      SampleUniform({6}, 0.5, 1.5, 10)},
                     {{"eps", 1e-5}}});
  return samples;
}

// The forward samples with dy uniform in [-1, 1].
std::vector<OpSample> RmsNormBackwardSamples() {
  std::vector<OpSample> samples = RmsNormSamples();
  uint64_t seed = 100;
  for (OpSample& s : samples) {
    s.inputs.push_back(SampleUniform(s.inputs[0].shape(), -1, 1, seed++));
  }
  return samples;
}

// ---- rms_norm second order --------------------------------------------------
//
// Per row, with r = (mean(x^2) + eps)^(-1/2), a = w dy, k = mean(a x), the op
// computes dx = r a - r^3 k x and dw = sum over rows of r dy x. For
// cotangents U (of dx) and V (of dw), with A = U.a, B = U.x, C = V.(dy x)
// per row and dr/dx = -r^3 x / D:
//   G_x  = -r^3 (A - 3 r^2 k B + C) x / D - r^3 B a / D - r^3 k U + r V dy
//   G_a  = r U - r^3 B x / D
//   G_dy = G_a w + r V x,   G_w = sum over rows of G_a dy
Grads RmsNormBackwardVjp(const GradContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& w = c.input(1);
  const Tensor& dy = c.input(2);
  const Tensor& u = c.grad_output(0);
  const Tensor& v = c.grad_output(1);
  const double n = static_cast<double>(x.shape().back());
  const Tensor r = Rsqrt(Mean(x * x, {-1}, true) + c.attrs.GetFloat("eps"));
  const Tensor r2 = r * r;
  const Tensor r3 = r2 * r;
  const Tensor a = w * dy;
  const Tensor k = Mean(a * x, {-1}, true);
  const Tensor big_a = Sum(u * a, {-1}, true);
  const Tensor big_b = Sum(u * x, {-1}, true);
  const Tensor big_c = Sum(v * dy * x, {-1}, true);
  const Tensor grad_x = r3 * (-(big_a - 3.0 * r2 * k * big_b + big_c) * x / n -
                              big_b * a / n - k * u) +
                        r * v * dy;
  const Tensor grad_a = r * u - r3 * big_b * x / n;
  const Tensor grad_dy = grad_a * w + r * v * x;
  Tensor grad_w = grad_a * dy;
  if (x.dim() > 1) grad_w = Sum(grad_w, LeadingAxes(x));
  return Grads{grad_x, grad_w, grad_dy};
}

// ---- swiglu pieces ----------------------------------------------------------

absl::Status CheckSwiGlu(const InferContext& ctx) {
  MG_RETURN_IF_ERROR(CheckFloat(ctx.inputs[0], "gate"));
  return CheckLike(ctx.inputs[1], "up", ctx.inputs[0], "gate");
}

double Sigmoid64(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// gate in [-5, 5] (both tails of the sigmoid), up in [-2, 2]: a matrix, a
// long vector with a tail, a [2, 3, 21] batch and a transposed gate.
std::vector<OpSample> SwiGluSamples() {
  std::vector<OpSample> samples = {
      {"matrix",
       {SampleUniform({4, 5}, -5, 5, 1), SampleUniform({4, 5}, -2, 2, 2)}},
      {"long_vector",
       {SampleUniform({37}, -5, 5, 3), SampleUniform({37}, -2, 2, 4)}},
      {"batch_time",
       {SampleUniform({2, 3, 21}, -5, 5, 5),
        SampleUniform({2, 3, 21}, -2, 2, 6)}},
  };
  samples.push_back({"strided_gate",
                     {Transpose(SampleUniform({5, 3}, -5, 5, 7), 0, 1),
                      SampleUniform({3, 5}, -2, 2, 8)}});
  return samples;
}

std::vector<OpSample> SwiGluBackwardSamples() {
  std::vector<OpSample> samples = SwiGluSamples();
  uint64_t seed = 100;
  for (OpSample& s : samples) {
    s.inputs.push_back(SampleUniform(s.inputs[0].shape(), -1, 1, seed++));
  }
  return samples;
}

// ---- swiglu second order ----------------------------------------------------
//
// With s = sigmoid(g), silu' = s (1 + g (1 - s)) and
// silu'' = s (1 - s) (2 + g (1 - 2 s)), the op computes dg = dy u silu'(g)
// and du = dy silu(g). For cotangents P (of dg) and Q (of du):
//   G_g  = P dy u silu''(g) + Q dy silu'(g)
//   G_u  = P dy silu'(g),   G_dy = P u silu'(g) + Q g s
Grads SwiGluBackwardVjp(const GradContext& c) {
  const Tensor& g = c.input(0);
  const Tensor& u = c.input(1);
  const Tensor& dy = c.input(2);
  const Tensor& p = c.grad_output(0);
  const Tensor& q = c.grad_output(1);
  const Tensor s = Sigmoid(g);
  const Tensor one_minus_s = 1.0 - s;
  const Tensor first = s * (1.0 + g * one_minus_s);
  const Tensor second = s * one_minus_s * (2.0 + g * (1.0 - 2.0 * s));
  const Tensor p_dy = p * dy;
  return Grads{p_dy * u * second + q * dy * first, p_dy * first,
               p * u * first + q * g * s};
}

}  // namespace

// ---- rms_norm ---------------------------------------------------------------

MG_REGISTER_OP(rms_norm) {
  OpDef def;
  def.name = "rms_norm";
  def.summary =
      "y = x * rsqrt(mean(x^2, -1) + eps) * weight over the last axis "
      "(x [..., D], weight [D])";
  def.inputs = {"x", "weight"};
  def.attrs = RmsNormAttrs();
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckRmsNorm(ctx));
    return std::vector<TensorMeta>{ctx.inputs[0]};
  };
  def.forward = [](const KernelContext& ctx) {
    const Tensor x = Dense(ctx.inputs[0]);
    const Tensor w = Dense(ctx.inputs[1]);
    const double eps = ctx.attrs.GetFloat("eps");
    const size_t n = static_cast<size_t>(x.shape().back());
    const size_t rows = n == 0 ? 0 : static_cast<size_t>(x.numel()) / n;
    Tensor y = Tensor::Uninitialized(x.shape(), x.dtype());  // all written
    if (x.dtype() == DType::kFloat32) {
      HWY_DYNAMIC_DISPATCH(RmsNormForwardF32)
      (x.data<float>(), w.data<float>(), rows, n, eps, y.data<float>());
    } else {
      HWY_DYNAMIC_DISPATCH(RmsNormForwardF64)
      (x.data<double>(), w.data<double>(), rows, n, eps, y.data<double>());
    }
    return std::vector<Tensor>{y};
  };
  // dx = r (w g) - x r^3 mean(w g x), dweight = sum over rows of g x r, in
  // one fused op with its own backward rule.
  def.backward = [](const GradContext& c) {
    const RmsNormGrads g = RmsNormBackward(
        c.input(0), c.input(1), c.grad_output(0), c.attrs.GetFloat("eps"));
    return Grads{g.dx, g.dweight};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const int64_t n = in[0].shape().back();
    const double eps = attrs.GetFloat("eps");
    const std::vector<double> x = in[0].ToVector<double>();
    const std::vector<double> w = in[1].ToVector<double>();
    std::vector<double> y(x.size());
    for (size_t start = 0; start < x.size(); start += n) {
      const double scale = ReferenceRmsScale(&x[start], n, eps);
      for (int64_t i = 0; i < n; ++i) {
        y[start + i] = x[start + i] * scale * w[i];
      }
    }
    return std::vector<Tensor>{AsDType(y, in[0].shape(), in[0].dtype())};
  };
  def.samples = RmsNormSamples;
  // Per element: a square-add, two multiplies.
  def.flops = [](const FlopsContext& ctx) {
    return SaturatingProduct({4, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

// ---- rms_norm_backward ------------------------------------------------------

MG_REGISTER_OP(rms_norm_backward) {
  OpDef def;
  def.name = "rms_norm_backward";
  def.summary =
      "dx = r (w dy) - x r^3 mean(w dy x), dweight = sum_rows dy x r with "
      "r = rsqrt(mean(x^2, -1) + eps): rms_norm's gradient";
  def.inputs = {"x", "weight", "dy"};
  def.outputs = {"dx", "dweight"};
  def.attrs = RmsNormAttrs();
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckRmsNorm(ctx));
    MG_RETURN_IF_ERROR(CheckLike(ctx.inputs[2], "dy", ctx.inputs[0], "x"));
    return std::vector<TensorMeta>{ctx.inputs[0], ctx.inputs[1]};
  };
  def.forward = [](const KernelContext& ctx) {
    const Tensor x = Dense(ctx.inputs[0]);
    const Tensor w = Dense(ctx.inputs[1]);
    const Tensor dy = Dense(ctx.inputs[2]);
    const double eps = ctx.attrs.GetFloat("eps");
    const size_t n = static_cast<size_t>(x.shape().back());
    const size_t rows = n == 0 ? 0 : static_cast<size_t>(x.numel()) / n;
    Tensor dx = Tensor::Uninitialized(x.shape(), x.dtype());
    Tensor dw = Tensor::Uninitialized(w.shape(), w.dtype());
    if (x.dtype() == DType::kFloat32) {
      HWY_DYNAMIC_DISPATCH(RmsNormBackwardF32)
      (x.data<float>(), w.data<float>(), dy.data<float>(), rows, n, eps,
       dx.data<float>(), dw.data<float>());
    } else {
      HWY_DYNAMIC_DISPATCH(RmsNormBackwardF64)
      (x.data<double>(), w.data<double>(), dy.data<double>(), rows, n, eps,
       dx.data<double>(), dw.data<double>());
    }
    return std::vector<Tensor>{dx, dw};
  };
  // Written in primitive ops; the formulas are above RmsNormBackwardVjp.
  def.backward = RmsNormBackwardVjp;
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const int64_t n = in[0].shape().back();
    const double eps = attrs.GetFloat("eps");
    const std::vector<double> x = in[0].ToVector<double>();
    const std::vector<double> w = in[1].ToVector<double>();
    const std::vector<double> dy = in[2].ToVector<double>();
    std::vector<double> dx(x.size()), dw(n, 0.0);
    for (size_t start = 0; start < x.size(); start += n) {
      const double r = ReferenceRmsScale(&x[start], n, eps);
      double dot = 0.0;
      for (int64_t i = 0; i < n; ++i)
        dot += w[i] * dy[start + i] * x[start + i];
      for (int64_t i = 0; i < n; ++i) {
        dx[start + i] =
            r * w[i] * dy[start + i] - r * r * r * dot / n * x[start + i];
        dw[i] += dy[start + i] * x[start + i] * r;
      }
    }
    const DType dtype = in[0].dtype();
    return std::vector<Tensor>{AsDType(dx, in[0].shape(), dtype),
                               AsDType(dw, in[1].shape(), dtype)};
  };
  def.samples = RmsNormBackwardSamples;
  // Per element: two multiply-adds and a multiply for the row sums, then
  // four operations for dx and three for dweight.
  def.flops = [](const FlopsContext& ctx) {
    return SaturatingProduct({12, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

// ---- swiglu -----------------------------------------------------------------

MG_REGISTER_OP(swiglu) {
  OpDef def;
  def.name = "swiglu";
  def.summary = "y = silu(gate) * up = gate sigmoid(gate) up (same shapes)";
  def.inputs = {"gate", "up"};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckSwiGlu(ctx));
    return std::vector<TensorMeta>{ctx.inputs[0]};
  };
  def.forward = [](const KernelContext& ctx) {
    const Tensor gate = Dense(ctx.inputs[0]);
    const Tensor up = Dense(ctx.inputs[1]);
    const size_t n = static_cast<size_t>(gate.numel());
    Tensor y = Tensor::Uninitialized(gate.shape(), gate.dtype());
    if (gate.dtype() == DType::kFloat32) {
      HWY_DYNAMIC_DISPATCH(SwiGluForwardF32)
      (gate.data<float>(), up.data<float>(), n, y.data<float>());
    } else {
      HWY_DYNAMIC_DISPATCH(SwiGluForwardF64)
      (gate.data<double>(), up.data<double>(), n, y.data<double>());
    }
    return std::vector<Tensor>{y};
  };
  // dgate = g up s (1 + gate (1 - s)), dup = g gate s, s = sigmoid(gate): a
  // fused op with its own backward rule.
  def.backward = [](const GradContext& c) {
    const SwiGluGrads g =
        SwiGluBackward(c.input(0), c.input(1), c.grad_output(0));
    return Grads{g.dgate, g.dup};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs&) {
    const std::vector<double> gate = in[0].ToVector<double>();
    const std::vector<double> up = in[1].ToVector<double>();
    std::vector<double> y(gate.size());
    for (size_t i = 0; i < y.size(); ++i) {
      y[i] = gate[i] * Sigmoid64(gate[i]) * up[i];
    }
    return std::vector<Tensor>{AsDType(y, in[0].shape(), in[0].dtype())};
  };
  def.samples = SwiGluSamples;
  // Per element: exp, add and divide for the sigmoid, two multiplies.
  def.flops = [](const FlopsContext& ctx) {
    return SaturatingProduct({5, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

// ---- swiglu_backward --------------------------------------------------------

MG_REGISTER_OP(swiglu_backward) {
  OpDef def;
  def.name = "swiglu_backward";
  def.summary =
      "dgate = dy up s (1 + gate (1 - s)), dup = dy gate s with s = "
      "sigmoid(gate): swiglu's gradient";
  def.inputs = {"gate", "up", "dy"};
  def.outputs = {"dgate", "dup"};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckSwiGlu(ctx));
    MG_RETURN_IF_ERROR(CheckLike(ctx.inputs[2], "dy", ctx.inputs[0], "gate"));
    return std::vector<TensorMeta>{ctx.inputs[0], ctx.inputs[0]};
  };
  def.forward = [](const KernelContext& ctx) {
    const Tensor gate = Dense(ctx.inputs[0]);
    const Tensor up = Dense(ctx.inputs[1]);
    const Tensor dy = Dense(ctx.inputs[2]);
    const size_t n = static_cast<size_t>(gate.numel());
    Tensor dgate = Tensor::Uninitialized(gate.shape(), gate.dtype());
    Tensor dup = Tensor::Uninitialized(gate.shape(), gate.dtype());
    if (gate.dtype() == DType::kFloat32) {
      HWY_DYNAMIC_DISPATCH(SwiGluBackwardF32)
      (gate.data<float>(), up.data<float>(), dy.data<float>(), n,
       dgate.data<float>(), dup.data<float>());
    } else {
      HWY_DYNAMIC_DISPATCH(SwiGluBackwardF64)
      (gate.data<double>(), up.data<double>(), dy.data<double>(), n,
       dgate.data<double>(), dup.data<double>());
    }
    return std::vector<Tensor>{dgate, dup};
  };
  // Written in primitive ops; the formulas are above SwiGluBackwardVjp.
  def.backward = SwiGluBackwardVjp;
  def.reference = [](absl::Span<const Tensor> in, const Attrs&) {
    const std::vector<double> gate = in[0].ToVector<double>();
    const std::vector<double> up = in[1].ToVector<double>();
    const std::vector<double> dy = in[2].ToVector<double>();
    std::vector<double> dgate(gate.size()), dup(gate.size());
    for (size_t i = 0; i < gate.size(); ++i) {
      const double s = Sigmoid64(gate[i]);
      dgate[i] = dy[i] * up[i] * s * (1.0 + gate[i] * (1.0 - s));
      dup[i] = dy[i] * gate[i] * s;
    }
    const DType dtype = in[0].dtype();
    return std::vector<Tensor>{AsDType(dgate, in[0].shape(), dtype),
                               AsDType(dup, in[0].shape(), dtype)};
  };
  def.samples = SwiGluBackwardSamples;
  // Per element: the sigmoid's three, then eight multiplies and adds.
  def.flops = [](const FlopsContext& ctx) {
    return SaturatingProduct({11, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

}  // namespace minigraph

#endif  // HWY_ONCE
