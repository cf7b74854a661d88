// MiniMind Attention module benchmarks (hidden 512, 8 heads, 2 key/value
// heads, head_dim 64, RoPE, causal, no KV cache): the module on its fused
// path (the flash_attention op) against the same module on its composed path
// (matmul, causal mask, softmax, repeat_kv), same weights, same input.
//
//   attention_fwd_*     forward only (no graph recorded)
//   attention_fwdbwd_*  forward, then gradients of <dy, y> for x and the
//                       four projection weights
//   attention_peak_mib_* the most bytes of tensor storage alive during one
//                       forward + backward, fused against composed
//
// Times are medians in ms; the note gives the GFLOP/s of useful work
// (projections 2 T hidden (q + k + v + o widths) per batch row forward, twice
// that backward; the attention core as in attention_bench.cc).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/autograd.h"
#include "framework/thread_pool.h"
#include "models/attention.h"
#include "models/minimind_config.h"
#include "ops/all_ops.h"
#include "tools/bench/bench.h"

namespace minigraph::bench {
namespace {

struct ModuleProblem {
  int64_t batch;
  int64_t len;
  std::string Suffix() const { return absl::StrCat("b", batch, "_t", len); }
};

// Useful flops of one forward (backward: twice the projections, twice the
// core's forward).
double ModuleFlops(const MiniMindConfig& c, const ModuleProblem& p,
                   bool backward) {
  const double rows = static_cast<double>(p.batch * p.len);
  const double widths =
      static_cast<double>(c.num_attention_heads * c.HeadDim() * 2 +
                          c.num_key_value_heads * c.HeadDim() * 2);
  const double projections = 2.0 * rows * c.hidden_size * widths;
  const double pairs = static_cast<double>(p.batch * c.num_attention_heads) *
                       p.len * (p.len + 1) / 2.0;
  const double core = 4.0 * c.HeadDim() * pairs;
  return backward ? 3.0 * (projections + core) : projections + core;
}

Tensor RunModule(const Attention& module, const Tensor& x, AttentionPath path) {
  AttentionOptions options;
  options.path = path;
  absl::StatusOr<AttentionOutput> out = module.Forward(x, options);
  MG_CHECK_OK(out.status());
  return out->y;
}

void RunAttentionModule(const Context& ctx, std::vector<Record>* records) {
  const MiniMindConfig config;
  Generator gen(7);
  const Attention module =
      ValueOrDie(Attention::Create(config, gen, DType::kFloat32));
  std::vector<Tensor> params;
  for (const auto& [name, tensor] : module.NamedParameters()) {
    params.push_back(tensor);
  }
  const std::vector<ModuleProblem> problems =
      ctx.quick
          ? std::vector<ModuleProblem>{{1, 128}}
          : std::vector<ModuleProblem>{{1, 128}, {1, 512}, {1, 2048}, {4, 512}};
  const int threads = NumThreads();
  for (const ModuleProblem& p : problems) {
    Tensor x = Tensor::Randn({p.batch, p.len, config.hidden_size}, gen);
    const Tensor dy = Tensor::Randn(x.shape(), gen);
    for (bool backward : {false, true}) {
      const std::string name = absl::StrCat(
          backward ? "attention_fwdbwd_" : "attention_fwd_", p.Suffix());
      if (!ctx.Wants(name)) continue;
      auto run = [&](AttentionPath path) {
        if (!backward) {
          NoGradGuard no_grad;
          RunModule(module, x, path);
          return;
        }
        std::vector<Tensor> wrt = params;
        wrt.push_back(x);
        const Tensor y = RunModule(module, x, path);
        MG_CHECK_OK(Gradients({y}, wrt, {dy}).status());
      };
      x.set_requires_grad(backward);
      const double fused = MedianSeconds([&] { run(AttentionPath::kFused); });
      const double composed =
          MedianSeconds([&] { run(AttentionPath::kComposed); });
      const double flops = ModuleFlops(config, p, backward);
      Record record = MakeRecord(
          name, fused * 1e3, composed * 1e3, "ms", false, "composed",
          absl::StrFormat(
              "%.1f vs %.1f GFLOP/s; measured peak %.0f GFLOP/s on %d threads",
              flops / fused * 1e-9, flops / composed * 1e-9,
              PeakGflops(threads), threads));
      // Of the fused path's flop rate.
      record.pct_peak = PercentOfPeak(flops / fused * 1e-9, threads);
      records->push_back(std::move(record));
    }
  }

  // Peak tensor memory of one forward + backward of the whole module (the
  // inputs, weights and gradients of the weights included, as a training
  // step holds them): the composed path keeps [B, H, T, T] scores and
  // weights alive for the backward, the fused path only y and the
  // log-sum-exp.
  const std::vector<int64_t> memory_lengths =
      ctx.quick ? std::vector<int64_t>{256} : std::vector<int64_t>{2048, 4096};
  for (int64_t len : memory_lengths) {
    const std::string name = absl::StrCat("attention_peak_mib_t", len);
    if (!ctx.Wants(name)) continue;
    auto peak_mib = [&](AttentionPath path) {
      Tensor x = Tensor::Randn({1, len, config.hidden_size}, gen);
      x.set_requires_grad(true);
      return PeakMiB([&] {
        std::vector<Tensor> wrt = params;
        wrt.push_back(x);
        const Tensor y = RunModule(module, x, path);
        MG_CHECK_OK(Gradients({Sum(y)}, wrt).status());
      });
    };
    const double fused = peak_mib(AttentionPath::kFused);
    const double composed = peak_mib(AttentionPath::kComposed);
    records->push_back(MakeRecord(
        name, fused, composed, "MiB", false, "composed",
        absl::StrFormat("B1; one [B,H,T,T] f32 is %.0f MiB",
                        static_cast<double>(config.num_attention_heads) * len *
                            len * 4 / (1 << 20))));
  }
}

}  // namespace

MG_REGISTER_BENCH_GROUP(attention_module, RunAttentionModule);

}  // namespace minigraph::bench
