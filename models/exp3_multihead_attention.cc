// Experiment 3: multi-head attention, and the MHA / GQA / MQA trade-off.
//
//   ./bazelw run //models:exp3_multihead_attention
//
// Part 1: one head of width 64 against eight heads of width 8 on the same
// input: the same number of parameters, but eight attention patterns
// instead of one. Writes exp3_heads.svg (the weights of every head of a
// MiniMind-layout module with a causal mask).
// Part 2: MiniMind's sizes (hidden 512, 8 query heads of 64) with 8, 2 and 1
// key/value heads: parameter counts taken from the modules, KV-cache bytes
// per token measured from a cache after decoding, and a check that GQA is
// MHA with each key/value head shared by a group of query heads.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "models/attention.h"
#include "models/experiment_util.h"
#include "models/svg_heatmap.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

const DType kF64 = DType::kFloat64;

int64_t CountParameters(const Attention& attention) {
  int64_t count = 0;
  for (const auto& [name, tensor] : attention.NamedParameters()) {
    count += tensor.numel();
  }
  return count;
}

// Entropy in nats of each query row of weights [B, H, T, T], averaged over
// queries: how spread out each head looks.
std::vector<double> HeadEntropies(const Tensor& weights) {
  const Tensor clamped = Maximum(weights, FullLike(weights, 1e-300));
  const Tensor entropy = Neg(Sum(weights * Log(clamped), {-1}));  // [B, H, T]
  return Mean(entropy, {0, 2}).ToVector<double>();
}

// For each head, the key each query attends to most, as a string "0 0 1 ...".
std::string ArgmaxRow(const Tensor& weights, int64_t head) {
  const int64_t seq = weights.size(2);
  std::string out;
  for (int64_t t = 0; t < seq; ++t) {
    int64_t best = 0;
    for (int64_t j = 1; j < seq; ++j) {
      if (weights.At<double>({0, head, t, j}) >
          weights.At<double>({0, head, t, best})) {
        best = j;
      }
    }
    absl::StrAppend(&out, t == 0 ? "" : " ", best);
  }
  return out;
}

void SingleVersusMultiHead() {
  PrintSection("Part 1: one head of 64 against eight heads of 8");
  Generator generator(3);
  const int64_t seq = 8;
  const Tensor x = Tensor::Randn({1, seq, 64}, generator, kF64);
  struct Layout {
    const char* name;
    int64_t heads;
    int64_t kv_heads;
  };
  std::vector<HeatmapPanel> panels;
  for (const Layout& layout : {Layout{"single head (1 x 64)", 1, 1},
                               Layout{"multi-head (8 x 8)", 8, 8},
                               Layout{"MiniMind GQA (8 q, 2 kv)", 8, 2}}) {
    MiniMindConfig config;
    config.hidden_size = 64;
    config.num_attention_heads = layout.heads;
    config.num_key_value_heads = layout.kv_heads;
    config.rope_theta = 1e4;
    Generator init(11);
    const Attention attention =
        ValueOrDie(Attention::Create(config, init, kF64));
    AttentionOptions options;
    options.return_weights = true;
    const AttentionOutput out = ValueOrDie(attention.Forward(x, options));
    std::printf("%s: %lld parameters, output %s\n", layout.name,
                static_cast<long long>(CountParameters(attention)),
                ShapeToString(out.y.shape()).c_str());
    const std::vector<double> entropy = HeadEntropies(out.weights);
    for (int64_t h = 0; h < layout.heads; ++h) {
      std::printf(
          "  head %lld: mean entropy %.3f nats, strongest key per "
          "query: %s\n",
          static_cast<long long>(h), entropy[h],
          ArgmaxRow(out.weights, h).c_str());
    }
    std::printf("\n");
    if (layout.kv_heads == 2) {
      for (int64_t h = 0; h < layout.heads; ++h) {
        HeatmapPanel panel = PanelFromTensor(
            Reshape(Slice(Slice(out.weights, 0, 0, 1), 1, h, h + 1),
                    {seq, seq}),
            absl::StrCat("head ", h, " (kv ", h / 4, ")"));
        for (int r = 0; r < seq; ++r) {
          for (int c = 0; c < seq; ++c) panel.masked.push_back(c > r);
        }
        panels.push_back(panel);
      }
    }
  }
  std::printf(
      "One head and eight heads of 8 have the same parameter count (4 x 64 "
      "x 64), but\nthe eight heads each choose their own keys: every head "
      "mixes the sequence its own\nway, where one head has one pattern. GQA "
      "shares each K/V projection between 4\nquery heads, so its k_proj and "
      "v_proj are a quarter of the size.\n");
  const std::string path = OutputPath("exp3_heads.svg");
  MG_CHECK_OK(WriteTextFile(
      path, RenderHeatmapSvg(panels,
                             "exp3: the 8 heads of a GQA attention (2 KV "
                             "heads), causal",
                             4)));
  std::printf("\nwrote %s\n", path.c_str());
}

void MhaGqaMqa() {
  PrintSection("Part 2: MHA, GQA and MQA at MiniMind's sizes");
  const int64_t layers = 8;  // MiniMind's num_hidden_layers
  std::printf(
      "hidden 512, 8 query heads of head_dim 64. KV cache measured after "
      "decoding 16\ntokens in float32 (keys + values); float16 halves it. "
      "MiniMind has %lld layers.\n\n",
      static_cast<long long>(layers));
  std::printf(
      "| layout | n_kv | params (q,k,v,o) | formula (n_h + 2 n_kv) d h + h^2 "
      "| KV bytes/token/layer f32 | f16  | %lld layers f16 |\n"
      "|--------|------|------------------|---------------------------------"
      "-|--------------------------|------|--------------|\n",
      static_cast<long long>(layers));
  for (const auto& [name, kv_heads] :
       std::vector<std::pair<std::string, int64_t>>{
           {"MHA", 8}, {"GQA", 2}, {"MQA", 1}}) {
    MiniMindConfig config;
    config.num_key_value_heads = kv_heads;
    Generator generator(1);
    const Attention attention =
        ValueOrDie(Attention::Create(config, generator, DType::kFloat32));
    const int64_t formula =
        (8 + 2 * kv_heads) * 64 * 512 + 512 * 512;  // q, k, v in; o out
    KVCache cache;
    const int64_t tokens = 16;
    const Tensor x = Tensor::Randn({1, tokens, 512}, generator);
    {
      NoGradGuard no_grad;
      for (int64_t t = 0; t < tokens; ++t) {
        AttentionOptions options;
        options.cache = &cache;
        ValueOrDie(attention.Forward(Slice(x, 1, t, t + 1), options));
      }
    }
    const int64_t bytes_f32 =
        (cache.keys.numel() + cache.values.numel()) * 4 / tokens;
    std::printf(
        "| %-6s | %4lld | %16lld | %32lld | %24lld | %4lld | %12lld |\n",
        name.c_str(), static_cast<long long>(kv_heads),
        static_cast<long long>(CountParameters(attention)),
        static_cast<long long>(formula), static_cast<long long>(bytes_f32),
        static_cast<long long>(bytes_f32 / 2),
        static_cast<long long>(bytes_f32 / 2 * layers));
  }
  std::printf(
      "\nGQA with 2 KV heads keeps 8 query heads but stores a quarter of "
      "MHA's cache,\nMQA an eighth; the GQA paper reports quality close to "
      "MHA's at close to\nMQA's decoding speed.\n");

  // GQA is MHA whose key/value projections repeat each KV head's rows for
  // its group of query heads.
  MiniMindConfig gqa;
  gqa.hidden_size = 64;
  gqa.num_attention_heads = 8;
  gqa.num_key_value_heads = 2;
  Generator generator(5);
  const Attention grouped = ValueOrDie(Attention::Create(gqa, generator, kF64));
  AttentionWeights repeated = grouped.weights();
  // [2 * 8, 64] -> [2, 1, 8, 64] -> [2, 4, 8, 64] -> [8 * 8, 64].
  for (Tensor* w : {&repeated.k_proj, &repeated.v_proj}) {
    *w = Contiguous(Reshape(
        Expand(Reshape(w->Detach(), {2, 1, 8, 64}), {2, 4, 8, 64}), {64, 64}));
  }
  MiniMindConfig mha = gqa;
  mha.num_key_value_heads = 8;
  const Attention full = ValueOrDie(Attention::FromWeights(mha, repeated));
  const Tensor x = Tensor::Randn({2, 6, 64}, generator, kF64);
  std::printf(
      "\nGQA (8 q, 2 kv) vs MHA with each KV head's projection repeated 4 "
      "times:\nmax |difference| of the outputs = %.3e\n",
      MaxAbsDiff(grouped(x), full(x)));
}

int Run() {
  SingleVersusMultiHead();
  MhaGqaMqa();
  return 0;
}

}  // namespace
}  // namespace minigraph

int main() { return minigraph::Run(); }
