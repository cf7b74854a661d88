// Helpers for the per-target kernel tests: distances in units in the last
// place, and buffers that start off an alignment boundary on purpose.
#ifndef MINIGRAPH_TESTS_OPS_KERNEL_TEST_UTIL_H_
#define MINIGRAPH_TESTS_OPS_KERNEL_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "hwy/aligned_allocator.h"

namespace minigraph::kernel_test {

// Maps a float's bits onto a line where neighbouring floats differ by 1.
template <typename T>
int64_t OrderedBits(T x) {
  using Bits = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  Bits bits;
  std::memcpy(&bits, &x, sizeof(T));
  const int64_t wide = bits;
  return wide < 0 ? std::numeric_limits<Bits>::min() - wide : wide;
}

// Units in the last place between `actual` and the exact value `exact`
// rounded to T; 0 when both are the same infinity or both NaN.
template <typename T>
double UlpDistance(T actual, double exact) {
  const T rounded = static_cast<T>(exact);
  if (std::isnan(actual) || std::isnan(rounded)) {
    return std::isnan(actual) && std::isnan(rounded)
               ? 0.0
               : std::numeric_limits<double>::infinity();
  }
  if (std::isinf(actual) || std::isinf(rounded)) {
    return actual == rounded ? 0.0 : std::numeric_limits<double>::infinity();
  }
  return std::fabs(
      static_cast<double>(OrderedBits(actual) - OrderedBits(rounded)));
}

// An aligned allocation of `count + 64` elements; data() starts `misalign`
// elements past the boundary, so vector loads run unaligned.
template <typename T>
class MisalignedBuffer {
 public:
  MisalignedBuffer(size_t count, size_t misalign)
      : storage_(hwy::AllocateAligned<T>(count + 64)), misalign_(misalign) {
    for (size_t i = 0; i < count + 64; ++i) storage_[i] = T{0};
  }
  T* data() { return storage_.get() + misalign_; }
  T& operator[](size_t i) { return data()[i]; }

 private:
  hwy::AlignedFreeUniquePtr<T[]> storage_;
  size_t misalign_;
};

}  // namespace minigraph::kernel_test

#endif  // MINIGRAPH_TESTS_OPS_KERNEL_TEST_UTIL_H_
