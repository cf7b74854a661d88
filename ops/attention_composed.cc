#include "ops/attention_composed.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/nn.h"
#include "ops/op_helpers.h"
#include "ops/reduction.h"
#include "ops/shape_ops.h"

namespace minigraph {
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

}  // namespace

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

}  // namespace minigraph
