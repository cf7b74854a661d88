// Elementwise ops: kernel dispatch and the one definition of each op.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/elementwise.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/elementwise-inl.h"

#if HWY_ONCE

#include <cmath>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/op_registry.h"
#include "ops/elementwise.h"
#include "ops/op_helpers.h"

namespace minigraph {

HWY_EXPORT(UnaryF32);
HWY_EXPORT(UnaryF64);
HWY_EXPORT(BinaryF32);
HWY_EXPORT(BinaryF64);

void UnaryContiguous(UnaryKind kind, double param, const float* in, float* out,
                     size_t n) {
  HWY_DYNAMIC_DISPATCH(UnaryF32)(kind, param, in, out, n);
}
void UnaryContiguous(UnaryKind kind, double param, const double* in,
                     double* out, size_t n) {
  HWY_DYNAMIC_DISPATCH(UnaryF64)(kind, param, in, out, n);
}
void BinaryStrided(BinaryKind kind, const BinaryPlan& plan, const float* a,
                   const float* b, float* out) {
  HWY_DYNAMIC_DISPATCH(BinaryF32)(kind, plan, a, b, out);
}
void BinaryStrided(BinaryKind kind, const BinaryPlan& plan, const double* a,
                   const double* b, double* out) {
  HWY_DYNAMIC_DISPATCH(BinaryF64)(kind, plan, a, b, out);
}

// ---- user API ---------------------------------------------------------------

Tensor Add(const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("add"), {a, b});
}
Tensor Sub(const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("sub"), {a, b});
}
Tensor Mul(const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("mul"), {a, b});
}
Tensor Div(const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("div"), {a, b});
}
Tensor Maximum(const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("maximum"), {a, b});
}
Tensor Equal(const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("equal"), {a, b});
}
Tensor Greater(const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("greater"), {a, b});
}
Tensor Neg(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("neg"), {x}); }
Tensor Exp(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("exp"), {x}); }
Tensor Log(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("log"), {x}); }
Tensor Sqrt(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("sqrt"), {x}); }
Tensor Rsqrt(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("rsqrt"), {x}); }
Tensor Sin(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("sin"), {x}); }
Tensor Cos(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("cos"), {x}); }
Tensor Sigmoid(const Tensor& x) {
  return CallOpOrDie(MG_OP_DEF("sigmoid"), {x});
}
Tensor Silu(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("silu"), {x}); }
Tensor Pow(const Tensor& x, double exponent) {
  return CallOpOrDie(MG_OP_DEF("pow"), {x}, {{"exponent", exponent}});
}
Tensor Where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  return CallOpOrDie(MG_OP_DEF("where"), {condition, a, b});
}
Tensor MaskedFill(const Tensor& x, const Tensor& mask, double value) {
  return Where(mask, ScalarLike(value, x), x);
}
Tensor Full(const Shape& shape, double value, DType dtype) {
  return CallOpOrDie(
      MG_OP_DEF("full"), {},
      {{"shape", ShapeAttr{shape}}, {"value", value}, {"dtype", dtype}});
}
Tensor FullLike(const Tensor& x, double value) {
  return CallOpOrDie(MG_OP_DEF("full_like"), {x}, {{"value", value}});
}
Tensor Cast(const Tensor& x, DType dtype) {
  return CallOpOrDie(MG_OP_DEF("cast"), {x}, {{"dtype", dtype}});
}

Tensor operator+(const Tensor& a, const Tensor& b) { return Add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return Sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return Mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return Div(a, b); }
Tensor operator-(const Tensor& x) { return Neg(x); }
Tensor operator+(const Tensor& a, double b) { return Add(a, ScalarLike(b, a)); }
Tensor operator-(const Tensor& a, double b) { return Sub(a, ScalarLike(b, a)); }
Tensor operator*(const Tensor& a, double b) { return Mul(a, ScalarLike(b, a)); }
Tensor operator/(const Tensor& a, double b) { return Div(a, ScalarLike(b, a)); }
Tensor operator+(double a, const Tensor& b) { return Add(ScalarLike(a, b), b); }
Tensor operator-(double a, const Tensor& b) { return Sub(ScalarLike(a, b), b); }
Tensor operator*(double a, const Tensor& b) { return Mul(ScalarLike(a, b), b); }
Tensor operator/(double a, const Tensor& b) { return Div(ScalarLike(a, b), b); }

namespace {

// ---- shared pieces of the definitions -------------------------------------

// The unary kernels read a dense buffer.
Tensor DenseInput(const Tensor& t) {
  return t.is_contiguous() ? t : CopyToContiguous(t);
}

KernelFn UnaryForward(UnaryKind kind, const char* param_attr = nullptr) {
  return [kind, param_attr](const KernelContext& ctx) {
    const Tensor x = DenseInput(ctx.inputs[0]);
    const double param = param_attr ? ctx.attrs.GetFloat(param_attr) : 0.0;
    Tensor y = OutputBuffer(ctx, x.shape(), x.dtype());
    if (x.dtype() == DType::kFloat32) {
      UnaryContiguous(kind, param, x.data<float>(), y.data<float>(), x.numel());
    } else {
      UnaryContiguous(kind, param, x.data<double>(), y.data<double>(),
                      x.numel());
    }
    return std::vector<Tensor>{y};
  };
}

absl::StatusOr<std::vector<TensorMeta>> InferUnaryFloat(
    const InferContext& ctx) {
  MG_RETURN_IF_ERROR(CheckFloat(ctx.inputs[0], "input"));
  return std::vector<TensorMeta>{ctx.inputs[0]};
}

absl::StatusOr<std::vector<TensorMeta>> InferBinary(const InferContext& ctx) {
  MG_ASSIGN_OR_RETURN(TensorMeta out,
                      BroadcastMetas(ctx.inputs[0], ctx.inputs[1]));
  if (out.shape.size() > 16) {
    return absl::InvalidArgumentError("rank above 16 is not supported");
  }
  return std::vector<TensorMeta>{out};
}

KernelFn BinaryForward(BinaryKind kind) {
  return [kind](const KernelContext& ctx) {
    const Tensor& a = ctx.inputs[0];
    const Tensor& b = ctx.inputs[1];
    const Shape& shape = ctx.outputs[0].shape;
    // Broadcast strides on the stack (rank <= 16, checked at inference): no
    // allocation beyond the output's, which matters for tiny tensors.
    const int rank = static_cast<int>(shape.size());
    int64_t a_strides[16], b_strides[16];
    for (int d = 0; d < rank; ++d) {
      const int da = d - (rank - a.dim()), db = d - (rank - b.dim());
      a_strides[d] = da < 0 || a.shape()[da] == 1 ? 0 : a.strides()[da];
      b_strides[d] = db < 0 || b.shape()[db] == 1 ? 0 : b.strides()[db];
    }
    const BinaryPlan plan{rank, shape.data(), a_strides, b_strides};
    Tensor y = OutputBuffer(ctx, shape, a.dtype());
    if (a.dtype() == DType::kFloat32) {
      BinaryStrided(kind, plan, a.data<float>(), b.data<float>(),
                    y.data<float>());
    } else {
      BinaryStrided(kind, plan, a.data<double>(), b.data<double>(),
                    y.data<double>());
    }
    return std::vector<Tensor>{y};
  };
}

ReferenceFn BinaryReference(double (*f)(double, double)) {
  return [f](absl::Span<const Tensor> in, const Attrs&) {
    return std::vector<Tensor>{ReferenceBinary(in[0], in[1], in[0].dtype(), f)};
  };
}

// Same-shape, row-broadcast, outer-product and scalar operands.
std::vector<OpSample> BinarySamples(double low, double high) {
  return {
      {"same_shape",
       {SampleUniform({3, 5}, low, high, 1),
        SampleUniform({3, 5}, low, high, 2)}},
      {"row_broadcast",
       {SampleUniform({2, 3, 9}, low, high, 3),
        SampleUniform({9}, low, high, 4)}},
      {"outer",
       {SampleUniform({4, 1}, low, high, 5),
        SampleUniform({1, 3}, low, high, 6)}},
      {"scalar",
       {SampleUniform({17}, low, high, 7), SampleUniform({}, low, high, 8)}},
  };
}

std::vector<OpSample> UnarySamples(double low, double high) {
  return {
      {"matrix", {SampleUniform({3, 7}, low, high, 11)}},
      {"long", {SampleUniform({37}, low, high, 12)}},
      {"scalar", {SampleUniform({}, low, high, 13)}},
  };
}

ReferenceFn UnaryReference(double (*f)(double)) {
  return [f](absl::Span<const Tensor> in, const Attrs&) {
    return std::vector<Tensor>{ReferenceUnary(in[0], f)};
  };
}

double Sigmoid64(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double LoadAsDouble(const Tensor& t, int64_t element) {
  const void* base = t.storage()->data();
  switch (t.dtype()) {
    case DType::kFloat32:
      return static_cast<const float*>(base)[element];
    case DType::kFloat64:
      return static_cast<const double*>(base)[element];
    case DType::kInt64:
      return static_cast<double>(static_cast<const int64_t*>(base)[element]);
  }
  return 0.0;
}

// y = condition != 0 ? a : b over the broadcast shape of y (a selection: a
// plain strided loop; the condition may have any dtype).
template <typename T>
void WhereLoop(const Tensor& condition, const Tensor& a, const Tensor& b,
               Tensor& y) {
  const Shape& shape = y.shape();
  const Shape sc = BroadcastStrides(condition, shape);
  const Shape sa = BroadcastStrides(a, shape);
  const Shape sb = BroadcastStrides(b, shape);
  const T* pa = static_cast<const T*>(a.storage()->data());
  const T* pb = static_cast<const T*>(b.storage()->data());
  T* out = y.data<T>();
  const int rank = static_cast<int>(shape.size());
  std::vector<int64_t> index(rank, 0);
  int64_t oc = condition.offset(), oa = a.offset(), ob = b.offset();
  for (int64_t i = 0; i < y.numel(); ++i) {
    out[i] = LoadAsDouble(condition, oc) != 0.0 ? pa[oa] : pb[ob];
    for (int axis = rank - 1; axis >= 0; --axis) {
      oc += sc[axis];
      oa += sa[axis];
      ob += sb[axis];
      if (++index[axis] < shape[axis]) break;
      oc -= sc[axis] * shape[axis];
      oa -= sa[axis] * shape[axis];
      ob -= sb[axis] * shape[axis];
      index[axis] = 0;
    }
  }
}

void WhereStrided(const Tensor& condition, const Tensor& a, const Tensor& b,
                  Tensor& y) {
  if (y.dtype() == DType::kFloat32) {
    WhereLoop<float>(condition, a, b, y);
  } else {
    WhereLoop<double>(condition, a, b, y);
  }
}

}  // namespace

// ---- binary arithmetic
// -------------------------------------------------------

MG_REGISTER_OP(add) {
  OpDef def;
  def.name = "add";
  def.summary = "y = a + b (numpy broadcasting)";
  def.inputs = {"a", "b"};
  def.infer = InferBinary;
  def.forward = BinaryForward(BinaryKind::kAdd);
  def.inplace_inputs = {0, 1};
  def.backward = [](const GradContext& c) {  // da = g, db = g
    return Grads{c.grad_output(0), c.grad_output(0)};
  };
  def.reference = BinaryReference([](double a, double b) { return a + b; });
  def.samples = [] { return BinarySamples(-2, 2); };
  return def;
}

MG_REGISTER_OP(sub) {
  OpDef def;
  def.name = "sub";
  def.summary = "y = a - b (numpy broadcasting)";
  def.inputs = {"a", "b"};
  def.infer = InferBinary;
  def.forward = BinaryForward(BinaryKind::kSub);
  def.inplace_inputs = {0, 1};
  def.backward = [](const GradContext& c) {  // da = g, db = -g
    return Grads{c.grad_output(0), Neg(c.grad_output(0))};
  };
  def.reference = BinaryReference([](double a, double b) { return a - b; });
  def.samples = [] { return BinarySamples(-2, 2); };
  return def;
}

MG_REGISTER_OP(mul) {
  OpDef def;
  def.name = "mul";
  def.summary = "y = a * b (numpy broadcasting)";
  def.inputs = {"a", "b"};
  def.infer = InferBinary;
  def.forward = BinaryForward(BinaryKind::kMul);
  def.inplace_inputs = {0, 1};
  def.backward = [](const GradContext& c) {  // da = g b, db = g a
    const Tensor& g = c.grad_output(0);
    return Grads{c.needs_input_grad[0] ? Mul(g, c.input(1)) : Tensor(),
                 c.needs_input_grad[1] ? Mul(g, c.input(0)) : Tensor()};
  };
  def.reference = BinaryReference([](double a, double b) { return a * b; });
  def.samples = [] { return BinarySamples(-2, 2); };
  return def;
}

MG_REGISTER_OP(div) {
  OpDef def;
  def.name = "div";
  def.summary = "y = a / b (numpy broadcasting)";
  def.inputs = {"a", "b"};
  def.infer = InferBinary;
  def.forward = BinaryForward(BinaryKind::kDiv);
  def.inplace_inputs = {0, 1};
  def.backward = [](const GradContext& c) {  // da = g / b, db = -g y / b
    const Tensor& g = c.grad_output(0);
    return Grads{c.needs_input_grad[0] ? Div(g, c.input(1)) : Tensor(),
                 c.needs_input_grad[1]
                     ? Neg(Div(Mul(g, c.output(0)), c.input(1)))
                     : Tensor()};
  };
  def.reference = BinaryReference([](double a, double b) { return a / b; });
  def.samples = [] {
    return std::vector<OpSample>{
        {"same_shape",
         {SampleUniform({3, 5}, -2, 2, 1),
          SampleAwayFromZero({3, 5}, 0.5, 2, 2)}},
        {"row_broadcast",
         {SampleUniform({2, 3, 9}, -2, 2, 3),
          SampleAwayFromZero({9}, 0.5, 2, 4)}},
        {"scalar_numerator",
         {SampleUniform({}, -2, 2, 5), SampleAwayFromZero({4, 3}, 0.5, 2, 6)}},
    };
  };
  return def;
}

MG_REGISTER_OP(maximum) {
  OpDef def;
  def.name = "maximum";
  def.summary = "y = max(a, b); ties split the gradient evenly";
  def.inputs = {"a", "b"};
  def.infer = InferBinary;
  def.forward = BinaryForward(BinaryKind::kMax);
  def.inplace_inputs = {0, 1};
  // w = [a > b] + [a == b] / 2;  da = g w, db = g (1 - w)
  def.backward = [](const GradContext& c) {
    const Tensor& a = c.input(0);
    const Tensor& b = c.input(1);
    const Tensor w = Add(Greater(a, b), Mul(Equal(a, b), ScalarLike(0.5, a)));
    const Tensor& g = c.grad_output(0);
    return Grads{Mul(g, w), Mul(g, Sub(ScalarLike(1.0, a), w))};
  };
  def.reference =
      BinaryReference([](double a, double b) { return a > b ? a : b; });
  def.samples = [] { return BinarySamples(-2, 2); };
  return def;
}

MG_REGISTER_OP(equal) {
  OpDef def;
  def.name = "equal";
  def.summary = "y = 1 where a == b else 0 (no gradient)";
  def.inputs = {"a", "b"};
  def.nondifferentiable_inputs = {0, 1};
  def.infer = InferBinary;
  def.forward = BinaryForward(BinaryKind::kEqual);
  def.reference =
      BinaryReference([](double a, double b) { return a == b ? 1.0 : 0.0; });
  def.samples = [] {
    Tensor a = SampleUniform({3, 4}, -2, 2, 1);
    Tensor b = CopyToContiguous(a);
    b.data<double>()[5] += 1.0;  // one mismatch among matches
    return std::vector<OpSample>{
        {"mixed", {a, b}}, {"broadcast", {a, SampleUniform({4}, -2, 2, 2)}}};
  };
  return def;
}

MG_REGISTER_OP(greater) {
  OpDef def;
  def.name = "greater";
  def.summary = "y = 1 where a > b else 0 (no gradient)";
  def.inputs = {"a", "b"};
  def.nondifferentiable_inputs = {0, 1};
  def.infer = InferBinary;
  def.forward = BinaryForward(BinaryKind::kGreater);
  def.reference =
      BinaryReference([](double a, double b) { return a > b ? 1.0 : 0.0; });
  def.samples = [] { return BinarySamples(-2, 2); };
  return def;
}

// ---- unary math
// --------------------------------------------------------------

MG_REGISTER_OP(neg) {
  OpDef def;
  def.name = "neg";
  def.summary = "y = -x";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kNeg);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = -g
    return Grads{Neg(c.grad_output(0))};
  };
  def.reference = UnaryReference([](double x) { return -x; });
  def.samples = [] { return UnarySamples(-3, 3); };
  return def;
}

MG_REGISTER_OP(exp) {
  OpDef def;
  def.name = "exp";
  def.summary = "y = e^x (1 ULP; exp(-inf) = 0)";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kExp);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = g y
    return Grads{Mul(c.grad_output(0), c.output(0))};
  };
  def.reference = UnaryReference([](double x) { return std::exp(x); });
  def.samples = [] { return UnarySamples(-3, 3); };
  return def;
}

MG_REGISTER_OP(log) {
  OpDef def;
  def.name = "log";
  def.summary = "y = ln x (4 ULP on x > 0)";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kLog);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = g / x
    return Grads{Div(c.grad_output(0), c.input(0))};
  };
  def.reference = UnaryReference([](double x) { return std::log(x); });
  def.samples = [] { return UnarySamples(0.2, 4); };
  return def;
}

MG_REGISTER_OP(sqrt) {
  OpDef def;
  def.name = "sqrt";
  def.summary = "y = sqrt(x)";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kSqrt);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = g / (2 y)
    return Grads{
        Div(c.grad_output(0), Mul(c.output(0), ScalarLike(2.0, c.output(0))))};
  };
  def.reference = UnaryReference([](double x) { return std::sqrt(x); });
  def.samples = [] { return UnarySamples(0.2, 4); };
  return def;
}

MG_REGISTER_OP(rsqrt) {
  OpDef def;
  def.name = "rsqrt";
  def.summary = "y = 1 / sqrt(x)";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kRsqrt);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = -g y^3 / 2
    const Tensor& y = c.output(0);
    return Grads{Mul(c.grad_output(0), Mul(Pow(y, 3.0), ScalarLike(-0.5, y)))};
  };
  def.reference = UnaryReference([](double x) { return 1.0 / std::sqrt(x); });
  def.samples = [] { return UnarySamples(0.2, 4); };
  return def;
}

MG_REGISTER_OP(sin) {
  OpDef def;
  def.name = "sin";
  def.summary = "y = sin x (3 ULP on [-39000, 39000])";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kSin);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = g cos x
    return Grads{Mul(c.grad_output(0), Cos(c.input(0)))};
  };
  def.reference = UnaryReference([](double x) { return std::sin(x); });
  def.samples = [] { return UnarySamples(-4, 4); };
  return def;
}

MG_REGISTER_OP(cos) {
  OpDef def;
  def.name = "cos";
  def.summary = "y = cos x (3 ULP on [-39000, 39000])";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kCos);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = -g sin x
    return Grads{Neg(Mul(c.grad_output(0), Sin(c.input(0))))};
  };
  def.reference = UnaryReference([](double x) { return std::cos(x); });
  def.samples = [] { return UnarySamples(-4, 4); };
  return def;
}

MG_REGISTER_OP(sigmoid) {
  OpDef def;
  def.name = "sigmoid";
  def.summary = "y = 1 / (1 + e^-x)";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kSigmoid);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = g y (1 - y)
    const Tensor& y = c.output(0);
    return Grads{Mul(c.grad_output(0), Mul(y, Sub(ScalarLike(1.0, y), y)))};
  };
  def.reference = UnaryReference(Sigmoid64);
  def.samples = [] { return UnarySamples(-5, 5); };
  return def;
}

MG_REGISTER_OP(silu) {
  OpDef def;
  def.name = "silu";
  def.summary = "y = x sigmoid(x)";
  def.inputs = {"x"};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kSilu);
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = g s (1 + x (1 - s))
    const Tensor& x = c.input(0);
    const Tensor s = Sigmoid(x);
    const Tensor one = ScalarLike(1.0, x);
    return Grads{Mul(c.grad_output(0), Mul(s, Add(one, Mul(x, Sub(one, s)))))};
  };
  def.reference = UnaryReference([](double x) { return x * Sigmoid64(x); });
  def.samples = [] { return UnarySamples(-5, 5); };
  return def;
}

MG_REGISTER_OP(pow) {
  OpDef def;
  def.name = "pow";
  def.summary = "y = x^p for a scalar p (exact for integer |p| <= 64)";
  def.inputs = {"x"};
  def.attrs = {{"exponent", AttrType::kFloat, std::nullopt, "p"}};
  def.infer = InferUnaryFloat;
  def.forward = UnaryForward(UnaryKind::kPow, "exponent");
  def.inplace_inputs = {0};
  def.backward = [](const GradContext& c) {  // dx = g p x^(p - 1)
    const double p = c.attrs.GetFloat("exponent");
    const Tensor& x = c.input(0);
    if (p == 0.0) return Grads{FullLike(x, 0.0)};
    return Grads{Mul(c.grad_output(0), Mul(Pow(x, p - 1.0), ScalarLike(p, x)))};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const double p = attrs.GetFloat("exponent");
    return std::vector<Tensor>{
        ReferenceUnary(in[0], [p](double x) { return std::pow(x, p); })};
  };
  def.samples = [] {
    return std::vector<OpSample>{
        {"square", {SampleUniform({3, 4}, -2, 2, 1)}, {{"exponent", 2.0}}},
        {"cube", {SampleUniform({9}, -2, 2, 2)}, {{"exponent", 3.0}}},
        {"inverse", {SampleAwayFromZero({5}, 0.5, 2, 3)}, {{"exponent", -1.0}}},
        {"fractional", {SampleUniform({2, 5}, 0.3, 3, 4)}, {{"exponent", 1.7}}},
        {"inverse_sqrt", {SampleUniform({6}, 0.3, 3, 5)}, {{"exponent", -0.5}}},
    };
  };
  return def;
}

// ---- selection, fills, casts
// ---------------------------------------------------

MG_REGISTER_OP(where) {
  OpDef def;
  def.name = "where";
  def.summary = "y = condition != 0 ? a : b (three-way broadcasting)";
  def.inputs = {"condition", "a", "b"};
  def.nondifferentiable_inputs = {0};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_ASSIGN_OR_RETURN(TensorMeta ab,
                        BroadcastMetas(ctx.inputs[1], ctx.inputs[2]));
    MG_ASSIGN_OR_RETURN(ab.shape,
                        BroadcastShapes(ctx.inputs[0].shape, ab.shape));
    if (ab.shape.size() > 16) {
      return absl::InvalidArgumentError("rank above 16 is not supported");
    }
    return std::vector<TensorMeta>{ab};
  };
  def.forward = [](const KernelContext& ctx) {
    const Shape& shape = ctx.outputs[0].shape;
    Tensor y = Tensor::Empty(shape, ctx.outputs[0].dtype);
    WhereStrided(ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], y);
    return std::vector<Tensor>{y};
  };
  // da = where(c, g, 0), db = where(c, 0, g)
  def.backward = [](const GradContext& c) {
    const Tensor& g = c.grad_output(0);
    const Tensor zero = ScalarLike(0.0, g);
    return Grads{Tensor(),
                 c.needs_input_grad[1] ? Where(c.input(0), g, zero) : Tensor(),
                 c.needs_input_grad[2] ? Where(c.input(0), zero, g) : Tensor()};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs&) {
    // Select by broadcasting the condition against a then against b.
    const Tensor picked_a = ReferenceBinary(
        in[0], in[1], DType::kFloat64,
        [](double c, double a) { return c != 0.0 ? a : std::nan(""); });
    const Tensor out = ReferenceBinary(
        picked_a, in[2], in[1].dtype(),
        [](double a, double b) { return std::isnan(a) ? b : a; });
    return std::vector<Tensor>{out};
  };
  def.samples = [] {
    Tensor condition = Tensor::FromData<double>({1, 0, 0, 1, 1, 0}, {2, 3});
    return std::vector<OpSample>{
        {"same_shape",
         {condition, SampleUniform({2, 3}, -2, 2, 1),
          SampleUniform({2, 3}, -2, 2, 2)}},
        {"broadcast",
         {Tensor::FromData<double>({0, 1, 1}, {3}),
          SampleUniform({4, 3}, -2, 2, 3), SampleUniform({4, 1}, -2, 2, 4)}},
    };
  };
  return def;
}

MG_REGISTER_OP(full) {
  OpDef def;
  def.name = "full";
  def.summary = "a tensor of `shape` filled with `value`";
  def.attrs = {{"shape", AttrType::kShape, std::nullopt, "output shape"},
               {"value", AttrType::kFloat, AttrValue(0.0), "fill value"},
               {"dtype", AttrType::kDType, AttrValue(DType::kFloat32), ""}};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    const Shape& shape = ctx.attrs.GetShape("shape");
    MG_RETURN_IF_ERROR(ValidateShape(shape));
    return std::vector<TensorMeta>{{ctx.attrs.GetDType("dtype"), shape}};
  };
  def.forward = [](const KernelContext& ctx) {
    return std::vector<Tensor>{Tensor::Full(ctx.outputs[0].shape,
                                            ctx.attrs.GetFloat("value"),
                                            ctx.outputs[0].dtype)};
  };
  def.reference = [](absl::Span<const Tensor>, const Attrs& attrs) {
    std::vector<double> values(NumElements(attrs.GetShape("shape")),
                               attrs.GetFloat("value"));
    return std::vector<Tensor>{
        ConvertDType(Tensor::FromData(values, attrs.GetShape("shape")),
                     attrs.GetDType("dtype"))};
  };
  def.samples = [] {
    return std::vector<OpSample>{{"matrix",
                                  {},
                                  {{"shape", ShapeAttr{{2, 3}}},
                                   {"value", 1.5},
                                   {"dtype", DType::kFloat64}}}};
  };
  return def;
}

MG_REGISTER_OP(full_like) {
  OpDef def;
  def.name = "full_like";
  def.summary = "a tensor shaped and typed like x, filled with `value`";
  def.inputs = {"x"};
  def.nondifferentiable_inputs = {0};
  def.attrs = {{"value", AttrType::kFloat, AttrValue(0.0), "fill value"}};
  def.infer = SameAsInput(0);
  def.forward = [](const KernelContext& ctx) {
    return std::vector<Tensor>{Tensor::Full(ctx.outputs[0].shape,
                                            ctx.attrs.GetFloat("value"),
                                            ctx.outputs[0].dtype)};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const double value = attrs.GetFloat("value");
    return std::vector<Tensor>{
        ReferenceUnary(in[0], [value](double) { return value; })};
  };
  def.samples = [] {
    return std::vector<OpSample>{
        {"matrix", {SampleUniform({2, 3}, -1, 1, 1)}, {{"value", -2.0}}}};
  };
  return def;
}

MG_REGISTER_OP(cast) {
  OpDef def;
  def.name = "cast";
  def.summary = "y = x converted to `dtype`";
  def.inputs = {"x"};
  def.attrs = {{"dtype", AttrType::kDType, std::nullopt, "target dtype"}};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    return std::vector<TensorMeta>{
        {ctx.attrs.GetDType("dtype"), ctx.inputs[0].shape}};
  };
  def.forward = [](const KernelContext& ctx) {
    return std::vector<Tensor>{
        ConvertDType(ctx.inputs[0], ctx.outputs[0].dtype)};
  };
  def.backward = [](const GradContext& c) {  // dx = cast(g, dtype(x))
    return Grads{Cast(c.grad_output(0), c.input(0).dtype())};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    return std::vector<Tensor>{
        ConvertDType(ReferenceUnary(in[0], [](double x) { return x; }),
                     attrs.GetDType("dtype"))};
  };
  def.samples = [] {
    return std::vector<OpSample>{{"to_f64",
                                  {SampleUniform({2, 3}, -1, 1, 1)},
                                  {{"dtype", DType::kFloat64}}}};
  };
  return def;
}

}  // namespace minigraph

#endif  // HWY_ONCE
