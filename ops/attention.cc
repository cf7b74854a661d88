// Fused attention: kernel dispatch, the user API and the one definition of
// each op (flash_attention, flash_attention_backward).

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops/attention-inl.h"

#if HWY_ONCE

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "framework/thread_pool.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/nn.h"
#include "ops/op_helpers.h"
#include "ops/reduction.h"
#include "ops/shape_ops.h"

namespace minigraph {

HWY_EXPORT(FlashForwardF32);
HWY_EXPORT(FlashForwardF64);
HWY_EXPORT(FlashBackwardF32);
HWY_EXPORT(FlashBackwardF64);

// ---- user API ---------------------------------------------------------------

namespace {

Attrs AttentionAttrs(bool causal, double scale, int64_t block_size) {
  return {{"causal", causal}, {"scale", scale}, {"block_size", block_size}};
}

}  // namespace

Tensor FlashAttention(const Tensor& q, const Tensor& k, const Tensor& v,
                      bool causal, double scale, int64_t block_size) {
  return CallOpOrDie("flash_attention", {q, k, v},
                     AttentionAttrs(causal, scale, block_size));
}

FlashAttentionOutputs FlashAttentionWithLse(const Tensor& q, const Tensor& k,
                                            const Tensor& v, bool causal,
                                            double scale, int64_t block_size) {
  std::vector<Tensor> out = ValueOrDie(CallOp(
      "flash_attention", {q, k, v}, AttentionAttrs(causal, scale, block_size)));
  return {out[0], out[1]};
}

FlashAttentionGrads FlashAttentionBackward(const Tensor& q, const Tensor& k,
                                           const Tensor& v, const Tensor& y,
                                           const Tensor& lse, const Tensor& dy,
                                           const Tensor& dlse, bool causal,
                                           double scale, int64_t block_size) {
  std::vector<Tensor> out =
      ValueOrDie(CallOp("flash_attention_backward", {q, k, v, y, lse, dy, dlse},
                        AttentionAttrs(causal, scale, block_size)));
  return {out[0], out[1], out[2]};
}

namespace {

// ---- inference --------------------------------------------------------------

// Tiles larger than this buy nothing and would only inflate the per-task
// buffers.
constexpr int64_t kMaxBlock = 1024;

std::vector<AttrDef> AttentionAttrDefs() {
  return {
      {"causal", AttrType::kBool, AttrValue(true),
       "query i sees key j only when j <= i + (Tk - Tq)"},
      {"scale", AttrType::kFloat, std::nullopt,
       "multiplies q.k before the softmax (usually 1 / sqrt(head_dim))"},
      {"block_size", AttrType::kInt, AttrValue(kFlashAttentionBlock),
       "queries and keys per tile, 1 to 1024 (changes only rounding)"},
  };
}

absl::Status CheckRank4(const TensorMeta& meta, const char* name,
                        const char* layout) {
  MG_RETURN_IF_ERROR(CheckFloat(meta, name));
  if (meta.shape.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " must be ", layout, ", got ", ShapeToString(meta.shape)));
  }
  return absl::OkStatus();
}

absl::Status CheckSameDType(const TensorMeta& meta, const char* name,
                            DType dtype) {
  if (meta.dtype != dtype) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " is ", DTypeName(meta.dtype), " but q is ",
                     DTypeName(dtype), " (convert one with cast)"));
  }
  return absl::OkStatus();
}

absl::Status CheckShape(const TensorMeta& meta, const char* name,
                        const Shape& expected, const char* why) {
  if (meta.shape != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be ", ShapeToString(expected), " (", why,
                     "), got ", ShapeToString(meta.shape)));
  }
  return absl::OkStatus();
}

// Checks q, k, v (inputs 0 to 2) and the attributes; returns the sizes.
absl::StatusOr<AttentionDims> InferDims(const InferContext& ctx) {
  const TensorMeta& q = ctx.inputs[0];
  const TensorMeta& k = ctx.inputs[1];
  const TensorMeta& v = ctx.inputs[2];
  MG_RETURN_IF_ERROR(CheckRank4(q, "q", "[batch, q_heads, q_len, head_dim]"));
  MG_RETURN_IF_ERROR(CheckRank4(k, "k", "[batch, kv_heads, kv_len, head_dim]"));
  MG_RETURN_IF_ERROR(CheckSameDType(k, "k", q.dtype));
  MG_RETURN_IF_ERROR(CheckSameDType(v, "v", q.dtype));
  MG_RETURN_IF_ERROR(CheckShape(v, "v", k.shape, "the shape of k"));
  AttentionDims dims;
  dims.batch = q.shape[0];
  dims.q_heads = q.shape[1];
  dims.q_len = q.shape[2];
  dims.head_dim = q.shape[3];
  dims.kv_heads = k.shape[1];
  dims.kv_len = k.shape[2];
  dims.causal = ctx.attrs.GetBool("causal");
  dims.scale = ctx.attrs.GetFloat("scale");
  dims.block = ctx.attrs.GetInt("block_size");
  const std::string shapes = absl::StrCat("q ", ShapeToString(q.shape), ", k ",
                                          ShapeToString(k.shape));
  if (k.shape[0] != dims.batch || k.shape[3] != dims.head_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("q and k must agree in batch (dimension 0) and head_dim "
                     "(dimension 3): ",
                     shapes));
  }
  if (dims.head_dim == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("head_dim must be >= 1: ", shapes));
  }
  if (dims.kv_heads == 0 || dims.q_heads % dims.kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "q_heads (", dims.q_heads, ") must be a multiple of kv_heads (",
        dims.kv_heads, ") and kv_heads must be >= 1: ", shapes));
  }
  if (dims.q_len > 0 && dims.kv_len == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("k has no keys for ", dims.q_len, " queries: ", shapes));
  }
  if (dims.causal && dims.kv_len < dims.q_len) {
    return absl::InvalidArgumentError(absl::StrCat(
        "causal attention needs kv_len >= q_len (the diagonal is aligned to "
        "the last key, so the first ",
        dims.q_len - dims.kv_len, " queries would see no key): ", shapes));
  }
  if (!std::isfinite(dims.scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("scale must be finite, got ", dims.scale));
  }
  if (dims.block < 1 || dims.block > kMaxBlock) {
    return absl::InvalidArgumentError(absl::StrCat(
        "block_size must be in [1, ", kMaxBlock, "], got ", dims.block));
  }
  return dims;
}

// ---- dispatch ---------------------------------------------------------------

// Multiply-adds each thread must get before the work is split. Waking the
// sleeping pool costs about 10 us (see kGemmParallelMinMacs in
// matmul-inl.h); the fused forward kernel runs ~25 G multiply-adds/s on one
// thread (measured: ~50 GFLOP/s at 8 heads x 128 x 128 x 64), so 2^18 of them
// take about as long. Smaller problems run on the calling thread alone.
constexpr int64_t kAttentionMinMacsPerThread = int64_t{1} << 18;

// (query, key) pairs of one head that the mask leaves visible.
int64_t VisiblePairs(const AttentionDims& dims) {
  int64_t pairs = 0;
  for (int64_t i = 0; i < dims.q_len; ++i) pairs += dims.VisibleKeys(i);
  return pairs;
}

// Splits [0, tasks) into contiguous ranges, one per thread of the pool but
// none under kAttentionMinMacsPerThread of work, and calls fn(begin, end) for
// each. Tasks are independent (each writes its own outputs with the same
// operations whatever the split), so results do not depend on the thread
// count.
void ForEachTaskRange(const AttentionDims& dims, int64_t tasks,
                      int64_t macs_per_task,
                      absl::FunctionRef<void(int64_t, int64_t)> fn) {
  // Without queries or keys there is nothing to compute: the outputs keep
  // the zeros they were created with.
  if (dims.q_len == 0 || dims.kv_len == 0) return;
  const int64_t min_chunk =
      std::max<int64_t>(1, (kAttentionMinMacsPerThread + macs_per_task - 1) /
                               std::max<int64_t>(macs_per_task, 1));
  ParallelFor(tasks, min_chunk, fn);
}

template <typename T>
AttentionOperand<T> Operand(const Tensor& t) {
  AttentionOperand<T> op;
  op.data = t.data<T>();
  for (int i = 0; i < 4; ++i) op.strides[i] = t.strides()[i];
  return op;
}

template <typename T>
AttentionRowOperand<T> RowOperand(const Tensor& t) {
  AttentionRowOperand<T> op;
  op.data = t.data<T>();
  for (int i = 0; i < 3; ++i) op.strides[i] = t.strides()[i];
  return op;
}

template <typename T>
void RunForward(const AttentionDims& dims, const std::vector<Tensor>& in,
                Tensor& y, Tensor& lse) {
  AttentionForwardArgs<T> args;
  args.q = Operand<T>(in[0]);
  args.k = Operand<T>(in[1]);
  args.v = Operand<T>(in[2]);
  args.y = y.data<T>();
  args.lse = lse.data<T>();
  // A task is one (batch, query head): s = q k^T and p v, D multiply-adds
  // each per visible pair.
  const int64_t macs_per_task = 2 * dims.head_dim * VisiblePairs(dims);
  ForEachTaskRange(
      dims, dims.batch * dims.q_heads, macs_per_task,
      [&](int64_t begin, int64_t end) {
        if constexpr (std::is_same_v<T, float>) {
          HWY_DYNAMIC_DISPATCH(FlashForwardF32)(dims, args, begin, end);
        } else {
          HWY_DYNAMIC_DISPATCH(FlashForwardF64)(dims, args, begin, end);
        }
      });
}

template <typename T>
void RunBackward(const AttentionDims& dims, const std::vector<Tensor>& in,
                 Tensor& dq, Tensor& dk, Tensor& dv) {
  AttentionBackwardArgs<T> args;
  args.q = Operand<T>(in[0]);
  args.k = Operand<T>(in[1]);
  args.v = Operand<T>(in[2]);
  args.y = Operand<T>(in[3]);
  args.lse = RowOperand<T>(in[4]);
  args.dy = Operand<T>(in[5]);
  args.dlse = RowOperand<T>(in[6]);
  args.dq = dq.data<T>();
  args.dk = dk.data<T>();
  args.dv = dv.data<T>();
  // A task is one (batch, key/value head) with its group of query heads:
  // s, dv, dp = dy v^T, dq and dk, D multiply-adds each per visible pair.
  const int64_t macs_per_task =
      5 * dims.group() * dims.head_dim * VisiblePairs(dims);
  ForEachTaskRange(
      dims, dims.batch * dims.kv_heads, macs_per_task,
      [&](int64_t begin, int64_t end) {
        if constexpr (std::is_same_v<T, float>) {
          HWY_DYNAMIC_DISPATCH(FlashBackwardF32)(dims, args, begin, end);
        } else {
          HWY_DYNAMIC_DISPATCH(FlashBackwardF64)(dims, args, begin, end);
        }
      });
}

// The kernels write every element of every output when there are queries
// and keys; otherwise they do not run and the outputs stay zero.
Tensor NewOutput(const AttentionDims& dims, const TensorMeta& meta) {
  return dims.q_len > 0 && dims.kv_len > 0
             ? Tensor::Uninitialized(meta.shape, meta.dtype)
             : Tensor::Zeros(meta.shape, meta.dtype);
}

AttentionDims DimsOf(const std::vector<Tensor>& in, const Attrs& attrs) {
  AttentionDims dims;
  dims.batch = in[0].shape()[0];
  dims.q_heads = in[0].shape()[1];
  dims.q_len = in[0].shape()[2];
  dims.head_dim = in[0].shape()[3];
  dims.kv_heads = in[1].shape()[1];
  dims.kv_len = in[1].shape()[2];
  dims.causal = attrs.GetBool("causal");
  dims.scale = attrs.GetFloat("scale");
  dims.block = attrs.GetInt("block_size");
  return dims;
}

// Multiply-adds of the q k^T and P v products, 4 * B * Hq * D per
// (query, key) pair the mask lets through: Tq * Tk pairs, or
// Tq * Tk - Tq * (Tq - 1) / 2 when causal (about half; causal needs
// Tk >= Tq).
int64_t ForwardFlops(const FlopsContext& ctx) {
  const Shape& q = ctx.inputs[0].shape;
  const int64_t q_len = q[2];
  const int64_t kv_len = ctx.inputs[1].shape[2];
  int64_t pairs = SaturatingProduct({q_len, kv_len});
  if (ctx.attrs.GetBool("causal") &&
      pairs < std::numeric_limits<int64_t>::max()) {
    pairs -= q_len * (q_len - 1) / 2;
  }
  return SaturatingProduct({4, q[0], q[1], q[3], pairs});
}

}  // namespace

// ---- references, samples, second-order rule ---------------------------------
// Plain loops in double for the references; the rule of
// flash_attention_backward is composed of primitive registered ops so that
// it can be differentiated once more.

namespace {

// Sizes read from q [B, Hq, Tq, D] and k [B, Hkv, Tk, D].
struct Sizes {
  int64_t batch, q_heads, kv_heads, q_len, kv_len, head_dim;
  bool causal;
  double scale;

  int64_t group() const { return q_heads / kv_heads; }
  int64_t VisibleKeys(int64_t i) const {
    if (!causal) return kv_len;
    return std::clamp<int64_t>(i + kv_len - q_len + 1, 0, kv_len);
  }
};

Sizes SizesOf(const Tensor& q, const Tensor& k, const Attrs& attrs) {
  return {q.shape()[0],
          q.shape()[1],
          k.shape()[1],
          q.shape()[2],
          k.shape()[2],
          q.shape()[3],
          attrs.GetBool("causal"),
          attrs.GetFloat("scale")};
}

// Row-major float64 copies of [B, H, T, D] tensors, indexed by (b, h, t, x).
class Rows {
 public:
  explicit Rows(const Tensor& t)
      : values_(t.ToVector<double>()), shape_(t.shape()) {}
  const double* Row(int64_t b, int64_t h, int64_t t) const {
    return values_.data() + ((b * shape_[1] + h) * shape_[2] + t) * shape_[3];
  }
  double At(int64_t b, int64_t h, int64_t t) const {  // for [B, H, T]
    return values_[(b * shape_[1] + h) * shape_[2] + t];
  }

 private:
  std::vector<double> values_;
  Shape shape_;
};

double Dot(const double* a, const double* b, int64_t n) {
  double sum = 0.0;
  for (int64_t x = 0; x < n; ++x) sum += a[x] * b[x];
  return sum;
}

Tensor AsDType(const std::vector<double>& values, const Shape& shape,
               DType dtype) {
  return ConvertDType(Tensor::FromData(values, shape), dtype);
}

// [B, Hkv, T, D] -> [B, Hq, T, D], each key/value head repeated for the
// query heads of its group (a broadcast, then a copy into the new shape);
// autograd sums the gradient back over the group.
Tensor RepeatKv(const Tensor& x, int64_t group) {
  if (group == 1) return x;
  const Shape& s = x.shape();
  const Tensor once = Reshape(x, {s[0], s[1], 1, s[2], s[3]});
  return Reshape(Expand(once, {s[0], s[1], group, s[2], s[3]}),
                 {s[0], s[1] * group, s[2], s[3]});
}

// [B, Hq, T, D] -> [B, Hkv, T, D]: the sum over each group's query heads.
Tensor SumGroups(const Tensor& x, int64_t group) {
  if (group == 1) return x;
  const Shape& s = x.shape();
  return Sum(Reshape(x, {s[0], s[1] / group, group, s[2], s[3]}), {2});
}

// [B, H, T] -> [B, H, T, 1], to broadcast along keys or the head dimension.
Tensor PerRow(const Tensor& x) {
  const Shape& s = x.shape();
  return Reshape(x, {s[0], s[1], s[2], 1});
}

OpSample ForwardSample(std::string label, const Shape& q, const Shape& kv,
                       bool causal, double scale, int64_t block,
                       uint64_t seed) {
  Attrs attrs = {{"causal", causal}, {"scale", scale}};
  if (block > 0) attrs.Set("block_size", block);
  return {std::move(label),
          {SampleUniform(q, -1, 1, seed), SampleUniform(kv, -1, 1, seed + 1),
           SampleUniform(kv, -1, 1, seed + 2)},
          std::move(attrs)};
}


// ---- references -------------------------------------------------------------

// Per row i: s_j = scale q_i . k_j over the visible keys, lse_i =
// log sum_j e^(s_j), y_i = sum_j e^(s_j - lse_i) v_j.
std::vector<Tensor> AttentionForwardReference(absl::Span<const Tensor> in,
                                              const Attrs& attrs) {
  const Sizes n = SizesOf(in[0], in[1], attrs);
  const Rows q(in[0]), k(in[1]), v(in[2]);
  std::vector<double> y(in[0].numel()), lse(n.batch * n.q_heads * n.q_len);
  std::vector<double> scores(n.kv_len);
  for (int64_t b = 0; b < n.batch; ++b) {
    for (int64_t h = 0; h < n.q_heads; ++h) {
      const int64_t kv_h = h / n.group();
      for (int64_t i = 0; i < n.q_len; ++i) {
        const int64_t row = (b * n.q_heads + h) * n.q_len + i;
        const int64_t visible = n.VisibleKeys(i);
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < visible; ++j) {
          scores[j] =
              n.scale * Dot(q.Row(b, h, i), k.Row(b, kv_h, j), n.head_dim);
          max = std::max(max, scores[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < visible; ++j) sum += std::exp(scores[j] - max);
        lse[row] = max + std::log(sum);
        for (int64_t j = 0; j < visible; ++j) {
          const double p = std::exp(scores[j] - lse[row]);
          for (int64_t x = 0; x < n.head_dim; ++x) {
            y[row * n.head_dim + x] += p * v.Row(b, kv_h, j)[x];
          }
        }
      }
    }
  }
  const DType dtype = in[0].dtype();
  return {AsDType(y, in[0].shape(), dtype),
          AsDType(lse, {n.batch, n.q_heads, n.q_len}, dtype)};
}

// Per row i and visible key j: p = e^(scale q_i . k_j - lse_i),
// ds = p (dy_i . v_j - dy_i . y_i + dlse_i); dq_i += scale ds k_j,
// dk_j += scale ds q_i, dv_j += p dy_i.
std::vector<Tensor> AttentionBackwardReference(absl::Span<const Tensor> in,
                                               const Attrs& attrs) {
  const Sizes n = SizesOf(in[0], in[1], attrs);
  const Rows q(in[0]), k(in[1]), v(in[2]), y(in[3]), lse(in[4]), dy(in[5]),
      dlse(in[6]);
  std::vector<double> dq(in[0].numel()), dk(in[1].numel()), dv(in[2].numel());
  const int64_t dim = n.head_dim;
  for (int64_t b = 0; b < n.batch; ++b) {
    for (int64_t h = 0; h < n.q_heads; ++h) {
      const int64_t kv_h = h / n.group();
      for (int64_t i = 0; i < n.q_len; ++i) {
        const double* q_i = q.Row(b, h, i);
        const double* dy_i = dy.Row(b, h, i);
        const double delta = Dot(dy_i, y.Row(b, h, i), dim) - dlse.At(b, h, i);
        double* dq_i = dq.data() + ((b * n.q_heads + h) * n.q_len + i) * dim;
        for (int64_t j = 0; j < n.VisibleKeys(i); ++j) {
          const double* k_j = k.Row(b, kv_h, j);
          const double p =
              std::exp(n.scale * Dot(q_i, k_j, dim) - lse.At(b, h, i));
          const double ds = p * (Dot(dy_i, v.Row(b, kv_h, j), dim) - delta);
          const int64_t kv_row = ((b * n.kv_heads + kv_h) * n.kv_len + j) * dim;
          for (int64_t x = 0; x < dim; ++x) {
            dq_i[x] += n.scale * ds * k_j[x];
            dk[kv_row + x] += n.scale * ds * q_i[x];
            dv[kv_row + x] += p * dy_i[x];
          }
        }
      }
    }
  }
  const DType dtype = in[0].dtype();
  return {AsDType(dq, in[0].shape(), dtype), AsDType(dk, in[1].shape(), dtype),
          AsDType(dv, in[2].shape(), dtype)};
}

// ---- samples ----------------------------------------------------------------

// Small tiles (block_size 2 or 3) so that short sequences cross several
// tiles, with lengths that are not multiples of the tile; grouped, multi-head
// and multi-query layouts; a key cache (Tk > Tq, causal); a strided q.
std::vector<OpSample> AttentionForwardSamples() {
  std::vector<OpSample> samples = {
      ForwardSample("gqa_4_2_causal_tiles_of_3", {1, 4, 7, 3}, {1, 2, 7, 3},
                    true, 0.7, 3, 1),
      ForwardSample("mha_full_tiles_of_2", {2, 2, 5, 4}, {2, 2, 6, 4}, false,
                    0.5, 2, 11),
      ForwardSample("mqa_causal_kv_cache", {1, 3, 3, 2}, {1, 1, 7, 2}, true,
                    0.9, 2, 21),
      ForwardSample("one_default_tile", {1, 2, 5, 3}, {1, 1, 5, 3}, true, 0.6,
                    0, 31),
  };
  // q read through a permuted view of [B, Tq, Hq, D], as a model that
  // projects to [B, T, H, D] hands it over.
  OpSample strided = ForwardSample("strided_q_gqa_full", {1, 2, 4, 3},
                                   {1, 1, 5, 3}, false, 0.8, 3, 41);
  strided.inputs[0] = Transpose(SampleUniform({1, 4, 2, 3}, -1, 1, 41), 1, 2);
  samples.push_back(std::move(strided));
  return samples;
}

// The forward's shapes with y, dy and dlse uniform in [-1, 1] and lse in
// [0.5, 1.5]: the op is a function of all seven inputs, so they need not
// come from one forward pass.
std::vector<OpSample> AttentionBackwardSamples() {
  std::vector<OpSample> samples = AttentionForwardSamples();
  uint64_t seed = 100;
  for (OpSample& s : samples) {
    const Shape& q = s.inputs[0].shape();
    const Shape rows = {q[0], q[1], q[2]};
    s.inputs.push_back(SampleUniform(q, -1, 1, seed++));        // y
    s.inputs.push_back(SampleUniform(rows, 0.5, 1.5, seed++));  // lse
    s.inputs.push_back(SampleUniform(q, -1, 1, seed++));        // dy
    s.inputs.push_back(SampleUniform(rows, -1, 1, seed++));     // dlse
  }
  return samples;
}

// ---- second order -----------------------------------------------------------
//
// On repeated heads Ke, Ve (and cotangents Gk, Gv repeated alike), with
// S = s Q Ke^T + mask, P = exp(S - lse), dP = dY Ve^T,
// delta = rowsum(dY * Y) - dlse, dS = P * (dP - delta), the op computes
// dQ = s dS Ke, dKe = s dS^T Q, dVe = P^T dY. Its VJP for cotangents
// (Gq, Gke, Gve), term by term:
//   G_dS    = s (Gq Ke^T + Q Gke^T)
//   G_P     = dY Gve^T + G_dS * (dP - delta)
//   G_dP    = G_dS * P,    G_delta = -rowsum(G_dS * P)
//   G_S     = G_P * P,     G_lse = -rowsum(G_S)
//   G_Q     = s (dS Gke + G_S Ke)
//   G_Ke    = s (dS^T Gq + G_S^T Q),   G_Ve = G_dP^T dY
//   G_dY    = P Gve + G_dP Ve + G_delta * Y
//   G_Y     = G_delta * dY,  G_dlse = -G_delta
// and G_K, G_V sum G_Ke, G_Ve over each group. Masked entries have P = 0, so
// every masked term vanishes.
Grads FlashAttentionBackwardVjp(const GradContext& c) {
  const Tensor& q = c.input(0);
  const Tensor& y = c.input(3);
  const Tensor& dy = c.input(5);
  const Sizes n = SizesOf(q, c.input(1), c.attrs);
  const int64_t group = n.group();
  const double s = n.scale;
  const Tensor ke = RepeatKv(c.input(1), group);
  const Tensor ve = RepeatKv(c.input(2), group);
  const Tensor& gq = c.grad_output(0);
  const Tensor gke = RepeatKv(c.grad_output(1), group);
  const Tensor gve = RepeatKv(c.grad_output(2), group);

  Tensor scores = Matmul(q, ke, false, true) * s;
  if (n.causal) {
    scores =
        scores + CausalMask(n.q_len, n.kv_len, n.kv_len - n.q_len, q.dtype());
  }
  const Tensor p = Exp(scores - PerRow(c.input(4)));
  const Tensor dp = Matmul(dy, ve, false, true);
  const Tensor centered =
      dp - (Sum(dy * y, {-1}, true) - PerRow(c.input(6)));  // dP - delta
  const Tensor ds = p * centered;

  const Tensor g_ds =
      (Matmul(gq, ke, false, true) + Matmul(q, gke, false, true)) * s;
  const Tensor g_p = Matmul(dy, gve, false, true) + g_ds * centered;
  const Tensor g_dp = g_ds * p;
  const Tensor g_delta = -Sum(g_dp, {-1}, true);  // [B, Hq, Tq, 1]
  const Tensor g_scores = g_p * p;
  const Tensor g_lse = -Sum(g_scores, {-1});

  const Tensor g_q = (Matmul(ds, gke) + Matmul(g_scores, ke)) * s;
  const Tensor g_ke =
      (Matmul(ds, gq, true, false) + Matmul(g_scores, q, true, false)) * s;
  const Tensor g_ve = Matmul(g_dp, dy, true, false);
  const Tensor g_dy = Matmul(p, gve) + Matmul(g_dp, ve) + g_delta * y;
  const Tensor g_y = g_delta * dy;
  const Tensor g_dlse = -Reshape(g_delta, {n.batch, n.q_heads, n.q_len});
  return Grads{
      g_q,   SumGroups(g_ke, group), SumGroups(g_ve, group), g_y, g_lse, g_dy,
      g_dlse};
}

}  // namespace

// ---- flash_attention --------------------------------------------------------

MG_REGISTER_OP(flash_attention) {
  OpDef def;
  def.name = "flash_attention";
  def.summary =
      "y = softmax(scale q k^T + causal mask) v and its row log-sum-exp, "
      "tiled (GQA: q [B,Hq,Tq,D], k, v [B,Hkv,Tk,D])";
  def.inputs = {"q", "k", "v"};
  def.outputs = {"y", "lse"};
  def.attrs = AttentionAttrDefs();
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_ASSIGN_OR_RETURN(AttentionDims dims, InferDims(ctx));
    const DType dtype = ctx.inputs[0].dtype;
    return std::vector<TensorMeta>{
        {dtype, ctx.inputs[0].shape},
        {dtype, {dims.batch, dims.q_heads, dims.q_len}}};
  };
  def.forward = [](const KernelContext& ctx) {
    const std::vector<Tensor> in(ctx.inputs.begin(), ctx.inputs.end());
    const AttentionDims dims = DimsOf(in, ctx.attrs);
    Tensor y = NewOutput(dims, ctx.outputs[0]);
    Tensor lse = NewOutput(dims, ctx.outputs[1]);
    if (y.dtype() == DType::kFloat32) {
      RunForward<float>(dims, in, y, lse);
    } else {
      RunForward<double>(dims, in, y, lse);
    }
    return std::vector<Tensor>{y, lse};
  };
  // With P = softmax(S), S = scale q k^T + mask: dv = P^T dy,
  // dS = P * (dy v^T - rowsum(dy * y) + dlse), dq = scale dS k,
  // dk = scale dS^T q; all inside the fused backward op, which recomputes P
  // tile by tile from lse.
  def.backward = [](const GradContext& c) {
    const FlashAttentionGrads g = FlashAttentionBackward(
        c.input(0), c.input(1), c.input(2), c.output(0), c.output(1),
        c.grad_output(0), c.grad_output(1), c.attrs.GetBool("causal"),
        c.attrs.GetFloat("scale"), c.attrs.GetInt("block_size"));
    return Grads{g.dq, g.dk, g.dv};
  };
  def.reference = AttentionForwardReference;
  def.samples = AttentionForwardSamples;
  def.flops = ForwardFlops;
  return def;
}

// ---- flash_attention_backward -----------------------------------------------

MG_REGISTER_OP(flash_attention_backward) {
  OpDef def;
  def.name = "flash_attention_backward";
  def.summary =
      "dq, dk, dv of <dy, y> + <dlse, lse> for flash_attention, recomputing "
      "P = exp(scale q k^T - lse) tile by tile";
  def.inputs = {"q", "k", "v", "y", "lse", "dy", "dlse"};
  def.outputs = {"dq", "dk", "dv"};
  def.attrs = AttentionAttrDefs();
  def.infer =
      [](const InferContext& ctx) -> absl::StatusOr<std::vector<TensorMeta>> {
    MG_ASSIGN_OR_RETURN(AttentionDims dims, InferDims(ctx));
    const TensorMeta& q = ctx.inputs[0];
    const Shape rows = {dims.batch, dims.q_heads, dims.q_len};
    const char* const names[] = {"y", "lse", "dy", "dlse"};
    for (int i = 3; i < 7; ++i) {
      const TensorMeta& meta = ctx.inputs[i];
      MG_RETURN_IF_ERROR(CheckFloat(meta, names[i - 3]));
      MG_RETURN_IF_ERROR(CheckSameDType(meta, names[i - 3], q.dtype));
      const bool per_row = i == 4 || i == 6;
      MG_RETURN_IF_ERROR(
          CheckShape(meta, names[i - 3], per_row ? rows : q.shape,
                     per_row ? "[batch, q_heads, q_len], one per query row"
                             : "the shape of q"));
    }
    return std::vector<TensorMeta>{q, ctx.inputs[1], ctx.inputs[2]};
  };
  def.forward = [](const KernelContext& ctx) {
    const std::vector<Tensor> in(ctx.inputs.begin(), ctx.inputs.end());
    const AttentionDims dims = DimsOf(in, ctx.attrs);
    Tensor dq = NewOutput(dims, ctx.outputs[0]);
    Tensor dk = NewOutput(dims, ctx.outputs[1]);
    Tensor dv = NewOutput(dims, ctx.outputs[2]);
    if (dq.dtype() == DType::kFloat32) {
      RunBackward<float>(dims, in, dq, dk, dv);
    } else {
      RunBackward<double>(dims, in, dq, dk, dv);
    }
    return std::vector<Tensor>{dq, dk, dv};
  };
  // Second order: the vector-Jacobian product of (dq, dk, dv) with respect
  // to all seven inputs, y and lse treated as independent inputs (which they
  // are to this op; through flash_attention's rule they carry their own
  // dependence on q, k, v back to it). Written in primitive ops; the
  // formulas are above FlashAttentionBackwardVjp.
  def.backward = FlashAttentionBackwardVjp;
  def.reference = AttentionBackwardReference;
  def.samples = AttentionBackwardSamples;
  // Five products per pair where the forward has two (S = q k^T again,
  // dP = dy v^T, dv = P^T dy, dq = dS k, dk = dS^T q): 2.5x the forward.
  def.flops = [](const FlopsContext& ctx) {
    return SaturatingProduct({5, ForwardFlops(ctx) / 2});  // a multiple of 4
  };
  return def;
}

}  // namespace minigraph

#endif  // HWY_ONCE
