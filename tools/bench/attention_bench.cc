// Attention core benchmarks: the fused (flash) attention op against the same
// causal attention composed of primitive ops (matmul, causal mask, softmax,
// expand + reshape for the shared key/value heads), on MiniMind's shapes:
// 8 query heads, 2 key/value heads, head_dim 64, q, k and v already
// projected to [B, H, T, 64].
//
//   attention_core_fwd_*     forward only (no graph recorded)
//   attention_core_fwdbwd_*  forward, then gradients of <dy, y> for q, k, v
//   attention_core_peak_mib_t*  the most bytes of tensor storage (and
//                            fused-kernel scratch) alive at once during one
//                            forward + backward at B = 1, beyond the inputs
//
// GFLOP/s count useful work only, identically for both: per visible
// (query, key) pair, 4 D flops forward (q.k and p v) and 8 D backward (dv,
// dp, dq, dk). The fused backward's recomputation of q.k is not credited.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/autograd.h"
#include "framework/thread_pool.h"
#include "ops/all_ops.h"
#include "tools/bench/bench.h"

namespace minigraph::bench {
namespace {

constexpr int64_t kHeads = 8;
constexpr int64_t kKvHeads = 2;
constexpr int64_t kHeadDim = 64;

// [B, Hkv, T, D] -> [B, Hq, T, D] (repeat_kv as a broadcast and a copy).
Tensor RepeatKv(const Tensor& x, int64_t group) {
  const Shape& s = x.shape();
  return Reshape(Expand(Reshape(x, {s[0], s[1], 1, s[2], s[3]}),
                        {s[0], s[1], group, s[2], s[3]}),
                 {s[0], s[1] * group, s[2], s[3]});
}

Tensor ComposedCausalAttention(const Tensor& q, const Tensor& k,
                               const Tensor& v, double scale) {
  const int64_t group = q.shape()[1] / k.shape()[1];
  const int64_t t = q.shape()[2];
  const Tensor scores = Matmul(q, RepeatKv(k, group), false, true) * scale +
                        CausalMask(t, k.shape()[2], k.shape()[2] - t);
  return Matmul(Softmax(scores, -1), RepeatKv(v, group));
}

struct Problem {
  int64_t batch;
  int64_t len;
  std::string Suffix() const { return absl::StrCat("b", batch, "_t", len); }
  // Causal: query i sees i + 1 keys.
  double Pairs() const {
    return static_cast<double>(batch * kHeads) * len * (len + 1) / 2.0;
  }
};

struct Operands {
  Tensor q, k, v, dy;
};

Operands MakeOperands(const Problem& p, bool requires_grad) {
  Generator gen(2024);
  Operands o;
  o.q = Tensor::Randn({p.batch, kHeads, p.len, kHeadDim}, gen);
  o.k = Tensor::Randn({p.batch, kKvHeads, p.len, kHeadDim}, gen);
  o.v = Tensor::Randn({p.batch, kKvHeads, p.len, kHeadDim}, gen);
  o.dy = Tensor::Randn({p.batch, kHeads, p.len, kHeadDim}, gen);
  if (requires_grad) {
    o.q.set_requires_grad(true);
    o.k.set_requires_grad(true);
    o.v.set_requires_grad(true);
  }
  return o;
}

const double kScale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));

Tensor Fused(const Operands& o) {
  return FlashAttention(o.q, o.k, o.v, /*causal=*/true, kScale);
}
Tensor Composed(const Operands& o) {
  return ComposedCausalAttention(o.q, o.k, o.v, kScale);
}

// Gradients of <dy, attention(q, k, v)> for q, k, v.
void ForwardBackward(const Operands& o, Tensor (*attention)(const Operands&)) {
  const Tensor y = attention(o);
  MG_CHECK_OK(Gradients({y}, {o.q, o.k, o.v}, {o.dy}).status());
}

Record SpeedRecord(const std::string& name, double flops, double fused_s,
                   double composed_s) {
  const double fused_gflops = flops / fused_s * 1e-9;
  const double composed_gflops = flops / composed_s * 1e-9;
  const int threads = NumThreads();
  Record record = MakeRecord(
      name, fused_gflops, composed_gflops, "GFLOP/s", true, "composed",
      absl::StrFormat("%.2f ms vs %.2f ms; measured peak %.0f GFLOP/s on %d "
                      "threads",
                      fused_s * 1e3, composed_s * 1e3, PeakGflops(threads),
                      threads));
  record.pct_peak = PercentOfPeak(fused_gflops, threads);
  return record;
}


void RunAttentionCore(const Context& ctx, std::vector<Record>* records) {
  const std::vector<Problem> speed =
      ctx.quick ? std::vector<Problem>{{1, 128}}
                : std::vector<Problem>{{1, 128}, {1, 512}, {1, 2048}, {4, 512}};
  for (const Problem& p : speed) {
    const std::string fwd = "attention_core_fwd_" + p.Suffix();
    if (ctx.Wants(fwd)) {
      const Operands o = MakeOperands(p, false);
      NoGradGuard no_grad;
      const double fused = MedianSeconds([&] { Fused(o); });
      const double composed = MedianSeconds([&] { Composed(o); });
      records->push_back(
          SpeedRecord(fwd, 4.0 * kHeadDim * p.Pairs(), fused, composed));
    }
    const std::string fwdbwd = "attention_core_fwdbwd_" + p.Suffix();
    if (ctx.Wants(fwdbwd)) {
      const Operands o = MakeOperands(p, true);
      const double fused = MedianSeconds([&] { ForwardBackward(o, Fused); });
      const double composed =
          MedianSeconds([&] { ForwardBackward(o, Composed); });
      records->push_back(
          SpeedRecord(fwdbwd, 12.0 * kHeadDim * p.Pairs(), fused, composed));
    }
  }
  const std::vector<int64_t> memory_lengths =
      ctx.quick ? std::vector<int64_t>{256} : std::vector<int64_t>{2048, 4096};
  for (int64_t len : memory_lengths) {
    const Problem p = {1, len};
    const std::string name = absl::StrCat("attention_core_peak_mib_t", len);
    if (!ctx.Wants(name)) continue;
    const Operands o = MakeOperands(p, true);
    const double fused = PeakMiB([&] { ForwardBackward(o, Fused); });
    const double composed = PeakMiB([&] { ForwardBackward(o, Composed); });
    const double inputs_mib =
        static_cast<double>(o.q.numel() + o.k.numel() + o.v.numel()) * 4 /
        (1 << 20);
    records->push_back(MakeRecord(
        name, fused, composed, "MiB", false, "composed",
        absl::StrFormat(
            "q+k+v are %.1f MiB; one [B,H,T,T] f32 is %.0f MiB", inputs_mib,
            static_cast<double>(kHeads) * len * len * 4 / (1 << 20))));
  }
}

}  // namespace

MG_REGISTER_BENCH_GROUP(attention_core, RunAttentionCore);

}  // namespace minigraph::bench
