// A loaded forward + backward graph executed against the eager run of the
// same model, for the MiniMind Attention module and MiniMind's whole LM.
//
// The gradient graph is captured once at a small size (symbolic B and T),
// differentiated (BuildBackwardGraph), serialized as binary protobuf and
// parsed back: what a user who saved a graph file runs later. It is then
// executed at the bench size, where the executor rebinds the symbols on
// every call. Three ways of computing the same values, same weights, same
// inputs:
//
//   eager    the model's forward (recording autograd nodes), then
//            Gradients(...) for the parameters (and x for the module)
//   nopass   the loaded graph as parsed, every value kept to the end of the
//            run (release_dead_values off)
//   passes   the loaded graph after OptimizeGraph (dce, cse, fold_constants,
//            memory_plan), each value dropped after its last reader
//            (release_dead_values on)
//
// Records (each graph variant against eager from the same run; the ratio
// column is eager / graph as for every lower-is-better unit, the note gives
// graph / eager):
//   graph_<model>_<size>_{nopass,passes}_ms   median ms of one forward +
//        backward, the three variants timed in turn round by round after a
//        warm-up run of each; the note adds page faults per run and, for
//        passes, the part of it the executor spends rebinding the graph
//   graph_<model>_<size>_{nopass,passes}_mib  peak tensor memory of one
//        forward + backward (memory_stats, peak reset before each variant)
//   graph_lm_<tag>_pass<k>_<pass>_nodes       nodes after / before each pass
//        that OptimizeGraph ran on the loaded LM gradient graph
//   graph_lm_<tag>_<size>_plan_mib            the memory plan's peak of node
//        outputs alive at once at the bench size (the graph rebound and
//        frozen there, then optimized), against keeping every value
// The passes' reports (GraphPassReport) are printed above the group's rows.
//
// Before any time is taken, both graph variants' outputs (forward outputs
// and every gradient) are compared bit for bit with eager's: a case whose
// graph computes other bits reports no figure, only an ERROR record naming
// the output and the first element that differs.
//
// --quick: the module at B1 T64 and B2 T32, the tiny LM preset at B2 T32.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "framework/autograd.h"
#include "framework/graph.h"
#include "framework/graph_backward.h"
#include "framework/graph_executor.h"
#include "framework/graph_io.h"
#include "framework/graph_passes.h"
#include "framework/memory_stats.h"
#include "framework/thread_pool.h"
#include "models/model_registry.h"
#include "ops/all_ops.h"
#include "tools/bench/bench.h"
#include "tools/minigraph/model_capture.h"

namespace minigraph::bench {
namespace {

using NamedTensors = std::map<std::string, Tensor>;

// One model as a loaded gradient graph, with and without the passes.
struct LoadedGradient {
  std::string model;  // registry name
  ModelOptions options;
  Graph plain;      // as parsed
  Graph optimized;  // plain after OptimizeGraph (all passes)
  GraphPassReport report;
};

// One bench size of a model.
struct GraphCase {
  std::string prefix;  // record names: <prefix>_{nopass,passes}_{ms,mib}
  int64_t batch = 1;
  int64_t seq = 1;
  int min_runs = 5;
  double min_seconds = 0.5;
};

// Empty when `a` and `b` hold the same dtype, shape and bytes; else where
// they first differ.
std::string BitDifference(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return "undefined tensor";
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) {
    return absl::StrCat(DTypeName(a.dtype()), ShapeToString(a.shape()), " vs ",
                        DTypeName(b.dtype()), ShapeToString(b.shape()));
  }
  const Tensor ca = CopyToContiguous(a);
  const Tensor cb = CopyToContiguous(b);
  const size_t size = DTypeSize(a.dtype());
  const char* pa = static_cast<const char*>(ca.storage()->data());
  const char* pb = static_cast<const char*>(cb.storage()->data());
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::memcmp(pa + i * size, pb + i * size, size) != 0) {
      return absl::StrFormat("element %d: %.9g vs %.9g", i,
                             ca.ToVector<double>()[i],
                             cb.ToVector<double>()[i]);
    }
  }
  return "";
}

ModelOptions AtSize(ModelOptions options, int64_t batch, int64_t seq) {
  options.batch = batch;
  options.seq = seq;
  return options;
}

// Captured at the options' (small) sizes, differentiated, written as binary
// protobuf and parsed back; then a copy optimized by every pass.
// With `loss_only`, the gradients of the output "loss" for the parameters;
// else of every output (seeded by graph inputs) for the parameters and the
// floating inputs.
absl::StatusOr<LoadedGradient> LoadGradientGraph(const std::string& model,
                                                 const ModelOptions& options,
                                                 bool loss_only) {
  MG_ASSIGN_OR_RETURN(cli::CapturedModel captured,
                      cli::CaptureModel(model, options));
  BackwardGraphOptions backward_options;
  if (loss_only) {
    backward_options.outputs = {"loss"};
    backward_options.wrt = captured.instance.parameter_names;
  }
  backward_options.feeds = captured.feeds;
  MG_ASSIGN_OR_RETURN(const Graph backward,
                      BuildBackwardGraph(captured.graph, backward_options));
  MG_ASSIGN_OR_RETURN(const std::string bytes,
                      SerializeGraph(backward, GraphFormat::kBinary));
  LoadedGradient loaded;
  loaded.model = model;
  loaded.options = options;
  MG_ASSIGN_OR_RETURN(
      loaded.plain,
      ParseGraph(bytes, GraphFormat::kBinary, absl::StrCat(model, "_grad.pb")));
  loaded.optimized = loaded.plain;
  MG_ASSIGN_OR_RETURN(loaded.report, OptimizeGraph(loaded.optimized));
  return loaded;
}

// The eager side of one case: the model built at the bench size (same seed,
// so the same weights as the graph's), its feeds, and the eager
// forward+backward giving every value the gradient graph outputs, by the
// graph's output names.
struct EagerModel {
  std::shared_ptr<const ModelInstance> instance;  // `run` holds it too
  NamedTensors feeds;
  std::function<NamedTensors()> run;
};

// The attention module: y = Attention(x); gradients of <seed, y> for the
// parameters and x ("grad/<name>"), as the graph's seed input
// grad_output/y takes them.
absl::StatusOr<EagerModel> EagerAttention(const LoadedGradient& loaded,
                                          const GraphCase& c) {
  EagerModel eager;
  MG_ASSIGN_OR_RETURN(
      ModelInstance built,
      FindModel(loaded.model)->build(AtSize(loaded.options, c.batch, c.seq)));
  eager.instance = std::make_shared<const ModelInstance>(std::move(built));
  const ModelInstance& m = *eager.instance;
  Generator gen(11);
  const Tensor& x = m.inputs[0];
  const Tensor seed = Tensor::Randn(x.shape(), gen, x.dtype());
  eager.feeds = {{m.input_names[0], x}, {"grad_output/y", seed}};
  eager.run = [instance = eager.instance, seed]() {
    const ModelInstance& m = *instance;
    Tensor xg = m.inputs[0].ShallowCopy();
    xg.set_requires_grad(true);
    std::vector<Tensor> wrt = m.parameters;
    wrt.push_back(xg);
    const std::vector<Tensor> y = m.forward({xg});
    const std::vector<Tensor> grads = ValueOrDie(Gradients(y, wrt, {seed}));
    NamedTensors out = {{m.output_names[0], y[0]}};
    for (size_t i = 0; i < m.parameters.size(); ++i) {
      out[absl::StrCat("grad/", m.parameter_names[i])] = grads[i];
    }
    out[absl::StrCat("grad/", m.input_names[0])] = grads.back();
    return out;
  };
  return eager;
}

// MiniMind's LM: logits and loss, and the loss's gradients for every
// parameter.
absl::StatusOr<EagerModel> EagerLanguageModel(const LoadedGradient& loaded,
                                              const GraphCase& c) {
  EagerModel eager;
  MG_ASSIGN_OR_RETURN(
      ModelInstance built,
      FindModel(loaded.model)->build(AtSize(loaded.options, c.batch, c.seq)));
  eager.instance = std::make_shared<const ModelInstance>(std::move(built));
  const ModelInstance& m = *eager.instance;
  for (size_t i = 0; i < m.inputs.size(); ++i) {
    eager.feeds[m.input_names[i]] = m.inputs[i];
  }
  eager.run = [instance = eager.instance]() {
    const ModelInstance& m = *instance;
    const std::vector<Tensor> outputs = m.forward(m.inputs);
    const std::vector<Tensor> grads =
        ValueOrDie(Gradients({outputs[1]}, m.parameters));
    NamedTensors out;
    for (size_t i = 0; i < outputs.size(); ++i) {
      out[m.output_names[i]] = outputs[i];
    }
    for (size_t i = 0; i < m.parameters.size(); ++i) {
      out[absl::StrCat("grad/", m.parameter_names[i])] = grads[i];
    }
    return out;
  };
  return eager;
}

// Every output of `graph` run on `feeds` equals the eager value of the same
// name bit for bit, and every eager value is an output.
absl::Status CheckBitExact(const Graph& graph, const NamedTensors& feeds,
                           const ExecuteOptions& options,
                           const NamedTensors& eager, absl::string_view what) {
  MG_ASSIGN_OR_RETURN(const std::vector<Tensor> outputs,
                      ExecuteGraph(graph, feeds, options));
  if (outputs.size() != eager.size()) {
    return absl::InternalError(absl::StrCat(what, ": ", outputs.size(),
                                            " graph outputs, eager gives ",
                                            eager.size()));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string& name = graph.outputs[i].name;
    auto it = eager.find(name);
    if (it == eager.end()) {
      return absl::InternalError(
          absl::StrCat(what, ": graph output '", name, "' has no eager value"));
    }
    const std::string diff = BitDifference(outputs[i], it->second);
    if (!diff.empty()) {
      return absl::InternalError(absl::StrCat(
          what, ": output '", name, "' differs from eager at ", diff));
    }
  }
  return absl::OkStatus();
}

struct VariantTime {
  double ms = 0;              // median
  double faults_per_run = 0;  // minor page faults, mean over the samples
};

// The variants' median ms over rounds that run each once in turn (after one
// warm-up run of each), so that a drift of the machine's speed during the
// measurement touches all of them alike; at least `min_runs` rounds and
// `min_seconds` in all. Page faults are counted per variant, each around
// its own samples.
std::vector<VariantTime> TimeInterleaved(
    const std::vector<std::function<void()>>& variants, int min_runs,
    double min_seconds) {
  using Clock = std::chrono::steady_clock;
  for (const auto& fn : variants) fn();
  std::vector<std::vector<double>> samples(variants.size());
  std::vector<int64_t> faults(variants.size(), 0);
  const auto start = Clock::now();
  int rounds = 0;
  while (rounds < min_runs ||
         std::chrono::duration<double>(Clock::now() - start).count() <
             min_seconds) {
    for (size_t v = 0; v < variants.size(); ++v) {
      const int64_t faults_before = MinorPageFaults();
      const auto t0 = Clock::now();
      variants[v]();
      samples[v].push_back(
          std::chrono::duration<double>(Clock::now() - t0).count());
      faults[v] += MinorPageFaults() - faults_before;
    }
    if (++rounds >= 1000) break;
  }
  std::vector<VariantTime> times(variants.size());
  for (size_t v = 0; v < variants.size(); ++v) {
    std::sort(samples[v].begin(), samples[v].end());
    times[v].ms = samples[v][samples[v].size() / 2] * 1e3;
    times[v].faults_per_run = static_cast<double>(faults[v]) / rounds;
  }
  return times;
}

std::string Ratio(double graph, double eager) {
  return absl::StrFormat("%.2f", graph / eager);
}

// Runs one case: the bit-exact check of both graph variants, then the three
// variants' median times and peaks, as four records.
void RunCase(const LoadedGradient& loaded, const GraphCase& c,
             absl::StatusOr<EagerModel> (*make_eager)(const LoadedGradient&,
                                                      const GraphCase&),
             std::vector<Record>* records) {
  const std::string size = absl::StrCat("B", c.batch, " T", c.seq);
  auto fail = [&](const absl::Status& status) {
    std::fprintf(stderr, "bench: %s: %s\n", c.prefix.c_str(),
                 std::string(status.message()).c_str());
    records->push_back(MakeRecord(
        absl::StrCat(c.prefix, "_passes_ms"), kNotANumber, kNotANumber, "ms",
        false, "eager",
        absl::StrCat("ERROR (no figures reported): ", status.message())));
  };
  absl::StatusOr<EagerModel> eager = make_eager(loaded, c);
  if (!eager.ok()) return fail(eager.status());
  ExecuteOptions keep_all;
  ExecuteOptions release;
  release.release_dead_values = true;
  {
    const NamedTensors expected = eager->run();
    for (const auto& [graph, options, what] :
         {std::make_tuple(&loaded.plain, &keep_all, "graph without passes"),
          std::make_tuple(&loaded.optimized, &release, "graph with passes")}) {
      absl::Status status =
          CheckBitExact(*graph, eager->feeds, *options, expected, what);
      if (!status.ok()) return fail(status);
    }
  }
  const NamedTensors& feeds = eager->feeds;
  const std::function<void()> run_eager = [&] { eager->run(); };
  const std::function<void()> run_plain = [&] {
    MG_CHECK_OK(ExecuteGraph(loaded.plain, feeds, keep_all).status());
  };
  const std::function<void()> run_optimized = [&] {
    MG_CHECK_OK(ExecuteGraph(loaded.optimized, feeds, release).status());
  };
  const std::vector<VariantTime> times = TimeInterleaved(
      {run_eager, run_plain, run_optimized}, c.min_runs, c.min_seconds);
  const double eager_ms = times[0].ms;
  const double plain_ms = times[1].ms;
  const double optimized_ms = times[2].ms;
  // Peaks measured apart from the timing, each from a reset peak.
  const double eager_mib = PeakMiB(run_eager);
  const double plain_mib = PeakMiB(run_plain);
  const double optimized_mib = PeakMiB(run_optimized);

  // Part of every graph run: the executor re-derives the graph at the fed
  // sizes (RebindGraph) before running it.
  const double rebind_ms =
      MedianSeconds(
          [&] {
            MG_CHECK_OK(
                RebindGraph(loaded.optimized, {{"B", c.batch}, {"T", c.seq}})
                    .status());
          },
          3, 0.02) *
      1e3;
  const std::string threads = absl::StrCat(NumThreads(), " threads");
  records->push_back(MakeRecord(
      absl::StrCat(c.prefix, "_nopass_ms"), plain_ms, eager_ms, "ms", false,
      "eager",
      absl::StrFormat("%s, %s; graph/eager %s; page faults/run %.0f vs "
                      "%.0f; loaded graph as parsed, values kept to the end",
                      size, threads, Ratio(plain_ms, eager_ms),
                      times[1].faults_per_run, times[0].faults_per_run)));
  records->push_back(
      MakeRecord(absl::StrCat(c.prefix, "_passes_ms"), optimized_ms, eager_ms,
                 "ms", false, "eager",
                 absl::StrFormat("%s, %s; graph/eager %s; page faults/run "
                                 "%.0f vs %.0f; all passes, dead values "
                                 "released; rebinding %.2f ms of it",
                                 size, threads, Ratio(optimized_ms, eager_ms),
                                 times[2].faults_per_run,
                                 times[0].faults_per_run, rebind_ms)));
  records->push_back(
      MakeRecord(absl::StrCat(c.prefix, "_nopass_mib"), plain_mib, eager_mib,
                 "MiB", false, "eager",
                 absl::StrCat("peak tensor memory of one fwd+bwd; graph/eager ",
                              Ratio(plain_mib, eager_mib))));
  records->push_back(
      MakeRecord(absl::StrCat(c.prefix, "_passes_mib"), optimized_mib,
                 eager_mib, "MiB", false, "eager",
                 absl::StrCat("peak tensor memory of one fwd+bwd; graph/eager ",
                              Ratio(optimized_mib, eager_mib))));
}

void PrintReport(const std::string& title, const GraphPassReport& report) {
  std::printf(
      "# %s\n#   %s\n", title.c_str(),
      absl::StrReplaceAll(absl::StripTrailingAsciiWhitespace(report.ToString()),
                          {{"\n", "\n#   "}})
          .c_str());
}

double ToMiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// What the passes did to the LM's gradient graph: nodes before and after
// each pass on the loaded (symbolic) graph, and the memory plan's peak at
// the bench size, from the graph rebound and frozen at that size.
void PassRecords(const LoadedGradient& loaded, const std::string& tag,
                 const GraphCase& c, std::vector<Record>* records) {
  PrintReport(absl::StrCat("passes on the loaded ", tag,
                           " LM gradient graph (symbolic, at B",
                           loaded.options.batch, " T", loaded.options.seq, ")"),
              loaded.report);
  for (size_t k = 0; k < loaded.report.passes.size(); ++k) {
    const PassStats& p = loaded.report.passes[k];
    records->push_back(MakeRecord(
        absl::StrCat("graph_lm_", tag, "_pass", k, "_",
                     p.pass == "fold_constants" ? "fold" : p.pass, "_nodes"),
        p.nodes_after, p.nodes_before, "nodes", false, "before",
        absl::StrFormat(
            "constants %d -> %d%s", p.constants_before, p.constants_after,
            p.skipped > 0 ? absl::StrCat(", ", p.skipped, " not folded")
                          : "")));
  }
  absl::StatusOr<Graph> frozen =
      RebindGraph(loaded.plain, {{"B", c.batch}, {"T", c.seq}});
  absl::StatusOr<GraphPassReport> at_size = absl::UnknownError("unset");
  if (frozen.ok()) {
    GraphPassOptions options;
    options.fix_symbol_sizes = true;
    at_size = OptimizeGraph(*frozen, options);
  } else {
    at_size = frozen.status();
  }
  const std::string name = absl::StrCat(c.prefix, "_plan_mib");
  if (!at_size.ok()) {
    records->push_back(
        MakeRecord(name, kNotANumber, kNotANumber, "MiB", false, "keep all",
                   absl::StrCat("ERROR: ", at_size.status().message())));
    return;
  }
  PrintReport(absl::StrCat("the same graph rebound and frozen at B", c.batch,
                           " T", c.seq),
              *at_size);
  records->push_back(MakeRecord(
      name, ToMiB(at_size->peak_bytes_planned),
      ToMiB(at_size->peak_bytes_keeping_all), "MiB", false, "keep all",
      absl::StrFormat("node outputs alive at once, B%d T%d (frozen graph, "
                      "%d nodes); symbolic graph at B%d T%d: %.1f vs %.1f MiB",
                      c.batch, c.seq, at_size->nodes_after,
                      loaded.options.batch, loaded.options.seq,
                      ToMiB(loaded.report.peak_bytes_planned),
                      ToMiB(loaded.report.peak_bytes_keeping_all))));
}

bool WantsAny(const Context& ctx, const std::vector<GraphCase>& cases) {
  for (const GraphCase& c : cases) {
    if (ctx.Wants(c.prefix)) return true;
  }
  return false;
}

void RunAttention(const Context& ctx, std::vector<Record>* records) {
  const std::vector<GraphCase> cases =
      ctx.quick
          ? std::vector<GraphCase>{{"graph_attn_b1_t64", 1, 64, 3, 0.05},
                                   {"graph_attn_b2_t32", 2, 32, 3, 0.05}}
          : std::vector<GraphCase>{{"graph_attn_b1_t512", 1, 512, 7, 0.5},
                                   {"graph_attn_b4_t128", 4, 128, 7, 0.5}};
  if (!WantsAny(ctx, cases)) return;
  ModelOptions options;
  options.batch = 2;
  options.seq = 16;
  options.seed = 3;
  options.settings = {
      {"hidden", "512"}, {"heads", "8"}, {"kv_heads", "2"}, {"flash", "true"}};
  // Every gradient: the parameters' and x's, with y seeded by an input.
  absl::StatusOr<LoadedGradient> loaded =
      LoadGradientGraph("attention", options, /*loss_only=*/false);
  if (!loaded.ok()) {
    std::fprintf(stderr, "bench: graph_attn: %s\n",
                 std::string(loaded.status().message()).c_str());
    records->push_back(MakeRecord(
        "graph_attn_passes_ms", kNotANumber, kNotANumber, "ms", false, "eager",
        absl::StrCat("ERROR: ", loaded.status().message())));
    return;
  }
  PrintReport("passes on the loaded attention gradient graph", loaded->report);
  for (const GraphCase& c : cases) {
    if (ctx.Wants(c.prefix)) RunCase(*loaded, c, EagerAttention, records);
  }
}

void RunLanguageModel(const Context& ctx, std::vector<Record>* records) {
  const std::string preset = ctx.quick ? "tiny" : "minimind2-small";
  const std::string tag = ctx.quick ? "tiny" : "26m";  // in record names
  const GraphCase c = ctx.quick
                          ? GraphCase{"graph_lm_tiny_b2_t32", 2, 32, 3, 0.05}
                          : GraphCase{"graph_lm_26m_b2_t256", 2, 256, 5, 0.5};
  if (!ctx.Wants(c.prefix) &&
      !ctx.Wants(absl::StrCat("graph_lm_", tag, "_pass"))) {
    return;
  }
  ModelOptions options;
  options.batch = 2;
  options.seq = 16;
  options.seed = 5;
  options.settings = {{"preset", preset}, {"flash", "true"}};
  absl::StatusOr<LoadedGradient> loaded =
      LoadGradientGraph("minimind", options, /*loss_only=*/true);
  if (!loaded.ok()) {
    std::fprintf(stderr, "bench: graph_lm: %s\n",
                 std::string(loaded.status().message()).c_str());
    records->push_back(MakeRecord(
        absl::StrCat(c.prefix, "_passes_ms"), kNotANumber, kNotANumber, "ms",
        false, "eager", absl::StrCat("ERROR: ", loaded.status().message())));
    return;
  }
  PassRecords(*loaded, tag, c, records);
  RunCase(*loaded, c, EagerLanguageModel, records);
}

void RunGraphGroup(const Context& ctx, std::vector<Record>* records) {
  RunAttention(ctx, records);
  RunLanguageModel(ctx, records);
}

}  // namespace

MG_REGISTER_BENCH_GROUP(graph, RunGraphGroup);

}  // namespace minigraph::bench
