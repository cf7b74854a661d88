// Loss ops: kernel dispatch, the user API and the one definition of each op
// (cross_entropy, cross_entropy_backward, one_hot).

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/loss.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/loss-inl.h"

#if HWY_ONCE

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "ops/elementwise.h"
#include "ops/loss.h"
#include "ops/op_helpers.h"
#include "ops/reduction.h"
#include "ops/shape_ops.h"

namespace minigraph {

HWY_EXPORT(CrossEntropyForwardF32);
HWY_EXPORT(CrossEntropyForwardF64);
HWY_EXPORT(CrossEntropyBackwardF32);
HWY_EXPORT(CrossEntropyBackwardF64);

// ---- user API ---------------------------------------------------------------

const char* LossReductionName(LossReduction reduction) {
  switch (reduction) {
    case LossReduction::kMean:
      return "mean";
    case LossReduction::kSum:
      return "sum";
    case LossReduction::kNone:
      return "none";
  }
  return "mean";
}

absl::StatusOr<LossReduction> ParseLossReduction(absl::string_view name) {
  for (LossReduction r :
       {LossReduction::kMean, LossReduction::kSum, LossReduction::kNone}) {
    if (name == LossReductionName(r)) return r;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "reduction must be \"mean\", \"sum\" or \"none\", got \"", name, "\""));
}

namespace {

Attrs LossAttrs(int64_t ignore_index, LossReduction reduction) {
  return {{"ignore_index", ignore_index},
          {"reduction", std::string(LossReductionName(reduction))}};
}

}  // namespace

// The target range check happens in the op's forward, which this call runs,
// so it covers CallOp and loaded graphs as well.
Tensor CrossEntropy(const Tensor& logits, const Tensor& targets,
                    int64_t ignore_index, LossReduction reduction) {
  return CallOpOrDie(MG_OP_DEF("cross_entropy"), {logits, targets},
                     LossAttrs(ignore_index, reduction));
}

Tensor CrossEntropyBackward(const Tensor& logits, const Tensor& targets,
                            const Tensor& grad, int64_t ignore_index,
                            LossReduction reduction) {
  return CallOpOrDie(MG_OP_DEF("cross_entropy_backward"),
                     {logits, targets, grad},
                     LossAttrs(ignore_index, reduction));
}

Tensor OneHot(const Tensor& indices, int64_t num_classes, DType dtype,
              int64_t ignore_index) {
  return CallOpOrDie(MG_OP_DEF("one_hot"), {indices},
                     {{"num_classes", num_classes},
                      {"dtype", dtype},
                      {"ignore_index", ignore_index}});
}

namespace {

// ---- shared pieces of the definitions -------------------------------------

Tensor Dense(const Tensor& t) {
  return t.is_contiguous() ? t : CopyToContiguous(t);
}

LossReduction ReductionOf(const Attrs& attrs) {
  return ValueOrDie(ParseLossReduction(attrs.GetString("reduction")));
}

std::vector<AttrDef> LossAttrDefs() {
  return {{"ignore_index", AttrType::kInt, AttrValue(int64_t{-100}),
           "targets equal to this are skipped (no loss, no gradient, not "
           "counted by mean)"},
          {"reduction", AttrType::kString, AttrValue(std::string("mean")),
           "\"mean\" over targets not ignored, \"sum\", or \"none\""}};
}

absl::Status CheckIndexDType(const TensorMeta& meta, const char* what) {
  if (meta.dtype != DType::kInt64) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be int64, got ",
                                                   DTypeName(meta.dtype),
                                                   ShapeToString(meta.shape)));
  }
  return absl::OkStatus();
}

// Checks logits [..., C] and targets [...] and returns the output meta of
// cross_entropy (a scalar, or targets' shape for "none").
absl::StatusOr<TensorMeta> InferLoss(const TensorMeta& logits,
                                     const TensorMeta& targets,
                                     const Attrs& attrs) {
  MG_RETURN_IF_ERROR(CheckFloat(logits, "logits"));
  if (logits.shape.empty()) {
    return absl::InvalidArgumentError(
        "logits must have a class axis (shape [..., C]), got a scalar");
  }
  MG_RETURN_IF_ERROR(CheckIndexDType(targets, "targets"));
  const Shape leading(logits.shape.begin(), logits.shape.end() - 1);
  if (targets.shape != leading) {
    return absl::InvalidArgumentError(
        absl::StrCat("targets must be ", ShapeToString(leading),
                     " (logits' shape without the class axis), got ",
                     ShapeToString(targets.shape)));
  }
  MG_ASSIGN_OR_RETURN(LossReduction reduction,
                      ParseLossReduction(attrs.GetString("reduction")));
  return TensorMeta{logits.dtype,
                    reduction == LossReduction::kNone ? leading : Shape{}};
}

// The number of `values` (`indices` in row-major order) that are not
// ignore_index, or an error naming the first one outside [0, num_classes):
// its value, its position in `indices` and the valid range. `what` names one
// value ("target") and `input` the tensor ("targets").
absl::StatusOr<int64_t> CountValidIndices(const char* what, const char* input,
                                          const Tensor& indices,
                                          const int64_t* values,
                                          int64_t num_classes,
                                          int64_t ignore_index) {
  const int64_t n = indices.numel();
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t value = values[i];
    if (value == ignore_index) continue;
    if (value < 0 || value >= num_classes) {
      return absl::OutOfRangeError(absl::StrCat(
          what, " ", value, " at position ",
          ShapeToString(UnravelIndex(i, indices.shape())), " of ", input, " ",
          DTypeName(indices.dtype()), ShapeToString(indices.shape()),
          " is out of range for ", num_classes, " classes (valid: 0 to ",
          num_classes - 1, ", or ignore_index ", ignore_index, ")"));
    }
    ++count;
  }
  return count;
}

// log(sum e^x) of a row in double: NaN when a value is NaN or +inf or all
// are -inf, as PyTorch's log_softmax gives.
double ReferenceLogSumExp(const double* x, int64_t n) {
  double max = -std::numeric_limits<double>::infinity();
  bool nan = false;
  for (int64_t c = 0; c < n; ++c) {
    nan = nan || std::isnan(x[c]);
    max = std::max(max, x[c]);
  }
  if (nan || !std::isfinite(max)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double sum = 0.0;
  for (int64_t c = 0; c < n; ++c) sum += std::exp(x[c] - max);
  return max + std::log(sum);
}

Tensor AsDType(const std::vector<double>& values, const Shape& shape,
               DType dtype) {
  return ConvertDType(Tensor::FromData(values, shape), dtype);
}

Tensor SampleTargets(const std::vector<int64_t>& values, const Shape& shape) {
  return Tensor::FromData<int64_t>(values, shape);
}

// Rows of 5 with an ignored target, rows of 67 (more than four AVX-512
// float32 vectors, plus a tail) summed, a [2, 3, 6] batch with one loss per
// position, ignore_index naming a real class, strided logits (a transposed
// view) and a batch whose targets are all ignored (sum: 0, gradient 0).
std::vector<OpSample> LossSamples() {
  std::vector<OpSample> samples = {
      {"mean_with_ignored",
       {SampleUniform({4, 5}, -3, 3, 1), SampleTargets({1, -100, 4, 0}, {4})},
       LossAttrs(-100, LossReduction::kMean)},
      {"sum_long_rows",
       {SampleUniform({2, 67}, -3, 3, 2), SampleTargets({66, 3}, {2})},
       LossAttrs(-100, LossReduction::kSum)},
      {"none_batch_time",
       {SampleUniform({2, 3, 6}, -3, 3, 3),
        SampleTargets({5, 0, -100, 2, 2, 1}, {2, 3})},
       LossAttrs(-100, LossReduction::kNone)},
      {"ignore_index_is_a_class",
       {SampleUniform({3, 4}, -3, 3, 4), SampleTargets({2, 0, 3}, {3})},
       LossAttrs(2, LossReduction::kMean)},
      {"all_ignored_sum",
       {SampleUniform({2, 3}, -3, 3, 6), SampleTargets({-1, -1}, {2})},
       LossAttrs(-1, LossReduction::kSum)},
  };
  OpSample strided = {"strided_logits_mean",
                      {Transpose(SampleUniform({7, 3}, -3, 3, 5), 0, 1),
                       SampleTargets({6, 0, 3}, {3})},
                      LossAttrs(-100, LossReduction::kMean)};
  samples.push_back(std::move(strided));
  return samples;
}

// The loss samples with an incoming gradient in [-1.5, -0.5] u [0.5, 1.5]:
// the op is a function of it as well, so it need not be 1.
std::vector<OpSample> LossBackwardSamples() {
  std::vector<OpSample> samples = LossSamples();
  uint64_t seed = 100;
  for (OpSample& s : samples) {
    const Shape grad_shape = ReductionOf(s.attrs) == LossReduction::kNone
                                 ? s.inputs[1].shape()
                                 : Shape{};
    s.inputs.push_back(SampleAwayFromZero(grad_shape, 0.5, 1.5, seed++));
  }
  return samples;
}

// ---- second order -----------------------------------------------------------
//
// With P = softmax(x), Y = one_hot(t) (zero rows where ignored), v = 1 where
// a target counts and 0 where ignored, k = max(sum v, 1) for mean (1
// otherwise) and w = g v / k per row, the op computes dx = (P - Y) * w. Its
// VJP for a cotangent G of dx:
//   G_x = w * P * (G - rowsum(G * P))       (softmax's Jacobian)
//   h   = rowsum(G * (P - Y)) * v / k
//   G_g = h (none) or sum(h) (sum, mean);   targets get none.
Grads CrossEntropyBackwardVjp(const GradContext& c) {
  const Tensor& x = c.input(0);
  const Tensor& targets = c.input(1);
  const Tensor& g = c.input(2);
  const Tensor& cotangent = c.grad_output(0);
  const LossReduction reduction = ReductionOf(c.attrs);
  const Tensor y = OneHot(targets, x.shape().back(), x.dtype(),
                          c.attrs.GetInt("ignore_index"));
  Tensor scale = Sum(y, {-1});  // v
  if (reduction == LossReduction::kMean) {
    scale = Div(scale, Maximum(Sum(scale), ScalarLike(1.0, scale)));
  }
  const Tensor p = Softmax(x, -1);
  Shape column = targets.shape();
  column.push_back(1);
  const Tensor w = Reshape(Mul(g, scale), column);
  const Tensor grad_x =
      Mul(Mul(w, p), Sub(cotangent, Sum(Mul(cotangent, p), {-1}, true)));
  const Tensor h = Mul(Sum(Mul(cotangent, Sub(p, y)), {-1}), scale);
  return Grads{grad_x, Tensor(),
               reduction == LossReduction::kNone ? h : Sum(h)};
}

}  // namespace

// ---- cross_entropy ----------------------------------------------------------

MG_REGISTER_OP(cross_entropy) {
  OpDef def;
  def.name = "cross_entropy";
  def.summary =
      "loss_i = logsumexp(logits_i) - logits_i[targets_i] over the last "
      "axis, reduced by mean (over targets not ignored), sum or none";
  def.inputs = {"logits", "targets"};
  def.attrs = LossAttrDefs();
  def.nondifferentiable_inputs = {1};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_ASSIGN_OR_RETURN(TensorMeta out,
                        InferLoss(ctx.inputs[0], ctx.inputs[1], ctx.attrs));
    return std::vector<TensorMeta>{out};
  };
  def.forward = [](const KernelContext& ctx) {
    const Tensor logits = Dense(ctx.inputs[0]);
    const Tensor targets = Dense(ctx.inputs[1]);
    const int64_t ignore_index = ctx.attrs.GetInt("ignore_index");
    const int64_t classes = logits.shape().back();
    const int64_t* target_values = targets.data<int64_t>();
    absl::StatusOr<int64_t> count =
        CountValidIndices("target", "targets", ctx.inputs[1], target_values,
                          classes, ignore_index);
    if (!count.ok()) {
      ctx.error = count.status();
      return std::vector<Tensor>{};
    }
    const size_t rows = static_cast<size_t>(targets.numel());
    std::vector<double> losses(rows);
    if (rows > 0) {
      if (logits.dtype() == DType::kFloat32) {
        HWY_DYNAMIC_DISPATCH(CrossEntropyForwardF32)
        (logits.data<float>(), target_values, rows,
         static_cast<size_t>(classes), ignore_index, losses.data());
      } else {
        HWY_DYNAMIC_DISPATCH(CrossEntropyForwardF64)
        (logits.data<double>(), target_values, rows,
         static_cast<size_t>(classes), ignore_index, losses.data());
      }
    }
    const TensorMeta& out = ctx.outputs[0];
    if (ReductionOf(ctx.attrs) == LossReduction::kNone) {
      return std::vector<Tensor>{AsDType(losses, out.shape, out.dtype)};
    }
    // Summed in double and in row order, whatever the thread count.
    double total = 0.0;
    for (double loss : losses) total += loss;
    if (ReductionOf(ctx.attrs) == LossReduction::kMean) {
      total /= static_cast<double>(*count);  // 0 / 0 = NaN, as PyTorch
    }
    return std::vector<Tensor>{Tensor::Scalar(total, out.dtype)};
  };
  // dx = (softmax(x) - one_hot(t)) * valid * g (/ count for mean), in one
  // fused op that has its own backward rule.
  def.backward = [](const GradContext& c) {
    return Grads{CrossEntropyBackward(c.input(0), c.input(1), c.grad_output(0),
                                      c.attrs.GetInt("ignore_index"),
                                      ReductionOf(c.attrs)),
                 Tensor()};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const int64_t classes = in[0].shape().back();
    const int64_t ignore_index = attrs.GetInt("ignore_index");
    const std::vector<double> x = in[0].ToVector<double>();
    const std::vector<int64_t> t = in[1].ToVector<int64_t>();
    std::vector<double> losses(t.size(), 0.0);
    double total = 0.0;
    int64_t count = 0;
    for (size_t r = 0; r < t.size(); ++r) {
      if (t[r] == ignore_index) continue;
      const double* row = x.data() + r * classes;
      losses[r] = ReferenceLogSumExp(row, classes) - row[t[r]];
      total += losses[r];
      ++count;
    }
    const LossReduction reduction = ReductionOf(attrs);
    if (reduction == LossReduction::kNone) {
      return std::vector<Tensor>{AsDType(losses, in[1].shape(), in[0].dtype())};
    }
    if (reduction == LossReduction::kMean) total /= count;
    return std::vector<Tensor>{Tensor::Scalar(total, in[0].dtype())};
  };
  def.samples = LossSamples;
  // Per logit: a max, a subtraction, an exp and an add.
  def.flops = [](const FlopsContext& ctx) {
    return SaturatingProduct({4, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

// ---- cross_entropy_backward -------------------------------------------------

MG_REGISTER_OP(cross_entropy_backward) {
  OpDef def;
  def.name = "cross_entropy_backward";
  def.summary =
      "dlogits = (softmax(logits) - one_hot(targets)) * valid * grad "
      "(/ count for mean): cross_entropy's gradient";
  def.inputs = {"logits", "targets", "grad"};
  def.outputs = {"dlogits"};
  def.attrs = LossAttrDefs();
  def.nondifferentiable_inputs = {1};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    const TensorMeta& logits = ctx.inputs[0];
    MG_ASSIGN_OR_RETURN(TensorMeta loss,
                        InferLoss(logits, ctx.inputs[1], ctx.attrs));
    const TensorMeta& grad = ctx.inputs[2];
    if (grad.dtype != logits.dtype || grad.shape != loss.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "grad must be ", DTypeName(logits.dtype), ShapeToString(loss.shape),
          " (the loss's dtype and shape for reduction \"",
          ctx.attrs.GetString("reduction"), "\"), got ", DTypeName(grad.dtype),
          ShapeToString(grad.shape)));
    }
    return std::vector<TensorMeta>{logits};
  };
  def.forward = [](const KernelContext& ctx) {
    const Tensor logits = Dense(ctx.inputs[0]);
    const Tensor targets = Dense(ctx.inputs[1]);
    const Tensor grad = Dense(ctx.inputs[2]);
    const int64_t ignore_index = ctx.attrs.GetInt("ignore_index");
    const int64_t classes = logits.shape().back();
    const int64_t* target_values = targets.data<int64_t>();
    absl::StatusOr<int64_t> count =
        CountValidIndices("target", "targets", ctx.inputs[1], target_values,
                          classes, ignore_index);
    if (!count.ok()) {
      ctx.error = count.status();
      return std::vector<Tensor>{};
    }
    const LossReduction reduction = ReductionOf(ctx.attrs);
    // One weight per row (none) or one for all (sum; mean divides by the
    // count, which is only 0 when every row is ignored and left at 0).
    const size_t weight_stride = reduction == LossReduction::kNone ? 1 : 0;
    const double divisor = reduction == LossReduction::kMean && *count > 0
                               ? static_cast<double>(*count)
                               : 1.0;
    const size_t rows = static_cast<size_t>(targets.numel());
    const size_t n = static_cast<size_t>(classes);
    Tensor dx = Tensor::Uninitialized(logits.shape(), logits.dtype());
    if (rows > 0) {
      if (logits.dtype() == DType::kFloat32) {
        const float scalar =
            static_cast<float>(grad.data<float>()[0] / divisor);
        const float* weights =
            weight_stride == 1 ? grad.data<float>() : &scalar;
        HWY_DYNAMIC_DISPATCH(CrossEntropyBackwardF32)
        (logits.data<float>(), target_values, weights, weight_stride, rows, n,
         ignore_index, dx.data<float>());
      } else {
        const double scalar = grad.data<double>()[0] / divisor;
        const double* weights =
            weight_stride == 1 ? grad.data<double>() : &scalar;
        HWY_DYNAMIC_DISPATCH(CrossEntropyBackwardF64)
        (logits.data<double>(), target_values, weights, weight_stride, rows, n,
         ignore_index, dx.data<double>());
      }
    }
    return std::vector<Tensor>{dx};
  };
  def.backward = CrossEntropyBackwardVjp;
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const int64_t classes = in[0].shape().back();
    const int64_t ignore_index = attrs.GetInt("ignore_index");
    const LossReduction reduction = ReductionOf(attrs);
    const std::vector<double> x = in[0].ToVector<double>();
    const std::vector<int64_t> t = in[1].ToVector<int64_t>();
    const std::vector<double> g = in[2].ToVector<double>();
    int64_t count = 0;
    for (int64_t target : t) count += target != ignore_index;
    std::vector<double> dx(x.size(), 0.0);
    for (size_t r = 0; r < t.size(); ++r) {
      if (t[r] == ignore_index) continue;
      double w = reduction == LossReduction::kNone ? g[r] : g[0];
      if (reduction == LossReduction::kMean) w /= count;
      const double* row = x.data() + r * classes;
      const double lse = ReferenceLogSumExp(row, classes);
      for (int64_t c = 0; c < classes; ++c) {
        const double one_hot = c == t[r] ? 1.0 : 0.0;
        dx[r * classes + c] = (std::exp(row[c] - lse) - one_hot) * w;
      }
    }
    return std::vector<Tensor>{AsDType(dx, in[0].shape(), in[0].dtype())};
  };
  def.samples = LossBackwardSamples;
  // Per logit: the forward's four again, then a subtraction, an exp and a
  // multiply.
  def.flops = [](const FlopsContext& ctx) {
    return SaturatingProduct({7, NumElements(ctx.inputs[0].shape)});
  };
  return def;
}

// ---- one_hot ----------------------------------------------------------------

MG_REGISTER_OP(one_hot) {
  OpDef def;
  def.name = "one_hot";
  def.summary =
      "y[..., c] = [indices[...] == c] (int64 indices; ignore_index gives a "
      "row of zeros)";
  def.inputs = {"indices"};
  def.attrs = {
      {"num_classes", AttrType::kInt, std::nullopt, "size of the new axis"},
      {"dtype", AttrType::kDType, AttrValue(DType::kFloat32),
       "float32 or float64"},
      {"ignore_index", AttrType::kInt, AttrValue(int64_t{-100}),
       "indices equal to this give a row of zeros"}};
  def.nondifferentiable_inputs = {0};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckIndexDType(ctx.inputs[0], "indices"));
    const int64_t num_classes = ctx.attrs.GetInt("num_classes");
    if (num_classes < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("num_classes must be >= 0, got ", num_classes));
    }
    const DType dtype = ctx.attrs.GetDType("dtype");
    if (!IsFloating(dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dtype must be float32 or float64, got ", DTypeName(dtype)));
    }
    Shape shape = ctx.inputs[0].shape;
    shape.push_back(num_classes);
    return std::vector<TensorMeta>{{dtype, shape}};
  };
  // A scatter of ones into zeros: one store per row, nothing to vectorize.
  def.forward = [](const KernelContext& ctx) {
    const Tensor indices = Dense(ctx.inputs[0]);
    const int64_t num_classes = ctx.attrs.GetInt("num_classes");
    const int64_t ignore_index = ctx.attrs.GetInt("ignore_index");
    const int64_t* values = indices.data<int64_t>();
    absl::Status status = CountValidIndices("index", "indices", ctx.inputs[0],
                                            values, num_classes, ignore_index)
                              .status();
    if (!status.ok()) {
      ctx.error = status;
      return std::vector<Tensor>{};
    }
    Tensor y = Tensor::Empty(ctx.outputs[0].shape, ctx.outputs[0].dtype);
    const int64_t rows = indices.numel();
    for (int64_t r = 0; r < rows; ++r) {
      if (values[r] == ignore_index) continue;
      const int64_t at = r * num_classes + values[r];
      if (y.dtype() == DType::kFloat32) {
        y.data<float>()[at] = 1.0f;
      } else {
        y.data<double>()[at] = 1.0;
      }
    }
    return std::vector<Tensor>{y};
  };
  // No backward: the output depends on no float input.
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const int64_t num_classes = attrs.GetInt("num_classes");
    const int64_t ignore_index = attrs.GetInt("ignore_index");
    const std::vector<int64_t> indices = in[0].ToVector<int64_t>();
    std::vector<double> y(indices.size() * num_classes);
    for (size_t r = 0; r < indices.size(); ++r) {
      for (int64_t c = 0; c < num_classes; ++c) {
        y[r * num_classes + c] =
            indices[r] != ignore_index && indices[r] == c ? 1.0 : 0.0;
      }
    }
    Shape shape = in[0].shape();
    shape.push_back(num_classes);
    return std::vector<Tensor>{AsDType(y, shape, attrs.GetDType("dtype"))};
  };
  def.samples = [] {
    return std::vector<OpSample>{
        {"vector_float64",
         {SampleTargets({3, 0, -100, 3, 1}, {5})},
         {{"num_classes", int64_t{4}}, {"dtype", DType::kFloat64}}},
        {"matrix_ignore_class_0",
         {SampleTargets({0, 2, 1, 0, 2, 2}, {2, 3})},
         {{"num_classes", int64_t{3}}, {"ignore_index", int64_t{0}}}},
        {"scalar_index",
         {SampleTargets({2}, {})},
         {{"num_classes", int64_t{5}}}},
    };
  };
  def.flops = NoArithmetic;
  return def;
}

}  // namespace minigraph

#endif  // HWY_ONCE
