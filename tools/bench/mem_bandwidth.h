// Streaming read bandwidth of this machine, measured: what the decode
// benchmarks compare themselves with (decoding one token reads every weight
// once, so the bytes of the weights over this rate bound its speed). A
// Highway loop sums a buffer with independent vector accumulators (best
// target by dynamic dispatch); with several threads each sums its own
// contiguous share, all started together.
#ifndef MINIGRAPH_TOOLS_BENCH_MEM_BANDWIDTH_H_
#define MINIGRAPH_TOOLS_BENCH_MEM_BANDWIDTH_H_

#include <cstddef>
#include <memory>
#include <string>

namespace minigraph::bench {

struct ReadBandwidth {
  double gb_per_s = 0.0;  // bytes read / wall seconds, 1e9 bytes per GB
  int threads = 0;
  size_t bytes = 0;    // size of the buffer read each run
  std::string target;  // Highway's name for the dispatched target
};

// A buffer of `bytes` (rounded down to whole groups of vectors per thread;
// at least one group each), written once so that no pass takes a page
// fault, and the timed passes over it. Keeping one alive lets a benchmark
// interleave bandwidth samples with its own runs, so that both see the same
// machine load.
class StreamingReader {
 public:
  StreamingReader(size_t bytes, int threads);
  ~StreamingReader();
  StreamingReader(const StreamingReader&) = delete;
  StreamingReader& operator=(const StreamingReader&) = delete;

  // One pass: every thread sums its contiguous share, all started together;
  // bytes / wall seconds.
  double GbPerSecond();

  size_t bytes() const;
  int threads() const { return threads_; }

 private:
  struct Buffer;
  int threads_;
  size_t chunk_;  // floats per thread
  std::unique_ptr<Buffer> buffer_;
};

// Sums a buffer of `bytes` on `threads` threads at once, `runs` times after
// one warm-up pass, and returns the median rate.
ReadBandwidth MeasureReadBandwidth(size_t bytes, int threads, int runs);

// The last-level cache size the C library reports (sysconf), 0 if unknown.
size_t LastLevelCacheBytes();

}  // namespace minigraph::bench

#endif  // MINIGRAPH_TOOLS_BENCH_MEM_BANDWIDTH_H_
