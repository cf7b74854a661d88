#include "tests/models/naive_attention.h"

#include <algorithm>
#include <cmath>

namespace minigraph::testing {
namespace {

// out[o] = sum_i w[o][i] in[i] for w [rows, cols].
std::vector<double> Linear(const std::vector<double>& w, int64_t rows,
                           int64_t cols, const double* in) {
  std::vector<double> out(rows, 0.0);
  for (int64_t o = 0; o < rows; ++o) {
    for (int64_t i = 0; i < cols; ++i) out[o] += w[o * cols + i] * in[i];
  }
  return out;
}

void RmsNormInPlace(double* v, int64_t d, const std::vector<double>& weight,
                    double eps) {
  double mean_square = 0.0;
  for (int64_t i = 0; i < d; ++i) mean_square += v[i] * v[i];
  mean_square /= static_cast<double>(d);
  const double inv = 1.0 / std::sqrt(mean_square + eps);
  for (int64_t i = 0; i < d; ++i) v[i] = v[i] * inv * weight[i];
}

// Rotates each pair (v[i], v[i + d/2]) by pos * theta^(-2i/d), with the
// angle, its cosine and its sine rounded to float32 as in MiniMind's
// float32 tables (whatever the model's dtype).
void RotateInPlace(double* v, int64_t d, double position, double theta) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(d);
    const float frequency =
        1.0f / static_cast<float>(std::pow(theta, exponent));
    const float angle = static_cast<float>(position) * frequency;
    const double c = static_cast<float>(std::cos(static_cast<double>(angle)));
    const double s = static_cast<float>(std::sin(static_cast<double>(angle)));
    const double a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
  }
}

}  // namespace

NaiveAttentionResult NaiveAttention(const NaiveAttentionSpec& s) {
  const int64_t B = s.batch, T = s.seq, C = s.hidden, H = s.heads,
                KV = s.kv_heads, D = s.head_dim;
  const int64_t n_rep = H / KV;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  NaiveAttentionResult result;
  result.y.assign(B * T * C, 0.0);
  result.weights.assign(B * H * T * T, 0.0);
  for (int64_t b = 0; b < B; ++b) {
    // Per position: q [H * D], k and v [KV * D].
    std::vector<std::vector<double>> q(T), k(T), v(T);
    for (int64_t t = 0; t < T; ++t) {
      const double* xt = &s.x[(b * T + t) * C];
      q[t] = Linear(s.wq, H * D, C, xt);
      k[t] = Linear(s.wk, KV * D, C, xt);
      v[t] = Linear(s.wv, KV * D, C, xt);
      const double position = static_cast<double>(s.start_pos + t);
      for (int64_t h = 0; h < H; ++h) {
        if (!s.q_norm.empty()) {
          RmsNormInPlace(&q[t][h * D], D, s.q_norm, s.rms_eps);
        }
        RotateInPlace(&q[t][h * D], D, position, s.rope_theta);
      }
      for (int64_t h = 0; h < KV; ++h) {
        if (!s.k_norm.empty()) {
          RmsNormInPlace(&k[t][h * D], D, s.k_norm, s.rms_eps);
        }
        RotateInPlace(&k[t][h * D], D, position, s.rope_theta);
      }
    }
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> merged(H * D, 0.0);
      for (int64_t h = 0; h < H; ++h) {
        const int64_t g = h / n_rep;  // the KV head this query head reads
        std::vector<double> score(T, 0.0);
        std::vector<bool> visible(T, false);
        double max_score = -INFINITY;
        for (int64_t j = 0; j <= t; ++j) {
          if (!s.mask.empty() && s.mask[b * T + j] == 0.0) continue;
          visible[j] = true;
          double dot = 0.0;
          for (int64_t i = 0; i < D; ++i) {
            dot += q[t][h * D + i] * k[j][g * D + i];
          }
          score[j] = dot * scale;
          max_score = std::max(max_score, score[j]);
        }
        double total = 0.0;
        for (int64_t j = 0; j < T; ++j) {
          if (visible[j]) total += std::exp(score[j] - max_score);
        }
        for (int64_t j = 0; j < T; ++j) {
          if (!visible[j]) continue;
          const double p = std::exp(score[j] - max_score) / total;
          result.weights[((b * H + h) * T + t) * T + j] = p;
          for (int64_t i = 0; i < D; ++i) {
            merged[h * D + i] += p * v[j][g * D + i];
          }
        }
      }
      const std::vector<double> out = Linear(s.wo, C, H * D, merged.data());
      for (int64_t c = 0; c < C; ++c) result.y[(b * T + t) * C + c] = out[c];
    }
  }
  return result;
}

std::vector<double> NaiveGradient(const NaiveAttentionSpec& spec,
                                  const std::vector<double>& grad_output,
                                  int which, double h) {
  NaiveAttentionSpec probe = spec;
  std::vector<double>* target[] = {&probe.x, &probe.wq, &probe.wk, &probe.wv,
                                   &probe.wo};
  std::vector<double>& values = *target[which];
  auto objective = [&] {
    const std::vector<double> y = NaiveAttention(probe).y;
    double sum = 0.0;
    for (size_t i = 0; i < y.size(); ++i) sum += grad_output[i] * y[i];
    return sum;
  };
  std::vector<double> grad(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double saved = values[i];
    values[i] = saved + h;
    const double up = objective();
    values[i] = saved - h;
    const double down = objective();
    values[i] = saved;
    grad[i] = (up - down) / (2.0 * h);
  }
  return grad;
}

}  // namespace minigraph::testing
