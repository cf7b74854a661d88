#include "tests/models/naive_minimind.h"

#include <algorithm>
#include <cmath>

#include "tests/models/naive_attention.h"

namespace minigraph::testing {
namespace {

// Every row of x [rows, d] scaled by 1 / sqrt(mean square + eps), times w.
std::vector<double> RmsRows(const std::vector<double>& x, int64_t d,
                            const std::vector<double>& w, double eps) {
  std::vector<double> out(x.size());
  for (size_t row = 0; row < x.size() / d; ++row) {
    double mean_square = 0.0;
    for (int64_t i = 0; i < d; ++i)
      mean_square += x[row * d + i] * x[row * d + i];
    mean_square /= static_cast<double>(d);
    const double inv = 1.0 / std::sqrt(mean_square + eps);
    for (int64_t i = 0; i < d; ++i) {
      out[row * d + i] = w[i] * (x[row * d + i] * inv);
    }
  }
  return out;
}

// out[row][o] = sum_i w[o][i] x[row][i] for w [out_dim, in_dim].
std::vector<double> LinearRows(const std::vector<double>& x, int64_t in_dim,
                               const std::vector<double>& w, int64_t out_dim) {
  const size_t rows = x.size() / in_dim;
  std::vector<double> out(rows * out_dim, 0.0);
  for (size_t row = 0; row < rows; ++row) {
    for (int64_t o = 0; o < out_dim; ++o) {
      double sum = 0.0;
      for (int64_t i = 0; i < in_dim; ++i) {
        sum += w[o * in_dim + i] * x[row * in_dim + i];
      }
      out[row * out_dim + o] = sum;
    }
  }
  return out;
}

}  // namespace

std::vector<double> NaiveBlock(const NaiveLMSpec& s, int64_t layer,
                               const std::vector<double>& x) {
  const NaiveLayer& w = s.layers[layer];
  const int64_t C = s.hidden, I = s.intermediate;
  NaiveAttentionSpec attention;
  attention.batch = s.batch;
  attention.seq = s.seq;
  attention.hidden = C;
  attention.heads = s.heads;
  attention.kv_heads = s.kv_heads;
  attention.head_dim = s.head_dim;
  attention.rope_theta = s.rope_theta;
  attention.rms_eps = s.eps;
  attention.x = RmsRows(x, C, w.input_norm, s.eps);
  attention.wq = w.wq;
  attention.wk = w.wk;
  attention.wv = w.wv;
  attention.wo = w.wo;
  attention.q_norm = w.q_norm;
  attention.k_norm = w.k_norm;
  attention.mask = s.mask;
  const std::vector<double> attended = NaiveAttention(attention).y;
  std::vector<double> h(x.size());
  for (size_t i = 0; i < x.size(); ++i) h[i] = x[i] + attended[i];

  const std::vector<double> normed = RmsRows(h, C, w.post_norm, s.eps);
  const std::vector<double> gate = LinearRows(normed, C, w.gate, I);
  const std::vector<double> up = LinearRows(normed, C, w.up, I);
  std::vector<double> act(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double silu = gate[i] / (1.0 + std::exp(-gate[i]));
    act[i] = silu * up[i];
  }
  const std::vector<double> down = LinearRows(act, I, w.down, C);
  for (size_t i = 0; i < h.size(); ++i) h[i] += down[i];
  return h;
}

NaiveLMResult NaiveLM(const NaiveLMSpec& s) {
  const int64_t B = s.batch, T = s.seq, C = s.hidden, V = s.vocab;
  std::vector<double> h(B * T * C);
  for (int64_t n = 0; n < B * T; ++n) {
    std::copy(s.embed.begin() + s.ids[n] * C,
              s.embed.begin() + (s.ids[n] + 1) * C, h.begin() + n * C);
  }
  for (size_t l = 0; l < s.layers.size(); ++l) h = NaiveBlock(s, l, h);
  h = RmsRows(h, C, s.final_norm, s.eps);
  NaiveLMResult result;
  result.logits = LinearRows(h, C, s.lm_head.empty() ? s.embed : s.lm_head, V);
  if (s.labels.empty()) return result;
  double total = 0.0;
  int64_t count = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t + 1 < T; ++t) {
      const int64_t target = s.labels[b * T + t + 1];
      if (target == -100) continue;
      const double* row = &result.logits[(b * T + t) * V];
      const double top = *std::max_element(row, row + V);
      double sum = 0.0;
      for (int64_t v = 0; v < V; ++v) sum += std::exp(row[v] - top);
      total += top + std::log(sum) - row[target];
      ++count;
    }
  }
  result.loss = total / static_cast<double>(count);
  return result;
}

}  // namespace minigraph::testing
