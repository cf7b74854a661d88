// safetensors files: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//  "__metadata__": {...}}, then the raw little-endian data. The format of
// MiniMind's (and Hugging Face's) published checkpoints.
//
// Reading validates the whole header before trusting any byte of data:
// offsets inside the file and not overlapping, byte counts matching dtype and
// shape, sizes bounded. Every error names the file and the tensor.
#ifndef MINIGRAPH_FRAMEWORK_SAFETENSORS_H_
#define MINIGRAPH_FRAMEWORK_SAFETENSORS_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/tensor.h"

namespace minigraph {

struct SafetensorsFile {
  // By name, sorted. F32 -> float32, F64 -> float64, I64 -> int64; F16 and
  // BF16 are converted to float32 on read.
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses the bytes of a whole file; `source` names it in errors.
absl::StatusOr<SafetensorsFile> ParseSafetensors(absl::string_view bytes,
                                                 absl::string_view source);
absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path);

// Serialises float32, float64 and int64 tensors (any layout) in name order.
absl::StatusOr<std::string> SerializeSafetensors(const SafetensorsFile& file);
// Writes through a temporary file in the same directory and a rename: no
// partial file is ever left at `path`.
absl::Status WriteSafetensors(const std::string& path,
                              const SafetensorsFile& file);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_SAFETENSORS_H_
