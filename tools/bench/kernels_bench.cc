// Kernel benchmarks, each against a baseline timed in the same process:
//
//   matmul_*          float32 GFLOP/s through the matmul op against OpenBLAS
//                     cblas_sgemm (same thread count, output preallocated for
//                     OpenBLAS; ours allocates its output like any op call;
//                     both pools poll ~50 us before sleeping, see
//                     bench_main.cc)
//   softmax_*, exp_*  Gelem/s of the ops against a naive scalar std::exp loop
//   add_*, mul_*      GB/s (two reads and a write per element) of the ops
//                     against a naive loop into a preallocated buffer (ours
//                     allocates its output), for L2-sized and DRAM-sized data
//   overhead_*        framework cost per recorded op and per backward node on
//                     tiny tensors, against PyTorch reference figures (not
//                     measured in this run)
//
// Each family is its own group (matmul, softmax_exp, elementwise, overhead),
// so that --filter can pick families by name.
//
// Ours and the baseline alternate sample by sample so that both see the same
// machine load; each figure is the median of the samples.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/autograd.h"
#include "framework/thread_pool.h"
#include "ops/all_ops.h"
#include "tools/bench/bench.h"

// OpenBLAS's own entry point (not in cblas.h's portable part everywhere).
extern "C" void openblas_set_num_threads(int num_threads);

namespace minigraph::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Medians {
  double ours = 0.0;      // seconds per call
  double baseline = 0.0;  // seconds per call
};

double Seconds(const std::function<void()>& fn, int reps) {
  const auto start = Clock::now();
  for (int r = 0; r < reps; ++r) fn();
  return std::chrono::duration<double>(Clock::now() - start).count() / reps;
}

// Alternates samples of `ours` and `baseline` (each sample repeats a call
// enough to last ~5 ms) for at least `min_seconds` and 9 samples each, and
// returns the median seconds per call of each.
Medians PairedMedians(const std::function<void()>& ours,
                      const std::function<void()>& baseline,
                      double min_seconds) {
  ours();  // warm-up: page faults, dispatch, caches, thread start
  baseline();
  const double once = std::max(Seconds(ours, 1), Seconds(baseline, 1));
  const int reps = std::max(1, static_cast<int>(0.005 / std::max(once, 1e-9)));
  std::vector<double> a, b;
  const auto start = Clock::now();
  while (a.size() < 9 ||
         std::chrono::duration<double>(Clock::now() - start).count() <
             min_seconds) {
    a.push_back(Seconds(ours, reps));
    b.push_back(Seconds(baseline, reps));
    if (a.size() >= 200) break;
  }
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return {a[a.size() / 2], b[b.size() / 2]};
}

void SetThreads(int threads) {
  MG_CHECK_OK(SetNumThreads(threads));
  openblas_set_num_threads(threads);
}

// ---- matmul
// ------------------------------------------------------------------

enum class Form { kNN, kNT, kTN };

struct MatmulCase {
  std::string name;  // without the _t<threads> suffix
  int64_t m, n, k;
  Form form;
};

std::vector<MatmulCase> MatmulCases(bool quick) {
  std::vector<MatmulCase> cases;
  const std::vector<int64_t> squares =
      quick ? std::vector<int64_t>{64, 128}
            : std::vector<int64_t>{64, 128, 256, 512, 1024, 2048};
  for (int64_t s : squares) {
    cases.push_back({absl::StrCat("matmul_", s), s, s, s, Form::kNN});
  }
  if (quick) return cases;
  cases.push_back({"matmul_nt_512", 512, 512, 512, Form::kNT});
  cases.push_back({"matmul_tn_512", 512, 512, 512, Form::kTN});
  // Attention shapes: projections T x 512 x 512, scores Q K^T (T x T x 64,
  // NT), weights times V (T x 64 x T).
  for (int64_t t : {512, 2048}) {
    cases.push_back({absl::StrCat("matmul_proj_", t), t, 512, 512, Form::kNN});
    cases.push_back({absl::StrCat("matmul_qk_", t), t, t, 64, Form::kNT});
    cases.push_back({absl::StrCat("matmul_pv_", t), t, 64, t, Form::kNN});
  }
  return cases;
}

void RunMatmul(const Context& ctx, std::vector<Record>* records) {
  for (const MatmulCase& c : MatmulCases(ctx.quick)) {
    for (int threads : ctx.threads) {
      const std::string name = absl::StrCat(c.name, "_t", threads);
      if (!ctx.Wants(name)) continue;
      SetThreads(threads);
      Generator gen(7);
      const bool ta = c.form == Form::kTN, tb = c.form == Form::kNT;
      // Stored shapes: op(a) is m x k, op(b) is k x n.
      const Tensor a =
          Tensor::Uniform(ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, -1, 1, gen);
      const Tensor b =
          Tensor::Uniform(tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, -1, 1, gen);
      std::vector<float> y(c.m * c.n);
      NoGradGuard no_grad;
      const Medians t = PairedMedians(
          [&] { Matmul(a, b, ta, tb); },
          [&] {
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                        tb ? CblasTrans : CblasNoTrans, c.m, c.n, c.k, 1.0f,
                        a.data<float>(), ta ? c.m : c.k, b.data<float>(),
                        tb ? c.k : c.n, 0.0f, y.data(), c.n);
          },
          ctx.quick ? 0.05 : 0.5);
      const double flops = 2.0 * c.m * c.n * c.k;
      const double ours = flops / t.ours * 1e-9;
      const double blas = flops / t.baseline * 1e-9;
      Record record = MakeRecord(
          name, ours, blas, "GFLOP/s", true, "openblas",
          absl::StrFormat("measured peak %.0f GFLOP/s on %d threads; "
                          "openblas %.0f%% of it",
                          PeakGflops(threads), threads,
                          PercentOfPeak(blas, threads)));
      record.pct_peak = PercentOfPeak(ours, threads);
      records->push_back(std::move(record));
    }
  }
  SetThreads(DefaultNumThreads());
}

// ---- softmax, exp
// ------------------------------------------------------------

// y = softmax(x) row by row with std::exp: the textbook three passes.
void NaiveSoftmax(const float* x, float* y, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * n;
    float* out = y + r * n;
    float max = in[0];
    for (int64_t i = 1; i < n; ++i) max = std::max(max, in[i]);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      out[i] = std::exp(in[i] - max);
      sum += out[i];
    }
    for (int64_t i = 0; i < n; ++i) out[i] /= sum;
  }
}

void RunSoftmaxExp(const Context& ctx, std::vector<Record>* records) {
  // Attention-score shaped: 8 heads x 512 queries, rows of 512 keys.
  const int64_t rows = ctx.quick ? 64 : 4096, n = 512;
  Generator gen(11);
  const Tensor x = Tensor::Uniform({rows, n}, -8, 8, gen);
  std::vector<float> y(rows * n);
  NoGradGuard no_grad;
  for (int threads : ctx.threads) {
    SetThreads(threads);
    const std::string softmax =
        absl::StrCat("softmax_", rows, "x", n, "_t", threads);
    if (ctx.Wants(softmax)) {
      const Medians t = PairedMedians(
          [&] { Softmax(x, -1); },
          [&] { NaiveSoftmax(x.data<float>(), y.data(), rows, n); },
          ctx.quick ? 0.05 : 0.4);
      const double elems = static_cast<double>(rows * n) * 1e-9;
      records->push_back(MakeRecord(
          softmax, elems / t.ours, elems / t.baseline, "Gelem/s", true,
          "naive_std_exp",
          absl::StrFormat("Highway Exp (1 ULP); %.2f Gelem/s per thread",
                          elems / t.ours / threads)));
    }
    const std::string exp = absl::StrCat("exp_", rows * n, "_t", threads);
    if (ctx.Wants(exp)) {
      const float* in = x.data<float>();
      const Medians t = PairedMedians([&] { Exp(x); },
                                      [&] {
                                        for (int64_t i = 0; i < rows * n; ++i)
                                          y[i] = std::exp(in[i]);
                                      },
                                      ctx.quick ? 0.05 : 0.4);
      const double elems = static_cast<double>(rows * n) * 1e-9;
      records->push_back(MakeRecord(exp, elems / t.ours, elems / t.baseline,
                                    "Gelem/s", true, "naive_std_exp",
                                    "Highway Exp (1 ULP)"));
    }
  }
  SetThreads(DefaultNumThreads());
}

// ---- elementwise
// -------------------------------------------------------------

void RunElementwise(const Context& ctx, std::vector<Record>* records) {
  struct Size {
    std::string label;
    int64_t n;
  };
  // L2: three 256 KiB operands (768 KiB, under the 1 MiB L2); DRAM: three
  // 16 MiB operands (48 MiB, over the 32 MiB L3).
  const std::vector<Size> sizes =
      ctx.quick ? std::vector<Size>{{"l2", 1 << 14}}
                : std::vector<Size>{{"l2", 1 << 16}, {"dram", 1 << 22}};
  NoGradGuard no_grad;
  for (const Size& size : sizes) {
    Generator gen(13);
    const Tensor a = Tensor::Uniform({size.n}, -1, 1, gen);
    const Tensor b = Tensor::Uniform({size.n}, -1, 1, gen);
    std::vector<float> y(size.n);
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    for (int threads : ctx.threads) {
      SetThreads(threads);
      for (const bool mul : {false, true}) {
        const std::string name =
            absl::StrCat(mul ? "mul_" : "add_", size.label, "_t", threads);
        if (!ctx.Wants(name)) continue;
        const Medians t = PairedMedians([&] { mul ? Mul(a, b) : Add(a, b); },
                                        [&] {
                                          if (mul) {
                                            for (int64_t i = 0; i < size.n; ++i)
                                              y[i] = pa[i] * pb[i];
                                          } else {
                                            for (int64_t i = 0; i < size.n; ++i)
                                              y[i] = pa[i] + pb[i];
                                          }
                                        },
                                        ctx.quick ? 0.05 : 0.4);
        const double gb = 3.0 * sizeof(float) * size.n * 1e-9;
        records->push_back(MakeRecord(
            name, gb / t.ours, gb / t.baseline, "GB/s", true, "naive_loop",
            absl::StrCat(size.n, " floats per operand")));
      }
    }
  }
  SetThreads(DefaultNumThreads());
}

// ---- framework overhead
// --------------------------------------------------------

// Reference figures for PyTorch 1.13 on this machine, given with the targets
// and not measured in this run (PyTorch is not a dependency of this project):
// ~1.6 us per op on tiny tensors with gradient recording, from C++; ~7 us per
// op with backward, from Python (forward and backward together).
constexpr double kPyTorchCppUsPerOpWithGrad = 1.6;
constexpr double kPyTorchPythonUsPerOpWithBackward = 7.0;
// The targets: at most 0.5 us per recorded op and per backward node.
constexpr double kTargetUs = 0.5;

void RunOverhead(const Context& ctx, std::vector<Record>* records) {
  if (!ctx.Wants("overhead_op_us") && !ctx.Wants("overhead_backward_node_us")) {
    return;
  }
  const int chain = 1000;
  const int rounds = ctx.quick ? 5 : 200;
  Generator gen(17);
  Tensor x = Tensor::Randn({4}, gen);
  x.set_requires_grad(true);
  const Tensor c = Tensor::Randn({4}, gen);
  std::vector<double> forward_us, backward_us;
  for (int round = 0; round < rounds; ++round) {
    const auto t0 = Clock::now();
    Tensor y = x;
    for (int i = 0; i < chain; ++i) y = (i & 1) ? Mul(y, c) : Add(y, c);
    const auto t1 = Clock::now();
    const Tensor loss = Sum(y);
    const auto t2 = Clock::now();
    MG_CHECK_OK(loss.Backward());
    const auto t3 = Clock::now();
    forward_us.push_back(std::chrono::duration<double>(t1 - t0).count() * 1e6 /
                         chain);
    // chain + 1 nodes: the sum as well.
    backward_us.push_back(std::chrono::duration<double>(t3 - t2).count() * 1e6 /
                          (chain + 1));
    x.ZeroGrad();
  }
  std::sort(forward_us.begin(), forward_us.end());
  std::sort(backward_us.begin(), backward_us.end());
  if (ctx.Wants("overhead_op_us")) {
    records->push_back(MakeRecord(
        "overhead_op_us", forward_us[forward_us.size() / 2],
        kPyTorchCppUsPerOpWithGrad, "us", false, "pytorch_cpp_ref",
        absl::StrFormat(
            "chain of %d add/mul on float32[4] with grad; baseline: PyTorch "
            "1.13 C++ with grad, reference figure (not measured in this run); "
            "target <= %.1f us",
            chain, kTargetUs)));
  }
  if (ctx.Wants("overhead_backward_node_us")) {
    records->push_back(MakeRecord(
        "overhead_backward_node_us", backward_us[backward_us.size() / 2],
        kPyTorchPythonUsPerOpWithBackward, "us", false, "pytorch_py_ref",
        absl::StrFormat(
            "Backward() over the %d-node chain, incl. the mul rules' op "
            "calls; baseline: PyTorch 1.13 per op with backward from Python "
            "(forward included), reference figure (not measured in this "
            "run); target <= %.1f us",
            chain + 1, kTargetUs)));
  }
}

}  // namespace
}  // namespace minigraph::bench

MG_REGISTER_BENCH_GROUP(matmul, ::minigraph::bench::RunMatmul);
MG_REGISTER_BENCH_GROUP(softmax_exp, ::minigraph::bench::RunSoftmaxExp);
MG_REGISTER_BENCH_GROUP(elementwise, ::minigraph::bench::RunElementwise);
MG_REGISTER_BENCH_GROUP(overhead, ::minigraph::bench::RunOverhead);
