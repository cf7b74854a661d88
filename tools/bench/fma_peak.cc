// The FMA peak loop: per-target kernel, then (once) the dispatch and the
// multi-threaded timing.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tools/bench/fma_peak.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// 12 chains: an FMA has a latency of about 4 cycles and two FMA ports issue
// one each per cycle, so 8 independent chains keep both busy; 12 leaves
// room for a longer latency and still fits in AVX2's 16 registers with the
// two constants.
constexpr int kAccumulators = 12;

// acc_i = acc_i * m + c for `rounds` rounds on kAccumulators independent
// vectors (2 flops per lane per FMA). With m < 1 every chain converges to
// c / (1 - m), so no value overflows or turns denormal. Returns the sum of
// all lanes, so that the compiler keeps the work.
float FmaChains(int64_t rounds) {
  const hn::ScalableTag<float> d;
  const auto m = hn::Set(d, 0.999f);
  const auto c = hn::Set(d, 0.001f);
  auto a0 = hn::Set(d, 0.0f), a1 = hn::Set(d, 0.1f), a2 = hn::Set(d, 0.2f);
  auto a3 = hn::Set(d, 0.3f), a4 = hn::Set(d, 0.4f), a5 = hn::Set(d, 0.5f);
  auto a6 = hn::Set(d, 0.6f), a7 = hn::Set(d, 0.7f), a8 = hn::Set(d, 0.8f);
  auto a9 = hn::Set(d, 0.9f), a10 = hn::Set(d, 1.0f), a11 = hn::Set(d, 1.1f);
  for (int64_t r = 0; r < rounds; ++r) {
    a0 = hn::MulAdd(a0, m, c);
    a1 = hn::MulAdd(a1, m, c);
    a2 = hn::MulAdd(a2, m, c);
    a3 = hn::MulAdd(a3, m, c);
    a4 = hn::MulAdd(a4, m, c);
    a5 = hn::MulAdd(a5, m, c);
    a6 = hn::MulAdd(a6, m, c);
    a7 = hn::MulAdd(a7, m, c);
    a8 = hn::MulAdd(a8, m, c);
    a9 = hn::MulAdd(a9, m, c);
    a10 = hn::MulAdd(a10, m, c);
    a11 = hn::MulAdd(a11, m, c);
  }
  const auto sum = hn::Add(hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)),
                                   hn::Add(hn::Add(a4, a5), hn::Add(a6, a7))),
                           hn::Add(hn::Add(a8, a9), hn::Add(a10, a11)));
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

size_t FloatLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

const char* TargetNameOfThis() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace minigraph::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tools/bench/fma_peak.h"

namespace minigraph::bench {

HWY_EXPORT(FmaChains);
HWY_EXPORT(FloatLanes);
HWY_EXPORT(TargetNameOfThis);

namespace {

using Clock = std::chrono::steady_clock;

// Keeps the kernels' results observable.
std::atomic<float> sink{0.0f};

double SecondsOfOneThread(int64_t rounds) {
  const auto start = Clock::now();
  sink.store(HWY_DYNAMIC_DISPATCH(FmaChains)(rounds),
             std::memory_order_relaxed);
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Wall seconds for `threads` threads that each run `rounds` rounds, started
// together once all of them exist.
double SecondsOfThreads(int threads, int64_t rounds) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      sink.store(HWY_DYNAMIC_DISPATCH(FmaChains)(rounds),
                 std::memory_order_relaxed);
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread& worker : workers) worker.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

FmaPeak DescribeFmaLoop() {
  FmaPeak loop;
  loop.lanes = HWY_DYNAMIC_DISPATCH(FloatLanes)();
  // The same constant in every target's namespace; HWY_NAMESPACE here is
  // the static target's.
  loop.accumulators = HWY_NAMESPACE::kAccumulators;
  loop.target = HWY_DYNAMIC_DISPATCH(TargetNameOfThis)();
  return loop;
}

FmaPeak MeasureFmaPeak(int threads, int runs) {
  threads = std::max(threads, 1);
  runs = std::max(runs, 1);
  FmaPeak peak = DescribeFmaLoop();
  peak.threads = threads;
  // Rounds for ~5 ms per run, from a short calibration (which also warms
  // the core up from any low-power state). Short runs are less often cut by
  // the scheduler on a shared machine; the median drops the ones that are.
  int64_t rounds = 1 << 16;
  double seconds = SecondsOfOneThread(rounds);
  while (seconds < 2e-3) {
    rounds *= 4;
    seconds = SecondsOfOneThread(rounds);
  }
  rounds = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(rounds) * 0.005 / seconds));
  std::vector<double> rates;
  for (int run = 0; run < runs; ++run) {
    const double wall = threads == 1 ? SecondsOfOneThread(rounds)
                                     : SecondsOfThreads(threads, rounds);
    const double flops = 2.0 * static_cast<double>(threads) *
                         static_cast<double>(rounds) * peak.accumulators *
                         static_cast<double>(peak.lanes);
    rates.push_back(flops / wall * 1e-9);
  }
  std::sort(rates.begin(), rates.end());
  peak.gflops = rates[rates.size() / 2];
  return peak;
}

}  // namespace minigraph::bench

#endif  // HWY_ONCE
