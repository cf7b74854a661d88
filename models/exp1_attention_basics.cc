// Experiment 1: scaled dot-product attention step by step, and why
// attention needs positions.
//
//   ./bazelw run //models:exp1_attention_basics
//
// Part 1 computes Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V on four
// tokens, printing every intermediate, then again with a causal mask.
// Part 2 shows permutation equivariance numerically: without positions,
// permuting the input tokens permutes the outputs in the same way (attention
// sees a set, not a sequence); with RoPE on q and k it no longer does.
// Writes exp1_attention_weights.svg (the weights, with and without the
// causal mask) to the directory it was run from.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "framework/op_registry.h"
#include "models/experiment_util.h"
#include "models/rotary.h"
#include "models/svg_heatmap.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

const DType kF64 = DType::kFloat64;

// Single-head self-attention of x [T, d] with projections [d, d]; RoPE on q
// and k at positions 0..T-1 when `rope`; a causal mask when `causal`.
Tensor SelfAttention(const Tensor& x, const Tensor& w_q, const Tensor& w_k,
                     const Tensor& w_v, bool rope, bool causal) {
  const int64_t seq = x.size(0), dim = x.size(1);
  Tensor q = Matmul(x, w_q, false, true);
  Tensor k = Matmul(x, w_k, false, true);
  const Tensor v = Matmul(x, w_v, false, true);
  if (rope) {
    // ApplyRotary works on [B, T, heads, d]. A small base (10) makes both
    // pairs of a 4-d head rotate visibly over four positions.
    const RotaryTables tables = MakeRotaryTables(dim, 10.0, 0, seq, kF64);
    q = Reshape(ApplyRotary(Reshape(q, {1, seq, 1, dim}), tables), {seq, dim});
    k = Reshape(ApplyRotary(Reshape(k, {1, seq, 1, dim}), tables), {seq, dim});
  }
  Tensor scores = Matmul(q, k, false, true) / std::sqrt(double(dim));
  if (causal) scores = scores + CausalMask(seq, seq, 0, kF64);
  return Matmul(Softmax(scores, -1), v);
}

int Run() {
  const std::vector<std::string> tokens = {"I", "love", "deep", "learning"};
  // Four tokens with hand-made 4-d embeddings.
  const Tensor x = Tensor::FromData<double>({1.0, 0.0, 1.0, 0.0,   //
                                             0.0, 2.0, 0.0, 1.0,   //
                                             1.0, 1.0, 0.0, 0.0,   //
                                             0.0, 1.0, 1.0, 1.0},  //
                                            {4, 4});
  Generator generator(7);
  const Tensor w_q = Tensor::Randn({4, 4}, generator, kF64) * 0.5;
  const Tensor w_k = Tensor::Randn({4, 4}, generator, kF64) * 0.5;
  const Tensor w_v = Tensor::Randn({4, 4}, generator, kF64) * 0.5;
  const std::vector<std::string> dims = {"d0", "d1", "d2", "d3"};

  PrintSection("Part 1: scaled dot-product attention, step by step");
  PrintMatrix("X (token embeddings)", x, tokens, dims);
  const Tensor q = Matmul(x, w_q, false, true);
  const Tensor k = Matmul(x, w_k, false, true);
  const Tensor v = Matmul(x, w_v, false, true);
  PrintMatrix("Q = X W_q^T  (what each token looks for)", q, tokens, dims);
  PrintMatrix("K = X W_k^T  (what each token offers)", k, tokens, dims);
  PrintMatrix("V = X W_v^T  (what each token returns)", v, tokens, dims);
  const double d_k = 4.0;
  const Tensor scores = Matmul(q, k, false, true) / std::sqrt(d_k);
  PrintMatrix("scores = Q K^T / sqrt(d_k), d_k = 4  (row: query, col: key)",
              scores, tokens, tokens);
  const Tensor weights = Softmax(scores, -1);
  PrintMatrix("weights = softmax(scores) over each row", weights, tokens,
              tokens);
  const std::vector<double> row_sums = Sum(weights, {-1}).ToVector<double>();
  std::printf("row sums of the weights: %.6f %.6f %.6f %.6f\n\n", row_sums[0],
              row_sums[1], row_sums[2], row_sums[3]);
  PrintMatrix("output = weights V  (each row: a weighted mix of V's rows)",
              Matmul(weights, v), tokens, dims);

  const Tensor causal_scores = scores + CausalMask(4, 4, 0, kF64);
  PrintMatrix("causal: scores + mask (-inf where the key comes later)",
              causal_scores, tokens, tokens);
  const Tensor causal_weights = Softmax(causal_scores, -1);
  PrintMatrix("causal weights (zeros above the diagonal)", causal_weights,
              tokens, tokens);
  PrintMatrix("causal output", Matmul(causal_weights, v), tokens, dims);

  PrintSection("Part 2: permutation invariance");
  // P X reorders the tokens: row i of P X is row perm[i] of X.
  const std::vector<int64_t> perm = {2, 0, 3, 1};
  std::vector<double> p(16, 0.0);
  for (int i = 0; i < 4; ++i) p[i * 4 + perm[i]] = 1.0;
  const Tensor permute = Tensor::FromData(p, {4, 4});
  std::printf("permutation: new order = (%s, %s, %s, %s)\n\n",
              tokens[perm[0]].c_str(), tokens[perm[1]].c_str(),
              tokens[perm[2]].c_str(), tokens[perm[3]].c_str());
  struct Case {
    const char* name;
    bool rope;
  };
  for (const Case& c : {Case{"no positions", false}, Case{"with RoPE", true}}) {
    const Tensor out = SelfAttention(x, w_q, w_k, w_v, c.rope, false);
    const Tensor out_of_permuted =
        SelfAttention(Matmul(permute, x), w_q, w_k, w_v, c.rope, false);
    const double diff = MaxAbsDiff(out_of_permuted, Matmul(permute, out));
    std::printf("%-13s max |attn(P X) - P attn(X)| = %.3e  -> %s\n", c.name,
                diff,
                diff < 1e-12 ? "outputs are just permuted: word order is "
                               "invisible"
                             : "outputs change: the order matters");
  }
  std::printf(
      "\nWithout positions, attention treats the input as a set: \"dog bites "
      "man\" and\n\"man bites dog\" give the same outputs, reordered. RoPE "
      "rotates q and k by\nposition, so scores depend on relative position "
      "and the symmetry is broken.\n");

  const std::string path = OutputPath("exp1_attention_weights.svg");
  HeatmapPanel bidirectional = PanelFromTensor(weights, "bidirectional");
  bidirectional.row_labels = bidirectional.col_labels = tokens;
  HeatmapPanel causal = PanelFromTensor(causal_weights, "causal mask");
  causal.row_labels = causal.col_labels = tokens;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) causal.masked.push_back(c > r);
  }
  MG_CHECK_OK(WriteTextFile(
      path,
      RenderHeatmapSvg({bidirectional, causal},
                       "exp1: attention weights (row: query, col: key)", 2)));
  std::printf("\nwrote %s\n", path.c_str());
  return 0;
}

}  // namespace
}  // namespace minigraph

int main() { return minigraph::Run(); }
