// Per-target kernels of the shape family: one strided-to-strided copy that
// serves every op which has to move data (reshape when no view exists,
// contiguous, concat, slice_scatter). Views need no kernel at all.

// The copy plan is target-independent, so it sits behind an ordinary include
// guard and is defined once however often foreach_target.h includes us.
#ifndef MINIGRAPH_OPS_SHAPE_OPS_INL_H_PLAN_
#define MINIGRAPH_OPS_SHAPE_OPS_INL_H_PLAN_

#include <cstdint>
#include <vector>

namespace minigraph {

// Copies dst[i] = src[i] over `shape`, where element i sits at
// sum(index * src_strides) in the source and sum(index * dst_strides) in the
// destination. Built with size-1 dimensions dropped and adjacent dimensions
// merged wherever both sides allow, so a contiguous copy is one row.
struct StridedCopyPlan {
  std::vector<int64_t> shape;
  std::vector<int64_t> src_strides;
  std::vector<int64_t> dst_strides;
};

}  // namespace minigraph

#endif  // MINIGRAPH_OPS_SHAPE_OPS_INL_H_PLAN_

// Included once per Highway target by shape_ops.cc through foreach_target.h,
// hence the toggling include guard instead of a plain one.
#if defined(MINIGRAPH_OPS_SHAPE_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MINIGRAPH_OPS_SHAPE_OPS_INL_H_
#undef MINIGRAPH_OPS_SHAPE_OPS_INL_H_
#else
#define MINIGRAPH_OPS_SHAPE_OPS_INL_H_
#endif

#include <cstring>
#include <limits>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One row of n elements: dst[i * ds] = src[i * ss]. Contiguous rows are a
// memcpy; a broadcast source (ss == 0) stores one splatted vector; a strided
// source into a contiguous row (a transpose) gathers lane offsets k * ss.
template <typename T>
HWY_INLINE void CopyRow(const T* HWY_RESTRICT src, int64_t ss,
                        T* HWY_RESTRICT dst, int64_t ds, size_t n) {
  if (ss == 1 && ds == 1) {
    std::memcpy(dst, src, n * sizeof(T));
    return;
  }
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  if (ds == 1 && ss == 0) {
    const auto v = hn::Set(d, src[0]);
    for (; i + lanes <= n; i += lanes) hn::StoreU(v, d, dst + i);
  } else if (ds == 1 && ss > 1 && n >= lanes) {
    // Gather offsets are lane-sized signed integers: float rows need every
    // offset of one vector, (lanes - 1) * ss, to fit in int32.
    using TI = hwy::MakeSigned<T>;
    const hn::RebindToSigned<decltype(d)> di;
    if (static_cast<uint64_t>(ss) * lanes <
        static_cast<uint64_t>(std::numeric_limits<TI>::max())) {
      HWY_ALIGN TI offsets[hn::MaxLanes(di)];
      for (size_t k = 0; k < lanes; ++k) {
        offsets[k] = static_cast<TI>(static_cast<int64_t>(k) * ss);
      }
      const auto index = hn::Load(di, offsets);
      for (; i + lanes <= n; i += lanes) {
        hn::StoreU(
            hn::GatherIndex(d, src + static_cast<int64_t>(i) * ss, index), d,
            dst + i);
      }
    }
  }
  for (; i < n; ++i) {
    dst[static_cast<int64_t>(i) * ds] = src[static_cast<int64_t>(i) * ss];
  }
}

// Walks every row (all dimensions but the last) of the plan's shape, moving
// both offsets like an odometer.
template <typename T>
void CopyStrided(const StridedCopyPlan& plan, const T* HWY_RESTRICT src,
                 T* HWY_RESTRICT dst) {
  const int rank = static_cast<int>(plan.shape.size());
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  const int last = rank - 1;
  const size_t row = static_cast<size_t>(plan.shape[last]);
  int64_t rows = 1;
  for (int axis = 0; axis < last; ++axis) rows *= plan.shape[axis];
  if (row == 0 || rows == 0) return;
  std::vector<int64_t> index(rank, 0);
  int64_t src_offset = 0;
  int64_t dst_offset = 0;
  for (int64_t r = 0; r < rows; ++r) {
    CopyRow(src + src_offset, plan.src_strides[last], dst + dst_offset,
            plan.dst_strides[last], row);
    for (int axis = last - 1; axis >= 0; --axis) {
      src_offset += plan.src_strides[axis];
      dst_offset += plan.dst_strides[axis];
      if (++index[axis] < plan.shape[axis]) break;
      src_offset -= plan.src_strides[axis] * plan.shape[axis];
      dst_offset -= plan.dst_strides[axis] * plan.shape[axis];
      index[axis] = 0;
    }
  }
}

// Exported entry points, one per dtype (HWY_EXPORT needs plain functions).
// int64 tensors (indices) pass through the same views and copies.
void CopyStridedF32(const StridedCopyPlan& plan, const float* src, float* dst) {
  CopyStrided(plan, src, dst);
}
void CopyStridedF64(const StridedCopyPlan& plan, const double* src,
                    double* dst) {
  CopyStrided(plan, src, dst);
}
void CopyStridedI64(const StridedCopyPlan& plan, const int64_t* src,
                    int64_t* dst) {
  CopyStrided(plan, src, dst);
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#endif  // MINIGRAPH_OPS_SHAPE_OPS_INL_H_
