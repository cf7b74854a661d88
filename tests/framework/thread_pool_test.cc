// Tests of the thread pool: every task runs once on its own thread, parallel
// loops cover their range exactly once with a split that depends only on the
// sizes, nested and concurrent use fall back to running inline, and the pool
// size comes from SetNumThreads or MINIGRAPH_NUM_THREADS.
#include "framework/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

TEST(ThreadPoolTest, EveryTaskRunsOnceOnItsOwnThread) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.num_threads(), 4);
  for (int tasks : {1, 2, 3, 4}) {
    std::vector<std::atomic<int>> runs(tasks);
    std::mutex mutex;
    std::set<std::thread::id> ids;
    pool.Run(tasks, [&](int t) {
      runs[t].fetch_add(1);
      std::lock_guard<std::mutex> lock(mutex);
      ids.insert(std::this_thread::get_id());
    });
    for (int t = 0; t < tasks; ++t) EXPECT_EQ(runs[t].load(), 1) << t;
    EXPECT_EQ(static_cast<int>(ids.size()), tasks);
    EXPECT_EQ(ids.count(std::this_thread::get_id()), 1u);  // task 0: caller
  }
}

TEST(ThreadPoolTest, ManyRunsBackToBack) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int run = 0; run < 2000; ++run) {
    pool.Run(3, [&](int t) { total.fetch_add(t + 1); });
  }
  EXPECT_EQ(total.load(), 2000 * 6);
}

TEST(ThreadPoolTest, MoreTasksThanThreadsAreCappedAtThePoolSize) {
  ThreadPool pool(2);
  std::atomic<int> runs{0};
  pool.Run(5, [&](int) { runs.fetch_add(1); });
  EXPECT_EQ(runs.load(), 2);
}

TEST(ThreadPoolTest, PoolOfOneRunsInline) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.num_threads(), 1);
  std::thread::id id;
  pool.Run(1, [&](int) { id = std::this_thread::get_id(); });
  EXPECT_EQ(id, std::this_thread::get_id());
}

TEST(ThreadPoolTest, NestedRunExecutesInlineWithoutDeadlock) {
  ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.Run(2, [&](int) { pool.Run(2, [&](int) { inner.fetch_add(1); }); });
  EXPECT_EQ(inner.load(), 4);
}

TEST(ThreadPoolTest, ConcurrentCallersBothFinish) {
  ThreadPool pool(2);
  std::atomic<int64_t> a{0}, b{0};
  std::thread other([&] {
    for (int i = 0; i < 500; ++i) pool.Run(2, [&](int t) { a += t + 1; });
  });
  for (int i = 0; i < 500; ++i) pool.Run(2, [&](int t) { b += t + 1; });
  other.join();
  EXPECT_EQ(a.load(), 500 * 3);
  EXPECT_EQ(b.load(), 500 * 3);
}

// Records the chunks a ParallelFor hands out.
std::vector<std::pair<int64_t, int64_t>> Chunks(int64_t n, int64_t min_chunk) {
  std::mutex mutex;
  std::vector<std::pair<int64_t, int64_t>> chunks;
  ParallelFor(n, min_chunk, [&](int64_t begin, int64_t end) {
    std::lock_guard<std::mutex> lock(mutex);
    chunks.emplace_back(begin, end);
  });
  std::sort(chunks.begin(), chunks.end());
  return chunks;
}

TEST(ParallelForTest, CoversTheRangeOnceInContiguousChunks) {
  ASSERT_TRUE(SetNumThreads(3).ok());
  for (int64_t n : {1, 2, 7, 100, 1001}) {
    const auto chunks = Chunks(n, 1);
    ASSERT_FALSE(chunks.empty());
    EXPECT_LE(chunks.size(), 3u);
    int64_t next = 0;
    for (const auto& [begin, end] : chunks) {
      EXPECT_EQ(begin, next) << "n=" << n;
      EXPECT_LT(begin, end);
      next = end;
    }
    EXPECT_EQ(next, n);
  }
  EXPECT_TRUE(Chunks(0, 1).empty());
}

TEST(ParallelForTest, SplitDependsOnlyOnSizes) {
  ASSERT_TRUE(SetNumThreads(3).ok());
  const auto first = Chunks(1000, 10);
  for (int run = 0; run < 20; ++run) EXPECT_EQ(Chunks(1000, 10), first);
  EXPECT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0], std::make_pair(int64_t{0}, int64_t{333}));
}

TEST(ParallelForTest, SmallLoopsStayOnOneChunk) {
  ASSERT_TRUE(SetNumThreads(4).ok());
  // 3 chunks of at least 100 do not fit in 299 elements: two do.
  EXPECT_EQ(Chunks(199, 100).size(), 1u);
  EXPECT_EQ(Chunks(299, 100).size(), 2u);
  EXPECT_EQ(Chunks(10000, 100).size(), 4u);
}

TEST(NumThreadsTest, SetNumThreadsResizesAndRejectsNonsense) {
  ASSERT_TRUE(SetNumThreads(3).ok());
  EXPECT_EQ(NumThreads(), 3);
  ASSERT_TRUE(SetNumThreads(1).ok());
  EXPECT_EQ(NumThreads(), 1);
  const absl::Status zero = SetNumThreads(0);
  EXPECT_FALSE(zero.ok());
  EXPECT_THAT(zero.message(), HasSubstr("expected 1 to 1024"));
  EXPECT_FALSE(SetNumThreads(5000).ok());
  EXPECT_EQ(NumThreads(), 1);  // unchanged by the rejected calls
}

TEST(NumThreadsTest, EnvironmentVariableSetsTheDefault) {
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  ASSERT_EQ(setenv("MINIGRAPH_NUM_THREADS", "3", 1), 0);
  EXPECT_EQ(DefaultNumThreads(), 3);
  ASSERT_EQ(setenv("MINIGRAPH_NUM_THREADS", "many", 1), 0);
  EXPECT_EQ(DefaultNumThreads(), static_cast<int>(hardware));
  ASSERT_EQ(setenv("MINIGRAPH_NUM_THREADS", "0", 1), 0);
  EXPECT_EQ(DefaultNumThreads(), static_cast<int>(hardware));
  ASSERT_EQ(unsetenv("MINIGRAPH_NUM_THREADS"), 0);
  EXPECT_EQ(DefaultNumThreads(), static_cast<int>(hardware));
}

}  // namespace
}  // namespace minigraph
