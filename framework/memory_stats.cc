#include "framework/memory_stats.h"

#include <sys/resource.h>

#include <atomic>

namespace minigraph {
namespace {

std::atomic<int64_t> current_bytes{0};
std::atomic<int64_t> peak_bytes{0};

}  // namespace

void RecordAllocation(size_t bytes) {
  const int64_t now = current_bytes.fetch_add(static_cast<int64_t>(bytes)) +
                      static_cast<int64_t>(bytes);
  // Raise the peak to `now` unless another thread already raised it higher.
  int64_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
}

void RecordDeallocation(size_t bytes) {
  current_bytes.fetch_sub(static_cast<int64_t>(bytes));
}

int64_t CurrentAllocatedBytes() { return current_bytes.load(); }

int64_t PeakAllocatedBytes() { return peak_bytes.load(); }

void ResetPeakAllocatedBytes() { peak_bytes.store(current_bytes.load()); }

int64_t MinorPageFaults() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return -1;
  return static_cast<int64_t>(usage.ru_minflt);
}

}  // namespace minigraph
