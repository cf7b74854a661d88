// Memory for tensor storage: a caching allocator that keeps freed blocks in
// size-class free lists and hands them out again.
//
// Why: on the machines this runs on a page fault is expensive, and glibc's
// malloc serves large tensors with a fresh mmap on every call (and gives the
// pages back on free), so a training loop that allocates the same activations
// step after step faults on every page of every step. Reusing freed blocks
// makes a steady-state loop touch no fresh pages.
//
// Size classes: a request is rounded up to a quarter step of its power of two
// (n in (2^k, 2^(k+1)] gets 1.25, 1.5, 1.75 or 2 x 2^k), so at most 25% of a
// block is slack and a block serves every request of its class. Blocks come
// from malloc (through hwy::AllocateAlignedBytes, 64-byte aligned), so a
// malloc put in with LD_PRELOAD serves the misses.
//
// Bounded: at most cache_limit bytes sit in the free lists; a block freed
// while the cache is full goes back to malloc. The limit of the process-wide
// allocator comes from MINIGRAPH_ALLOCATOR_CACHE_MB (0 disables the cache:
// every free goes back to malloc), else a quarter of physical memory.
//
// AddressSanitizer: cached blocks are poisoned while they sit in a free list,
// and so is the slack of every block beyond the bytes asked for, so an access
// to a freed tensor's memory or past its end is still reported. In ASan
// builds the process-wide allocator starts with its cache disabled (unless
// MINIGRAPH_ALLOCATOR_CACHE_MB is set), so every free reaches ASan's own
// quarantine, which also catches a stale pointer into a block that was handed
// out again.
#ifndef MINIGRAPH_FRAMEWORK_ALLOCATOR_H_
#define MINIGRAPH_FRAMEWORK_ALLOCATOR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "framework/memory_stats.h"

namespace minigraph {

struct AllocatorStats {
  int64_t cached_bytes = 0;   // in the free lists now, ready for reuse
  int64_t cached_blocks = 0;  // blocks in the free lists now
  int64_t cache_limit_bytes = 0;
  int64_t hits = 0;    // allocations served from a free list
  int64_t misses = 0;  // allocations that went to malloc
  // Frees that went back to malloc because the cache was full (or off).
  int64_t returned = 0;
};

// Thread safe: kernels on the thread pool allocate too.
class CachingAllocator {
 public:
  explicit CachingAllocator(int64_t cache_limit_bytes);
  // Gives every cached block back to malloc. Blocks still handed out must
  // not be freed through this allocator afterwards.
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A 64-byte aligned block with at least `num_bytes` usable bytes and
  // unspecified contents (a reused block holds what its last user wrote);
  // nullptr when malloc fails even after the cache was released, and for
  // more than 2^62 bytes.
  void* Allocate(size_t num_bytes);
  // Takes back a block from Allocate, with the same `num_bytes`; nullptr is
  // ignored.
  void Free(void* block, size_t num_bytes);

  // Gives every cached block back to malloc.
  void ReleaseCache();
  // Sets the cap on cached bytes (negative counts as 0, which turns the cache
  // off) and gives back blocks beyond it.
  void SetCacheLimit(int64_t bytes);
  AllocatorStats Stats() const;

  // The size of the block a request of `num_bytes` (at most 2^62) gets:
  // its size class.
  static size_t BlockBytes(size_t num_bytes);

 private:
  // The smallest class, then quarter steps of each power of two from 2^7
  // to 2^63.
  static constexpr int kNumClasses = 1 + 4 * (63 - 7 + 1);
  static int ClassIndex(size_t num_bytes);
  static size_t BlockBytesOfClass(int index);
  // Frees cached blocks until at most `limit` bytes remain; called with mu_
  // held, gives the blocks back after unlocking through `to_free`.
  void TrimLocked(int64_t limit, std::vector<std::pair<void*, size_t>>* to_free)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::array<std::vector<void*>, kNumClasses> free_lists_ ABSL_GUARDED_BY(mu_);
  int64_t cache_limit_bytes_ ABSL_GUARDED_BY(mu_);
  int64_t cached_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t cached_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t returned_ ABSL_GUARDED_BY(mu_) = 0;
};

// The allocator behind every tensor's Storage (never destroyed, so storage
// freed during static destruction is still taken back).
CachingAllocator& StorageAllocator();

// A kernel's working buffer of n elements from StorageAllocator(), so that
// repeated calls reuse memory instead of touching fresh pages, counted in
// the allocation statistics (memory_stats.h) like tensor storage. Its
// contents start unspecified.
template <typename T>
class ScratchBuffer {
 public:
  explicit ScratchBuffer(size_t n)
      : bytes_(n * sizeof(T)),
        data_(static_cast<T*>(StorageAllocator().Allocate(bytes_))) {
    if (data_ == nullptr && bytes_ != 0) {
      std::fprintf(stderr, "minigraph: out of memory (%zu bytes of scratch)\n",
                   bytes_);
      std::abort();
    }
    RecordAllocation(bytes_);
  }
  ~ScratchBuffer() {
    StorageAllocator().Free(data_, bytes_);
    RecordDeallocation(bytes_);
  }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;

  T* get() const { return data_; }
  T& operator[](size_t i) const { return data_[i]; }

 private:
  size_t bytes_;
  T* data_;
};

// The process-wide allocator's starting limit: MINIGRAPH_ALLOCATOR_CACHE_MB
// when it is valid (an invalid value is reported on stderr and ignored),
// else 0 in AddressSanitizer builds, else a quarter of physical memory.
int64_t DefaultAllocatorCacheLimitBytes();

// Parses a MINIGRAPH_ALLOCATOR_CACHE_MB value: a whole number of MiB from 0
// to 2^40, returned in bytes.
absl::StatusOr<int64_t> ParseAllocatorCacheMb(absl::string_view text);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_ALLOCATOR_H_
