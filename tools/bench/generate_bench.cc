// Generation benchmarks: what a person talking to a MiniMind waits for.
//
//   mem_bw_read_t<n>          GB/s of a streaming read (sum) over a buffer
//                             much larger than the last-level cache, on n
//                             threads: the bandwidth the decode is bounded by
//   generate_26m_tok_s_t<n>   greedy decode tokens/s at batch 1 of the
//                             minimind2-small preset (random float32
//                             weights) after a 64-token prompt, 64 new
//                             tokens, median over repeats; the note compares
//                             it with the bandwidth limit (every weight read
//                             once per token: the streaming read's GB/s,
//                             sampled between the repeats, / weight bytes)
//   prefill_26m_tok_s_t<n>    a 512-token prompt through the model (one
//                             forward filling the KV caches, then the first
//                             token), tokens/s and % of the measured peak
//   matmul_m<M>_<K>x<N>_t<n>  x [M, K] times W^T for W [N, K] (Linear's
//                             form) with M = 1, 4, 8 or 32 rows, on the decode
//                             shapes, in GB/s of W read (W stays in cache:
//                             the kernel's own speed), against OpenBLAS
//                             sgemv (M = 1) or sgemm (M > 1), alternating
//                             samples
//   tokenize_mb_s             encode MB/s of the byte-level BPE tokenizer
//                             (vocabulary 6400, trained by BpeTrainer in the
//                             run) on the fortunes corpus plus Chinese text
//
// Both model figures come from models/generate.h's Generate (greedy), the
// path the `generate` verb takes. The baseline is PyTorch running the same
// model the same way (tools/parity/torch_generate_step.py under
// /usr/bin/python3, on the same thread count) in the same run, when torch is
// installed. --quick runs the tiny preset instead (records *_tiny_*), a
// smaller read buffer and no PyTorch.
#include <cblas.h>
#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "framework/autograd.h"
#include "framework/random.h"
#include "framework/thread_pool.h"
#include "framework/tokenizer/bpe_trainer.h"
#include "framework/tokenizer/tokenizer.h"
#include "models/generate.h"
#include "models/minimind_lm.h"
#include "ops/matmul.h"
#include "tools/bench/bench.h"
#include "tools/bench/mem_bandwidth.h"

// OpenBLAS's own entry point (not in cblas.h's portable part everywhere).
extern "C" void openblas_set_num_threads(int num_threads);

namespace minigraph::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct ModelCase {
  std::string tag;  // in the record names: generate_<tag>_tok_s_t<n>
  std::string preset;
  int64_t prompt;      // decode: tokens before the timed steps
  int64_t new_tokens;  // decode: tokens generated per repeat
  int64_t prefill;     // prefill: prompt length
  int repeats;         // decode repeats (median)
};

// Multiply-adds of a forward pass over `tokens` new positions after `past`
// cached ones, counted twice: every projection of every layer (2 x tokens x
// in x out), the attention core's QK^T and PV over the causal pairs
// (2 x 2 x H x pairs x d), and lm_head for `head_rows` positions.
double ForwardFlops(const MiniMindConfig& c, int64_t tokens, int64_t past,
                    int64_t head_rows) {
  const double d = static_cast<double>(c.HeadDim());
  const double q = c.num_attention_heads * d, kv = c.num_key_value_heads * d;
  const double hidden = static_cast<double>(c.hidden_size);
  const double per_layer =
      hidden * (q + 2 * kv) + q * hidden + 3 * hidden * c.intermediate_size;
  // Query i (0-based among the new ones) sees past + i + 1 keys.
  const double pairs = static_cast<double>(tokens) * past +
                       static_cast<double>(tokens) * (tokens + 1) / 2.0;
  const double core = 4 * c.num_attention_heads * pairs * d;
  return 2 * static_cast<double>(tokens) * per_layer * c.num_hidden_layers +
         core * c.num_hidden_layers +
         2 * static_cast<double>(head_rows) * hidden * c.vocab_size;
}

// Random ids in [3, vocab) (clear of the special ids 0..2).
std::vector<int64_t> RandomIds(int64_t count, int64_t vocab,
                               Generator& generator) {
  std::vector<int64_t> ids(count);
  for (int64_t& id : ids) {
    id = 3 + static_cast<int64_t>(generator.NextUnit() * (vocab - 3));
  }
  return ids;
}

// PyTorch's figures for the same model, or an empty map with *why set when
// torch or the script is not there. The script prints "decode_tok_s X" and
// "prefill_tok_s Y" lines.
std::map<std::string, double> TorchFigures(const MiniMindConfig& c,
                                           const ModelCase& mc, int threads,
                                           std::string* why) {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string script =
      absl::StrCat(workspace != nullptr ? workspace : ".",
                   "/tools/parity/torch_generate_step.py");
  const std::string command = absl::StrFormat(
      "/usr/bin/python3 %s --hidden %d --layers %d --heads %d --kv-heads %d "
      "--vocab %d --intermediate %d --prompt %d --new-tokens %d --prefill %d "
      "--repeats %d --threads %d %s 2>&1",
      script, c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
      c.num_key_value_heads, c.vocab_size, c.intermediate_size, mc.prompt,
      mc.new_tokens, mc.prefill, mc.repeats, threads,
      c.qk_norm ? "--qk-norm" : "");
  std::map<std::string, double> figures;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *why = "cannot start python3";
    return figures;
  }
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = pclose(pipe);
  for (const char* key : {"decode_tok_s", "prefill_tok_s"}) {
    const std::string prefix = absl::StrCat(key, " ");
    const size_t at = output.rfind(prefix);
    double value = 0.0;
    if (status == 0 && at != std::string::npos &&
        absl::SimpleAtod(
            absl::StripAsciiWhitespace(absl::string_view(output).substr(
                at + prefix.size(),
                output.find('\n', at) - at - prefix.size())),
            &value)) {
      figures[key] = value;
    }
  }
  if (figures.size() != 2) {
    figures.clear();
    *why = "pytorch baseline unavailable (python3-torch not installed?)";
    return figures;
  }
  *why = "pytorch 1.13";
  return figures;
}

// Bytes of the streaming read: much larger than the last-level cache the C
// library reports, and at least 1 GiB (a virtual machine may report the
// host's whole L3).
size_t ReadBufferBytes(const Context& ctx) {
  return ctx.quick ? size_t{64} << 20
                   : std::max(size_t{1} << 30, 4 * LastLevelCacheBytes());
}

void RunMemoryBandwidth(const Context& ctx, std::vector<Record>* records) {
  const int runs = ctx.quick ? 3 : 9;
  for (int threads : ctx.threads) {
    const std::string name = absl::StrCat("mem_bw_read_t", threads);
    if (!ctx.Wants(name)) continue;
    const ReadBandwidth bw =
        MeasureReadBandwidth(ReadBufferBytes(ctx), threads, runs);
    records->push_back(MakeRecord(
        name, bw.gb_per_s, kNotANumber, "GB/s", true, "none",
        absl::StrFormat("sum over %.0f MiB (last-level cache %.0f MiB as "
                        "sysconf says), %s, median of %d runs",
                        bw.bytes / 1048576.0, LastLevelCacheBytes() / 1048576.0,
                        bw.target.c_str(), runs)));
  }
}

// Seconds per call of `fn` repeated `reps` times.
double SecondsPerCall(const std::function<void()>& fn, int reps) {
  const auto start = Clock::now();
  for (int r = 0; r < reps; ++r) fn();
  return std::chrono::duration<double>(Clock::now() - start).count() / reps;
}

// Median seconds per call of `ours` and of `baseline`, sampled alternately
// (each sample ~2 ms of calls) so that both see the same machine load.
std::pair<double, double> AlternatingMedians(
    const std::function<void()>& ours, const std::function<void()>& baseline,
    double min_seconds) {
  ours();
  baseline();
  const double once =
      std::max(SecondsPerCall(ours, 1), SecondsPerCall(baseline, 1));
  const int reps = std::max(1, static_cast<int>(0.002 / std::max(once, 1e-9)));
  std::vector<double> a, b;
  const auto start = Clock::now();
  while (a.size() < 9 ||
         std::chrono::duration<double>(Clock::now() - start).count() <
             min_seconds) {
    a.push_back(SecondsPerCall(ours, reps));
    b.push_back(SecondsPerCall(baseline, reps));
    if (a.size() >= 400) break;
  }
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return {a[a.size() / 2], b[b.size() / 2]};
}

// Linear's product on the decode shapes: x [M, K] W^T, W [N, K].
void RunSmallRowsMatmul(const Context& ctx, std::vector<Record>* records) {
  const int64_t k = 512;
  const std::vector<int64_t> outs = ctx.quick
                                        ? std::vector<int64_t>{512}
                                        : std::vector<int64_t>{512, 1408, 6400};
  const std::vector<int64_t> row_counts =
      ctx.quick ? std::vector<int64_t>{1} : std::vector<int64_t>{1, 4, 8, 32};
  NoGradGuard no_grad;
  for (int64_t n : outs) {
    for (int64_t m : row_counts) {
      for (int threads : ctx.threads) {
        const std::string name =
            absl::StrCat("matmul_m", m, "_", k, "x", n, "_t", threads);
        if (!ctx.Wants(name)) continue;
        MG_CHECK_OK(SetNumThreads(threads));
        openblas_set_num_threads(threads);
        Generator generator(23);
        const Tensor x = Tensor::Uniform({m, k}, -1, 1, generator);
        const Tensor w = Tensor::Uniform({n, k}, -1, 1, generator);
        std::vector<float> y(m * n);
        const float* xp = x.data<float>();
        const float* wp = w.data<float>();
        const auto [ours, blas] = AlternatingMedians(
            [&] { Matmul(x, w, false, /*transpose_b=*/true); },
            [&] {
              if (m == 1) {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1.0f, wp, k, xp,
                            1, 0.0f, y.data(), 1);
              } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k,
                            1.0f, xp, k, wp, k, 0.0f, y.data(), n);
              }
            },
            ctx.quick ? 0.02 : 0.3);
        const double bytes = static_cast<double>(n * k) * sizeof(float);
        const double flops = 2.0 * m * n * k;
        records->push_back(MakeRecord(
            name, bytes / ours * 1e-9, bytes / blas * 1e-9, "GB/s", true,
            m == 1 ? "openblas_sgemv" : "openblas_sgemm",
            absl::StrFormat("GB/s of W (%.2f MiB, in cache); %.1f us, %.1f "
                            "GFLOP/s (openblas %.1f us)",
                            bytes / 1048576.0, ours * 1e6, flops / ours * 1e-9,
                            blas * 1e6)));
      }
    }
  }
  MG_CHECK_OK(SetNumThreads(DefaultNumThreads()));
  openblas_set_num_threads(DefaultNumThreads());
}

void RunModel(const Context& ctx, const ModelCase& mc,
              std::vector<Record>* records) {
  bool wanted = false;
  for (int threads : ctx.threads) {
    wanted =
        wanted ||
        ctx.Wants(absl::StrCat("generate_", mc.tag, "_tok_s_t", threads)) ||
        ctx.Wants(absl::StrCat("prefill_", mc.tag, "_tok_s_t", threads));
  }
  if (!wanted) return;  // building the model alone takes a while
  const MiniMindConfig config = ValueOrDie(PresetConfig(mc.preset));
  Generator generator(17);
  MiniMindForCausalLM model =
      ValueOrDie(MiniMindForCausalLM::Create(config, generator));
  model.SetTraining(false);
  const double weight_bytes =
      static_cast<double>(model.NumParameters()) * sizeof(float);
  const std::vector<int64_t> prompt =
      RandomIds(mc.prompt, config.vocab_size, generator);
  const std::vector<int64_t> long_prompt =
      RandomIds(mc.prefill, config.vocab_size, generator);
  GenerateOptions greedy;
  greedy.sampling.do_sample = false;
  greedy.sampling.repetition_penalty = 1.0;

  for (int threads : ctx.threads) {
    const std::string decode_name =
        absl::StrCat("generate_", mc.tag, "_tok_s_t", threads);
    const std::string prefill_name =
        absl::StrCat("prefill_", mc.tag, "_tok_s_t", threads);
    const bool decode = ctx.Wants(decode_name);
    const bool prefill = ctx.Wants(prefill_name);
    if (!decode && !prefill) continue;
    MG_CHECK_OK(SetNumThreads(threads));
    std::string baseline_name = "pytorch (skipped in --quick)";
    std::map<std::string, double> torch;
    if (!ctx.quick) torch = TorchFigures(config, mc, threads, &baseline_name);
    auto torch_figure = [&](const char* key) {
      const auto it = torch.find(key);
      return it == torch.end() ? kNotANumber : it->second;
    };

    if (decode) {
      greedy.max_new_tokens = mc.new_tokens;
      ValueOrDie(Generate(model, {prompt}, greedy));  // warm-up
      // Each repeat follows a pass of the streaming read on as many
      // threads, so that the limit and the decode see the same machine
      // load (on a shared machine both drift by tens of percent).
      StreamingReader reader(ReadBufferBytes(ctx), threads);
      reader.GbPerSecond();  // warm-up
      std::vector<double> rates, bandwidths;
      for (int r = 0; r < mc.repeats; ++r) {
        bandwidths.push_back(reader.GbPerSecond());
        const GenerateOutput out =
            ValueOrDie(Generate(model, {prompt}, greedy));
        rates.push_back(static_cast<double>(out.decode_steps) /
                        out.decode_seconds);
      }
      std::sort(rates.begin(), rates.end());
      std::sort(bandwidths.begin(), bandwidths.end());
      const double tok_s = rates[rates.size() / 2];
      const double gb_per_s = bandwidths[bandwidths.size() / 2];
      const double limit = gb_per_s * 1e9 / weight_bytes;
      const double peak =
          PeakMiB([&] { ValueOrDie(Generate(model, {prompt}, greedy)); });
      records->push_back(MakeRecord(
          decode_name, tok_s, torch_figure("decode_tok_s"), "tok/s", true,
          baseline_name,
          absl::StrFormat(
              "%.2f ms/token; bandwidth limit %.0f tok/s (%.1f GB/s, read "
              "between the repeats, over %.1f MB of weights), %.0f%% of it; "
              "Generate greedy, prompt %d, %d new, median of %d; peak %.1f "
              "MiB beyond the weights",
              1e3 / tok_s, limit, gb_per_s, weight_bytes * 1e-6,
              100.0 * tok_s / limit, static_cast<int>(mc.prompt),
              static_cast<int>(mc.new_tokens), mc.repeats, peak)));
    }

    if (prefill) {
      greedy.max_new_tokens = 1;
      const double seconds = MedianSeconds(
          [&] { ValueOrDie(Generate(model, {long_prompt}, greedy)); }, 3,
          ctx.quick ? 0.05 : 1.0);
      const double peak =
          PeakMiB([&] { ValueOrDie(Generate(model, {long_prompt}, greedy)); });
      const double tok_s = static_cast<double>(mc.prefill) / seconds;
      const double gflops =
          ForwardFlops(config, mc.prefill, 0, 1) / seconds * 1e-9;
      Record record = MakeRecord(
          prefill_name, tok_s, torch_figure("prefill_tok_s"), "tok/s", true,
          baseline_name,
          absl::StrFormat("%.1f ms for %d tokens; %.1f GFLOP/s of %.0f peak "
                          "on %d threads; peak %.1f MiB beyond the weights",
                          seconds * 1e3, static_cast<int>(mc.prefill), gflops,
                          PeakGflops(threads), threads, peak));
      record.pct_peak = PercentOfPeak(gflops, threads);
      records->push_back(std::move(record));
    }
  }
  MG_CHECK_OK(SetNumThreads(DefaultNumThreads()));
}

// The fortunes corpus: every plain text file of the directory (the ones
// without an extension; .dat files are indexes, .u8 links), sorted by name.
std::string ReadFortunes(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* handle = opendir(dir.c_str())) {
    while (const dirent* entry = readdir(handle)) {
      const std::string name = entry->d_name;
      if (name.find('.') == std::string::npos) names.push_back(name);
    }
    closedir(handle);
  }
  std::sort(names.begin(), names.end());
  std::string text;
  for (const std::string& name : names) {
    std::ifstream in(dir + "/" + name, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    text += content.str();
  }
  return text;
}

// Chinese text (everyday sentences on learning and weather), so that the
// encode speed includes 3-byte UTF-8 characters and the split pattern's
// letter runs of them.
constexpr char kChineseText[] =
    "今天天气很好，我们一起去公园散步吧。学习一门新的语言需要耐心和时间，"
    "每天练习一点点，进步就会慢慢出现。小明喜欢在图书馆里看书，"
    "他说安静的地方更容易集中注意力。春天来了，花开了，鸟儿在树上唱歌。"
    "这个模型只有两千六百万个参数，却能写出通顺的句子。\n";

// Encode MB/s of a byte-level BPE tokenizer trained (BpeTrainer, MiniMind's
// vocabulary size) on the first MiB of the text it then encodes: the
// fortunes corpus plus about a tenth as much Chinese text.
void RunTokenizer(const Context& ctx, std::vector<Record>* records) {
  const std::string name = "tokenize_mb_s";
  if (!ctx.Wants(name)) return;
  std::string text = ReadFortunes("/usr/share/games/fortunes");
  if (text.empty()) {
    records->push_back(MakeRecord(name, kNotANumber, kNotANumber, "MB/s", true,
                                  "none",
                                  "missing: /usr/share/games/fortunes (the "
                                  "fortunes package) has no text"));
    return;
  }
  if (ctx.quick) text.resize(std::min<size_t>(text.size(), 64 << 10));
  const size_t english = text.size();
  while (text.size() < english + english / 10) text += kChineseText;
  BpeTrainerOptions options;
  options.vocab_size = ctx.quick ? 600 : 6400;
  BpeTrainer trainer(options);
  trainer.Feed(absl::string_view(text).substr(0, 1 << 20));
  trainer.Feed(kChineseText);
  const Tokenizer tokenizer =
      ValueOrDie(Tokenizer::FromSpec(ValueOrDie(trainer.Train())));
  size_t tokens = 0;
  const double seconds =
      MedianSeconds([&] { tokens = tokenizer.Encode(text).size(); }, 3,
                    ctx.quick ? 0.05 : 1.0);
  const double mb = static_cast<double>(text.size()) * 1e-6;
  records->push_back(MakeRecord(
      name, mb / seconds, kNotANumber, "MB/s", true, "none",
      absl::StrFormat("Tokenizer::Encode of %.2f MB (fortunes + %.0f%% "
                      "Chinese) in one call, %.0f ms; vocab %d trained on "
                      "its first MiB; %zu tokens, %.2f bytes/token; 1 thread",
                      mb, 100.0 * (text.size() - english) / text.size(),
                      seconds * 1e3, static_cast<int>(tokenizer.vocab_size()),
                      tokens, static_cast<double>(text.size()) / tokens)));
}

void RunGenerateGroup(const Context& ctx, std::vector<Record>* records) {
  const ModelCase mc =
      ctx.quick ? ModelCase{"tiny", "tiny", 16, 8, 64, 2}
                : ModelCase{"26m", "minimind2-small", 64, 64, 512, 9};
  RunMemoryBandwidth(ctx, records);
  RunSmallRowsMatmul(ctx, records);
  RunModel(ctx, mc, records);
  RunTokenizer(ctx, records);
}

}  // namespace

MG_REGISTER_BENCH_GROUP(generate, RunGenerateGroup);

}  // namespace minigraph::bench
