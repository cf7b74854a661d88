// Bytes held by tensor storage (and by kernels' scratch buffers that report
// themselves), process-wide: what is alive now and the most that was alive
// at once since the last reset. Benchmarks read the peak to compare the
// memory of two ways of computing the same thing.
#ifndef MINIGRAPH_FRAMEWORK_MEMORY_STATS_H_
#define MINIGRAPH_FRAMEWORK_MEMORY_STATS_H_

#include <cstddef>
#include <cstdint>

namespace minigraph {

// Called when a buffer of `bytes` is allocated and when it is freed. Thread
// safe (atomic counters).
void RecordAllocation(size_t bytes);
void RecordDeallocation(size_t bytes);

// Bytes alive now.
int64_t CurrentAllocatedBytes();
// The most bytes alive at once since the last ResetPeakAllocatedBytes().
int64_t PeakAllocatedBytes();
// Starts a new peak measurement at the current level.
void ResetPeakAllocatedBytes();

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_MEMORY_STATS_H_
