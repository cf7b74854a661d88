// The streaming read loop: per-target kernel, then (once) the dispatch and
// the multi-threaded timing.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tools/bench/mem_bandwidth.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sum_i p[i] over `count` floats (a multiple of 4 vectors), with four
// independent accumulators so that the adds' latency never waits on memory:
// the loop is bound by how fast loads return.
float SumFloats(const float* HWY_RESTRICT p, size_t count) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  for (size_t i = 0; i + 4 * lanes <= count; i += 4 * lanes) {
    a0 = hn::Add(a0, hn::Load(d, p + i));
    a1 = hn::Add(a1, hn::Load(d, p + i + lanes));
    a2 = hn::Add(a2, hn::Load(d, p + i + 2 * lanes));
    a3 = hn::Add(a3, hn::Load(d, p + i + 3 * lanes));
  }
  const auto sum = hn::Add(hn::Add(a0, a1), hn::Add(a2, a3));
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

size_t ReadLoopLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

const char* ReadLoopTargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace minigraph::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "tools/bench/mem_bandwidth.h"

namespace minigraph::bench {

HWY_EXPORT(SumFloats);
HWY_EXPORT(ReadLoopLanes);
HWY_EXPORT(ReadLoopTargetName);

namespace {

using Clock = std::chrono::steady_clock;

// Keeps the sums observable.
std::atomic<float> sink{0.0f};

// Wall seconds for one thread per entry of `starts`, thread t summing the
// `chunk` floats at starts[t], started together once all of them exist.
double SecondsOfThreads(const std::vector<const float*>& starts, size_t chunk) {
  const int threads = static_cast<int>(starts.size());
  if (threads == 1) {
    const auto start = Clock::now();
    sink.store(HWY_DYNAMIC_DISPATCH(SumFloats)(starts[0], chunk),
               std::memory_order_relaxed);
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      sink.store(HWY_DYNAMIC_DISPATCH(SumFloats)(starts[t], chunk),
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

struct StreamingReader::Buffer {
  hwy::AlignedFreeUniquePtr<float[]> floats;
};

StreamingReader::StreamingReader(size_t bytes, int threads)
    : threads_(std::max(threads, 1)), buffer_(std::make_unique<Buffer>()) {
  // Each thread's chunk is whole groups of 4 vectors (the loop's step).
  const size_t step = 4 * HWY_DYNAMIC_DISPATCH(ReadLoopLanes)();
  chunk_ = std::max<size_t>(1, bytes / sizeof(float) / threads_ / step) * step;
  const size_t count = chunk_ * threads_;
  buffer_->floats = hwy::AllocateAligned<float>(count);
  // Small values, so that the sums stay finite and ordinary.
  std::fill(buffer_->floats.get(), buffer_->floats.get() + count, 1e-6f);
}

StreamingReader::~StreamingReader() = default;

size_t StreamingReader::bytes() const {
  return chunk_ * threads_ * sizeof(float);
}

double StreamingReader::GbPerSecond() {
  std::vector<const float*> starts;
  for (int t = 0; t < threads_; ++t) {
    starts.push_back(buffer_->floats.get() + t * chunk_);
  }
  return static_cast<double>(bytes()) / SecondsOfThreads(starts, chunk_) * 1e-9;
}

ReadBandwidth MeasureReadBandwidth(size_t bytes, int threads, int runs) {
  StreamingReader reader(bytes, threads);
  ReadBandwidth result;
  result.threads = reader.threads();
  result.bytes = reader.bytes();
  result.target = HWY_DYNAMIC_DISPATCH(ReadLoopTargetName)();
  reader.GbPerSecond();  // warm-up
  std::vector<double> rates;
  for (int run = 0; run < std::max(runs, 1); ++run) {
    rates.push_back(reader.GbPerSecond());
  }
  std::sort(rates.begin(), rates.end());
  result.gb_per_s = rates[rates.size() / 2];
  return result;
}

size_t LastLevelCacheBytes() {
  for (int name :
       {_SC_LEVEL4_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
    const long size = sysconf(name);
    if (size > 0) return static_cast<size_t>(size);
  }
  return 0;
}

}  // namespace minigraph::bench

#endif  // HWY_ONCE
