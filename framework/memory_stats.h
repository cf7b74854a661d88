// Bytes held by tensor storage (and by kernels' scratch buffers that report
// themselves), process-wide: what is alive now and the most that was alive
// at once since the last reset. Benchmarks read the peak to compare the
// memory of two ways of computing the same thing. Also the process's page
// fault count, which says whether memory is being reused.
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

// Minor page faults of the whole process so far (getrusage RUSAGE_SELF
// ru_minflt): mostly first touches of fresh pages, which are expensive on
// the machines this runs on. Read it before and after a training step to
// count the step's; a steady-state loop should take none. -1 if getrusage
// fails.
int64_t MinorPageFaults();

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_MEMORY_STATS_H_
