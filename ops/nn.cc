// Neural-network building blocks: kernel dispatch and the one definition of
// each op (dropout, causal_mask, rotary_tables, embedding,
// embedding_scatter_add).

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/nn.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/nn-inl.h"

#if HWY_ONCE

#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "framework/random.h"
#include "ops/nn.h"
#include "ops/op_helpers.h"

namespace minigraph {

HWY_EXPORT(DropoutF32);
HWY_EXPORT(DropoutF64);
HWY_EXPORT(CausalMaskF32);
HWY_EXPORT(CausalMaskF64);
HWY_EXPORT(GatherRowsF32);
HWY_EXPORT(GatherRowsF64);
HWY_EXPORT(ScatterAddRowsF32);
HWY_EXPORT(ScatterAddRowsF64);

// ---- user API ---------------------------------------------------------------

Tensor Dropout(const Tensor& x, double p, uint64_t seed) {
  return CallOpOrDie(MG_OP_DEF("dropout"), {x},
                     {{"p", p}, {"seed", static_cast<int64_t>(seed)}});
}

Tensor CausalMask(int64_t rows, int64_t cols, int64_t offset, DType dtype) {
  return CallOpOrDie(
      MG_OP_DEF("causal_mask"), {},
      {{"rows", rows}, {"cols", cols}, {"offset", offset}, {"dtype", dtype}});
}

RotaryTables RotaryCosSin(int64_t head_dim, double theta, int64_t start,
                          int64_t count, DType dtype) {
  std::vector<Tensor> out = ValueOrDie(CallOp(MG_OP_DEF("rotary_tables"), {},
                                              {{"head_dim", head_dim},
                                               {"theta", theta},
                                               {"start", start},
                                               {"count", count},
                                               {"dtype", dtype}}));
  return RotaryTables{out[0], out[1]};
}

// The index range check happens in the op's forward, which this call runs,
// so it covers CallOp and loaded graphs as well.
Tensor Embedding(const Tensor& weight, const Tensor& indices) {
  return CallOpOrDie(MG_OP_DEF("embedding"), {weight, indices});
}

Tensor EmbeddingScatterAdd(const Tensor& grad, const Tensor& indices,
                           int64_t num_rows) {
  return CallOpOrDie(MG_OP_DEF("embedding_scatter_add"), {grad, indices},
                     {{"num_rows", num_rows}});
}

namespace {

// ---- shared pieces of the definitions -------------------------------------

Tensor Contiguous(const Tensor& t) {
  return t.is_contiguous() ? t : CopyToContiguous(t);
}

absl::Status CheckIndices(const TensorMeta& indices) {
  if (indices.dtype != DType::kInt64) {
    return absl::InvalidArgumentError(
        absl::StrCat("indices must be int64, got ", DTypeName(indices.dtype),
                     ShapeToString(indices.shape)));
  }
  return absl::OkStatus();
}

// Indices are data, which inference never sees, and a kernel has no way to
// return an error yet: an index outside [0, num_rows) therefore ends the
// process with a message naming the op, the value, its position and the
// row count, rather than reading or writing out of bounds. `values` holds
// `indices` in row-major order.
void CheckIndexRangeOrDie(const char* op, const Tensor& indices,
                          const int64_t* values, int64_t num_rows) {
  const int64_t count = indices.numel();
  for (int64_t n = 0; n < count; ++n) {
    const int64_t index = values[n];
    if (index >= 0 && index < num_rows) continue;
    DieWithStatus(absl::OutOfRangeError(
        absl::StrCat(op, ": index ", index, " at position ",
                     ShapeToString(UnravelIndex(n, indices.shape())),
                     " of indices ", DTypeName(indices.dtype()),
                     ShapeToString(indices.shape()), " is out of range for ",
                     num_rows, " rows (valid: 0 to ", num_rows - 1, ")")));
  }
}

// The row-major index list of a sample.
Tensor SampleIndices(const std::vector<int64_t>& values, const Shape& shape) {
  return Tensor::FromData<int64_t>(values, shape);
}

}  // namespace

// ---- dropout
// -----------------------------------------------------------------

MG_REGISTER_OP(dropout) {
  OpDef def;
  def.name = "dropout";
  def.summary =
      "y = x * [U(seed, i) >= p] / (1 - p), i the row-major index (seeded)";
  def.inputs = {"x"};
  def.attrs = {
      {"p", AttrType::kFloat, AttrValue(0.5), "drop probability, in [0, 1)"},
      {"seed", AttrType::kInt, std::nullopt,
       "mask seed: the same seed drops the same elements"}};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_RETURN_IF_ERROR(CheckFloat(ctx.inputs[0], "input"));
    const double p = ctx.attrs.GetFloat("p");
    // Written so that nan fails too; p = 1 would scale by 1 / 0.
    if (!(p >= 0.0 && p < 1.0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("p must be in [0, 1), got p=", p));
    }
    return std::vector<TensorMeta>{ctx.inputs[0]};
  };
  def.forward = [](const KernelContext& ctx) {
    const double p = ctx.attrs.GetFloat("p");
    // p = 0 keeps every element with scale 1: a copy.
    if (p == 0.0) return std::vector<Tensor>{CopyToContiguous(ctx.inputs[0])};
    const uint64_t seed = static_cast<uint64_t>(ctx.attrs.GetInt("seed"));
    // Contiguous, so that element i of the buffer is row-major element i.
    const Tensor x = Contiguous(ctx.inputs[0]);
    Tensor y = Tensor::Empty(x.shape(), x.dtype());
    const size_t n = static_cast<size_t>(x.numel());
    if (x.dtype() == DType::kFloat32) {
      HWY_DYNAMIC_DISPATCH(DropoutF32)
      (x.data<float>(), y.data<float>(), n, p, seed);
    } else {
      HWY_DYNAMIC_DISPATCH(DropoutF64)
      (x.data<double>(), y.data<double>(), n, p, seed);
    }
    return std::vector<Tensor>{y};
  };
  // Linear in x with the same mask: dx = dropout(g, p, seed).
  def.backward = [](const GradContext& c) {
    return Grads{Dropout(c.grad_output(0), c.attrs.GetFloat("p"),
                         static_cast<uint64_t>(c.attrs.GetInt("seed")))};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const double p = attrs.GetFloat("p");
    const uint64_t seed = static_cast<uint64_t>(attrs.GetInt("seed"));
    const std::vector<double> x = in[0].ToVector<double>();
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const bool keep = BitsToUnit(CounterHash(seed, i)) >= p;
      y[i] = keep ? x[i] / (1.0 - p) : 0.0;
    }
    return std::vector<Tensor>{
        ConvertDType(Tensor::FromData(y, in[0].shape()), in[0].dtype())};
  };
  def.samples = [] {
    return std::vector<OpSample>{
        {"matrix_p_quarter",
         {SampleUniform({4, 5}, -2, 2, 1)},
         {{"p", 0.25}, {"seed", int64_t{7}}}},
        {"long_p_half",
         {SampleUniform({37}, -2, 2, 2)},
         {{"p", 0.5}, {"seed", int64_t{12345}}}},
    };
  };
  return def;
}

// ---- causal_mask
// ---------------------------------------------------------------

MG_REGISTER_OP(causal_mask) {
  OpDef def;
  def.name = "causal_mask";
  def.summary =
      "[rows, cols] of 0 where col <= row + offset, -inf elsewhere (no inputs)";
  def.attrs = {{"rows", AttrType::kInt, std::nullopt, "queries"},
               {"cols", AttrType::kInt, std::nullopt, "keys"},
               {"offset", AttrType::kInt, AttrValue(int64_t{0}),
                "diagonal shift: cols - rows aligns it to the last key"},
               {"dtype", AttrType::kDType, AttrValue(DType::kFloat32),
                "float32 or float64"}};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    const int64_t rows = ctx.attrs.GetInt("rows");
    const int64_t cols = ctx.attrs.GetInt("cols");
    const DType dtype = ctx.attrs.GetDType("dtype");
    if (rows < 0 || cols < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rows and cols must be >= 0, got rows=", rows, ", cols=", cols));
    }
    // -inf has no int64 representation.
    if (!IsFloating(dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dtype must be float32 or float64, got ", DTypeName(dtype)));
    }
    const Shape shape = {rows, cols};
    MG_RETURN_IF_ERROR(ValidateShape(shape));
    return std::vector<TensorMeta>{{dtype, shape}};
  };
  def.forward = [](const KernelContext& ctx) {
    const int64_t rows = ctx.attrs.GetInt("rows");
    const int64_t cols = ctx.attrs.GetInt("cols");
    const int64_t offset = ctx.attrs.GetInt("offset");
    Tensor y = Tensor::Empty(ctx.outputs[0].shape, ctx.outputs[0].dtype);
    if (y.dtype() == DType::kFloat32) {
      HWY_DYNAMIC_DISPATCH(CausalMaskF32)(y.data<float>(), rows, cols, offset);
    } else {
      HWY_DYNAMIC_DISPATCH(CausalMaskF64)
      (y.data<double>(), rows, cols, offset);
    }
    return std::vector<Tensor>{y};
  };
  // No backward: the mask depends on no tensor.
  def.reference = [](absl::Span<const Tensor>, const Attrs& attrs) {
    const int64_t rows = attrs.GetInt("rows");
    const int64_t cols = attrs.GetInt("cols");
    const double offset = static_cast<double>(attrs.GetInt("offset"));
    std::vector<double> y(rows * cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        y[r * cols + c] = static_cast<double>(c) <= r + offset
                              ? 0.0
                              : -std::numeric_limits<double>::infinity();
      }
    }
    return std::vector<Tensor>{ConvertDType(Tensor::FromData(y, {rows, cols}),
                                            attrs.GetDType("dtype"))};
  };
  def.samples = [] {
    return std::vector<OpSample>{
        {"square",
         {},
         {{"rows", int64_t{4}}, {"cols", int64_t{4}}, {"offset", int64_t{0}}}},
        {"kv_cache",
         {},
         {{"rows", int64_t{3}}, {"cols", int64_t{5}}, {"offset", int64_t{2}}}},
    };
  };
  return def;
}

// ---- rotary_tables
// -------------------------------------------------------------

// cos[t, i] = cos[t, i + d/2] = float(cos(float(float(start + t) *
// inv_freq[i]))), inv_freq[i] = float(1 / float(theta^float(2i / d))): the
// float32 steps of MiniMind's precompute_freqs_cis (PyTorch's float32 pow and
// division, torch.outer in float32), so a float64 model rotates by the
// angles a checkpoint was trained with. Scalar on purpose: cos and sin are
// taken in double of the float32 angle so that the final rounding is the
// only error, which a SIMD approximation would not give bit for bit; the
// tables cost O(count * head_dim) once per attention layer and forward pass
// (about 0.45 ms at count 512, head_dim 64).
template <typename T>
void RotaryTablesKernel(int64_t head_dim, double theta, int64_t start,
                        int64_t count, T* cos_out, T* sin_out) {
  const int64_t half = head_dim / 2;
  std::vector<float> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent =
        static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float power = static_cast<float>(std::pow(theta, exponent));
    inv_freq[i] = 1.0f / power;
  }
  for (int64_t t = 0; t < count; ++t) {
    const float position = static_cast<float>(start + t);
    T* cos_row = cos_out + t * head_dim;
    T* sin_row = sin_out + t * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(position * inv_freq[i]);
      // Rounded to float32 first, then widened: exact for T = double.
      const T c = static_cast<T>(static_cast<float>(std::cos(angle)));
      const T s = static_cast<T>(static_cast<float>(std::sin(angle)));
      cos_row[i] = cos_row[half + i] = c;
      sin_row[i] = sin_row[half + i] = s;
    }
  }
}

MG_REGISTER_OP(rotary_tables) {
  OpDef def;
  def.name = "rotary_tables";
  def.summary =
      "RoPE cos, sin [count, head_dim] of angle float(t) * theta^(-2i/d) in "
      "float32, t = start + row (no inputs)";
  def.outputs = {"cos", "sin"};
  def.attrs = {
      {"head_dim", AttrType::kInt, std::nullopt, "row width, even, > 0"},
      {"theta", AttrType::kFloat, AttrValue(10000.0),
       "frequency base, finite, > 0"},
      {"start", AttrType::kInt, AttrValue(int64_t{0}),
       "position of the first row, >= 0"},
      {"count", AttrType::kInt, std::nullopt, "positions (rows), >= 0"},
      {"dtype", AttrType::kDType, AttrValue(DType::kFloat32),
       "float32 or float64 (the values are float32 either way)"}};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    const int64_t head_dim = ctx.attrs.GetInt("head_dim");
    const double theta = ctx.attrs.GetFloat("theta");
    const int64_t start = ctx.attrs.GetInt("start");
    const int64_t count = ctx.attrs.GetInt("count");
    const DType dtype = ctx.attrs.GetDType("dtype");
    // Rows pair element i with i + head_dim / 2.
    if (head_dim <= 0 || head_dim % 2 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "head_dim must be even and > 0, got head_dim=", head_dim));
    }
    // Written so that nan fails too.
    if (!(theta > 0.0 && std::isfinite(theta))) {
      return absl::InvalidArgumentError(
          absl::StrCat("theta must be finite and > 0, got theta=", theta));
    }
    if (start < 0 || count < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("start and count must be >= 0, got start=", start,
                       ", count=", count));
    }
    // The last position, start + count - 1, must be an int64.
    if (start > std::numeric_limits<int64_t>::max() - count) {
      return absl::InvalidArgumentError(absl::StrCat(
          "start + count overflows int64: start=", start, ", count=", count));
    }
    if (!IsFloating(dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dtype must be float32 or float64, got ", DTypeName(dtype)));
    }
    const Shape shape = {count, head_dim};
    MG_RETURN_IF_ERROR(ValidateShape(shape));
    return std::vector<TensorMeta>{{dtype, shape}, {dtype, shape}};
  };
  def.forward = [](const KernelContext& ctx) {
    const int64_t head_dim = ctx.attrs.GetInt("head_dim");
    const double theta = ctx.attrs.GetFloat("theta");
    const int64_t start = ctx.attrs.GetInt("start");
    const int64_t count = ctx.attrs.GetInt("count");
    Tensor cos = Tensor::Empty(ctx.outputs[0].shape, ctx.outputs[0].dtype);
    Tensor sin = Tensor::Empty(ctx.outputs[1].shape, ctx.outputs[1].dtype);
    if (cos.dtype() == DType::kFloat32) {
      RotaryTablesKernel(head_dim, theta, start, count, cos.data<float>(),
                         sin.data<float>());
    } else {
      RotaryTablesKernel(head_dim, theta, start, count, cos.data<double>(),
                         sin.data<double>());
    }
    return std::vector<Tensor>{cos, sin};
  };
  // No backward: the tables depend on no tensor.
  // Element by element from the float32 formula, each rounding written
  // out: column j turns at frequency j mod (head_dim / 2).
  def.reference = [](absl::Span<const Tensor>, const Attrs& attrs) {
    const int64_t d = attrs.GetInt("head_dim");
    const double theta = attrs.GetFloat("theta");
    const int64_t start = attrs.GetInt("start");
    const int64_t count = attrs.GetInt("count");
    const DType dtype = attrs.GetDType("dtype");
    std::vector<double> cos(count * d), sin(count * d);
    for (int64_t t = 0; t < count; ++t) {
      for (int64_t j = 0; j < d; ++j) {
        const int64_t i = j % (d / 2);
        const float exponent =
            static_cast<float>(2 * i) / static_cast<float>(d);
        const float frequency =
            1.0f / static_cast<float>(std::pow(theta, double{exponent}));
        const float angle = static_cast<float>(start + t) * frequency;
        cos[t * d + j] = static_cast<float>(std::cos(double{angle}));
        sin[t * d + j] = static_cast<float>(std::sin(double{angle}));
      }
    }
    return std::vector<Tensor>{
        ConvertDType(Tensor::FromData(cos, {count, d}), dtype),
        ConvertDType(Tensor::FromData(sin, {count, d}), dtype)};
  };
  def.samples = [] {
    auto attrs = [](int64_t head_dim, double theta, int64_t start,
                    int64_t count, DType dtype) {
      return Attrs{{"head_dim", head_dim},
                   {"theta", theta},
                   {"start", start},
                   {"count", count},
                   {"dtype", dtype}};
    };
    return std::vector<OpSample>{
        {"minimind_theta", {}, attrs(8, 1e6, 0, 5, DType::kFloat32)},
        // An odd number of frequencies, rows from position 7 (a KV cache).
        {"offset_float64", {}, attrs(6, 10000.0, 7, 3, DType::kFloat64)},
        {"no_rows", {}, attrs(4, 10000.0, 2, 0, DType::kFloat32)},
    };
  };
  return def;
}

// ---- embedding
// -------------------------------------------------------------------

MG_REGISTER_OP(embedding) {
  OpDef def;
  def.name = "embedding";
  def.summary = "y[..., :] = weight[indices[...], :] (int64 indices)";
  def.inputs = {"weight", "indices"};
  def.nondifferentiable_inputs = {1};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    const TensorMeta& weight = ctx.inputs[0];
    MG_RETURN_IF_ERROR(CheckFloat(weight, "weight"));
    if (weight.shape.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weight must be [num_rows, dim], got ", ShapeToString(weight.shape)));
    }
    MG_RETURN_IF_ERROR(CheckIndices(ctx.inputs[1]));
    Shape shape = ctx.inputs[1].shape;
    shape.push_back(weight.shape[1]);
    return std::vector<TensorMeta>{{weight.dtype, shape}};
  };
  def.forward = [](const KernelContext& ctx) {
    Tensor weight = ctx.inputs[0];
    // Rows must be contiguous to be copied whole; row starts may be strided.
    if (weight.shape()[1] > 1 && weight.strides()[1] != 1) {
      weight = CopyToContiguous(weight);
    }
    const Tensor indices = Contiguous(ctx.inputs[1]);
    const int64_t* values = indices.data<int64_t>();
    CheckIndexRangeOrDie("embedding", ctx.inputs[1], values, weight.shape()[0]);
    Tensor y = Tensor::Empty(ctx.outputs[0].shape, ctx.outputs[0].dtype);
    const size_t count = static_cast<size_t>(indices.numel());
    const size_t width = static_cast<size_t>(weight.shape()[1]);
    const int64_t row_stride = weight.strides()[0];
    if (y.dtype() == DType::kFloat32) {
      HWY_DYNAMIC_DISPATCH(GatherRowsF32)
      (weight.data<float>(), row_stride, values, count, width, y.data<float>());
    } else {
      HWY_DYNAMIC_DISPATCH(GatherRowsF64)
      (weight.data<double>(), row_stride, values, count, width,
       y.data<double>());
    }
    return std::vector<Tensor>{y};
  };
  // Each output row is a copy of one weight row, so dW[v] sums the grad rows
  // that read v: dW = embedding_scatter_add(g, indices, V).
  def.backward = [](const GradContext& c) {
    return Grads{EmbeddingScatterAdd(c.grad_output(0), c.input(1),
                                     c.input(0).shape()[0]),
                 Tensor()};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs&) {
    const Tensor& weight = in[0];
    const int64_t width = weight.shape()[1];
    const std::vector<int64_t> indices = in[1].ToVector<int64_t>();
    std::vector<double> y(indices.size() * width);
    for (size_t n = 0; n < indices.size(); ++n) {
      for (int64_t j = 0; j < width; ++j) {
        y[n * width + j] = weight.ValueAt({indices[n], j});
      }
    }
    Shape shape = in[1].shape();
    shape.push_back(width);
    return std::vector<Tensor>{
        ConvertDType(Tensor::FromData(y, shape), weight.dtype())};
  };
  def.samples = [] {
    return std::vector<OpSample>{
        {"repeated_2d",
         {SampleUniform({5, 3}, -2, 2, 1),
          SampleIndices({4, 0, 4, 2, 0, 4}, {2, 3})},
         Attrs()},
        {"long_vector",
         {SampleUniform({6, 4}, -2, 2, 2),
          SampleIndices({1, 1, 5, 0, 3, 1, 2}, {7})},
         Attrs()},
        {"scalar_index",
         {SampleUniform({4, 5}, -2, 2, 3), SampleIndices({2}, {})},
         Attrs()},
    };
  };
  return def;
}

MG_REGISTER_OP(embedding_scatter_add) {
  OpDef def;
  def.name = "embedding_scatter_add";
  def.summary =
      "y = zeros[num_rows, D]; y[indices[...], :] += grad[..., :] "
      "(embedding's gradient)";
  def.inputs = {"grad", "indices"};
  def.attrs = {{"num_rows", AttrType::kInt, std::nullopt,
                "rows of the output (the embedding table's size)"}};
  def.nondifferentiable_inputs = {1};
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    const TensorMeta& grad = ctx.inputs[0];
    const TensorMeta& indices = ctx.inputs[1];
    MG_RETURN_IF_ERROR(CheckFloat(grad, "grad"));
    MG_RETURN_IF_ERROR(CheckIndices(indices));
    if (grad.shape.empty() ||
        Shape(grad.shape.begin(), grad.shape.end() - 1) != indices.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "grad must be indices.shape + [D]: grad ", ShapeToString(grad.shape),
          " vs indices ", ShapeToString(indices.shape)));
    }
    const int64_t num_rows = ctx.attrs.GetInt("num_rows");
    if (num_rows < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("num_rows must be >= 0, got ", num_rows));
    }
    return std::vector<TensorMeta>{{grad.dtype, {num_rows, grad.shape.back()}}};
  };
  def.forward = [](const KernelContext& ctx) {
    const Tensor grad = Contiguous(ctx.inputs[0]);
    const Tensor indices = Contiguous(ctx.inputs[1]);
    const int64_t num_rows = ctx.attrs.GetInt("num_rows");
    const int64_t* values = indices.data<int64_t>();
    CheckIndexRangeOrDie("embedding_scatter_add", ctx.inputs[1], values,
                         num_rows);
    // Empty() is zero-filled: rows no index names stay 0.
    Tensor y = Tensor::Empty(ctx.outputs[0].shape, ctx.outputs[0].dtype);
    const size_t count = static_cast<size_t>(indices.numel());
    const size_t width = static_cast<size_t>(grad.shape().back());
    if (y.dtype() == DType::kFloat32) {
      HWY_DYNAMIC_DISPATCH(ScatterAddRowsF32)
      (grad.data<float>(), values, count, width, y.data<float>());
    } else {
      HWY_DYNAMIC_DISPATCH(ScatterAddRowsF64)
      (grad.data<double>(), values, count, width, y.data<double>());
    }
    return std::vector<Tensor>{y};
  };
  // y is linear in grad and row n of grad lands in row indices[n], so the
  // adjoint reads those rows back: dgrad = embedding(g, indices).
  def.backward = [](const GradContext& c) {
    return Grads{Embedding(c.grad_output(0), c.input(1)), Tensor()};
  };
  def.reference = [](absl::Span<const Tensor> in, const Attrs& attrs) {
    const int64_t num_rows = attrs.GetInt("num_rows");
    const int64_t width = in[0].shape().back();
    const std::vector<double> grad = in[0].ToVector<double>();
    const std::vector<int64_t> indices = in[1].ToVector<int64_t>();
    std::vector<double> y(num_rows * width, 0.0);
    for (size_t n = 0; n < indices.size(); ++n) {
      for (int64_t j = 0; j < width; ++j) {
        y[indices[n] * width + j] += grad[n * width + j];
      }
    }
    return std::vector<Tensor>{
        ConvertDType(Tensor::FromData(y, {num_rows, width}), in[0].dtype())};
  };
  def.samples = [] {
    return std::vector<OpSample>{
        // Row 1 is never named and stays 0; rows 0 and 4 accumulate.
        {"repeated_2d",
         {SampleUniform({2, 3, 4}, -2, 2, 1),
          SampleIndices({4, 0, 4, 2, 0, 4}, {2, 3})},
         {{"num_rows", int64_t{5}}}},
        {"long_vector",
         {SampleUniform({7, 3}, -2, 2, 2),
          SampleIndices({2, 0, 2, 1, 2, 0, 1}, {7})},
         {{"num_rows", int64_t{3}}}},
    };
  };
  return def;
}

}  // namespace minigraph

#endif  // HWY_ONCE
