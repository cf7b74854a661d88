// Reduction ops (sum, mean, max) and the fused softmax family: kernel
// dispatch and the one definition of each op.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/reduction.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/reduction-inl.h"

#if HWY_ONCE

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/op_registry.h"
#include "framework/random.h"
#include "ops/elementwise.h"
#include "ops/op_helpers.h"
#include "ops/reduction.h"
#include "ops/shape_ops.h"

namespace minigraph {

HWY_EXPORT(ReduceF32);
HWY_EXPORT(ReduceF64);
HWY_EXPORT(SoftmaxF32);
HWY_EXPORT(SoftmaxF64);

// One dispatch per node, never per vector.
void RunReduce(ReduceKind kind, const ReducePlan& plan, const float* x,
               float* out) {
  HWY_DYNAMIC_DISPATCH(ReduceF32)(kind, plan, x, out);
}
void RunReduce(ReduceKind kind, const ReducePlan& plan, const double* x,
               double* out) {
  HWY_DYNAMIC_DISPATCH(ReduceF64)(kind, plan, x, out);
}
void RunSoftmax(bool log, const float* x, float* y, size_t outer, size_t n,
                size_t inner) {
  HWY_DYNAMIC_DISPATCH(SoftmaxF32)(log, x, y, outer, n, inner);
}
void RunSoftmax(bool log, const double* x, double* y, size_t outer, size_t n,
                size_t inner) {
  HWY_DYNAMIC_DISPATCH(SoftmaxF64)(log, x, y, outer, n, inner);
}

// ---- user API ---------------------------------------------------------------

Tensor Sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return CallOpOrDie(MG_OP_DEF("sum"), {x}, {{"axes", axes}, {"keepdim", keepdim}});
}
Tensor Mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return CallOpOrDie(MG_OP_DEF("mean"), {x}, {{"axes", axes}, {"keepdim", keepdim}});
}
Tensor Max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return CallOpOrDie(MG_OP_DEF("max"), {x}, {{"axes", axes}, {"keepdim", keepdim}});
}
Tensor Softmax(const Tensor& x, int64_t axis) {
  return CallOpOrDie(MG_OP_DEF("softmax"), {x}, {{"axis", axis}});
}
Tensor LogSoftmax(const Tensor& x, int64_t axis) {
  return CallOpOrDie(MG_OP_DEF("log_softmax"), {x}, {{"axis", axis}});
}

namespace {

// ---- axes -------------------------------------------------------------------

// Which dimensions of a tensor of `rank` the `axes` attribute reduces (empty
// axes: all). A 0-d tensor accepts axis 0 / -1, like PyTorch.
absl::StatusOr<std::vector<bool>> ReducedDims(const std::vector<int64_t>& axes,
                                              int rank) {
  std::vector<bool> reduced(std::max(rank, 1), axes.empty());
  for (int64_t axis : axes) {
    absl::StatusOr<int> normalized = NormalizeAxis(axis, rank);
    if (!normalized.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("axes [", absl::StrJoin(axes, ", "),
                       "]: ", normalized.status().message()));
    }
    if (reduced[*normalized]) {
      return absl::InvalidArgumentError(
          absl::StrCat("axes [", absl::StrJoin(axes, ", "), "] name axis ",
                       *normalized, " more than once"));
    }
    reduced[*normalized] = true;
  }
  reduced.resize(rank);
  return reduced;
}

// x's shape with reduced dimensions set to 1 (keepdim) or dropped.
Shape ReducedShape(const Shape& shape, const std::vector<bool>& reduced,
                   bool keepdim) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!reduced[d]) {
      out.push_back(shape[d]);
    } else if (keepdim) {
      out.push_back(1);
    }
  }
  return out;
}

// Number of elements folded into each output.
int64_t ReducedCount(const Shape& shape, const std::vector<bool>& reduced) {
  int64_t count = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (reduced[d]) count *= shape[d];
  }
  return count;
}

std::vector<bool> ReducedDimsOrDie(const Attrs& attrs, int rank) {
  return ValueOrDie(ReducedDims(attrs.GetInts("axes"), rank));
}

absl::StatusOr<std::vector<TensorMeta>> InferReduce(const InferContext& ctx,
                                                    bool needs_elements) {
  const TensorMeta& x = ctx.inputs[0];
  MG_RETURN_IF_ERROR(CheckFloat(x, "x"));
  const int rank = static_cast<int>(x.shape.size());
  MG_ASSIGN_OR_RETURN(std::vector<bool> reduced,
                      ReducedDims(ctx.attrs.GetInts("axes"), rank));
  for (int d = 0; needs_elements && d < rank; ++d) {
    if (reduced[d] && x.shape[d] == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot reduce axis ", d, " of size 0 in shape ",
                       ShapeToString(x.shape), ": there is no identity"));
    }
  }
  return std::vector<TensorMeta>{
      {x.dtype, ReducedShape(x.shape, reduced, ctx.attrs.GetBool("keepdim"))}};
}

// ---- reduction plan and kernels ---------------------------------------------

// The dimensions of a ReducePlan, outermost first.
struct LoopNest {
  Shape sizes, in_strides, out_strides;
};

// Builds the loop nest of a reduction over any strided x: drops size-1
// dimensions, orders the rest by decreasing input stride (broadcast stride-0
// dimensions outermost) so the innermost loop is the unit-stride one, and
// merges neighbours that are one run in both input and output.

LoopNest BuildLoopNest(const Tensor& x, const std::vector<bool>& reduced) {
  struct Dim {
    int64_t size, in_stride, out_stride;
  };
  std::vector<Dim> dims;
  int64_t out_stride = 1;  // the output is contiguous over the kept dims
  for (int d = x.dim() - 1; d >= 0; --d) {
    const int64_t size = x.shape()[d];
    if (size != 1) {
      dims.push_back({size, x.strides()[d], reduced[d] ? 0 : out_stride});
    }
    if (!reduced[d]) out_stride *= size;
  }
  std::reverse(dims.begin(), dims.end());
  auto key = [](const Dim& dim) {
    return dim.in_stride == 0 ? std::numeric_limits<int64_t>::max()
                              : std::abs(dim.in_stride);
  };
  std::stable_sort(dims.begin(), dims.end(),
                   [&](const Dim& a, const Dim& b) { return key(a) > key(b); });
  LoopNest nest;
  for (const Dim& dim : dims) {
    if (!nest.sizes.empty() &&
        nest.in_strides.back() == dim.in_stride * dim.size &&
        nest.out_strides.back() == dim.out_stride * dim.size) {
      nest.sizes.back() *= dim.size;
      nest.in_strides.back() = dim.in_stride;
      nest.out_strides.back() = dim.out_stride;
      continue;
    }
    nest.sizes.push_back(dim.size);
    nest.in_strides.push_back(dim.in_stride);
    nest.out_strides.push_back(dim.out_stride);
  }
  return nest;
}

KernelFn ReduceForward(ReduceKind kind) {
  return [kind](const KernelContext& ctx) {
    const Tensor& x = ctx.inputs[0];
    const std::vector<bool> reduced = ReducedDimsOrDie(ctx.attrs, x.dim());
    Tensor y = Tensor::Empty(ctx.outputs[0].shape, x.dtype());
    if (x.numel() == 0) {
      // Empty sums are 0; an empty mean is 0 / 0 (max is refused earlier).
      if (kind == ReduceKind::kMean) {
        y = Tensor::Full(y.shape(), std::numeric_limits<double>::quiet_NaN(),
                         x.dtype());
      }
      return std::vector<Tensor>{y};
    }
    const LoopNest nest = BuildLoopNest(x, reduced);
    const ReducePlan plan{
        static_cast<int>(nest.sizes.size()),
        nest.sizes.data(),
        nest.in_strides.data(),
        nest.out_strides.data(),
        y.numel(),
        static_cast<double>(ReducedCount(x.shape(), reduced))};
    if (x.dtype() == DType::kFloat32) {
      RunReduce(kind, plan, x.data<float>(), y.data<float>());
    } else {
      RunReduce(kind, plan, x.data<double>(), y.data<double>());
    }
    return std::vector<Tensor>{y};
  };
}

// Scalar reference: every element of x, in double, folded into its output.
ReferenceFn ReduceReference(ReduceKind kind) {
  return [kind](absl::Span<const Tensor> in, const Attrs& attrs) {
    const Tensor& x = in[0];
    const std::vector<bool> reduced = ReducedDimsOrDie(attrs, x.dim());
    const Shape out_shape =
        ReducedShape(x.shape(), reduced, attrs.GetBool("keepdim"));
    const Shape kept_shape = ReducedShape(x.shape(), reduced, true);
    std::vector<double> out(NumElements(out_shape),
                            kind == ReduceKind::kMax
                                ? -std::numeric_limits<double>::infinity()
                                : 0.0);
    const std::vector<double> values = x.ToVector<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      std::vector<int64_t> index = UnravelIndex(i, x.shape());
      int64_t o = 0;
      for (int d = 0; d < x.dim(); ++d) {
        o = o * kept_shape[d] + (reduced[d] ? 0 : index[d]);
      }
      if (kind != ReduceKind::kMax) {
        out[o] += values[i];
      } else if (values[i] > out[o] || std::isnan(values[i])) {
        out[o] = values[i];  // a NaN, once in, stays
      }
    }
    if (kind == ReduceKind::kMean) {
      const double count =
          static_cast<double>(ReducedCount(x.shape(), reduced));
      for (double& v : out) v /= count;
    }
    return std::vector<Tensor>{
        ConvertDType(Tensor::FromData(out, out_shape), x.dtype())};
  };
}

// ---- backward pieces --------------------------------------------------------

// g (shaped like the reduction's output) reshaped to keep the reduced
// dimensions as size 1, so that it broadcasts against x.
Tensor KeepReducedDims(const Tensor& g, const Shape& x_shape,
                       const std::vector<bool>& reduced) {
  const Shape kept = ReducedShape(x_shape, reduced, /*keepdim=*/true);
  return g.shape() == kept ? g : Reshape(g, kept);
}

// g broadcast back over the reduced dimensions: the gradient of a sum.
Tensor ExpandOverReduced(const Tensor& g, const Shape& x_shape,
                         const std::vector<bool>& reduced) {
  const Tensor kept = KeepReducedDims(g, x_shape, reduced);
  return kept.shape() == x_shape ? kept : Expand(kept, x_shape);
}

std::vector<AttrDef> ReduceAttrs() {
  return {{"axes", AttrType::kInts, AttrValue(std::vector<int64_t>{}),
           "axes to reduce (negative count from the end); empty: all"},
          {"keepdim", AttrType::kBool, AttrValue(false),
           "keep reduced dimensions with size 1"}};
}

// Values that are pairwise at least 0.2 apart (a shuffled ramp plus jitter):
// no ties, so max is differentiable at every sample.
Tensor DistinctValues(const Shape& shape, uint64_t seed) {
  const int64_t n = NumElements(shape);
  Generator generator(seed);
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(order[i], order[generator.NextBits() % (i + 1)]);
  }
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) {
    values[i] = 0.3 * (order[i] - n / 2) + 0.1 * generator.NextUnit();
  }
  return Tensor::FromData(values, shape);
}

// Sum and mean share their samples: all axes, one middle axis kept, two axes,
// a negative axis over an odd-length row (SIMD tail), and a 0-d input.
std::vector<OpSample> SumSamples() {
  return {
      {"all_axes", {SampleUniform({3, 5}, -2, 2, 1)}, {}},
      {"middle_axis_keepdim",
       {SampleUniform({2, 3, 4}, -2, 2, 2)},
       {{"axes", std::vector<int64_t>{1}}, {"keepdim", true}}},
      {"two_axes",
       {SampleUniform({2, 3, 5}, -2, 2, 3)},
       {{"axes", std::vector<int64_t>{0, 2}}}},
      {"negative_axis",
       {SampleUniform({3, 37}, -2, 2, 4)},
       {{"axes", std::vector<int64_t>{-1}}}},
      {"leading_axis",
       {SampleUniform({5, 19}, -2, 2, 5)},
       {{"axes", std::vector<int64_t>{0}}}},
      {"scalar", {SampleUniform({}, -2, 2, 6)}, {}},
  };
}

// ---- softmax pieces ---------------------------------------------------------

absl::StatusOr<std::vector<TensorMeta>> InferSoftmax(const InferContext& ctx) {
  const TensorMeta& x = ctx.inputs[0];
  MG_RETURN_IF_ERROR(CheckFloat(x, "x"));
  MG_RETURN_IF_ERROR(
      NormalizeAxis(ctx.attrs.GetInt("axis"), static_cast<int>(x.shape.size()))
          .status());
  return std::vector<TensorMeta>{x};
}

// x viewed as [outer, n, inner] around the softmax axis.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisSplit SplitAtAxis(const Shape& shape, int64_t axis_attr) {
  AxisSplit split;
  if (shape.empty()) return split;  // a 0-d tensor is one row of one
  const int axis =
      ValueOrDie(NormalizeAxis(axis_attr, static_cast<int>(shape.size())));
  for (int d = 0; d < axis; ++d) split.outer *= shape[d];
  split.n = shape[axis];
  for (size_t d = axis + 1; d < shape.size(); ++d) split.inner *= shape[d];
  return split;
}

KernelFn SoftmaxForward(bool log) {
  return [log](const KernelContext& ctx) {
    const Tensor& input = ctx.inputs[0];
    // The kernel walks [outer, n, inner] in place, so it needs dense rows.
    const Tensor x = input.is_contiguous() ? input : CopyToContiguous(input);
    const AxisSplit s = SplitAtAxis(x.shape(), ctx.attrs.GetInt("axis"));
    Tensor y = Tensor::Uninitialized(x.shape(), x.dtype());  // all written
    if (x.dtype() == DType::kFloat32) {
      RunSoftmax(log, x.data<float>(), y.data<float>(), s.outer, s.n, s.inner);
    } else {
      RunSoftmax(log, x.data<double>(), y.data<double>(), s.outer, s.n,
                 s.inner);
    }
    return std::vector<Tensor>{y};
  };
}

// Scalar reference in double with the kernel's conventions for rows whose
// max is not finite.
ReferenceFn SoftmaxReference(bool log) {
  return [log](absl::Span<const Tensor> in, const Attrs& attrs) {
    const Tensor& x = in[0];
    const AxisSplit s = SplitAtAxis(x.shape(), attrs.GetInt("axis"));
    const std::vector<double> values = x.ToVector<double>();
    std::vector<double> out(values.size());
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t j = 0; j < s.inner; ++j) {
        auto at = [&](int64_t r) { return (o * s.n + r) * s.inner + j; };
        double max = -std::numeric_limits<double>::infinity();
        bool nan = false;
        for (int64_t r = 0; r < s.n; ++r) {
          max = std::max(max, values[at(r)]);
          nan = nan || std::isnan(values[at(r)]);
        }
        double sum = 0.0;
        for (int64_t r = 0; r < s.n; ++r) sum += std::exp(values[at(r)] - max);
        for (int64_t r = 0; r < s.n; ++r) {
          const double shifted = values[at(r)] - max;
          double y = log ? shifted - std::log(sum) : std::exp(shifted) / sum;
          if (max == -std::numeric_limits<double>::infinity()) {
            y = log ? max : 0.0;
          } else if (nan || !std::isfinite(max)) {
            y = std::numeric_limits<double>::quiet_NaN();
          }
          out[at(r)] = y;
        }
      }
    }
    return std::vector<Tensor>{
        ConvertDType(Tensor::FromData(out, x.shape()), x.dtype())};
  };
}

// Along the last axis (with an odd row for the SIMD tail), a middle axis
// (SIMD across the inner columns plus one-lane leftovers) and the first axis.
std::vector<OpSample> SoftmaxSamples() {
  return {
      {"last_axis", {SampleUniform({3, 7}, -3, 3, 1)}, {}},
      {"long_row", {SampleUniform({2, 37}, -3, 3, 2)}, {{"axis", int64_t{1}}}},
      {"middle_axis",
       {SampleUniform({2, 5, 19}, -3, 3, 3)},
       {{"axis", int64_t{1}}}},
      {"first_axis",
       {SampleUniform({4, 3}, -3, 3, 4)},
       {{"axis", int64_t{-2}}}},
  };
}

std::vector<AttrDef> SoftmaxAttrs() {
  return {{"axis", AttrType::kInt, AttrValue(int64_t{-1}),
           "axis to normalize over (negative counts from the end)"}};
}

}  // namespace

// ---- reductions -------------------------------------------------------------

MG_REGISTER_OP(sum) {
  OpDef def;
  def.name = "sum";
  def.summary = "y = sum of x over `axes` (all when empty)";
  def.inputs = {"x"};
  def.attrs = ReduceAttrs();
  def.infer = [](const InferContext& ctx) { return InferReduce(ctx, false); };
  def.forward = ReduceForward(ReduceKind::kSum);
  def.backward = [](const GradContext& c) {  // dx = g broadcast over axes
    const Tensor& x = c.input(0);
    return Grads{ExpandOverReduced(c.grad_output(0), x.shape(),
                                   ReducedDimsOrDie(c.attrs, x.dim()))};
  };
  def.reference = ReduceReference(ReduceKind::kSum);
  def.samples = SumSamples;
  return def;
}

MG_REGISTER_OP(mean) {
  OpDef def;
  def.name = "mean";
  def.summary = "y = mean of x over `axes` (all when empty; empty: NaN)";
  def.inputs = {"x"};
  def.attrs = ReduceAttrs();
  def.infer = [](const InferContext& ctx) { return InferReduce(ctx, false); };
  def.forward = ReduceForward(ReduceKind::kMean);
  def.backward = [](const GradContext& c) {  // dx = g / count, broadcast
    const Tensor& x = c.input(0);
    const std::vector<bool> reduced = ReducedDimsOrDie(c.attrs, x.dim());
    const Tensor& g = c.grad_output(0);
    const double count = static_cast<double>(ReducedCount(x.shape(), reduced));
    return Grads{
        ExpandOverReduced(Div(g, ScalarLike(count, g)), x.shape(), reduced)};
  };
  def.reference = ReduceReference(ReduceKind::kMean);
  def.samples = SumSamples;
  return def;
}

MG_REGISTER_OP(max) {
  OpDef def;
  def.name = "max";
  def.summary = "y = max of x over `axes` (all when empty; NaN propagates)";
  def.inputs = {"x"};
  def.attrs = ReduceAttrs();
  def.infer = [](const InferContext& ctx) { return InferReduce(ctx, true); };
  def.forward = ReduceForward(ReduceKind::kMax);
  // mask = [x == y], dx = g mask / sum(mask): ties split g evenly.
  def.backward = [](const GradContext& c) {
    const Tensor& x = c.input(0);
    const std::vector<bool> reduced = ReducedDimsOrDie(c.attrs, x.dim());
    std::vector<int64_t> axes;
    for (int d = 0; d < x.dim(); ++d) {
      if (reduced[d]) axes.push_back(d);
    }
    const Tensor mask =
        Equal(x, KeepReducedDims(c.output(0), x.shape(), reduced));
    const Tensor count = Sum(mask, axes, /*keepdim=*/true);
    const Tensor g = KeepReducedDims(c.grad_output(0), x.shape(), reduced);
    return Grads{Mul(Div(g, count), mask)};
  };
  def.reference = ReduceReference(ReduceKind::kMax);
  def.samples = [] {
    return std::vector<OpSample>{
        {"all_axes", {DistinctValues({3, 5}, 1)}, {}},
        {"middle_axis_keepdim",
         {DistinctValues({2, 3, 4}, 2)},
         {{"axes", std::vector<int64_t>{1}}, {"keepdim", true}}},
        {"two_axes",
         {DistinctValues({2, 3, 5}, 3)},
         {{"axes", std::vector<int64_t>{0, 2}}}},
        {"negative_axis",
         {DistinctValues({3, 37}, 4)},
         {{"axes", std::vector<int64_t>{-1}}}},
        {"leading_axis",
         {DistinctValues({5, 19}, 5)},
         {{"axes", std::vector<int64_t>{0}}}},
    };
  };
  return def;
}

// ---- softmax family ---------------------------------------------------------

MG_REGISTER_OP(softmax) {
  OpDef def;
  def.name = "softmax";
  def.summary = "y = exp(x - max) / sum(exp(x - max)) along `axis`";
  def.inputs = {"x"};
  def.attrs = SoftmaxAttrs();
  def.infer = InferSoftmax;
  def.forward = SoftmaxForward(/*log=*/false);
  def.backward = [](const GradContext& c) {  // dx = y (g - sum(g y, axis))
    const Tensor& y = c.output(0);
    const Tensor& g = c.grad_output(0);
    const Tensor dot = Sum(Mul(g, y), {c.attrs.GetInt("axis")}, true);
    return Grads{Mul(y, Sub(g, dot))};
  };
  def.reference = SoftmaxReference(/*log=*/false);
  def.samples = SoftmaxSamples;
  return def;
}

MG_REGISTER_OP(log_softmax) {
  OpDef def;
  def.name = "log_softmax";
  def.summary = "y = x - max - log(sum(exp(x - max))) along `axis`";
  def.inputs = {"x"};
  def.attrs = SoftmaxAttrs();
  def.infer = InferSoftmax;
  def.forward = SoftmaxForward(/*log=*/true);
  def.backward = [](const GradContext& c) {  // dx = g - exp(y) sum(g, axis)
    const Tensor& g = c.grad_output(0);
    const Tensor total = Sum(g, {c.attrs.GetInt("axis")}, true);
    return Grads{Sub(g, Mul(Exp(c.output(0)), total))};
  };
  def.reference = SoftmaxReference(/*log=*/true);
  def.samples = SoftmaxSamples;
  return def;
}

}  // namespace minigraph

#endif  // HWY_ONCE
