// Small helpers shared by the optimizer tests.
#ifndef MINIGRAPH_TESTS_FRAMEWORK_OPTIM_OPTIM_TEST_UTIL_H_
#define MINIGRAPH_TESTS_FRAMEWORK_OPTIM_OPTIM_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "framework/random.h"
#include "framework/tensor.h"

namespace minigraph {
namespace testing_util {

// Seeded uniform [low, high) values of `dtype`.
inline Tensor RandomTensor(const Shape& shape, double low, double high,
                           uint64_t seed, DType dtype) {
  Generator gen(seed);
  return Tensor::Uniform(shape, low, high, gen, dtype);
}

// Makes `grad` the accumulated gradient of leaf `param`, as a backward pass
// would.
inline void SetGrad(const Tensor& param, const Tensor& grad) {
  param.impl()->grad = grad.impl_ptr();
}

// Address of element 0 of a contiguous tensor (data<T>() counts the offset
// in elements of T).
inline const void* FirstElement(const Tensor& t) {
  switch (t.dtype()) {
    case DType::kFloat32:
      return t.data<float>();
    case DType::kFloat64:
      return t.data<double>();
    case DType::kInt64:
      return t.data<int64_t>();
  }
  return nullptr;
}

// True when both tensors hold the same dtype, shape and bytes.
inline bool SameBits(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.is_contiguous() ? a : CopyToContiguous(a);
  const Tensor cb = b.is_contiguous() ? b : CopyToContiguous(b);
  const size_t bytes = static_cast<size_t>(a.numel()) * DTypeSize(a.dtype());
  return std::memcmp(FirstElement(ca), FirstElement(cb), bytes) == 0;
}

}  // namespace testing_util
}  // namespace minigraph

#endif  // MINIGRAPH_TESTS_FRAMEWORK_OPTIM_OPTIM_TEST_UTIL_H_
