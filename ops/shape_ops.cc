// Shape ops: kernel dispatch and the one definition of each op. Most of them
// are views (new shape, strides and offset over the same storage); only
// concat, slice_scatter and the copying cases of reshape and contiguous move
// data, all through one strided copy kernel.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/shape_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/shape_ops-inl.h"

#if HWY_ONCE

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "ops/op_helpers.h"
#include "ops/shape_ops.h"

namespace minigraph {

HWY_EXPORT(CopyStridedF32);
HWY_EXPORT(CopyStridedF64);
HWY_EXPORT(CopyStridedI64);

namespace {

// Drops size-1 dimensions and folds each dimension into the one outside it
// whenever both source and destination step over the pair as one longer run.
StridedCopyPlan MakeCopyPlan(const Shape& shape, const Shape& src_strides,
                             const Shape& dst_strides) {
  StridedCopyPlan plan;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!plan.shape.empty()) {
      const int64_t n = shape[d];
      if (plan.src_strides.back() == src_strides[d] * n &&
          plan.dst_strides.back() == dst_strides[d] * n) {
        plan.shape.back() *= n;
        plan.src_strides.back() = src_strides[d];
        plan.dst_strides.back() = dst_strides[d];
        continue;
      }
    }
    plan.shape.push_back(shape[d]);
    plan.src_strides.push_back(src_strides[d]);
    plan.dst_strides.push_back(dst_strides[d]);
  }
  return plan;
}

// Copies every element of `src` into `dst`, a same-shaped (usually strided)
// view of an output buffer. Dispatches once per call.
void CopyInto(const Tensor& src, const Tensor& dst) {
  if (src.numel() == 0) return;
  const StridedCopyPlan plan =
      MakeCopyPlan(src.shape(), src.strides(), dst.strides());
  switch (src.dtype()) {
    case DType::kFloat32:
      HWY_DYNAMIC_DISPATCH(CopyStridedF32)
      (plan, src.data<float>(), dst.data<float>());
      break;
    case DType::kFloat64:
      HWY_DYNAMIC_DISPATCH(CopyStridedF64)
      (plan, src.data<double>(), dst.data<double>());
      break;
    case DType::kInt64:
      HWY_DYNAMIC_DISPATCH(CopyStridedI64)
      (plan, src.data<int64_t>(), dst.data<int64_t>());
      break;
  }
}

// A contiguous copy of x in `shape` (same element count), in row-major order.
Tensor CopyAs(const Tensor& x, const Shape& shape) {
  Tensor out = Tensor::Empty(shape, x.dtype());
  CopyInto(x, MakeView(out, x.shape(), ContiguousStrides(x.shape()), 0));
  return out;
}

// Doubles in row-major order as a tensor of `dtype`: how references return.
Tensor FromDoubles(const std::vector<double>& values, const Shape& shape,
                   DType dtype) {
  return ConvertDType(Tensor::FromData(values, shape), dtype);
}

// Row-major linear position of a full index.
int64_t RavelIndex(const std::vector<int64_t>& index, const Shape& shape) {
  int64_t linear = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    linear = linear * shape[d] + index[d];
  }
  return linear;
}

// ---- shape arithmetic shared by inference, kernels and references --------

// Fills in a reshape target's -1 from the element count of `from`.
absl::StatusOr<Shape> ResolveReshape(const Shape& from, const Shape& spec) {
  const int64_t total = NumElements(from);
  int inferred = -1;
  Shape known_dims = spec;
  for (size_t d = 0; d < spec.size(); ++d) {
    if (spec[d] == -1 && inferred < 0) {
      inferred = static_cast<int>(d);
      known_dims[d] = 1;
    } else if (spec[d] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot reshape ", ShapeToString(from), " into ", ShapeToString(spec),
          ": only one dimension may be -1 and no other may be negative"));
    }
  }
  MG_RETURN_IF_ERROR(ValidateShape(known_dims));
  const int64_t known = NumElements(known_dims);
  Shape out = spec;
  if (inferred >= 0) {
    if (known == 0 || total % known != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot reshape ", ShapeToString(from), " (", total,
                       " elements) into ", ShapeToString(spec),
                       ": the -1 cannot be inferred"));
    }
    out[inferred] = total / known;
  }
  if (NumElements(out) != total) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot reshape ", ShapeToString(from), " (", total, " elements) into ",
        ShapeToString(out), " (", NumElements(out), " elements)"));
  }
  return out;
}

// Strides that read a tensor of (shape, strides) as `target` without a copy,
// or nullopt when none exist. The source splits into chunks of dimensions
// that are contiguous with each other; each chunk must be covered exactly by
// consecutive target dimensions, which then step through it contiguously.
std::optional<Shape> ViewStrides(const Shape& shape, const Shape& strides,
                                 const Shape& target) {
  if (shape.empty() || NumElements(shape) == 0) {
    return ContiguousStrides(target);
  }
  Shape out(target.size());
  int view_d = static_cast<int>(target.size()) - 1;
  int64_t chunk_base_stride = strides.back();
  int64_t tensor_numel = 1;
  int64_t view_numel = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    // The chunk ends where the next outer dimension does not continue it.
    if (d == 0 || (shape[d - 1] != 1 &&
                   strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 &&
             (view_numel < tensor_numel || target[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= target[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

// dims as non-negative axes; must name each of the `rank` axes once.
absl::StatusOr<std::vector<int>> ResolvePermutation(
    const std::vector<int64_t>& dims, const Shape& shape) {
  const int rank = static_cast<int>(shape.size());
  std::vector<int> perm;
  std::vector<bool> seen(rank, false);
  bool valid = static_cast<int>(dims.size()) == rank;
  for (size_t i = 0; valid && i < dims.size(); ++i) {
    const int64_t axis = dims[i] < 0 ? dims[i] + rank : dims[i];
    valid = axis >= 0 && axis < rank && !seen[axis];
    if (valid) {
      seen[axis] = true;
      perm.push_back(static_cast<int>(axis));
    }
  }
  if (!valid) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dims ", ShapeToString(dims), " are not a permutation of the ", rank,
        " axes of ", ShapeToString(shape)));
  }
  return perm;
}

// The expanded shape: leading dimensions may be added, size-1 dimensions
// stretch, and -1 keeps an existing dimension.
absl::StatusOr<Shape> ResolveExpand(const Shape& from, const Shape& spec) {
  auto error = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot expand ", ShapeToString(from), " to ",
                     ShapeToString(spec), ": ", why));
  };
  if (spec.size() < from.size()) {
    return error("the target has fewer dimensions");
  }
  const size_t lead = spec.size() - from.size();
  Shape out(spec.size());
  for (size_t d = 0; d < spec.size(); ++d) {
    const int64_t s = spec[d];
    if (d < lead) {
      if (s < 0) {
        return error(absl::StrCat("new leading dimension ", d,
                                  " must have an explicit size"));
      }
      out[d] = s;
      continue;
    }
    const int64_t f = from[d - lead];
    if (s == -1) {
      out[d] = f;
    } else if (s < 0 || (f != 1 && f != s)) {
      return error(absl::StrCat("dimension ", d, " of size ", f,
                                " cannot become ", s,
                                " (only size-1 dimensions stretch)"));
    } else {
      out[d] = s;
    }
  }
  MG_RETURN_IF_ERROR(ValidateShape(out));
  return out;
}

// A slice along one axis after Python's rules: negative start and end count
// from the end, then both clamp into [0, n].
struct SliceRange {
  int axis = 0;
  int64_t start = 0;
  int64_t step = 1;
  int64_t length = 0;
};

absl::StatusOr<SliceRange> ResolveSlice(const Shape& shape,
                                        const Attrs& attrs) {
  if (shape.empty()) {
    return absl::InvalidArgumentError("cannot slice a 0-d tensor");
  }
  SliceRange range;
  MG_ASSIGN_OR_RETURN(
      range.axis,
      NormalizeAxis(attrs.GetInt("axis"), static_cast<int>(shape.size())));
  range.step = attrs.GetInt("step");
  if (range.step < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("step must be >= 1, got ", range.step));
  }
  const int64_t n = shape[range.axis];
  auto clamp = [n](int64_t i) {
    if (i < 0) i = i < -n ? 0 : i + n;
    return std::min(i, n);
  };
  range.start = clamp(attrs.GetInt("start"));
  const int64_t end = clamp(attrs.GetInt("end"));
  range.length =
      end > range.start ? (end - range.start + range.step - 1) / range.step : 0;
  return range;
}

Shape SlicedShape(const Shape& shape, const SliceRange& range) {
  Shape out = shape;
  out[range.axis] = range.length;
  return out;
}

std::vector<AttrDef> SliceAttrs() {
  return {
      {"axis", AttrType::kInt, std::nullopt, "axis to slice (may be negative)"},
      {"start", AttrType::kInt, AttrValue{int64_t{0}},
       "first index; negative counts from the end"},
      {"end", AttrType::kInt, AttrValue{std::numeric_limits<int64_t>::max()},
       "one past the last index; negative counts from the end"},
      {"step", AttrType::kInt, AttrValue{int64_t{1}}, "stride, at least 1"},
  };
}

Attrs SliceAttrValues(int64_t axis, int64_t start, int64_t end, int64_t step) {
  return Attrs{{"axis", axis}, {"start", start}, {"end", end}, {"step", step}};
}

// The concat axis and output shape; every input must share dtype, rank and
// all other dimensions with input 0.
absl::StatusOr<std::pair<int, Shape>> ResolveConcat(
    absl::Span<const TensorMeta> inputs, int64_t axis_attr) {
  const TensorMeta& first = inputs[0];
  if (first.shape.empty()) {
    return absl::InvalidArgumentError("cannot concatenate 0-d tensors");
  }
  const int rank = static_cast<int>(first.shape.size());
  MG_ASSIGN_OR_RETURN(const int axis, NormalizeAxis(axis_attr, rank));
  Shape out = first.shape;
  out[axis] = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorMeta& in = inputs[i];
    if (in.dtype != first.dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", i, " is ", DTypeName(in.dtype),
                       ShapeToString(in.shape), " but input 0 is ",
                       DTypeName(first.dtype), ShapeToString(first.shape)));
    }
    bool same = static_cast<int>(in.shape.size()) == rank;
    for (int d = 0; same && d < rank; ++d) {
      same = d == axis || in.shape[d] == first.shape[d];
    }
    if (!same) {
      return absl::InvalidArgumentError(
          absl::StrCat("input ", i, " has shape ", ShapeToString(in.shape),
                       " but input 0 has shape ", ShapeToString(first.shape),
                       "; all dimensions but axis ", axis, " must match"));
    }
    out[axis] += in.shape[axis];
  }
  return std::make_pair(axis, out);
}

}  // namespace

// ---- user API ---------------------------------------------------------------

Tensor Reshape(const Tensor& x, const Shape& shape) {
  return CallOpOrDie(MG_OP_DEF("reshape"), {x}, {{"shape", ShapeAttr{shape}}});
}

Tensor Permute(const Tensor& x, const std::vector<int64_t>& dims) {
  return CallOpOrDie(MG_OP_DEF("permute"), {x}, {{"dims", dims}});
}

Tensor Transpose(const Tensor& x, int64_t axis0, int64_t axis1) {
  const int rank = x.dim();
  absl::StatusOr<int> a = NormalizeAxis(axis0, rank);
  absl::StatusOr<int> b = NormalizeAxis(axis1, rank);
  if (!a.ok() || !b.ok()) {
    DieWithStatus(absl::InvalidArgumentError(
        absl::StrCat("transpose of ", ShapeToString(x.shape()), ": ",
                     (a.ok() ? b : a).status().message())));
  }
  std::vector<int64_t> dims(rank);
  for (int d = 0; d < rank; ++d) dims[d] = d;
  if (rank > 0) std::swap(dims[*a], dims[*b]);
  return Permute(x, dims);
}

Tensor Expand(const Tensor& x, const Shape& shape) {
  return CallOpOrDie(MG_OP_DEF("expand"), {x}, {{"shape", ShapeAttr{shape}}});
}

Tensor Slice(const Tensor& x, int64_t axis, int64_t start, int64_t end,
             int64_t step) {
  return CallOpOrDie(MG_OP_DEF("slice"), {x}, SliceAttrValues(axis, start, end, step));
}

Tensor SliceScatter(const Tensor& x, const Shape& shape, int64_t axis,
                    int64_t start, int64_t end, int64_t step) {
  Attrs attrs = SliceAttrValues(axis, start, end, step);
  attrs.Set("shape", ShapeAttr{shape});
  return CallOpOrDie(MG_OP_DEF("slice_scatter"), {x}, std::move(attrs));
}

Tensor Concat(const std::vector<Tensor>& xs, int64_t axis) {
  return CallOpOrDie(MG_OP_DEF("concat"), xs, {{"axis", axis}});
}

Tensor Contiguous(const Tensor& x) { return CallOpOrDie(MG_OP_DEF("contiguous"), {x}); }

// ---- definitions ------------------------------------------------------------

MG_REGISTER_OP(reshape) {
  OpDef def;
  def.name = "reshape";
  def.summary = "same elements in row-major order, another shape (-1 inferred)";
  def.inputs = {"x"};
  def.attrs = {{"shape", AttrType::kShape, std::nullopt,
                "target shape; one dimension may be -1"}};
  def.infer =
      [](const InferContext& c) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_ASSIGN_OR_RETURN(Shape shape, ResolveReshape(c.inputs[0].shape,
                                                    c.attrs.GetShape("shape")));
    return std::vector<TensorMeta>{{c.inputs[0].dtype, std::move(shape)}};
  };
  // A view when the strides allow one, else a row-major copy.
  def.forward = [](const KernelContext& c) {
    const Tensor& x = c.inputs[0];
    const Shape& shape = c.outputs[0].shape;
    if (std::optional<Shape> strides =
            ViewStrides(x.shape(), x.strides(), shape)) {
      return std::vector<Tensor>{
          MakeView(x, shape, *std::move(strides), x.offset())};
    }
    return std::vector<Tensor>{CopyAs(x, shape)};
  };
  def.backward = [](const GradContext& c) {  // dx = reshape(g, x.shape)
    return Grads{Reshape(c.grad_output(0), c.input(0).shape())};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const Shape shape =
        ValueOrDie(ResolveReshape(in[0].shape(), attrs.GetShape("shape")));
    return std::vector<Tensor>{
        FromDoubles(in[0].ToVector<double>(), shape, in[0].dtype())};
  };
  def.flops = NoArithmetic;
  def.samples = [] {
    const Tensor base = SampleUniform({3, 4, 5}, -2, 2, 21);
    // [4, 3, 5] with strides [5, 20, 1]: the last two axes cannot merge.
    const Tensor permuted = Permute(base, {1, 0, 2});
    return std::vector<OpSample>{
        {"inferred",
         {SampleUniform({2, 3, 5}, -2, 2, 22)},
         {{"shape", ShapeAttr{{5, -1}}}}},
        {"add_unit_dims",
         {SampleUniform({7}, -2, 2, 23)},
         {{"shape", ShapeAttr{{1, 7, 1}}}}},
        {"permuted_copy", {permuted}, {{"shape", ShapeAttr{{4, 15}}}}},
        {"permuted_view", {permuted}, {{"shape", ShapeAttr{{2, 2, 3, 5}}}}},
    };
  };
  return def;
}

MG_REGISTER_OP(permute) {
  OpDef def;
  def.name = "permute";
  def.summary = "y.shape[i] = x.shape[dims[i]] (a view)";
  def.inputs = {"x"};
  def.attrs = {{"dims", AttrType::kInts, std::nullopt,
                "a permutation of the axes; negative count from the end"}};
  def.infer =
      [](const InferContext& c) -> absl::StatusOr<std::vector<TensorMeta>> {
    const Shape& from = c.inputs[0].shape;
    MG_ASSIGN_OR_RETURN(std::vector<int> perm,
                        ResolvePermutation(c.attrs.GetInts("dims"), from));
    Shape shape(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) shape[i] = from[perm[i]];
    return std::vector<TensorMeta>{{c.inputs[0].dtype, std::move(shape)}};
  };
  def.forward = [](const KernelContext& c) {  // same data, axes reordered
    const Tensor& x = c.inputs[0];
    const std::vector<int> perm =
        ValueOrDie(ResolvePermutation(c.attrs.GetInts("dims"), x.shape()));
    Shape shape(perm.size()), strides(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) {
      shape[i] = x.shape()[perm[i]];
      strides[i] = x.strides()[perm[i]];
    }
    return std::vector<Tensor>{
        MakeView(x, std::move(shape), std::move(strides), x.offset())};
  };
  // dx = permute(g, inverse(dims)): axis perm[i] of x is axis i of g.
  def.backward = [](const GradContext& c) {
    const std::vector<int> perm = ValueOrDie(
        ResolvePermutation(c.attrs.GetInts("dims"), c.input(0).shape()));
    std::vector<int64_t> inverse(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = i;
    return Grads{Permute(c.grad_output(0), inverse)};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const Tensor& x = in[0];
    const std::vector<int64_t>& dims = attrs.GetInts("dims");
    const int rank = x.dim();
    Shape shape(rank);
    for (int i = 0; i < rank; ++i) {
      shape[i] = x.shape()[dims[i] < 0 ? dims[i] + rank : dims[i]];
    }
    std::vector<double> out(NumElements(shape));
    std::vector<int64_t> source(rank);
    for (size_t j = 0; j < out.size(); ++j) {
      const std::vector<int64_t> index = UnravelIndex(j, shape);
      for (int i = 0; i < rank; ++i) {
        source[dims[i] < 0 ? dims[i] + rank : dims[i]] = index[i];
      }
      out[j] = x.ValueAt(source);
    }
    return std::vector<Tensor>{FromDoubles(out, shape, x.dtype())};
  };
  def.flops = NoArithmetic;
  def.samples = [] {
    return std::vector<OpSample>{
        {"rotate_3d",
         {SampleUniform({2, 3, 5}, -2, 2, 31)},
         {{"dims", std::vector<int64_t>{2, 0, 1}}}},
        {"negative_dims",
         {SampleUniform({3, 1, 4}, -2, 2, 32)},
         {{"dims", std::vector<int64_t>{-1, 0, -2}}}},
    };
  };
  return def;
}

MG_REGISTER_OP(expand) {
  OpDef def;
  def.name = "expand";
  def.summary = "broadcasts size-1 and new leading dims (a stride-0 view)";
  def.inputs = {"x"};
  def.attrs = {{"shape", AttrType::kShape, std::nullopt,
                "target shape; -1 keeps a dimension"}};
  def.infer =
      [](const InferContext& c) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_ASSIGN_OR_RETURN(Shape shape, ResolveExpand(c.inputs[0].shape,
                                                   c.attrs.GetShape("shape")));
    return std::vector<TensorMeta>{{c.inputs[0].dtype, std::move(shape)}};
  };
  // Every repeated dimension steps by 0, so all its positions read the same
  // element.
  def.forward = [](const KernelContext& c) {
    const Tensor& x = c.inputs[0];
    const Shape& shape = c.outputs[0].shape;
    const size_t lead = shape.size() - x.dim();
    Shape strides(shape.size(), 0);
    for (int d = 0; d < x.dim(); ++d) {
      const bool stretched = x.shape()[d] == 1 && shape[lead + d] != 1;
      strides[lead + d] = stretched ? 0 : x.strides()[d];
    }
    return std::vector<Tensor>{
        MakeView(x, shape, std::move(strides), x.offset())};
  };
  // dx = sum of g over the broadcast dimensions, which autograd's
  // SumToShape does for every op in one place.
  def.backward = [](const GradContext& c) { return Grads{c.grad_output(0)}; };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const Tensor& x = in[0];
    const Shape shape =
        ValueOrDie(ResolveExpand(x.shape(), attrs.GetShape("shape")));
    const size_t lead = shape.size() - x.dim();
    std::vector<double> out(NumElements(shape));
    std::vector<int64_t> source(x.dim());
    for (size_t j = 0; j < out.size(); ++j) {
      const std::vector<int64_t> index = UnravelIndex(j, shape);
      for (int d = 0; d < x.dim(); ++d) {
        source[d] = x.shape()[d] == 1 ? 0 : index[lead + d];
      }
      out[j] = x.ValueAt(source);
    }
    return std::vector<Tensor>{FromDoubles(out, shape, x.dtype())};
  };
  def.flops = NoArithmetic;
  def.samples = [] {
    return std::vector<OpSample>{
        {"lead_and_stretch",
         {SampleUniform({3, 1}, -2, 2, 41)},
         {{"shape", ShapeAttr{{2, 3, 4}}}}},
        {"keep_with_minus_one",
         {SampleUniform({1, 5}, -2, 2, 42)},
         {{"shape", ShapeAttr{{3, -1}}}}},
        {"scalar",
         {SampleUniform({}, -2, 2, 43)},
         {{"shape", ShapeAttr{{2, 3}}}}},
    };
  };
  return def;
}

MG_REGISTER_OP(slice) {
  OpDef def;
  def.name = "slice";
  def.summary = "x[start:end:step] along one axis (a view)";
  def.inputs = {"x"};
  def.attrs = SliceAttrs();
  def.infer =
      [](const InferContext& c) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_ASSIGN_OR_RETURN(SliceRange range,
                        ResolveSlice(c.inputs[0].shape, c.attrs));
    return std::vector<TensorMeta>{
        {c.inputs[0].dtype, SlicedShape(c.inputs[0].shape, range)}};
  };
  // Starts at element `start` of the axis and steps `step` times as far.
  def.forward = [](const KernelContext& c) {
    const Tensor& x = c.inputs[0];
    const SliceRange range = ValueOrDie(ResolveSlice(x.shape(), c.attrs));
    Shape strides = x.strides();
    const int64_t offset =
        x.offset() + (range.length > 0 ? range.start * strides[range.axis] : 0);
    strides[range.axis] *= range.step;
    return std::vector<Tensor>{
        MakeView(x, SlicedShape(x.shape(), range), std::move(strides), offset)};
  };
  // dx = zeros of x's shape with g written at the sliced positions.
  def.backward = [](const GradContext& c) {
    const Attrs& a = c.attrs;
    return Grads{SliceScatter(c.grad_output(0), c.input(0).shape(),
                              a.GetInt("axis"), a.GetInt("start"),
                              a.GetInt("end"), a.GetInt("step"))};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const Tensor& x = in[0];
    const SliceRange range = ValueOrDie(ResolveSlice(x.shape(), attrs));
    const Shape shape = SlicedShape(x.shape(), range);
    std::vector<double> out(NumElements(shape));
    for (size_t j = 0; j < out.size(); ++j) {
      std::vector<int64_t> index = UnravelIndex(j, shape);
      index[range.axis] = range.start + range.step * index[range.axis];
      out[j] = x.ValueAt(index);
    }
    return std::vector<Tensor>{FromDoubles(out, shape, x.dtype())};
  };
  def.flops = NoArithmetic;
  def.samples = [] {
    return std::vector<OpSample>{
        {"negative_start_step_2",
         {SampleUniform({5, 7}, -2, 2, 51)},
         SliceAttrValues(1, -6, std::numeric_limits<int64_t>::max(), 2)},
        {"inner_rows",
         {SampleUniform({6, 3}, -2, 2, 52)},
         SliceAttrValues(0, 1, -1, 1)},
        {"middle_axis_step_3",
         {SampleUniform({2, 8, 3}, -2, 2, 53)},
         SliceAttrValues(-2, 0, 8, 3)},
    };
  };
  return def;
}

MG_REGISTER_OP(slice_scatter) {
  OpDef def;
  def.name = "slice_scatter";
  def.summary = "zeros of `shape` with x written at [start:end:step] of axis";
  def.inputs = {"x"};
  def.attrs = SliceAttrs();
  def.attrs.insert(def.attrs.begin(),
                   AttrDef{"shape", AttrType::kShape, std::nullopt,
                           "the full output shape"});
  def.infer =
      [](const InferContext& c) -> absl::StatusOr<std::vector<TensorMeta>> {
    const Shape& x = c.inputs[0].shape;
    const Shape& shape = c.attrs.GetShape("shape");
    MG_RETURN_IF_ERROR(ValidateShape(shape));
    MG_ASSIGN_OR_RETURN(SliceRange range, ResolveSlice(shape, c.attrs));
    const Shape expected = SlicedShape(shape, range);
    if (x != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x has shape ", ShapeToString(x), " but the slice of ",
          ShapeToString(shape), " has shape ", ShapeToString(expected)));
    }
    return std::vector<TensorMeta>{{c.inputs[0].dtype, shape}};
  };
  // y = 0; y[slice] = x: a copy into a strided view of the fresh output.
  def.forward = [](const KernelContext& c) {
    const Tensor& x = c.inputs[0];
    Tensor y = Tensor::Empty(c.outputs[0].shape, x.dtype());
    const SliceRange range = ValueOrDie(ResolveSlice(y.shape(), c.attrs));
    if (range.length > 0) {
      Shape strides = y.strides();
      const int64_t offset = range.start * strides[range.axis];
      strides[range.axis] *= range.step;
      CopyInto(x, MakeView(y, x.shape(), std::move(strides), offset));
    }
    return std::vector<Tensor>{y};
  };
  def.backward = [](const GradContext& c) {  // dx = g[start:end:step]
    const Attrs& a = c.attrs;
    return Grads{Slice(c.grad_output(0), a.GetInt("axis"), a.GetInt("start"),
                       a.GetInt("end"), a.GetInt("step"))};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const Tensor& x = in[0];
    const Shape& shape = attrs.GetShape("shape");
    const SliceRange range = ValueOrDie(ResolveSlice(shape, attrs));
    std::vector<double> out(NumElements(shape), 0.0);
    for (int64_t j = 0; j < x.numel(); ++j) {
      const std::vector<int64_t> source = UnravelIndex(j, x.shape());
      std::vector<int64_t> target = source;
      target[range.axis] = range.start + range.step * source[range.axis];
      out[RavelIndex(target, shape)] = x.ValueAt(source);
    }
    return std::vector<Tensor>{FromDoubles(out, shape, x.dtype())};
  };
  def.flops = NoArithmetic;
  def.samples = [] {
    Attrs strided = SliceAttrValues(1, 1, 5, 2);
    strided.Set("shape", ShapeAttr{{3, 5}});
    Attrs from_end =
        SliceAttrValues(0, -3, std::numeric_limits<int64_t>::max(), 1);
    from_end.Set("shape", ShapeAttr{{4, 2}});
    return std::vector<OpSample>{
        {"inner_step_2", {SampleUniform({3, 2}, -2, 2, 61)}, strided},
        {"last_rows", {SampleUniform({3, 2}, -2, 2, 62)}, from_end},
    };
  };
  return def;
}

MG_REGISTER_OP(concat) {
  OpDef def;
  def.name = "concat";
  def.summary = "joins tensors along an axis; other dimensions must match";
  def.inputs = {"xs"};
  def.variadic_last_input = true;
  def.attrs = {{"axis", AttrType::kInt, AttrValue{int64_t{0}},
                "axis to join along (may be negative)"}};
  def.infer =
      [](const InferContext& c) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_ASSIGN_OR_RETURN(auto resolved,
                        ResolveConcat(c.inputs, c.attrs.GetInt("axis")));
    return std::vector<TensorMeta>{{c.inputs[0].dtype, resolved.second}};
  };
  // Input k lands at positions [sum of earlier sizes, + its size) of axis.
  def.forward = [](const KernelContext& c) {
    Tensor y = Tensor::Empty(c.outputs[0].shape, c.outputs[0].dtype);
    const int axis = ValueOrDie(NormalizeAxis(c.attrs.GetInt("axis"), y.dim()));
    int64_t position = 0;
    for (const Tensor& x : c.inputs) {
      CopyInto(
          x, MakeView(y, x.shape(), y.strides(), position * y.strides()[axis]));
      position += x.shape()[axis];
    }
    return std::vector<Tensor>{y};
  };
  def.backward = [](const GradContext& c) {  // dx_k = g[begin_k:end_k]
    const Tensor& g = c.grad_output(0);
    const int axis = ValueOrDie(NormalizeAxis(c.attrs.GetInt("axis"), g.dim()));
    Grads grads(c.inputs.size());
    int64_t position = 0;
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      const int64_t size = c.input(k).shape()[axis];
      if (c.needs_input_grad[k]) {
        grads[k] = Slice(g, axis, position, position + size, 1);
      }
      position += size;
    }
    return grads;
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    std::vector<TensorMeta> metas;
    for (const Tensor& x : in) metas.push_back(x.meta());
    const auto [axis, shape] =
        ValueOrDie(ResolveConcat(metas, attrs.GetInt("axis")));
    std::vector<double> out(NumElements(shape));
    for (size_t j = 0; j < out.size(); ++j) {
      std::vector<int64_t> index = UnravelIndex(j, shape);
      size_t k = 0;
      while (index[axis] >= in[k].shape()[axis]) {
        index[axis] -= in[k].shape()[axis];
        ++k;
      }
      out[j] = in[k].ValueAt(index);
    }
    return std::vector<Tensor>{FromDoubles(out, shape, in[0].dtype())};
  };
  def.flops = NoArithmetic;
  def.samples = [] {
    return std::vector<OpSample>{
        {"three_on_axis_1",
         {SampleUniform({2, 1, 3}, -2, 2, 71),
          SampleUniform({2, 4, 3}, -2, 2, 72),
          SampleUniform({2, 2, 3}, -2, 2, 73)},
         {{"axis", int64_t{1}}}},
        {"two_on_last_axis",
         {SampleUniform({3, 2}, -2, 2, 74), SampleUniform({3, 5}, -2, 2, 75)},
         {{"axis", int64_t{-1}}}},
    };
  };
  return def;
}

MG_REGISTER_OP(contiguous) {
  OpDef def;
  def.name = "contiguous";
  def.summary = "x in row-major layout (a new handle when it already is)";
  def.inputs = {"x"};
  def.infer = SameAsInput(0);
  def.forward = [](const KernelContext& c) {
    const Tensor& x = c.inputs[0];
    if (x.is_contiguous()) {
      return std::vector<Tensor>{
          MakeView(x, x.shape(), x.strides(), x.offset())};
    }
    return std::vector<Tensor>{CopyAs(x, x.shape())};
  };
  def.backward = [](const GradContext& c) {  // dx = g
    return Grads{c.grad_output(0)};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs&) {
    return std::vector<Tensor>{
        FromDoubles(in[0].ToVector<double>(), in[0].shape(), in[0].dtype())};
  };
  def.flops = NoArithmetic;
  def.samples = [] {
    return std::vector<OpSample>{
        {"transposed", {Transpose(SampleUniform({3, 5}, -2, 2, 81), 0, 1)}, {}},
        {"already_contiguous", {SampleUniform({4, 3}, -2, 2, 82)}, {}},
    };
  };
  return def;
}

}  // namespace minigraph
#endif  // HWY_ONCE
