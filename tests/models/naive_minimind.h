// An independent, deliberately plain MiniMind causal LM in double-precision
// loops, to test the op-composed model against. It shares no code with
// models/: the embedding is a row copy, RMSNorm and SwiGLU are loops, the
// attention is NaiveAttention (naive_attention.h), the loss a log-sum-exp
// per scored position.
#ifndef MINIGRAPH_TESTS_MODELS_NAIVE_MINIMIND_H_
#define MINIGRAPH_TESTS_MODELS_NAIVE_MINIMIND_H_

#include <cstdint>
#include <vector>

namespace minigraph::testing {

// Row-major; projections [out, in] like torch.nn.Linear.
struct NaiveLayer {
  std::vector<double> wq, wk, wv, wo;
  std::vector<double> q_norm, k_norm;  // empty without qk_norm
  std::vector<double> input_norm, post_norm;
  std::vector<double> gate, up, down;  // [I, C], [I, C], [C, I]
};

struct NaiveLMSpec {
  int64_t batch = 1, seq = 1, hidden = 0, heads = 1, kv_heads = 1, head_dim = 0,
          intermediate = 0, vocab = 0;
  double rope_theta = 1e6;
  double eps = 1e-5;
  std::vector<int64_t> ids;   // [batch, seq]
  std::vector<double> embed;  // [vocab, hidden]
  std::vector<NaiveLayer> layers;
  std::vector<double> final_norm;  // [hidden]
  std::vector<double> lm_head;     // [vocab, hidden]; empty: tied to embed
  std::vector<int64_t> labels;     // [batch, seq]; empty: no loss
  std::vector<double> mask;        // [batch, seq]; empty: no padding
};

struct NaiveLMResult {
  std::vector<double> logits;  // [batch, seq, vocab]
  // mean over t < seq - 1 with labels[t + 1] != -100 of
  // logsumexp(logits[t]) - logits[t][labels[t + 1]].
  double loss = 0.0;
};

// One decoder layer: h = x + attn(rms(x)); h + down(silu(gate(rms(h))) *
// up(rms(h))). x and the result are [batch, seq, hidden].
std::vector<double> NaiveBlock(const NaiveLMSpec& spec, int64_t layer,
                               const std::vector<double>& x);

NaiveLMResult NaiveLM(const NaiveLMSpec& spec);

}  // namespace minigraph::testing

#endif  // MINIGRAPH_TESTS_MODELS_NAIVE_MINIMIND_H_
