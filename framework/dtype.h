// Element types a tensor can hold, and the small facts about each.
#ifndef MINIGRAPH_FRAMEWORK_DTYPE_H_
#define MINIGRAPH_FRAMEWORK_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace minigraph {

// float32 and float64 carry values and gradients; int64 carries indices.
enum class DType : int { kFloat32 = 0, kFloat64 = 1, kInt64 = 2 };

// Lower-case name as PyTorch prints it: "float32", "float64", "int64".
const char* DTypeName(DType dtype);
size_t DTypeSize(DType dtype);
bool IsFloating(DType dtype);
// Accepts "float32"/"f32", "float64"/"f64", "int64"/"i64".
absl::StatusOr<DType> ParseDType(absl::string_view text);

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kFloat32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::kFloat64;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::kInt64;
};

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_DTYPE_H_
