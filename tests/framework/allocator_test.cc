// The caching allocator behind tensor storage: size classes, reuse, the cap
// on cached bytes, thread safety, zero-filled reused storage, no page faults
// in a steady-state loop, and (in ASan builds) poisoned cached blocks.
#include "framework/allocator.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "framework/memory_stats.h"
#include "framework/tensor.h"
#include "gtest/gtest.h"

#if defined(__SANITIZE_ADDRESS__)
#define MINIGRAPH_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MINIGRAPH_TEST_ASAN 1
#endif
#endif
#if defined(MINIGRAPH_TEST_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace minigraph {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

TEST(AllocatorTest, SizeClassesAreQuarterStepsOfPowersOfTwo) {
  EXPECT_EQ(CachingAllocator::BlockBytes(0), 128u);
  EXPECT_EQ(CachingAllocator::BlockBytes(1), 128u);
  EXPECT_EQ(CachingAllocator::BlockBytes(128), 128u);
  EXPECT_EQ(CachingAllocator::BlockBytes(129), 160u);
  EXPECT_EQ(CachingAllocator::BlockBytes(1000), 1024u);
  EXPECT_EQ(CachingAllocator::BlockBytes(1024), 1024u);
  EXPECT_EQ(CachingAllocator::BlockBytes(1025), 1280u);
  EXPECT_EQ(CachingAllocator::BlockBytes(1280), 1280u);
  EXPECT_EQ(CachingAllocator::BlockBytes(1281), 1536u);
  EXPECT_EQ(CachingAllocator::BlockBytes(1537), 1792u);
  EXPECT_EQ(CachingAllocator::BlockBytes(1793), 2048u);
  EXPECT_EQ(CachingAllocator::BlockBytes(2049), 2560u);
  // 4 MiB + 64 (a [1024, 1024] float32 tensor plus Storage's tail).
  EXPECT_EQ(CachingAllocator::BlockBytes(4 * kMiB + 64), size_t{5} << 20);
  // Never more than 25% slack above 128 bytes.
  for (size_t n = 129; n < 100000; n += 7) {
    const size_t block = CachingAllocator::BlockBytes(n);
    EXPECT_GE(block, n);
    EXPECT_LT(block, n + n / 4 + 1) << n;
  }
}

TEST(AllocatorTest, FreedBlockIsReusedForAnyRequestOfItsClass) {
  CachingAllocator allocator(64 * kMiB);
  void* first = allocator.Allocate(1100);
  ASSERT_NE(first, nullptr);
  std::memset(first, 1, 1100);
  allocator.Free(first, 1100);
  EXPECT_EQ(allocator.Stats().cached_bytes, 1280);
  EXPECT_EQ(allocator.Stats().cached_blocks, 1);
  // 1200 bytes is in the same class (1024, 1280].
  void* second = allocator.Allocate(1200);
  EXPECT_EQ(second, first);
  // Another class: a fresh block.
  void* third = allocator.Allocate(1300);
  EXPECT_NE(third, first);
  const AllocatorStats stats = allocator.Stats();
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.misses, 2);
  EXPECT_EQ(stats.cached_bytes, 0);
  allocator.Free(second, 1200);
  allocator.Free(third, 1300);
  EXPECT_EQ(allocator.Stats().cached_bytes, 1280 + 1536);
}

TEST(AllocatorTest, BlocksAreAlignedAndWritable) {
  CachingAllocator allocator(64 * kMiB);
  std::vector<std::pair<void*, size_t>> blocks;
  for (size_t n : {1, 65, 200, 4096, 12345, 1 << 20, (1 << 20) + 3}) {
    void* block = allocator.Allocate(n);
    ASSERT_NE(block, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % 64, 0u) << n;
    std::memset(block, 0x5A, n);
    blocks.emplace_back(block, n);
  }
  for (const auto& [block, n] : blocks) allocator.Free(block, n);
}

TEST(AllocatorTest, FullCacheGivesBlocksBack) {
  // Room for one 5 MiB block, not two.
  CachingAllocator allocator(8 * kMiB);
  void* a = allocator.Allocate(4 * kMiB + 64);
  void* b = allocator.Allocate(4 * kMiB + 64);
  allocator.Free(a, 4 * kMiB + 64);
  allocator.Free(b, 4 * kMiB + 64);
  AllocatorStats stats = allocator.Stats();
  EXPECT_EQ(stats.cached_bytes, 5 * kMiB);
  EXPECT_EQ(stats.cached_blocks, 1);
  EXPECT_EQ(stats.returned, 1);
  EXPECT_EQ(stats.cache_limit_bytes, 8 * kMiB);
}

TEST(AllocatorTest, DisabledCacheNeverKeepsABlock) {
  CachingAllocator allocator(0);
  for (int i = 0; i < 3; ++i) {
    void* block = allocator.Allocate(100000);
    ASSERT_NE(block, nullptr);
    allocator.Free(block, 100000);
  }
  const AllocatorStats stats = allocator.Stats();
  EXPECT_EQ(stats.cached_bytes, 0);
  EXPECT_EQ(stats.hits, 0);
  EXPECT_EQ(stats.misses, 3);
  EXPECT_EQ(stats.returned, 3);
}

TEST(AllocatorTest, ReleaseCacheAndLowerLimitGiveBlocksBack) {
  CachingAllocator allocator(64 * kMiB);
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(allocator.Allocate(kMiB));
  void* small = allocator.Allocate(1000);
  for (void* block : blocks) allocator.Free(block, kMiB);
  allocator.Free(small, 1000);
  // BlockBytes(1 MiB) is 1 MiB; BlockBytes(1000) is 1024.
  EXPECT_EQ(allocator.Stats().cached_bytes, 4 * kMiB + 1024);
  // Largest classes go first.
  allocator.SetCacheLimit(2 * kMiB + 1024);
  EXPECT_EQ(allocator.Stats().cached_bytes, 2 * kMiB + 1024);
  EXPECT_EQ(allocator.Stats().cached_blocks, 3);
  allocator.ReleaseCache();
  EXPECT_EQ(allocator.Stats().cached_bytes, 0);
  EXPECT_EQ(allocator.Stats().cached_blocks, 0);
  EXPECT_EQ(allocator.Stats().cache_limit_bytes, 2 * kMiB + 1024);
  // After the release every request misses again.
  const int64_t misses = allocator.Stats().misses;
  void* again = allocator.Allocate(kMiB);
  EXPECT_EQ(allocator.Stats().misses, misses + 1);
  allocator.Free(again, kMiB);
}

// Threads allocate and free blocks of several classes at once, each writing
// its own pattern over its block and checking it before the free: a block
// handed to two owners at a time would show the other's pattern.
TEST(AllocatorTest, ConcurrentUseHandsEachBlockToOneOwner) {
  CachingAllocator allocator(256 * kMiB);
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::vector<int> corrupted(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const unsigned char pattern = static_cast<unsigned char>(0x10 + t);
      for (int round = 0; round < kRounds; ++round) {
        const size_t n = 200 + static_cast<size_t>((round * 7919) % 20000);
        auto* block = static_cast<unsigned char*>(allocator.Allocate(n));
        std::memset(block, pattern, n);
        for (size_t i = 0; i < n; i += 97) {
          if (block[i] != pattern) ++corrupted[t];
        }
        allocator.Free(block, n);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(corrupted[t], 0) << t;
  const AllocatorStats stats = allocator.Stats();
  EXPECT_EQ(stats.hits + stats.misses, kThreads * kRounds);
  EXPECT_GT(stats.hits, 0);
}

TEST(AllocatorTest, CacheLimitFromEnvironmentValue) {
  EXPECT_EQ(*ParseAllocatorCacheMb("0"), 0);
  EXPECT_EQ(*ParseAllocatorCacheMb("512"), 512 * kMiB);
  for (const char* bad : {"", "-1", "12abc", "1.5", "99999999999999"}) {
    const absl::StatusOr<int64_t> parsed = ParseAllocatorCacheMb(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("MINIGRAPH_ALLOCATOR_CACHE_MB"),
              std::string::npos)
        << parsed.status().message();
  }
}

// Turns the process-wide cache on for one test (ASan builds start with it
// off) and restores the limit after.
class StorageAllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_limit_ = StorageAllocator().Stats().cache_limit_bytes;
    StorageAllocator().SetCacheLimit(256 * kMiB);
  }
  void TearDown() override { StorageAllocator().SetCacheLimit(saved_limit_); }

 private:
  int64_t saved_limit_ = 0;
};

TEST_F(StorageAllocatorTest, ZeroStorageOnAReusedBlockIsZero) {
  constexpr size_t kBytes = 3 * 1000 * sizeof(float);
  void* first_data = nullptr;
  {
    Storage dirty(kBytes, Storage::Init::kUninitialized);
    std::memset(dirty.data(), 0xAB, kBytes);
    first_data = dirty.data();
  }
  const int64_t hits = StorageAllocator().Stats().hits;
  Storage zeroed(kBytes, Storage::Init::kZero);
  // The same block came back (so the zeros are the fill, not fresh pages).
  EXPECT_EQ(zeroed.data(), first_data);
  EXPECT_EQ(StorageAllocator().Stats().hits, hits + 1);
  const auto* bytes = static_cast<const unsigned char*>(zeroed.data());
  int nonzero = 0;
  for (size_t i = 0; i < kBytes; ++i) nonzero += bytes[i] != 0;
  EXPECT_EQ(nonzero, 0);
  // And through the tensor API.
  { Tensor::Full({3, 1000}, 7.0); }
  const std::vector<float> zeros = Tensor::Zeros({3, 1000}).ToVector<float>();
  EXPECT_EQ(zeros, std::vector<float>(3000, 0.0f));
}

TEST_F(StorageAllocatorTest, PeakTensorBytesCountRequestedBytes) {
  ResetPeakAllocatedBytes();
  const int64_t before = CurrentAllocatedBytes();
  {
    Tensor a = Tensor::Zeros({1000}, DType::kFloat64);  // 8000 bytes
    Tensor b = Tensor::Zeros({250}, DType::kFloat32);   // 1000 bytes
    EXPECT_EQ(CurrentAllocatedBytes() - before, 9000);
  }
  EXPECT_EQ(CurrentAllocatedBytes(), before);
  EXPECT_EQ(PeakAllocatedBytes() - before, 9000);
}

TEST(MemoryStatsTest, MinorPageFaultsCountFirstTouches) {
  constexpr size_t kPages = 64;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* region = mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  const int64_t before = MinorPageFaults();
  ASSERT_GE(before, 0);
  auto* bytes = static_cast<volatile char*>(region);
  for (size_t i = 0; i < kPages; ++i) bytes[i * page] = 1;
  EXPECT_GE(MinorPageFaults() - before, static_cast<int64_t>(kPages));
  munmap(region, kPages * page);
}

// The point of the cache: after a first round, a loop that allocates,
// fills and frees the same blocks (8 MiB, 1 MiB and small ones) touches no
// fresh page.
TEST(AllocatorTest, SteadyStateLoopTakesNoPageFaults) {
#if defined(MINIGRAPH_TEST_ASAN)
  GTEST_SKIP() << "ASan hands the shadow pages of a large unpoisoned region "
                  "back to the kernel, so its own poisoning faults";
#endif
  CachingAllocator allocator(64 * kMiB);
  constexpr size_t kSizes[] = {size_t{8} << 20, size_t{1} << 20, 4000, 300};
  void* blocks[4];
  auto round = [&] {
    for (int i = 0; i < 4; ++i) {
      blocks[i] = allocator.Allocate(kSizes[i]);
      std::memset(blocks[i], 0, kSizes[i]);
    }
    for (int i = 0; i < 4; ++i) allocator.Free(blocks[i], kSizes[i]);
  };
  round();
  round();
  const int64_t before = MinorPageFaults();
  for (int i = 0; i < 10; ++i) round();
  EXPECT_EQ(MinorPageFaults() - before, 0);
}

// The same through the tensor API: zero-filled tensors made and dropped.
TEST_F(StorageAllocatorTest, SteadyStateTensorLoopTakesNoPageFaults) {
#if defined(MINIGRAPH_TEST_ASAN)
  GTEST_SKIP() << "ASan's quarantine gives each small malloc (the tensor "
                  "objects themselves) fresh memory";
#endif
  auto round = [] {
    Tensor big = Tensor::Zeros({2048, 1024});
    Tensor medium = Tensor::Zeros({256, 1024});
    for (int i = 0; i < 8; ++i) Tensor small = Tensor::Zeros({100 + i});
  };
  round();
  round();
  const int64_t before = MinorPageFaults();
  for (int i = 0; i < 10; ++i) round();
  EXPECT_EQ(MinorPageFaults() - before, 0);
}

#if defined(MINIGRAPH_TEST_ASAN)
TEST(AllocatorAsanTest, CachedBlocksAndSlackArePoisoned) {
  CachingAllocator allocator(64 * kMiB);
  auto* block = static_cast<char*>(allocator.Allocate(1100));
  EXPECT_FALSE(__asan_address_is_poisoned(block));
  EXPECT_FALSE(__asan_address_is_poisoned(block + 1099));
  // The block is 1280 bytes; only the 1100 asked for are usable.
  EXPECT_TRUE(__asan_address_is_poisoned(block + 1100));
  EXPECT_TRUE(__asan_address_is_poisoned(block + 1279));
  allocator.Free(block, 1100);
  EXPECT_TRUE(__asan_address_is_poisoned(block));
  EXPECT_TRUE(__asan_address_is_poisoned(block + 1099));
  // 1200 bytes is in the same class: the block comes back with its first
  // 1200 bytes usable.
  auto* again = static_cast<char*>(allocator.Allocate(1200));
  EXPECT_EQ(again, block);
  EXPECT_FALSE(__asan_address_is_poisoned(again + 1199));
  EXPECT_TRUE(__asan_address_is_poisoned(again + 1200));
  allocator.Free(again, 1200);
}

TEST(AllocatorAsanDeathTest, ReadOfACachedBlockIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        CachingAllocator allocator(64 * kMiB);
        auto* block = static_cast<volatile char*>(allocator.Allocate(4096));
        block[0] = 1;
        allocator.Free(const_cast<char*>(block), 4096);
        [[maybe_unused]] const char stale = block[0];
      },
      "use-after-poison");
}

TEST(AllocatorAsanTest, ProcessWideCacheStartsOffUnderAsan) {
  if (std::getenv("MINIGRAPH_ALLOCATOR_CACHE_MB") != nullptr) {
    GTEST_SKIP() << "MINIGRAPH_ALLOCATOR_CACHE_MB is set";
  }
  EXPECT_EQ(DefaultAllocatorCacheLimitBytes(), 0);
}
#endif  // MINIGRAPH_TEST_ASAN

}  // namespace
}  // namespace minigraph
