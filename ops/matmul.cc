// Matmul: kernel dispatch and the op's one definition.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/matmul.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/matmul-inl.h"

#if HWY_ONCE

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "ops/matmul.h"
#include "ops/op_helpers.h"

namespace minigraph {

HWY_EXPORT(MatmulKernelF32);
HWY_EXPORT(MatmulKernelF64);

Tensor Matmul(const Tensor& a, const Tensor& b, bool transpose_a,
              bool transpose_b) {
  return CallOpOrDie(
      MG_OP_DEF("matmul"), {a, b},
      {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}});
}

namespace {

const char* BoolName(bool value) { return value ? "true" : "false"; }

// The batch dimensions: all but the last two.
Shape BatchShape(const Shape& shape) {
  return Shape(shape.begin(), shape.end() - 2);
}

// Sizes of op(x)'s last two dimensions: (rows, columns) after the optional
// transpose.
std::pair<int64_t, int64_t> MatrixDims(const Shape& shape, bool transpose) {
  const int64_t rows = shape[shape.size() - 2];
  const int64_t cols = shape[shape.size() - 1];
  return transpose ? std::make_pair(cols, rows) : std::make_pair(rows, cols);
}

// y: [broadcast(batch_a, batch_b)..., M, N], same float dtype as a and b.
absl::StatusOr<std::vector<TensorMeta>> InferMatmul(const InferContext& ctx) {
  const TensorMeta& a = ctx.inputs[0];
  const TensorMeta& b = ctx.inputs[1];
  const bool ta = ctx.attrs.GetBool("transpose_a");
  const bool tb = ctx.attrs.GetBool("transpose_b");
  if (a.shape.size() < 2 || b.shape.size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "both operands need rank >= 2 (a matrix or a batch of matrices): a ",
        ShapeToString(a.shape), ", b ", ShapeToString(b.shape),
        "; reshape a vector to [1, n] or [n, 1]"));
  }
  MG_RETURN_IF_ERROR(CheckSameFloatDType(a, b));
  const auto [m, ka] = MatrixDims(a.shape, ta);
  const auto [kb, n] = MatrixDims(b.shape, tb);
  if (ka != kb) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inner dimensions differ: a ", ShapeToString(a.shape), " (transpose_a=",
        BoolName(ta), ", K=", ka, ") vs b ", ShapeToString(b.shape),
        " (transpose_b=", BoolName(tb), ", K=", kb, ")"));
  }
  absl::StatusOr<Shape> batch =
      BroadcastShapes(BatchShape(a.shape), BatchShape(b.shape));
  if (!batch.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch dimensions do not broadcast: a ", ShapeToString(a.shape),
        " vs b ", ShapeToString(b.shape), " (", batch.status().message(), ")"));
  }
  Shape shape = *std::move(batch);
  shape.push_back(m);
  shape.push_back(n);
  return std::vector<TensorMeta>{{a.dtype, std::move(shape)}};
}

// Reads both operands through their own strides (transpose flags swap the
// strides of the last two dimensions) and broadcast batch strides.
template <typename T>
void RunMatmul(const Tensor& a, const Tensor& b, bool ta, bool tb, Tensor& y) {
  const Shape& shape = y.shape();
  const int rank = static_cast<int>(shape.size());
  const Shape a_strides = BroadcastStrides(a, shape);
  const Shape b_strides = BroadcastStrides(b, shape);
  const int64_t a_rows = a.strides()[a.dim() - 2];
  const int64_t a_cols = a.strides()[a.dim() - 1];
  const int64_t b_rows = b.strides()[b.dim() - 2];
  const int64_t b_cols = b.strides()[b.dim() - 1];
  MatmulPlan<T> plan;
  plan.m = shape[rank - 2];
  plan.n = shape[rank - 1];
  plan.k = MatrixDims(a.shape(), ta).second;
  plan.a = a.data<T>();
  plan.b = b.data<T>();
  plan.y = y.data<T>();
  plan.a_stride_m = ta ? a_cols : a_rows;
  plan.a_stride_k = ta ? a_rows : a_cols;
  plan.b_stride_k = tb ? b_cols : b_rows;
  plan.b_stride_n = tb ? b_rows : b_cols;
  plan.batch_rank = rank - 2;
  plan.batch_shape = shape.data();
  plan.a_batch_strides = a_strides.data();
  plan.b_batch_strides = b_strides.data();
  if constexpr (std::is_same_v<T, float>) {
    HWY_DYNAMIC_DISPATCH(MatmulKernelF32)(plan);
  } else {
    HWY_DYNAMIC_DISPATCH(MatmulKernelF64)(plan);
  }
}

std::vector<Tensor> MatmulForward(const KernelContext& ctx) {
  const Tensor& a = ctx.inputs[0];
  const Tensor& b = ctx.inputs[1];
  const bool ta = ctx.attrs.GetBool("transpose_a");
  const bool tb = ctx.attrs.GetBool("transpose_b");
  // The kernel writes every element (zeros when K = 0).
  Tensor y = Tensor::Uninitialized(ctx.outputs[0].shape, a.dtype());
  if (a.dtype() == DType::kFloat32) {
    RunMatmul<float>(a, b, ta, tb, y);
  } else {
    RunMatmul<double>(a, b, ta, tb, y);
  }
  return {y};
}

// Plain loops in double over ValueAt, with the batch index mapped into each
// operand numpy-style (a size-1 batch dimension repeats).
std::vector<Tensor> MatmulReference(absl::Span<const Tensor> in,
                                    const Attrs& attrs) {
  const Tensor& a = in[0];
  const Tensor& b = in[1];
  const bool ta = attrs.GetBool("transpose_a");
  const bool tb = attrs.GetBool("transpose_b");
  const int64_t k_size = MatrixDims(a.shape(), ta).second;
  Shape shape =
      ValueOrDie(BroadcastShapes(BatchShape(a.shape()), BatchShape(b.shape())));
  const int batch_rank = static_cast<int>(shape.size());
  shape.push_back(MatrixDims(a.shape(), ta).first);
  shape.push_back(MatrixDims(b.shape(), tb).second);
  std::vector<double> out(NumElements(shape));
  std::vector<int64_t> ia(a.dim()), ib(b.dim());
  for (size_t linear = 0; linear < out.size(); ++linear) {
    const std::vector<int64_t> index = UnravelIndex(linear, shape);
    for (int d = 0; d < a.dim() - 2; ++d) {
      ia[d] = a.shape()[d] == 1 ? 0 : index[batch_rank - (a.dim() - 2) + d];
    }
    for (int d = 0; d < b.dim() - 2; ++d) {
      ib[d] = b.shape()[d] == 1 ? 0 : index[batch_rank - (b.dim() - 2) + d];
    }
    const int64_t i = index[batch_rank];
    const int64_t j = index[batch_rank + 1];
    double sum = 0.0;
    for (int64_t k = 0; k < k_size; ++k) {
      ia[a.dim() - 2] = ta ? k : i;  // op(a)[i, k]
      ia[a.dim() - 1] = ta ? i : k;
      ib[b.dim() - 2] = tb ? j : k;  // op(b)[k, j]
      ib[b.dim() - 1] = tb ? k : j;
      sum += a.ValueAt(ia) * b.ValueAt(ib);
    }
    out[linear] = sum;
  }
  return {ConvertDType(Tensor::FromData(out, shape), a.dtype())};
}

OpSample MatmulSample(std::string label, const Shape& a, const Shape& b,
                      bool ta, bool tb, uint64_t seed) {
  return {std::move(label),
          {SampleUniform(a, -1, 1, seed), SampleUniform(b, -1, 1, seed + 1)},
          Attrs{{"transpose_a", ta}, {"transpose_b", tb}}};
}

}  // namespace

MG_REGISTER_OP(matmul) {
  OpDef def;
  def.name = "matmul";
  def.summary =
      "y[..., m, n] = sum_k op(a)[..., m, k] op(b)[..., k, n] "
      "(op transposes on request; batch dims broadcast)";
  def.inputs = {"a", "b"};
  def.attrs = {
      {"transpose_a", AttrType::kBool, AttrValue(false),
       "use a's last two dimensions transposed"},
      {"transpose_b", AttrType::kBool, AttrValue(false),
       "use b's last two dimensions transposed"},
  };
  def.infer = InferMatmul;
  def.forward = MatmulForward;
  // With Y = op(A) op(B), dop(A) = G op(B)^T and dop(B) = op(A)^T G; each
  // case is one matmul whose flags absorb the transposes, and the result
  // keeps G's batch shape for autograd to sum back to the operand's.
  def.backward = [](const GradContext& c) {
    const Tensor& a = c.input(0);
    const Tensor& b = c.input(1);
    const Tensor& g = c.grad_output(0);
    const bool ta = c.attrs.GetBool("transpose_a");
    const bool tb = c.attrs.GetBool("transpose_b");
    Tensor da, db;
    if (c.needs_input_grad[0]) {
      if (!ta) {
        // dA = G op(B)^T: G B^T, or G B when B is stored transposed.
        da = tb ? Matmul(g, b) : Matmul(g, b, false, true);
      } else {
        // dA = (G op(B)^T)^T = op(B) G^T: B G^T, or B^T G^T.
        da = tb ? Matmul(b, g, true, true) : Matmul(b, g, false, true);
      }
    }
    if (c.needs_input_grad[1]) {
      if (!tb) {
        // dB = op(A)^T G: A^T G, or A G when A is stored transposed.
        db = ta ? Matmul(a, g) : Matmul(a, g, true, false);
      } else {
        // dB = (op(A)^T G)^T = G^T op(A): G^T A, or G^T A^T.
        db = ta ? Matmul(g, a, true, true) : Matmul(g, a, true, false);
      }
    }
    return Grads{da, db};
  };
  def.reference = MatmulReference;
  // One multiply-add per (output element, k): 2 * numel(y) * K.
  def.flops = [](const FlopsContext& ctx) {
    const bool ta = ctx.attrs.GetBool("transpose_a");
    const int64_t k = MatrixDims(ctx.inputs[0].shape, ta).second;
    return SaturatingProduct({2, NumElements(ctx.outputs[0].shape), k});
  };
  def.samples = [] {
    return std::vector<OpSample>{
        MatmulSample("nn", {3, 4}, {4, 5}, false, false, 1),
        MatmulSample("nt", {3, 4}, {5, 4}, false, true, 3),
        MatmulSample("tn", {4, 3}, {4, 5}, true, false, 5),
        MatmulSample("tt", {4, 3}, {5, 4}, true, true, 7),
        MatmulSample("batched", {2, 3, 4}, {2, 4, 2}, false, false, 9),
        MatmulSample("broadcast_batch", {2, 1, 3, 4}, {3, 4, 5}, false, false,
                     11),
        MatmulSample("matrix_times_batch_nt", {3, 4}, {2, 5, 4}, false, true,
                     13),
        MatmulSample("one_by_one", {1, 1}, {1, 1}, false, false, 15),
        MatmulSample("odd_7x5x3", {7, 3}, {3, 5}, false, false, 17),
        MatmulSample("wide_tn", {3, 2}, {3, 19}, true, false, 19),
    };
  };
  return def;
}

}  // namespace minigraph

#endif  // HWY_ONCE
