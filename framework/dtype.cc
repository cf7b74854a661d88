#include "framework/dtype.h"

#include "absl/strings/str_cat.h"

namespace minigraph {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kFloat64:
      return "float64";
    case DType::kInt64:
      return "int64";
  }
  return "unknown";
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat64:
    case DType::kInt64:
      return 8;
  }
  return 0;
}

bool IsFloating(DType dtype) { return dtype != DType::kInt64; }

absl::StatusOr<DType> ParseDType(absl::string_view text) {
  if (text == "float32" || text == "f32") return DType::kFloat32;
  if (text == "float64" || text == "f64") return DType::kFloat64;
  if (text == "int64" || text == "i64") return DType::kInt64;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", text, "': expected float32, float64 or int64"));
}

}  // namespace minigraph
