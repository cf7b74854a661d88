// Allocators compared on loops that allocate like training does: minigraph's
// caching allocator (framework/allocator.h) against plain glibc malloc and
// the malloc replacements Debian ships, each in a fresh child process (this
// binary run again with LD_PRELOAD and the cache turned off), same work.
//
//   alloc_<workload>_<allocator>_t<n>  median ms per iteration on n threads,
//       against glibc malloc with the cache off in the same run; the note
//       (and JSON keys faults_per_iter, peak_rss_mib) gives the minor page
//       faults per iteration in steady state and the child's peak RSS
//
// Workloads:
//   attn_fused     the MiniMind Attention module, forward + backward (fused
//                  path), B1 T512
//   attn_composed  the same on the composed path ([B, H, T, T] scores)
//   train          a training-like loop: two MiniMind-like blocks (RMSNorm,
//                  attention, RMSNorm, SwiGLU MLP, residuals), forward,
//                  backward and an SGD update of every weight, B2 T256
// Allocators:
//   cache        minigraph's caching allocator (the default)
//   glibc        glibc malloc, cache off (MINIGRAPH_ALLOCATOR_CACHE_MB=0)
//   glibc_tuned  the same with GLIBC_TUNABLES raising the mmap and trim
//                thresholds (as measured in DESIGN.md)
//   tcmalloc, jemalloc, mimalloc  LD_PRELOAD of Debian's libraries, cache off;
//                a library that is not installed is reported as missing
//
// The child is this binary with MINIGRAPH_BENCH_ALLOCATOR_CHILD set: it runs
// one workload in-process as the record allocator_child_<workload>_t<n> and
// writes it with --json, which the parent reads back. The allocators take
// turns over three rounds of children (one in --quick); a row's time is the
// median of its children's medians.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/allocator.h"
#include "framework/autograd.h"
#include "framework/memory_stats.h"
#include "framework/thread_pool.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "models/attention.h"
#include "models/minimind_config.h"
#include "models/rms_norm.h"
#include "ops/all_ops.h"
#include "tools/bench/bench.h"

extern char** environ;

#if defined(__SANITIZE_ADDRESS__)
#define MINIGRAPH_BENCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MINIGRAPH_BENCH_ASAN 1
#endif
#endif

namespace minigraph::bench {
namespace {

constexpr char kChildEnv[] = "MINIGRAPH_BENCH_ALLOCATOR_CHILD";

// ---- workloads (run in the child) ------------------------------------------

struct WorkloadSize {
  int64_t batch;
  int64_t len;
  int blocks;  // the training loop's depth
};

WorkloadSize SizeOf(const std::string& workload, bool quick) {
  if (workload == "train") {
    return quick ? WorkloadSize{1, 32, 1} : WorkloadSize{2, 256, 2};
  }
  return quick ? WorkloadSize{1, 64, 1} : WorkloadSize{1, 512, 1};
}

// Weights as nn.Linear initialises them: U(-1/sqrt(in), 1/sqrt(in)).
Tensor LinearWeight(int64_t out, int64_t in, Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  return Tensor::Uniform({out, in}, -bound, bound, gen).set_requires_grad(true);
}

// One MiniMind-like decoder block: attention and a SwiGLU MLP, each behind
// an RMSNorm and a residual.
struct Block {
  Attention attention;
  Tensor input_norm, post_norm;  // [hidden]
  Tensor gate, up;               // [intermediate, hidden]
  Tensor down;                   // [hidden, intermediate]
};

// MiniMind's intermediate size: 8/3 hidden rounded up to a multiple of 64.
int64_t IntermediateSize(int64_t hidden) {
  return (hidden * 8 / 3 + 63) / 64 * 64;
}

Block MakeBlock(const MiniMindConfig& config, Generator& gen) {
  const int64_t hidden = config.hidden_size;
  const int64_t inner = IntermediateSize(hidden);
  Block block{ValueOrDie(Attention::Create(config, gen)),
              Tensor::Ones({hidden}).set_requires_grad(true),
              Tensor::Ones({hidden}).set_requires_grad(true),
              LinearWeight(inner, hidden, gen),
              LinearWeight(inner, hidden, gen),
              LinearWeight(hidden, inner, gen)};
  return block;
}

// h + attn(norm(h)), then h + down(silu(gate(norm(h))) * up(norm(h))).
Tensor BlockForward(const Block& b, const MiniMindConfig& config,
                    const Tensor& x) {
  Tensor h = x + b.attention(RmsNorm(x, b.input_norm, config.rms_norm_eps));
  const Tensor n = RmsNorm(h, b.post_norm, config.rms_norm_eps);
  const Tensor mlp = Matmul(
      Silu(Matmul(n, b.gate, false, true)) * Matmul(n, b.up, false, true),
      b.down, false, true);
  return h + mlp;
}

// The step a workload repeats.
std::function<void()> MakeWorkload(const std::string& workload,
                                   const WorkloadSize& size) {
  const MiniMindConfig config;
  Generator gen(7);
  const Shape x_shape = {size.batch, size.len, config.hidden_size};
  if (workload == "train") {
    auto blocks = std::make_shared<std::vector<Block>>();
    auto params = std::make_shared<std::vector<Tensor>>();
    for (int i = 0; i < size.blocks; ++i) {
      blocks->push_back(MakeBlock(config, gen));
      const Block& b = blocks->back();
      for (const auto& [name, tensor] : b.attention.NamedParameters()) {
        params->push_back(tensor);
      }
      for (const Tensor& t : {b.input_norm, b.post_norm, b.gate, b.up, b.down})
        params->push_back(t);
    }
    const Tensor x = Tensor::Randn(x_shape, gen);
    return [config, blocks, params, x] {
      Tensor h = x;
      for (const Block& b : *blocks) h = BlockForward(b, config, h);
      const Tensor loss = Mean(h * h);
      std::vector<Tensor> grads = ValueOrDie(Gradients({loss}, *params));
      // SGD, p <- p - lr g, written back into the parameter's storage as an
      // optimizer does.
      NoGradGuard no_grad;
      for (size_t i = 0; i < params->size(); ++i) {
        const Tensor& p = (*params)[i];
        const Tensor updated = p - grads[i] * 1e-3;
        std::memcpy(p.data<float>(), updated.data<float>(),
                    static_cast<size_t>(p.numel()) * sizeof(float));
      }
    };
  }
  auto module = std::make_shared<Attention>(
      ValueOrDie(Attention::Create(config, gen, DType::kFloat32)));
  std::vector<Tensor> wrt;
  for (const auto& [name, tensor] : module->NamedParameters()) {
    wrt.push_back(tensor);
  }
  Tensor x = Tensor::Randn(x_shape, gen);
  x.set_requires_grad(true);
  wrt.push_back(x);
  const Tensor dy = Tensor::Randn(x_shape, gen);
  AttentionOptions options;
  options.path = workload == "attn_composed" ? AttentionPath::kComposed
                                             : AttentionPath::kFused;
  return [module, wrt, x, dy, options] {
    const Tensor y = ValueOrDie(module->Forward(x, options)).y;
    MG_CHECK_OK(Gradients({y}, wrt, {dy}).status());
  };
}

double PeakRssMib() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return kNotANumber;
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

// Runs `workload` here: warm-up, then timed iterations; page faults are
// counted over the timed ones only (the steady state).
Record MeasureInProcess(const std::string& workload, int threads, bool quick,
                        const std::string& name) {
  using Clock = std::chrono::steady_clock;
  MG_CHECK_OK(SetNumThreads(threads));
  const WorkloadSize size = SizeOf(workload, quick);
  const std::function<void()> step = MakeWorkload(workload, size);
  const int warmup = quick ? 2 : 3;
  for (int i = 0; i < warmup; ++i) step();
  const double tensor_mib = PeakMiB(step);
  // Short children: the parent runs each allocator in several rounds.
  const int min_runs = quick ? 3 : 5;
  const double min_seconds = quick ? 0.0 : 0.5;
  std::vector<double> ms;
  const AllocatorStats stats_before = StorageAllocator().Stats();
  const int64_t faults_before = MinorPageFaults();
  const auto start = Clock::now();
  while (static_cast<int>(ms.size()) < min_runs ||
         std::chrono::duration<double>(Clock::now() - start).count() <
             min_seconds) {
    const auto t0 = Clock::now();
    step();
    ms.push_back(std::chrono::duration<double>(Clock::now() - t0).count() *
                 1e3);
    if (ms.size() >= 200) break;
  }
  const int64_t faults = MinorPageFaults() - faults_before;
  const AllocatorStats stats = StorageAllocator().Stats();
  const int iterations = static_cast<int>(ms.size());
  std::sort(ms.begin(), ms.end());
  // Whether the storage cache served the timed iterations.
  const int64_t hits = stats.hits - stats_before.hits;
  const int64_t requests = hits + stats.misses - stats_before.misses;
  const std::string cache =
      stats.cache_limit_bytes == 0
          ? std::string("storage cache off")
          : absl::StrFormat("storage cache %d MiB, %.1f%% hits",
                            stats.cache_limit_bytes >> 20,
                            requests > 0 ? 100.0 * hits / requests : 0.0);
  Record record = MakeRecord(
      name, ms[ms.size() / 2], kNotANumber, "ms", false, "none",
      absl::StrFormat("B%d T%d%s; tensors %.0f MiB at peak; %s; %d iterations",
                      size.batch, size.len,
                      workload == "train"
                          ? absl::StrFormat(", %d blocks", size.blocks)
                          : std::string(),
                      tensor_mib, cache, iterations));
  record.faults_per_iter = static_cast<double>(faults) / iterations;
  record.peak_rss_mib = PeakRssMib();
  return record;
}

// ---- the comparison (run in the parent) -------------------------------------

struct Variant {
  std::string name;
  std::vector<std::string> libraries;  // first one found is preloaded
  std::string package;                 // Debian package with the library
  std::string glibc_tunables;
  bool cache = false;  // minigraph's cache on (inherits the caller's limit)
};

std::vector<Variant> Variants() {
  return {
      {"cache", {}, "", "", true},
      {"glibc", {}, "", "", false},
      {"glibc_tuned",
       {},
       "",
       "glibc.malloc.mmap_threshold=4294967295:"
       "glibc.malloc.trim_threshold=4294967295",
       false},
      {"tcmalloc",
       {"libtcmalloc_minimal.so.4", "libtcmalloc.so.4"},
       "libtcmalloc-minimal4",
       "",
       false},
      {"jemalloc", {"libjemalloc.so.2"}, "libjemalloc2", "", false},
      {"mimalloc", {"libmimalloc.so.2"}, "libmimalloc2.0", "", false},
  };
}

// The first of `names` in the usual library directories, or "".
std::string FindLibrary(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/usr/lib64",
                            "/usr/lib", "/usr/local/lib"}) {
      const std::string path = absl::StrCat(dir, "/", name);
      if (access(path.c_str(), R_OK) == 0) return path;
    }
  }
  return "";
}

struct ChildResult {
  bool ok = false;
  std::string error;  // why there is no figure
  Record record;      // the child's record when ok
};

std::string SelfPath() {
  char buffer[4096];
  const ssize_t n = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return "/proc/self/exe";
  buffer[n] = '\0';
  return buffer;
}

// The child's environment: ours minus the variables the variant sets.
std::vector<std::string> ChildEnvironment(const Variant& variant,
                                          const std::string& preload,
                                          int threads) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const std::string key = text.substr(0, text.find('='));
    if (key == "LD_PRELOAD" || key == "GLIBC_TUNABLES" ||
        key == "MINIGRAPH_NUM_THREADS" || key == kChildEnv ||
        (!variant.cache && key == "MINIGRAPH_ALLOCATOR_CACHE_MB")) {
      continue;
    }
    env.push_back(text);
  }
  env.push_back(absl::StrCat(kChildEnv, "=1"));
  env.push_back(absl::StrCat("MINIGRAPH_NUM_THREADS=", threads));
  if (!variant.cache) env.push_back("MINIGRAPH_ALLOCATOR_CACHE_MB=0");
  if (!preload.empty()) env.push_back("LD_PRELOAD=" + preload);
  if (!variant.glibc_tunables.empty()) {
    env.push_back("GLIBC_TUNABLES=" + variant.glibc_tunables);
  }
  return env;
}

// Reads the record `name` back from the JSON file a child wrote.
ChildResult ReadChildRecord(const std::string& path, const std::string& name) {
  ChildResult result;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  google::protobuf::ListValue list;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &list).ok()) {
    result.error = "child wrote no readable JSON";
    return result;
  }
  for (const google::protobuf::Value& element : list.values()) {
    const auto& fields = element.struct_value().fields();
    auto number = [&](const char* key) {
      const auto it = fields.find(key);
      return it != fields.end() && it->second.kind_case() ==
                                       google::protobuf::Value::kNumberValue
                 ? it->second.number_value()
                 : kNotANumber;
    };
    const auto found = fields.find("name");
    if (found == fields.end() || found->second.string_value() != name) {
      continue;
    }
    result.ok = true;
    result.record.name = name;
    result.record.ours = number("ours");
    result.record.faults_per_iter = number("faults_per_iter");
    result.record.peak_rss_mib = number("peak_rss_mib");
    const auto note = fields.find("note");
    if (note != fields.end()) result.record.note = note->second.string_value();
    return result;
  }
  result.error = "child wrote no " + name;
  return result;
}

ChildResult RunChild(const Variant& variant, const std::string& workload,
                     int threads, bool quick) {
  ChildResult result;
  std::string preload;
  if (!variant.libraries.empty()) {
#if defined(MINIGRAPH_BENCH_ASAN)
    result.error = "skipped: another malloc cannot be preloaded under ASan";
    return result;
#endif
    preload = FindLibrary(variant.libraries);
    if (preload.empty()) {
      result.error = absl::StrCat("missing: ", variant.libraries[0],
                                  " (Debian package ", variant.package, ")");
      return result;
    }
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string json = absl::StrCat(tmp != nullptr && *tmp ? tmp : "/tmp",
                                  "/minigraph_allocator_XXXXXX");
  const int fd = mkstemp(json.data());
  if (fd < 0) {
    result.error = "cannot create a temporary file for the child's JSON";
    return result;
  }
  close(fd);
  const std::string name =
      absl::StrCat("allocator_child_", workload, "_t", threads);
  const std::vector<std::string> args = {
      SelfPath(), "--filter=" + name, absl::StrCat("--threads=", threads),
      quick ? "--quick" : "--quick=false", "--json=" + json};
  const std::vector<std::string> env =
      ChildEnvironment(variant, preload, threads);
  std::vector<char*> argv, envp;
  for (const std::string& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // The child's table would interleave with ours: its stdout is dropped
  // (stderr stays, for its errors).
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null",
                                   O_WRONLY, 0);
  std::fflush(stdout);
  pid_t pid = 0;
  const int spawned =
      posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    std::remove(json.c_str());
    result.error = absl::StrCat("cannot start the child: ", strerror(spawned));
    return result;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::remove(json.c_str());
    result.error =
        WIFEXITED(status)
            ? absl::StrCat("child failed with exit code ", WEXITSTATUS(status))
            : absl::StrCat("child killed by signal ", WTERMSIG(status));
    return result;
  }
  result = ReadChildRecord(json, name);
  std::remove(json.c_str());
  return result;
}

// One figure from a variant's child runs: the median of their median times,
// the mean of their page faults per iteration, the largest peak RSS. A
// failed run makes the whole figure missing.
ChildResult Combine(const std::vector<ChildResult>& runs) {
  for (const ChildResult& run : runs) {
    if (!run.ok) return run;
  }
  ChildResult combined = runs[0];
  std::vector<double> ms;
  double faults = 0.0;
  for (const ChildResult& run : runs) {
    ms.push_back(run.record.ours);
    faults += run.record.faults_per_iter;
    combined.record.peak_rss_mib =
        std::max(combined.record.peak_rss_mib, run.record.peak_rss_mib);
  }
  std::sort(ms.begin(), ms.end());
  combined.record.ours = ms[ms.size() / 2];
  combined.record.faults_per_iter = faults / static_cast<double>(runs.size());
  return combined;
}

void RunAllocators(const Context& ctx, std::vector<Record>* records) {
  const std::vector<std::string> workloads = {"attn_fused", "attn_composed",
                                              "train"};
  if (std::getenv(kChildEnv) != nullptr) {
    // In a child: only the in-process measurement, never another child.
    for (const std::string& workload : workloads) {
      for (int threads : ctx.threads) {
        const std::string name =
            absl::StrCat("allocator_child_", workload, "_t", threads);
        if (!ctx.Wants(name) || ctx.filter.empty()) continue;
        records->push_back(
            MeasureInProcess(workload, threads, ctx.quick, name));
      }
    }
    return;
  }
  const std::vector<Variant> variants = Variants();
  const Variant& glibc = variants[1];
  // Rounds of one child per allocator, in turn, so that every allocator
  // sees the same machine load (other processes on a shared machine move
  // a whole child's figure).
  const int rounds = ctx.quick ? 1 : 3;
  for (const std::string& workload : workloads) {
    for (int threads : ctx.threads) {
      std::vector<const Variant*> wanted;
      for (const Variant& v : variants) {
        if (ctx.Wants(
                absl::StrCat("alloc_", workload, "_", v.name, "_t", threads))) {
          wanted.push_back(&v);
        }
      }
      if (wanted.empty()) continue;
      // glibc is every row's baseline, so it runs whenever any row does.
      std::vector<const Variant*> runs = wanted;
      if (std::find(runs.begin(), runs.end(), &glibc) == runs.end()) {
        runs.push_back(&glibc);
      }
      std::map<std::string, std::vector<ChildResult>> results;
      for (int round = 0; round < rounds; ++round) {
        for (const Variant* v : runs) {
          results[v->name].push_back(
              RunChild(*v, workload, threads, ctx.quick));
        }
      }
      const ChildResult baseline = Combine(results[glibc.name]);
      for (const Variant* v : wanted) {
        const ChildResult r = Combine(results[v->name]);
        const std::string name =
            absl::StrCat("alloc_", workload, "_", v->name, "_t", threads);
        const double glibc_ms =
            baseline.ok ? baseline.record.ours : kNotANumber;
        if (!r.ok) {
          records->push_back(MakeRecord(name, kNotANumber, glibc_ms, "ms",
                                        false, "glibc", r.error));
          continue;
        }
        std::string note = r.record.note;
        if (rounds > 1) {
          absl::StrAppend(&note, "; median of ", rounds, " child runs");
        }
        Record record = MakeRecord(name, r.record.ours, glibc_ms, "ms", false,
                                   "glibc", note);
        record.faults_per_iter = r.record.faults_per_iter;
        record.peak_rss_mib = r.record.peak_rss_mib;
        records->push_back(std::move(record));
      }
    }
  }
}

}  // namespace

MG_REGISTER_BENCH_GROUP(allocator, RunAllocators);

}  // namespace minigraph::bench
