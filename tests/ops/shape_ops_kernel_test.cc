// Per-target tests of the shape kernels (ops/shape_ops-inl.h): the strided
// copy over every row layout it has a path for (contiguous, broadcast source,
// gathered source, strided destination, reversed source) and over 2-D and 3-D
// plans (transposes, permutes, broadcasts, empty dimensions, rank 0), against
// a scalar reference written here, for row lengths 0 to 3 vectors + 1,
// misaligned pointers, float32, float64 and int64. A copy is exact, and no
// element outside the plan's destination may change.

// Highway re-includes this file once per compiled target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tests/ops/shape_ops_kernel_test.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/tests/test_util-inl.h"
#include "ops/shape_ops-inl.h"
#include "tests/ops/kernel_test_util.h"

#ifndef MINIGRAPH_TESTS_OPS_SHAPE_OPS_KERNEL_TEST_ONCE_
#define MINIGRAPH_TESTS_OPS_SHAPE_OPS_KERNEL_TEST_ONCE_
#include <cstdint>
#include <string>
#include <vector>

namespace minigraph {
namespace shape_ops_kernel_test {

// One layout for row length n.
struct Layout {
  std::string name;
  StridedCopyPlan plan;
};

std::vector<Layout> Layouts(int64_t n) {
  return {
      {"contiguous", {{n}, {1}, {1}}},
      {"broadcast source", {{n}, {0}, {1}}},
      {"gathered source stride 2", {{n}, {2}, {1}}},
      {"gathered source stride 3", {{n}, {3}, {1}}},
      {"strided destination", {{n}, {1}, {2}}},
      {"both strided", {{n}, {3}, {2}}},
      {"reversed source", {{n}, {-1}, {1}}},
      // [n, 3] read transposed into a contiguous [3, n].
      {"transpose", {{3, n}, {1, 3}, {n, 1}}},
      // [2, n, 3] permuted (0, 2, 1) into a contiguous [2, 3, n].
      {"permute", {{2, 3, n}, {3 * n, 1, 3}, {3 * n, n, 1}}},
      // [2, 1, n] expanded along the middle into a contiguous [2, 3, n].
      {"broadcast middle", {{2, 3, n}, {n, 0, 1}, {3 * n, n, 1}}},
      // A contiguous [3, n] into rows n + 2 apart (a slice of a wider
      // buffer, as concat writes).
      {"into a slice", {{3, n}, {n, 1}, {n + 2, 1}}},
      {"empty outer", {{0, n}, {n, 1}, {n, 1}}},
  };
}

// Smallest and largest offset reachable through `strides` over `shape`
// (both 0 when the shape is empty or has no elements).
void OffsetRange(const std::vector<int64_t>& shape,
                 const std::vector<int64_t>& strides, int64_t* low,
                 int64_t* high) {
  *low = 0;
  *high = 0;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (shape[axis] == 0) {
      *low = *high = 0;
      return;
    }
    const int64_t span = strides[axis] * (shape[axis] - 1);
    (span < 0 ? *low : *high) += span;
  }
}

// Calls fn(src_offset, dst_offset) for every element of the plan, in
// row-major order.
template <class Fn>
void ForEachElement(const StridedCopyPlan& plan, const Fn& fn) {
  const size_t rank = plan.shape.size();
  int64_t count = 1;
  for (int64_t size : plan.shape) count *= size;
  std::vector<int64_t> index(rank, 0);
  for (int64_t e = 0; e < count; ++e) {
    int64_t rest = e;
    int64_t src = 0, dst = 0;
    for (size_t axis = rank; axis-- > 0;) {
      index[axis] = rest % plan.shape[axis];
      rest /= plan.shape[axis];
      src += index[axis] * plan.src_strides[axis];
      dst += index[axis] * plan.dst_strides[axis];
    }
    fn(src, dst);
  }
}

}  // namespace shape_ops_kernel_test
}  // namespace minigraph

#endif  // MINIGRAPH_TESTS_OPS_SHAPE_OPS_KERNEL_TEST_ONCE_

HWY_BEFORE_NAMESPACE();
namespace minigraph {
namespace HWY_NAMESPACE {

using kernel_test::MisalignedBuffer;
using shape_ops_kernel_test::ForEachElement;
using shape_ops_kernel_test::Layout;
using shape_ops_kernel_test::Layouts;
using shape_ops_kernel_test::OffsetRange;

// The kernel is called through this non-inlined wrapper: inlined into the
// large test functions, whose locals AddressSanitizer moves to its separate
// stack for use-after-return checks, GCC spills 64-byte vectors to slots
// that stack does not align to 64 bytes.
template <typename T>
HWY_NOINLINE void Copy(const StridedCopyPlan& plan, const T* src, T* dst) {
  CopyStrided(plan, src, dst);
}

// Elements past the destination's last one that must stay untouched.
constexpr int64_t kGuard = 16;

template <typename T>
void CheckLayout(const Layout& layout, size_t misalign) {
  const StridedCopyPlan& plan = layout.plan;
  int64_t src_low, src_high, dst_low, dst_high;
  OffsetRange(plan.shape, plan.src_strides, &src_low, &src_high);
  OffsetRange(plan.shape, plan.dst_strides, &dst_low, &dst_high);
  ASSERT_EQ(dst_low, 0) << layout.name;
  // The source pointer sits -src_low elements in, so that negative strides
  // stay inside the buffer.
  const int64_t src_size = src_high - src_low + 1;
  const int64_t dst_size = dst_high + 1 + kGuard;
  MisalignedBuffer<T> src(src_size, misalign);
  MisalignedBuffer<T> dst(dst_size, misalign + 1);
  for (int64_t i = 0; i < src_size; ++i) src[i] = static_cast<T>(i + 1);
  const T sentinel = static_cast<T>(-777);
  std::vector<T> want(dst_size, sentinel);
  for (int64_t i = 0; i < dst_size; ++i) dst[i] = sentinel;
  const T* src_base = src.data() - src_low;
  ForEachElement(plan, [&](int64_t s, int64_t d) { want[d] = src_base[s]; });
  Copy(plan, src_base, dst.data());
  for (int64_t i = 0; i < dst_size; ++i) {
    EXPECT_EQ(dst[i], want[i])
        << layout.name << " rank=" << plan.shape.size()
        << " last=" << (plan.shape.empty() ? 0 : plan.shape.back())
        << " misalign=" << misalign << " at " << i;
  }
}

template <typename T>
void CheckCopyStrided() {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  for (size_t misalign : {0, 1, 3}) {
    for (size_t n = 0; n <= 3 * lanes + 1; ++n) {
      for (const Layout& layout : Layouts(static_cast<int64_t>(n))) {
        CheckLayout<T>(layout, misalign);
      }
    }
    // Rank 0: one element.
    CheckLayout<T>({"scalar", {{}, {}, {}}}, misalign);
  }
}

void TestCopyStrided() {
  CheckCopyStrided<float>();
  CheckCopyStrided<double>();
  CheckCopyStrided<int64_t>();
}

}  // namespace HWY_NAMESPACE
}  // namespace minigraph
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace minigraph {
HWY_BEFORE_TEST(ShapeOpsKernelTest);
HWY_EXPORT_AND_TEST_P(ShapeOpsKernelTest, TestCopyStrided);
}  // namespace minigraph
#endif
