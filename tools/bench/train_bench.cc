// Training-step benchmarks: one whole optimizer step of MiniMind's causal LM
// (forward, HF's shifted cross-entropy, backward, gradient clipping, AdamW)
// on a fixed random batch, in tokens per second.
//
//   train_step_26m_b4_t512  the minimind2-small preset at batch 4, length 512
//   train_step_tiny         the tiny preset at batch 16, length 128
//
// The baseline is PyTorch running the same step (tools/parity/
// torch_train_step.py under /usr/bin/python3, 2 threads) in the same run,
// when torch is installed; the note gives GFLOP/s, page faults per step in
// steady state and peak tensor memory.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "framework/memory_stats.h"
#include "framework/optim/optim.h"
#include "framework/thread_pool.h"
#include "models/minimind_lm.h"
#include "ops/all_ops.h"
#include "tools/bench/bench.h"

namespace minigraph::bench {
namespace {

struct TrainCase {
  std::string name;
  std::string preset;
  int64_t batch, seq;
  int min_runs;
};

// Multiply-adds of one forward pass, counted twice: every projection and
// the head (2 x tokens x in x out), the attention core's QK^T and PV over
// the causal half (2 x 2 x B x H x pairs x d). Backward is twice forward.
double StepFlops(const MiniMindConfig& c, int64_t batch, int64_t seq) {
  const double tokens = static_cast<double>(batch * seq);
  const double d = static_cast<double>(c.HeadDim());
  const double q = c.num_attention_heads * d, kv = c.num_key_value_heads * d;
  const double hidden = static_cast<double>(c.hidden_size);
  const double per_layer =
      hidden * (q + 2 * kv) + q * hidden + 3 * hidden * c.intermediate_size;
  const double linear =
      2 * tokens * (per_layer * c.num_hidden_layers + hidden * c.vocab_size);
  const double pairs = static_cast<double>(batch) * c.num_attention_heads *
                       seq * (seq + 1) / 2.0;
  const double core = 4 * pairs * d * c.num_hidden_layers;
  return 3 * (linear + core);
}

// PyTorch's tokens/s for the same step, or NaN when torch or the script is
// not there. The script prints "tokens_per_s X" on its last line.
double TorchTokensPerSecond(const MiniMindConfig& c, const TrainCase& tc,
                            std::string* why) {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string script =
      absl::StrCat(workspace != nullptr ? workspace : ".",
                   "/tools/parity/torch_train_step.py");
  const std::string command = absl::StrFormat(
      "/usr/bin/python3 %s --hidden %d --layers %d --heads %d --kv-heads %d "
      "--vocab %d --intermediate %d --batch %d --seq %d --threads %d "
      "%s 2>&1",
      script, c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
      c.num_key_value_heads, c.vocab_size, c.intermediate_size, tc.batch,
      tc.seq, NumThreads(), c.qk_norm ? "--qk-norm" : "");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *why = "cannot start python3";
    return kNotANumber;
  }
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  const size_t at = output.rfind("tokens_per_s ");
  double value = kNotANumber;
  if (status != 0 || at == std::string::npos ||
      !absl::SimpleAtod(absl::StripAsciiWhitespace(
                            absl::string_view(output).substr(at + 13)),
                        &value)) {
    *why = "pytorch baseline unavailable (python3-torch not installed?)";
    return kNotANumber;
  }
  *why = "pytorch 1.13";
  return value;
}

void RunTrainGroup(const Context& ctx, std::vector<Record>* records) {
  const std::vector<TrainCase> cases = {
      {"train_step_tiny", "tiny", 16, 128, 5},
      {"train_step_26m_b4_t512", "minimind2-small", 4, 512, 3},
  };
  const int threads = NumThreads();
  for (const TrainCase& tc : cases) {
    if (!ctx.Wants(tc.name)) continue;
    if (ctx.quick && tc.preset != "tiny") continue;
    const MiniMindConfig config = ValueOrDie(PresetConfig(tc.preset));
    Generator generator(5);
    MiniMindForCausalLM model =
        ValueOrDie(MiniMindForCausalLM::Create(config, generator));
    model.SetTraining(true);
    std::unique_ptr<Optimizer> optimizer =
        MakeAdamW(model.NamedParameters(), AdamWOptions{});
    std::vector<int64_t> ids(tc.batch * tc.seq);
    for (int64_t& id : ids) {
      id = static_cast<int64_t>(generator.NextUnit() * config.vocab_size);
    }
    const Tensor input_ids = Tensor::FromData(ids, {tc.batch, tc.seq});
    auto step = [&] {
      LMOptions options;
      options.labels = input_ids;
      const Tensor loss = ValueOrDie(model.Forward(input_ids, options)).loss;
      MG_CHECK_OK(loss.Backward());
      ClipGradNorm(optimizer->parameters(), 1.0);
      MG_CHECK_OK(optimizer->Step(1e-4));
      optimizer->ZeroGrad();
    };
    // Two warm-up steps: the first creates the optimizer's state, the
    // second still fills the allocator's cache for the sizes the first
    // step's state pushed out; from the third on no page is touched fresh.
    step();
    step();
    const int64_t faults_before = MinorPageFaults();
    int runs = 0;
    const double seconds = MedianSeconds(
        [&] {
          step();
          ++runs;
        },
        tc.min_runs, ctx.quick ? 0.05 : 1.0);
    const double faults_per_step =
        static_cast<double>(MinorPageFaults() - faults_before) / runs;
    const double peak = PeakMiB(step);
    const double tokens_per_s = static_cast<double>(tc.batch * tc.seq) / seconds;
    const double gflops = StepFlops(config, tc.batch, tc.seq) / seconds * 1e-9;
    std::string baseline_name;
    const double torch = ctx.quick ? kNotANumber
                                   : TorchTokensPerSecond(config, tc,
                                                          &baseline_name);
    if (ctx.quick) baseline_name = "pytorch (skipped in --quick)";
    Record record = MakeRecord(
        tc.name, tokens_per_s, torch, "tok/s", true, baseline_name,
        absl::StrFormat("%.1f GFLOP/s of %.0f peak on %d threads; %.1f page "
                        "faults/step; peak %.0f MiB; %.0f ms/step",
                        gflops, PeakGflops(threads), threads, faults_per_step,
                        peak, seconds * 1e3));
    record.pct_peak = PercentOfPeak(gflops, threads);
    records->push_back(std::move(record));
  }
}

MG_REGISTER_BENCH_GROUP(train, RunTrainGroup);

}  // namespace
}  // namespace minigraph::bench
