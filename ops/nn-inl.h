// Per-target SIMD kernels of the nn family (dropout, causal mask, embedding
// gather and scatter-add). Included once per Highway target by nn.cc through
// foreach_target.h, hence the toggling include guard instead of a plain one.
#if defined(MINIGRAPH_OPS_NN_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_NN_INL_H_
#undef MINIGRAPH_OPS_NN_INL_H_
#else
#define MINIGRAPH_OPS_NN_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "framework/random.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// y[i] = x[i] * m[i], m[i] = [U(seed, i) >= p] / (1 - p), over n contiguous
// elements whose row-major index starts at 0. The mask comes from a stateless
// counter hash, so it depends only on (seed, i): a block of lanes fills a
// small buffer of multipliers, then one vector multiply applies it.
template <typename T>
void DropoutKernel(const T* HWY_RESTRICT x, T* HWY_RESTRICT y, size_t n,
                   double p, uint64_t seed) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  HWY_ALIGN T multiplier[hn::MaxLanes(d)];
  HWY_ALIGN T tail[hn::MaxLanes(d)];
  for (size_t i = 0; i < n; i += lanes) {
    const size_t count = n - i < lanes ? n - i : lanes;
    for (size_t j = 0; j < lanes; ++j) {
      const bool keep = j < count && BitsToUnit(CounterHash(seed, i + j)) >= p;
      multiplier[j] = keep ? scale : T{0};
    }
    const auto m = hn::Load(d, multiplier);
    if (count == lanes) {
      hn::StoreU(hn::Mul(hn::LoadU(d, x + i), m), d, y + i);
    } else {
      // The tail goes through a padded buffer so no lane reads past x.
      std::memset(tail, 0, sizeof(tail));
      std::memcpy(tail, x + i, count * sizeof(T));
      hn::Store(hn::Mul(hn::Load(d, tail), m), d, tail);
      std::memcpy(y + i, tail, count * sizeof(T));
    }
  }
}

// out[r, c] = 0 for c <= r + offset, else -inf, over a contiguous
// zero-filled [rows, cols] buffer: only the -inf suffix of each row is
// written.
template <typename T>
void CausalMaskKernel(T* HWY_RESTRICT out, int64_t rows, int64_t cols,
                      int64_t offset) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  const auto minus_inf = hn::Set(d, -std::numeric_limits<T>::infinity());
  // Clamping the offset to [-rows - 1, cols] keeps r + offset + 1 from
  // overflowing without changing any row's count of visible keys.
  const int64_t clamped = offset < -rows - 1 ? -rows - 1
                          : offset > cols    ? cols
                                             : offset;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t visible = r + clamped + 1;
    visible = visible < 0 ? 0 : (visible > cols ? cols : visible);
    T* row = out + r * cols;
    size_t c = static_cast<size_t>(visible);
    const size_t end = static_cast<size_t>(cols);
    for (; c + lanes <= end; c += lanes) hn::StoreU(minus_inf, d, row + c);
    for (; c < end; ++c) row[c] = -std::numeric_limits<T>::infinity();
  }
}

// out[n, :] = table[indices[n], :] for n < count; table rows are `width`
// contiguous elements `row_stride` apart. Indices were range-checked by the
// caller. A row gather is a copy, so memcpy is the vector loop.
template <typename T>
void GatherRowsKernel(const T* HWY_RESTRICT table, int64_t row_stride,
                      const int64_t* HWY_RESTRICT indices, size_t count,
                      size_t width, T* HWY_RESTRICT out) {
  if (width == 0) return;
  for (size_t n = 0; n < count; ++n) {
    std::memcpy(out + n * width, table + indices[n] * row_stride,
                width * sizeof(T));
  }
}

// out[indices[n], :] += rows[n, :] for n < count, in order of n (so repeated
// indices accumulate deterministically); rows and out are contiguous with
// `width` elements per row. Indices were range-checked by the caller.
template <typename T>
void ScatterAddRowsKernel(const T* HWY_RESTRICT rows,
                          const int64_t* HWY_RESTRICT indices, size_t count,
                          size_t width, T* HWY_RESTRICT out) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  for (size_t n = 0; n < count; ++n) {
    const T* HWY_RESTRICT src = rows + n * width;
    T* HWY_RESTRICT dst = out + indices[n] * width;
    size_t j = 0;
    for (; j + lanes <= width; j += lanes) {
      hn::StoreU(hn::Add(hn::LoadU(d, dst + j), hn::LoadU(d, src + j)), d,
                 dst + j);
    }
    for (; j < width; ++j) dst[j] += src[j];
  }
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
void DropoutF32(const float* x, float* y, size_t n, double p, uint64_t seed) {
  DropoutKernel(x, y, n, p, seed);
}
void DropoutF64(const double* x, double* y, size_t n, double p, uint64_t seed) {
  DropoutKernel(x, y, n, p, seed);
}
void CausalMaskF32(float* out, int64_t rows, int64_t cols, int64_t offset) {
  CausalMaskKernel(out, rows, cols, offset);
}
void CausalMaskF64(double* out, int64_t rows, int64_t cols, int64_t offset) {
  CausalMaskKernel(out, rows, cols, offset);
}
void GatherRowsF32(const float* table, int64_t row_stride,
                   const int64_t* indices, size_t count, size_t width,
                   float* out) {
  GatherRowsKernel(table, row_stride, indices, count, width, out);
}
void GatherRowsF64(const double* table, int64_t row_stride,
                   const int64_t* indices, size_t count, size_t width,
                   double* out) {
  GatherRowsKernel(table, row_stride, indices, count, width, out);
}
void ScatterAddRowsF32(const float* rows, const int64_t* indices, size_t count,
                       size_t width, float* out) {
  ScatterAddRowsKernel(rows, indices, count, width, out);
}
void ScatterAddRowsF64(const double* rows, const int64_t* indices, size_t count,
                       size_t width, double* out) {
  ScatterAddRowsKernel(rows, indices, count, width, out);
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_NN_INL_H_
