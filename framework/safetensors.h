// safetensors files: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
//  "__metadata__": {...}}, then the raw little-endian data. The format of
// MiniMind's (and Hugging Face's) published checkpoints.
//
// Reading validates the whole header before trusting any byte of data:
// offsets inside the file and not overlapping, byte counts matching dtype and
// shape, sizes bounded. Every error names the file and the tensor.
//
// What a valid file is, exactly (as the reference implementation, plus a few
// bounds):
// - the header length is at most 100,000,000 and at most the bytes after it;
// - the header starts with '{' and is JSON (protobuf's parser; it also takes
//   a few non-standard spellings such as single quotes and trailing commas);
//   it may end with spaces (the reference writer pads it to 8 bytes);
// - "__metadata__", if present, maps strings to strings;
// - every other key is a tensor whose value has exactly the keys "dtype",
//   "shape" and "data_offsets"; names are unique;
// - dtype is F32, F64, I64, F16 or BF16 (other safetensors dtypes are named
//   as unsupported);
// - shape entries and offsets are integers in [0, 2^53) (JSON numbers come
//   back as doubles, so larger ones may have been rounded), rank <= 64, at
//   most 2^40 elements (ValidateShape);
// - end - begin == elements * dtype size;
// - sorted by offset, the tensors tile the data buffer: the first begins at
//   0, each begins where the previous ended, the last ends at the end of the
//   file. So no overlaps and no unowned bytes (holes or trailing garbage).
#ifndef MINIGRAPH_FRAMEWORK_SAFETENSORS_H_
#define MINIGRAPH_FRAMEWORK_SAFETENSORS_H_

#include <cstdint>
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

// IEEE binary16 and bfloat16 bit patterns to float32 (both exact:
// every value, subnormal, infinity and NaN payload is representable).
float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);

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
