// libFuzzer target for ParseSafetensors: any bytes must give a file or an
// error naming the source, without crashing. An accepted file must also
// survive a write and re-read unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "framework/safetensors.h"

namespace {

constexpr absl::string_view kSource = "fuzz.safetensors";

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using minigraph::ParseSafetensors;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<minigraph::SafetensorsFile> parsed =
      ParseSafetensors(bytes, kSource);
  if (!parsed.ok()) {
    Check(absl::StartsWith(parsed.status().message(), kSource));
    return 0;
  }
  absl::StatusOr<std::string> written =
      minigraph::SerializeSafetensors(*parsed);
  Check(written.ok());
  absl::StatusOr<minigraph::SafetensorsFile> again =
      ParseSafetensors(*written, kSource);
  Check(again.ok());
  Check(again->metadata == parsed->metadata);
  Check(again->tensors.size() == parsed->tensors.size());
  for (const auto& [name, tensor] : parsed->tensors) {
    const auto it = again->tensors.find(name);
    Check(it != again->tensors.end());
    Check(it->second.dtype() == tensor.dtype());
    Check(it->second.shape() == tensor.shape());
    const size_t n = tensor.numel() * minigraph::DTypeSize(tensor.dtype());
    Check(std::memcmp(it->second.storage()->data(), tensor.storage()->data(),
                      n) == 0);
  }
  return 0;
}
