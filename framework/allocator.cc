#include "framework/allocator.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "hwy/aligned_allocator.h"

// GCC defines __SANITIZE_ADDRESS__ under -fsanitize=address; clang answers
// __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define MINIGRAPH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MINIGRAPH_ASAN 1
#endif
#endif

#if defined(MINIGRAPH_ASAN)
#include <sanitizer/asan_interface.h>
#define MINIGRAPH_POISON(address, bytes) \
  ASAN_POISON_MEMORY_REGION(address, bytes)
#define MINIGRAPH_UNPOISON(address, bytes) \
  ASAN_UNPOISON_MEMORY_REGION(address, bytes)
#else
#define MINIGRAPH_POISON(address, bytes) ((void)(address), (void)(bytes))
#define MINIGRAPH_UNPOISON(address, bytes) ((void)(address), (void)(bytes))
#endif

namespace minigraph {
namespace {

// The smallest block, 2^kMinLog2 bytes; Storage keeps buffers up to 64
// bytes inline, so smaller requests are rare.
constexpr int kMinLog2 = 7;
constexpr size_t kMinBlockBytes = size_t{1} << kMinLog2;
// 2^40 MiB: far beyond any machine, small enough not to overflow bytes.
constexpr int64_t kMaxCacheMb = int64_t{1} << 40;
// Larger requests fail at once (no machine has the memory), which keeps the
// size-class arithmetic far from overflow.
constexpr size_t kMaxRequestBytes = size_t{1} << 62;

// floor(log2(n)) for n >= 1.
int Log2Floor(size_t n) { return 63 - __builtin_clzll(n); }

void* SystemAllocate(size_t block_bytes) {
  return hwy::AllocateAlignedBytes(block_bytes, nullptr, nullptr);
}

void SystemFree(void* block, size_t block_bytes) {
  // ASan's free must see the block as the malloc block it handed out.
  MINIGRAPH_UNPOISON(block, block_bytes);
  hwy::FreeAlignedBytes(block, nullptr, nullptr);
}

}  // namespace

size_t CachingAllocator::BlockBytes(size_t num_bytes) {
  if (num_bytes <= kMinBlockBytes) return kMinBlockBytes;
  // n in (2^k, 2^(k+1)]: round up to a multiple of 2^k / 4.
  const int k = Log2Floor(num_bytes - 1);
  const size_t quarter = size_t{1} << (k - 2);
  return (num_bytes + quarter - 1) / quarter * quarter;
}

int CachingAllocator::ClassIndex(size_t num_bytes) {
  if (num_bytes <= kMinBlockBytes) return 0;
  // Block 2^k + j 2^k / 4 with j in 1..4 is class 4 (k - kMinLog2) + j:
  // unique, since j = 4 of k (2^(k+1)) is never j = 0 of k + 1.
  const int k = Log2Floor(num_bytes - 1);
  const size_t quarter = size_t{1} << (k - 2);
  const size_t j = (num_bytes - (size_t{1} << k) + quarter - 1) / quarter;
  return 4 * (k - kMinLog2) + static_cast<int>(j);
}

size_t CachingAllocator::BlockBytesOfClass(int index) {
  if (index == 0) return kMinBlockBytes;
  const int k = kMinLog2 + (index - 1) / 4;
  const size_t j = static_cast<size_t>((index - 1) % 4 + 1);
  return (size_t{1} << k) + j * (size_t{1} << (k - 2));
}

CachingAllocator::CachingAllocator(int64_t cache_limit_bytes)
    : cache_limit_bytes_(std::max<int64_t>(cache_limit_bytes, 0)) {}

CachingAllocator::~CachingAllocator() { ReleaseCache(); }

void* CachingAllocator::Allocate(size_t num_bytes) {
  if (num_bytes > kMaxRequestBytes) return nullptr;
  const size_t block_bytes = BlockBytes(num_bytes);
  void* block = nullptr;
  {
    absl::MutexLock lock(&mu_);
    std::vector<void*>& list = free_lists_[ClassIndex(num_bytes)];
    if (!list.empty()) {
      block = list.back();
      list.pop_back();
      cached_bytes_ -= static_cast<int64_t>(block_bytes);
      --cached_blocks_;
      ++hits_;
    } else {
      ++misses_;
    }
  }
  if (block == nullptr) {
    block = SystemAllocate(block_bytes);
    if (block == nullptr) {
      // Cached blocks of other classes may be what malloc is missing.
      ReleaseCache();
      block = SystemAllocate(block_bytes);
      if (block == nullptr) return nullptr;
    }
  }
  // Only the bytes asked for are usable: the slack stays poisoned.
  MINIGRAPH_UNPOISON(block, num_bytes);
  MINIGRAPH_POISON(static_cast<char*>(block) + num_bytes,
                   block_bytes - num_bytes);
  return block;
}

void CachingAllocator::Free(void* block, size_t num_bytes) {
  if (block == nullptr) return;
  const size_t block_bytes = BlockBytes(num_bytes);
  {
    absl::MutexLock lock(&mu_);
    if (cached_bytes_ + static_cast<int64_t>(block_bytes) <=
        cache_limit_bytes_) {
      MINIGRAPH_POISON(block, block_bytes);
      free_lists_[ClassIndex(num_bytes)].push_back(block);
      cached_bytes_ += static_cast<int64_t>(block_bytes);
      ++cached_blocks_;
      return;
    }
    ++returned_;
  }
  SystemFree(block, block_bytes);
}

void CachingAllocator::TrimLocked(
    int64_t limit, std::vector<std::pair<void*, size_t>>* to_free) {
  // Largest classes first: fewest blocks to give back.
  for (int index = kNumClasses - 1; index >= 0 && cached_bytes_ > limit;
       --index) {
    std::vector<void*>& list = free_lists_[index];
    while (!list.empty() && cached_bytes_ > limit) {
      void* block = list.back();
      list.pop_back();
      const size_t block_bytes = BlockBytesOfClass(index);
      cached_bytes_ -= static_cast<int64_t>(block_bytes);
      --cached_blocks_;
      to_free->emplace_back(block, block_bytes);
    }
    if (list.empty()) std::vector<void*>().swap(list);
  }
}

void CachingAllocator::ReleaseCache() {
  std::vector<std::pair<void*, size_t>> to_free;
  {
    absl::MutexLock lock(&mu_);
    TrimLocked(0, &to_free);
  }
  for (const auto& [block, bytes] : to_free) SystemFree(block, bytes);
}

void CachingAllocator::SetCacheLimit(int64_t bytes) {
  std::vector<std::pair<void*, size_t>> to_free;
  {
    absl::MutexLock lock(&mu_);
    cache_limit_bytes_ = std::max<int64_t>(bytes, 0);
    TrimLocked(cache_limit_bytes_, &to_free);
  }
  for (const auto& [block, block_bytes] : to_free) {
    SystemFree(block, block_bytes);
  }
}

AllocatorStats CachingAllocator::Stats() const {
  absl::MutexLock lock(&mu_);
  AllocatorStats stats;
  stats.cached_bytes = cached_bytes_;
  stats.cached_blocks = cached_blocks_;
  stats.cache_limit_bytes = cache_limit_bytes_;
  stats.hits = hits_;
  stats.misses = misses_;
  stats.returned = returned_;
  return stats;
}

absl::StatusOr<int64_t> ParseAllocatorCacheMb(absl::string_view text) {
  int64_t mb = 0;
  if (!absl::SimpleAtoi(text, &mb) || mb < 0 || mb > kMaxCacheMb) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MINIGRAPH_ALLOCATOR_CACHE_MB='", text,
        "': expected a whole number of MiB from 0 to ", kMaxCacheMb));
  }
  return mb << 20;
}

int64_t DefaultAllocatorCacheLimitBytes() {
  if (const char* text = std::getenv("MINIGRAPH_ALLOCATOR_CACHE_MB")) {
    absl::StatusOr<int64_t> bytes = ParseAllocatorCacheMb(text);
    if (bytes.ok()) return *bytes;
    std::fprintf(stderr, "minigraph: ignoring %s\n",
                 std::string(bytes.status().message()).c_str());
  }
#if defined(MINIGRAPH_ASAN)
  return 0;
#else
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_bytes = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return int64_t{1} << 30;
  return static_cast<int64_t>(pages) * page_bytes / 4;
#endif
}

CachingAllocator& StorageAllocator() {
  static CachingAllocator* const allocator =
      new CachingAllocator(DefaultAllocatorCacheLimitBytes());
  return *allocator;
}

}  // namespace minigraph
