#include "models/module.h"

#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace minigraph {
namespace {

std::string Describe(const Tensor& t) {
  return absl::StrCat(DTypeName(t.dtype()), ShapeToString(t.shape()));
}

// Writes the contiguous `values` (already in dst's dtype) into dst's
// elements, honouring dst's strides.
void CopyInto(const Tensor& values, const Tensor& dst) {
  const size_t size = DTypeSize(dst.dtype());
  const char* src = static_cast<const char*>(values.storage()->data()) +
                    values.offset() * size;
  char* base = static_cast<char*>(dst.storage()->data());
  if (dst.is_contiguous()) {
    std::memcpy(base + dst.offset() * size, src, dst.numel() * size);
    return;
  }
  ForEachOffset(dst.shape(), dst.strides(), dst.offset(),
                [&](int64_t i, int64_t element) {
                  std::memcpy(base + element * size, src + i * size, size);
                });
}

}  // namespace

void Module::SetTraining(bool training) {
  training_ = training;
  for (Module* child : Children()) child->SetTraining(training);
}

NamedTensors WithPrefix(absl::string_view prefix, NamedTensors named) {
  for (auto& entry : named) entry.first = absl::StrCat(prefix, entry.first);
  return named;
}

SafetensorsFile StateDict(const Module& module) {
  SafetensorsFile file;
  for (const auto& [name, tensor] : module.StateDictEntries()) {
    file.tensors[name] = tensor;
  }
  return file;
}

absl::Status LoadStateDict(const Module& module, const SafetensorsFile& state,
                           absl::string_view source, bool strict) {
  const NamedTensors parameters = module.NamedParameters();
  // Check everything before writing anything.
  std::vector<std::pair<const Tensor*, const Tensor*>> copies;
  std::vector<const std::pair<std::string, Tensor>*> missing;
  for (const auto& entry : parameters) {
    const std::string& name = entry.first;
    const Tensor& parameter = entry.second;
    auto it = state.tensors.find(name);
    if (it == state.tensors.end()) {
      missing.push_back(&entry);
      continue;
    }
    const Tensor& stored = it->second;
    if (stored.shape() != parameter.shape() || !IsFloating(stored.dtype())) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": tensor '", name, "' is ", Describe(stored),
                       ", expected a float tensor of shape ",
                       ShapeToString(parameter.shape())));
    }
    copies.emplace_back(&stored, &parameter);
  }
  if (strict && !missing.empty()) {
    return absl::NotFoundError(absl::StrCat(
        source, ": tensor '", missing[0]->first, "' not found (expected ",
        ShapeToString(missing[0]->second.shape()), ")",
        missing.size() > 1
            ? absl::StrCat("; ", missing.size() - 1, " more missing")
            : ""));
  }
  if (strict) {
    std::set<std::string> known;
    for (const auto& entry : module.StateDictEntries()) {
      known.insert(entry.first);
    }
    std::vector<std::string> unexpected;
    for (const auto& entry : state.tensors) {
      if (known.count(entry.first) == 0) unexpected.push_back(entry.first);
    }
    if (!unexpected.empty()) {
      if (unexpected.size() > 5) {
        unexpected.resize(5);
        unexpected.push_back("...");
      }
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": unexpected tensor(s) the model has no parameter for: ",
          absl::StrJoin(unexpected, ", ")));
    }
  }
  for (const auto& [stored, parameter] : copies) {
    const Tensor values = ConvertDType(*stored, parameter->dtype());
    CopyInto(values, *parameter);
  }
  return absl::OkStatus();
}

}  // namespace minigraph
