#include "framework/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace minigraph {
namespace {

// True on pool workers and on a caller while it runs its own task: a
// parallel loop started from there runs inline rather than deadlocking.
thread_local bool inside_task = false;

// How long an idle thread polls before sleeping on a condition variable. A
// kernel often starts several parallel loops back to back (pack, compute);
// polling for this long lets the next one start without a futex wake-up,
// which costs ~5-10 us on this machine, while an idle pool still goes quiet
// quickly.
constexpr auto kSpinTime = std::chrono::microseconds(50);

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls `done` for up to kSpinTime; true if it became true meanwhile.
template <typename Predicate>
bool SpinUntil(const Predicate& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      CpuRelax();
    }
    if (std::chrono::steady_clock::now() > deadline) return done();
  }
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  const int workers = std::max(num_threads, 1) - 1;
  workers_.reserve(workers);
  for (int i = 0; i < workers; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i + 1); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::WorkerLoop(int index) {
  inside_task = true;
  uint64_t seen = 0;
  for (;;) {
    auto changed = [&] {
      return generation_.load(std::memory_order_acquire) != seen;
    };
    if (!SpinUntil(changed)) {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, changed);
    }
    // The job is published under the mutex together with its generation,
    // so a worker that slept through a job it had no task in reads the
    // newest job consistently.
    const absl::FunctionRef<void(int)>* job;
    int tasks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      seen = generation_.load(std::memory_order_relaxed);
      job = job_;
      tasks = job_tasks_;
    }
    if (index >= tasks) continue;
    (*job)(index);
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::Run(int num_tasks, absl::FunctionRef<void(int)> fn) {
  num_tasks = std::min(num_tasks, num_threads());
  std::unique_lock<std::mutex> run_lock(run_mutex_, std::defer_lock);
  if (num_tasks <= 1 || inside_task || !run_lock.try_lock()) {
    for (int t = 0; t < num_tasks; ++t) fn(t);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_tasks_ = num_tasks;
    remaining_.store(num_tasks - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  inside_task = true;
  fn(0);
  inside_task = false;
  auto finished = [&] {
    return remaining_.load(std::memory_order_acquire) == 0;
  };
  if (!SpinUntil(finished)) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, finished);
  }
}

namespace {

std::mutex global_pool_mutex;  // serialises creating and replacing the pool
// Read without the mutex on every parallel loop; the pool in use when the
// process exits is never deleted (its workers live until exit).
std::atomic<ThreadPool*> global_pool{nullptr};

}  // namespace

int DefaultNumThreads() {
  if (const char* text = std::getenv("MINIGRAPH_NUM_THREADS")) {
    int value = 0;
    if (absl::SimpleAtoi(text, &value) && value >= 1 && value <= 1024) {
      return value;
    }
    std::fprintf(stderr,
                 "minigraph: ignoring MINIGRAPH_NUM_THREADS='%s': expected a "
                 "whole number from 1 to 1024\n",
                 text);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool& GlobalThreadPool() {
  if (ThreadPool* pool = global_pool.load(std::memory_order_acquire)) {
    return *pool;
  }
  std::lock_guard<std::mutex> lock(global_pool_mutex);
  ThreadPool* pool = global_pool.load(std::memory_order_relaxed);
  if (pool == nullptr) {
    pool = new ThreadPool(DefaultNumThreads());
    global_pool.store(pool, std::memory_order_release);
  }
  return *pool;
}

int NumThreads() { return GlobalThreadPool().num_threads(); }

absl::Status SetNumThreads(int num_threads) {
  if (num_threads < 1 || num_threads > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("SetNumThreads: ", num_threads,
                     " threads requested; expected 1 to 1024"));
  }
  std::lock_guard<std::mutex> lock(global_pool_mutex);
  ThreadPool* old = global_pool.load(std::memory_order_relaxed);
  if (old != nullptr && old->num_threads() == num_threads) {
    return absl::OkStatus();
  }
  global_pool.store(new ThreadPool(num_threads), std::memory_order_release);
  delete old;
  return absl::OkStatus();
}

void ParallelFor(int64_t n, int64_t min_chunk,
                 absl::FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  const int64_t by_size = n / std::max<int64_t>(min_chunk, 1);
  if (by_size < 2) {  // small loops never touch the pool
    fn(0, n);
    return;
  }
  ThreadPool& pool = GlobalThreadPool();
  const int tasks = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(pool.num_threads(), by_size)));
  if (tasks == 1) {
    fn(0, n);
    return;
  }
  pool.Run(tasks, [&](int t) {
    int64_t begin, end;
    ChunkOf(n, t, tasks, &begin, &end);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace minigraph
