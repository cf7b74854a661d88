// A small fixed-size thread pool for the kernels' parallel loops.
//
// Work is split statically: a parallel loop over [0, n) gives thread t the
// t-th of num_threads contiguous chunks, the same chunks on every run. The
// kernels partition their outputs so that each output element is computed by
// one thread with the same sequence of operations whatever the thread count,
// which makes their results bitwise identical across runs and across thread
// counts.
//
// The pool size defaults to std::thread::hardware_concurrency(); the
// environment variable MINIGRAPH_NUM_THREADS (read at first use) or
// SetNumThreads() overrides it.
#ifndef MINIGRAPH_FRAMEWORK_THREAD_POOL_H_
#define MINIGRAPH_FRAMEWORK_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace minigraph {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread, which takes part in every run:
  // a pool of 1 starts no thread and runs everything inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(t) for t in [0, num_tasks) with num_tasks <= num_threads(), task
  // t on thread t (task 0 on the caller), and returns when all are done.
  // Called from inside a task, or while another thread is using the pool, it
  // runs the tasks one after another on the calling thread instead.
  void Run(int num_tasks, absl::FunctionRef<void(int)> fn);

 private:
  void WorkerLoop(int index);

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one Run at a time

  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  // Bumped once per Run; a worker starts task `index` of the new job when
  // it sees a generation it has not run yet.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> remaining_{0};  // tasks of the current job not done yet
  const absl::FunctionRef<void(int)>* job_ = nullptr;
  int job_tasks_ = 0;
  bool stopping_ = false;
};

// The process-wide pool used by the kernels.
ThreadPool& GlobalThreadPool();
// Its size: MINIGRAPH_NUM_THREADS, else the hardware concurrency.
int NumThreads();
// What the global pool starts with: MINIGRAPH_NUM_THREADS when it holds a
// whole number from 1 to 1024 (anything else is reported on stderr and
// ignored), else std::thread::hardware_concurrency().
int DefaultNumThreads();
// Resizes the global pool (1 to 1024 threads). Not safe while another thread
// runs kernels.
absl::Status SetNumThreads(int num_threads);

// Splits [0, n) into contiguous chunks, at most one per thread and none
// smaller than `min_chunk` (so small loops stay on one thread), and calls
// fn(begin, end) for each. The split depends only on n, min_chunk and the
// pool size.
void ParallelFor(int64_t n, int64_t min_chunk,
                 absl::FunctionRef<void(int64_t, int64_t)> fn);

// The chunk [begin, end) of [0, n) that task t of num_tasks gets.
inline void ChunkOf(int64_t n, int t, int num_tasks, int64_t* begin,
                    int64_t* end) {
  *begin = n * t / num_tasks;
  *end = n * (t + 1) / num_tasks;
}

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_THREAD_POOL_H_
