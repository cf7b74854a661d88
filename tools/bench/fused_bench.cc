// Fused training ops against the same math composed of primitive ops, on
// MiniMind2-small's shapes (batch 4, sequence 512, hidden 512, intermediate
// 1408, vocabulary 6400), forward + backward (gradients of <dy, y> for every
// float input), at each thread count of the run:
//
//   fused_rms_norm_fwdbwd_t*       rms_norm on [4, 512, 512] vs
//                                  w * (x * rsqrt(mean(x^2, -1) + eps))
//   fused_swiglu_fwdbwd_t*         swiglu on [4, 512, 1408] vs silu(g) * u
//   fused_cross_entropy_fwdbwd_t*  cross_entropy (mean) on [2048, 6400] vs
//                                  -sum(log_softmax(x) * one_hot) / count
//   fused_cross_entropy_ns_per_logit_t1  the fused forward and backward
//                                  alone, per logit (the threading
//                                  threshold's measurement)
//
// Times are medians in ms; the ratio is composed / fused.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/autograd.h"
#include "framework/random.h"
#include "framework/thread_pool.h"
#include "ops/all_ops.h"
#include "tools/bench/bench.h"

namespace minigraph::bench {
namespace {

constexpr int64_t kBatch = 4;
constexpr int64_t kSeq = 512;
constexpr int64_t kTokens = kBatch * kSeq;
constexpr int64_t kHidden = 512;
constexpr int64_t kIntermediate = 1408;
constexpr int64_t kVocab = 6400;

Tensor RandomTargets(int64_t n, int64_t classes, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> values(n);
  for (int64_t& v : values) v = static_cast<int64_t>(gen.NextBits() % classes);
  return Tensor::FromData<int64_t>(values, {n});
}

// The loss as a model script would write it without the fused op.
Tensor ComposedCrossEntropy(const Tensor& logits, const Tensor& targets) {
  const Tensor one_hot = OneHot(targets, logits.shape().back(), logits.dtype());
  const Tensor picked = Sum(LogSoftmax(logits, -1) * one_hot, {-1});
  return -Sum(picked) / Sum(one_hot);
}

// Median seconds of a loss and the gradient of its logits.
double ForwardBackwardSeconds(const Tensor& logits, const Tensor& targets,
                              Tensor (*loss)(const Tensor&, const Tensor&)) {
  return MedianSeconds([&] {
    const Tensor l = loss(logits, targets);
    MG_CHECK_OK(Gradients({l}, {logits}).status());
  });
}

Tensor FusedCrossEntropy(const Tensor& logits, const Tensor& targets) {
  return CrossEntropy(logits, targets);
}

// Median seconds of y = f(inputs) and the gradients of <dy, y> for every
// input.
double ForwardBackwardSeconds(
    const std::vector<Tensor>& inputs, const Tensor& dy,
    const std::function<Tensor(const std::vector<Tensor>&)>& f) {
  return MedianSeconds([&] {
    const Tensor y = f(inputs);
    MG_CHECK_OK(Gradients({y}, inputs, {dy}).status());
  });
}

Tensor FusedRmsNorm(const std::vector<Tensor>& in) {
  return RmsNormFused(in[0], in[1], 1e-5);
}
Tensor ComposedRmsNorm(const std::vector<Tensor>& in) {
  return in[1] * (in[0] * Rsqrt(Mean(in[0] * in[0], {-1}, true) + 1e-5));
}
Tensor FusedSwiGlu(const std::vector<Tensor>& in) {
  return SwiGlu(in[0], in[1]);
}
Tensor ComposedSwiGlu(const std::vector<Tensor>& in) {
  return Silu(in[0]) * in[1];
}

Tensor Leaf(const Shape& shape, Generator& gen) {
  Tensor t = Tensor::Randn(shape, gen);
  t.set_requires_grad(true);
  return t;
}

Record TimeRecord(const std::string& name, double fused_s, double composed_s,
                  const std::string& note) {
  return MakeRecord(name, fused_s * 1e3, composed_s * 1e3, "ms", false,
                    "composed", note);
}

// rms_norm and swiglu, fused and composed, at each thread count.
void RunElementwiseChains(const Context& ctx, std::vector<Record>* records) {
  const int64_t batch = ctx.quick ? 1 : kBatch;
  const int64_t seq = ctx.quick ? 64 : kSeq;
  Generator gen(5);
  const std::vector<Tensor> norm_in = {Leaf({batch, seq, kHidden}, gen),
                                       Leaf({kHidden}, gen)};
  const Tensor norm_dy = Tensor::Randn({batch, seq, kHidden}, gen);
  const std::vector<Tensor> glu_in = {Leaf({batch, seq, kIntermediate}, gen),
                                      Leaf({batch, seq, kIntermediate}, gen)};
  const Tensor glu_dy = Tensor::Randn({batch, seq, kIntermediate}, gen);
  const int original = NumThreads();
  for (int threads : ctx.threads) {
    MG_CHECK_OK(SetNumThreads(threads));
    const std::string norm = absl::StrCat("fused_rms_norm_fwdbwd_t", threads);
    if (ctx.Wants(norm)) {
      records->push_back(TimeRecord(
          norm, ForwardBackwardSeconds(norm_in, norm_dy, FusedRmsNorm),
          ForwardBackwardSeconds(norm_in, norm_dy, ComposedRmsNorm),
          absl::StrFormat("x [%d, %d, %d] f32", batch, seq, kHidden)));
    }
    const std::string glu = absl::StrCat("fused_swiglu_fwdbwd_t", threads);
    if (ctx.Wants(glu)) {
      records->push_back(
          TimeRecord(glu, ForwardBackwardSeconds(glu_in, glu_dy, FusedSwiGlu),
                     ForwardBackwardSeconds(glu_in, glu_dy, ComposedSwiGlu),
                     absl::StrFormat("gate, up [%d, %d, %d] f32", batch, seq,
                                     kIntermediate)));
    }
  }
  MG_CHECK_OK(SetNumThreads(original));
}

void RunFused(const Context& ctx, std::vector<Record>* records) {
  RunElementwiseChains(ctx, records);
  const int64_t tokens = ctx.quick ? 64 : kTokens;
  Generator gen(7);
  Tensor logits = Tensor::Randn({tokens, kVocab}, gen);
  logits.set_requires_grad(true);
  const Tensor targets = RandomTargets(tokens, kVocab, 8);
  const int original = NumThreads();
  for (int threads : ctx.threads) {
    const std::string name =
        absl::StrCat("fused_cross_entropy_fwdbwd_t", threads);
    if (!ctx.Wants(name)) continue;
    MG_CHECK_OK(SetNumThreads(threads));
    const double fused =
        ForwardBackwardSeconds(logits, targets, FusedCrossEntropy);
    const double composed =
        ForwardBackwardSeconds(logits, targets, ComposedCrossEntropy);
    records->push_back(
        TimeRecord(name, fused, composed,
                   absl::StrFormat("logits [%d, %d] f32", tokens, kVocab)));
  }
  const std::string per_logit = "fused_cross_entropy_ns_per_logit_t1";
  if (ctx.Wants(per_logit)) {
    MG_CHECK_OK(SetNumThreads(1));
    NoGradGuard no_grad;
    const Tensor x = logits.Detach();
    const Tensor one = Tensor::Scalar(1.0);
    const double forward = MedianSeconds([&] { CrossEntropy(x, targets); });
    const double backward = MedianSeconds([&] {
      CrossEntropyBackward(x, targets, one, -100, LossReduction::kMean);
    });
    const double logits_count = static_cast<double>(x.numel());
    records->push_back(MakeRecord(
        per_logit, forward / logits_count * 1e9, kNotANumber, "ns", false, "",
        absl::StrFormat("backward %.3f ns per logit",
                        backward / logits_count * 1e9)));
  }
  MG_CHECK_OK(SetNumThreads(original));
}

}  // namespace

MG_REGISTER_BENCH_GROUP(fused_ops, RunFused);

}  // namespace minigraph::bench
