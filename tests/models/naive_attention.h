// An independent, deliberately plain implementation of MiniMind attention in
// double-precision loops, to test the op-composed module (and the CLI)
// against. It shares no code with models/: RoPE is written as a rotation of
// the pairs (x[i], x[i + d/2]), GQA as an index h / n_rep, the mask as a
// visibility test, the softmax over visible keys only. Rotation angles are
// float32, as in MiniMind's RoPE tables.
#ifndef MINIGRAPH_TESTS_MODELS_NAIVE_ATTENTION_H_
#define MINIGRAPH_TESTS_MODELS_NAIVE_ATTENTION_H_

#include <cstdint>
#include <vector>

namespace minigraph::testing {

struct NaiveAttentionSpec {
  int64_t batch = 1, seq = 1, hidden = 0, heads = 1, kv_heads = 1, head_dim = 0;
  double rope_theta = 1e6;
  int64_t start_pos = 0;
  // Row-major; weights [out, in] like torch.nn.Linear.
  std::vector<double> x;  // [batch, seq, hidden]
  std::vector<double> wq, wk, wv, wo;
  // Optional RMSNorm weights over head_dim on q and k (before RoPE).
  std::vector<double> q_norm, k_norm;
  double rms_eps = 1e-5;
  // Optional [batch, seq]: 1 attend, 0 padding.
  std::vector<double> mask;
};

struct NaiveAttentionResult {
  std::vector<double> y;        // [batch, seq, hidden]
  std::vector<double> weights;  // [batch, heads, seq, seq]
};

// Causal attention: query t sees keys j <= t that the mask keeps. A query
// with no visible key gets zero weights and a zero head output.
NaiveAttentionResult NaiveAttention(const NaiveAttentionSpec& spec);

// sum(grad_output * y) differentiated by central differences (step h) with
// respect to x (which = 0), wq, wk, wv, wo (1 to 4): an independent
// gradient for the CLI's --grad outputs.
std::vector<double> NaiveGradient(const NaiveAttentionSpec& spec,
                                  const std::vector<double>& grad_output,
                                  int which, double h = 1e-5);

}  // namespace minigraph::testing

#endif  // MINIGRAPH_TESTS_MODELS_NAIVE_ATTENTION_H_
