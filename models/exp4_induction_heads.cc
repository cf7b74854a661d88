// Experiment 4: a two-layer MiniMind learns to copy, and one of its heads
// becomes an induction head.
//
//   ./bazelw run //models:exp4_induction_heads
//
// Each sequence is L distinct random symbols followed by the same L symbols
// again (L differs from sequence to sequence, so no fixed offset gives the
// answer), then random filler. After the first repeated symbol the rest of
// the repeat can be predicted, but only by a model that finds where the
// current symbol occurred before and reads the symbol after it. One
// attention layer cannot do that; two can: a head in layer 0 copies each
// position's previous symbol into it, and a head in layer 1 attends from
// position t to position t - L + 1 (the "induction head"). The script trains
// until the copy accuracy on fresh sequences passes 99%, then writes
// exp4_induction_head.svg: the attention weights of the layer-1 head that
// looks back the most.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "framework/autograd.h"
#include "framework/optim/optim.h"
#include "framework/random.h"
#include "models/minimind_lm.h"
#include "models/svg_heatmap.h"
#include "ops/all_ops.h"

namespace minigraph {
namespace {

constexpr int64_t kSymbols = 16;     // ids 3 .. 18 (0..2 stay special)
constexpr int64_t kMinRepeat = 4;    // L is drawn from [4, 16]
constexpr int64_t kLength = 2 * kSymbols;
constexpr int64_t kBatch = 32;
constexpr int64_t kMaxSteps = 3000;

// [B, T] ids and labels that score only the predictable part: the repeat
// after its first symbol (labels[t] is predicted at position t - 1, HF's
// shift). repeat[b] is each row's L.
struct CopyBatch {
  Tensor ids, labels;
  std::vector<int64_t> repeat;
};
CopyBatch MakeBatch(Generator& generator, int64_t batch,
                    int64_t fixed_repeat = 0) {
  std::vector<int64_t> ids(batch * kLength), labels(ids.size(), -100);
  std::vector<int64_t> repeat(batch);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t* row = ids.data() + b * kLength;
    // Distinct symbols: a shuffled alphabet's first L.
    std::vector<int64_t> symbols(kSymbols);
    for (int64_t i = 0; i < kSymbols; ++i) symbols[i] = 3 + i;
    for (int64_t i = kSymbols - 1; i > 0; --i) {
      std::swap(symbols[i],
                symbols[static_cast<int64_t>(generator.NextUnit() * (i + 1))]);
    }
    const int64_t length =
        fixed_repeat > 0 ? fixed_repeat
                         : kMinRepeat + static_cast<int64_t>(
                                            generator.NextUnit() *
                                            (kSymbols - kMinRepeat + 1));
    repeat[b] = length;
    for (int64_t t = 0; t < kLength; ++t) {
      row[t] = t < 2 * length
                   ? symbols[t % length]
                   : 3 + static_cast<int64_t>(generator.NextUnit() * kSymbols);
    }
    for (int64_t t = length + 1; t < 2 * length; ++t) {
      labels[b * kLength + t] = row[t];
    }
  }
  return {Tensor::FromData(ids, {batch, kLength}),
          Tensor::FromData(labels, {batch, kLength}), repeat};
}

// Fraction of the predictable symbols predicted exactly (argmax).
double CopyAccuracy(const MiniMindForCausalLM& model, Generator& generator) {
  NoGradGuard no_grad;
  const CopyBatch batch = MakeBatch(generator, 256);
  const Tensor logits = ValueOrDie(model.Forward(batch.ids)).logits;
  const int64_t vocab = logits.size(2);
  const std::vector<float> values = logits.ToVector<float>();
  const std::vector<int64_t> labels = batch.labels.ToVector<int64_t>();
  int64_t right = 0, total = 0;
  for (int64_t b = 0; b < 256; ++b) {
    for (int64_t t = 0; t + 1 < kLength; ++t) {
      const int64_t label = labels[b * kLength + t + 1];
      if (label < 0) continue;
      const float* row = values.data() + (b * kLength + t) * vocab;
      right += std::max_element(row, row + vocab) - row == label;
      ++total;
    }
  }
  return static_cast<double>(right) / static_cast<double>(total);
}

int Main() {
  MiniMindConfig config;
  config.hidden_size = 64;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.num_hidden_layers = 2;
  config.intermediate_size = 192;
  config.vocab_size = 3 + kSymbols;
  config.max_position_embeddings = kLength;
  Generator init(1), data(2), held_out(3);
  MiniMindForCausalLM model = ValueOrDie(MiniMindForCausalLM::Create(config, init));
  std::unique_ptr<Optimizer> optimizer =
      MakeAdamW(model.NamedParameters(), AdamWOptions{});
  Schedule schedule{ScheduleKind::kCosine, 3e-3, 50, 3e-4, kMaxSteps};
  std::printf("A %ld-parameter, 2-layer MiniMind learns to repeat sequences "
              "of %ld to %ld distinct random symbols.\n\n",
              static_cast<long>(model.NumParameters()),
              static_cast<long>(kMinRepeat), static_cast<long>(kSymbols));

  const auto start = std::chrono::steady_clock::now();
  double accuracy = 0.0;
  int64_t step = 1;
  for (; step <= kMaxSteps; ++step) {
    const CopyBatch batch = MakeBatch(data, kBatch);
    LMOptions options;
    options.labels = batch.labels;
    const Tensor loss = ValueOrDie(model.Forward(batch.ids, options)).loss;
    MG_CHECK_OK(loss.Backward());
    ClipGradNorm(optimizer->parameters(), 1.0);
    MG_CHECK_OK(optimizer->Step(LearningRateAt(schedule, step)));
    optimizer->ZeroGrad();
    if (step % 50 == 0) {
      accuracy = CopyAccuracy(model, held_out);
      std::printf("step %4ld  loss %.4f  copy accuracy %.1f%%\n",
                  static_cast<long>(step), loss.item(), 100 * accuracy);
      if (accuracy > 0.99) break;
    }
  }
  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  std::printf("\n%s: %.1f%% of the repeated symbols right after %ld steps "
              "(%.0f s).\n",
              accuracy > 0.99 ? "learnt" : "not learnt", 100 * accuracy,
              static_cast<long>(std::min(step, kMaxSteps)), seconds);

  // Layer 1's attention weights on one fresh sequence.
  constexpr int64_t kShown = 10;
  const CopyBatch sample = MakeBatch(held_out, 1, kShown);
  const MiniMindModel& decoder = model.model();
  Tensor h = decoder.embed_tokens(sample.ids);
  h = ValueOrDie(decoder.layers[0].Forward(h));
  const MiniMindBlock& block = decoder.layers[1];
  AttentionOptions attention_options;
  attention_options.return_weights = true;
  attention_options.path = AttentionPath::kComposed;
  const Tensor weights =
      ValueOrDie(AttentionForward(config, block.self_attn.weights(),
                                  block.input_layernorm(h), attention_options))
          .weights;  // [1, heads, T, T]
  // The induction score of a head: its mean weight from t to t - L + 1.
  int64_t best_head = 0;
  double best_score = -1;
  for (int64_t head = 0; head < config.num_attention_heads; ++head) {
    double score = 0;
    for (int64_t t = kShown; t < 2 * kShown - 1; ++t) {
      score += weights.ValueAt({0, head, t, t - kShown + 1});
    }
    score /= kShown - 1;
    std::printf("layer 1 head %ld: mean weight from each repeated symbol to "
                "the one after its first occurrence = %.3f\n",
                static_cast<long>(head), score);
    if (score > best_score) best_score = score, best_head = head;
  }
  HeatmapPanel panel = PanelFromTensor(
      Reshape(Slice(weights, 1, best_head, best_head + 1),
              {kLength, kLength}),
      absl::StrCat("layer 1, head ", best_head, ": a repeat looks at the "
                   "symbol after its first occurrence"));
  // Each position labelled with its symbol, as a letter.
  const std::vector<int64_t> ids = sample.ids.ToVector<int64_t>();
  panel.row_labels.clear();
  panel.col_labels.clear();
  for (int64_t t = 0; t < kLength; ++t) {
    const std::string label(1, static_cast<char>('a' + ids[t] - 3));
    panel.row_labels.push_back(label);
    panel.col_labels.push_back(label);
  }
  panel.show_values = false;
  const std::string path = OutputPath("exp4_induction_head.svg");
  MG_CHECK_OK(WriteTextFile(
      path, RenderHeatmapSvg({panel}, "An induction head (L = 10)", 1)));
  std::printf("wrote %s (head %ld)\n", path.c_str(),
              static_cast<long>(best_head));
  return accuracy > 0.99 ? 0 : 1;
}

}  // namespace
}  // namespace minigraph

int main() { return minigraph::Main(); }
