#include "framework/attrs.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/status_macros.h"

namespace minigraph {

const char* AttrTypeName(AttrType type) {
  switch (type) {
    case AttrType::kInt:
      return "int";
    case AttrType::kFloat:
      return "float";
    case AttrType::kBool:
      return "bool";
    case AttrType::kString:
      return "string";
    case AttrType::kInts:
      return "ints";
    case AttrType::kFloats:
      return "floats";
    case AttrType::kDType:
      return "dtype";
    case AttrType::kShape:
      return "shape";
  }
  return "unknown";
}

std::string AttrValueToString(const AttrValue& value) {
  switch (TypeOf(value)) {
    case AttrType::kInt:
      return absl::StrCat(std::get<int64_t>(value));
    case AttrType::kFloat:
      return absl::StrCat(std::get<double>(value));
    case AttrType::kBool:
      return std::get<bool>(value) ? "true" : "false";
    case AttrType::kString:
      return absl::StrCat("\"", std::get<std::string>(value), "\"");
    case AttrType::kInts:
      return absl::StrCat(
          "[", absl::StrJoin(std::get<std::vector<int64_t>>(value), ", "), "]");
    case AttrType::kFloats:
      return absl::StrCat(
          "[", absl::StrJoin(std::get<std::vector<double>>(value), ", "), "]");
    case AttrType::kDType:
      return DTypeName(std::get<DType>(value));
    case AttrType::kShape:
      return absl::StrCat(
          "(", absl::StrJoin(std::get<ShapeAttr>(value).dims, ", "), ")");
  }
  return "?";
}

Attrs::Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items)
    : items_(items) {}

Attrs& Attrs::Set(std::string name, AttrValue value) {
  for (auto& [key, existing] : items_) {
    if (key == name) {
      existing = std::move(value);
      return *this;
    }
  }
  items_.emplace_back(std::move(name), std::move(value));
  return *this;
}

const AttrValue* Attrs::Find(absl::string_view name) const {
  for (const auto& [key, value] : items_) {
    if (key == name) return &value;
  }
  return nullptr;
}

const AttrValue& Attrs::GetOrDie(absl::string_view name, AttrType type) const {
  const AttrValue* value = Find(name);
  if (value == nullptr || TypeOf(*value) != type) {
    DieWithStatus(absl::InternalError(
        absl::StrCat("attribute '", name, "' of type ", AttrTypeName(type),
                     " read but not validated")));
  }
  return *value;
}

int64_t Attrs::GetInt(absl::string_view name) const {
  return std::get<int64_t>(GetOrDie(name, AttrType::kInt));
}
double Attrs::GetFloat(absl::string_view name) const {
  return std::get<double>(GetOrDie(name, AttrType::kFloat));
}
bool Attrs::GetBool(absl::string_view name) const {
  return std::get<bool>(GetOrDie(name, AttrType::kBool));
}
const std::string& Attrs::GetString(absl::string_view name) const {
  return std::get<std::string>(GetOrDie(name, AttrType::kString));
}
const std::vector<int64_t>& Attrs::GetInts(absl::string_view name) const {
  return std::get<std::vector<int64_t>>(GetOrDie(name, AttrType::kInts));
}
const std::vector<double>& Attrs::GetFloats(absl::string_view name) const {
  return std::get<std::vector<double>>(GetOrDie(name, AttrType::kFloats));
}
DType Attrs::GetDType(absl::string_view name) const {
  return std::get<DType>(GetOrDie(name, AttrType::kDType));
}
const std::vector<int64_t>& Attrs::GetShape(absl::string_view name) const {
  return std::get<ShapeAttr>(GetOrDie(name, AttrType::kShape)).dims;
}

std::string Attrs::ToString() const {
  return absl::StrJoin(items_, ", ", [](std::string* out, const auto& item) {
    absl::StrAppend(out, item.first, "=", AttrValueToString(item.second));
  });
}

absl::Status ValidateAttrs(const std::vector<AttrDef>& defs,
                           absl::string_view where, Attrs& attrs) {
  for (const auto& [name, value] : attrs.items()) {
    bool known = false;
    for (const AttrDef& def : defs) known = known || def.name == name;
    if (!known) {
      std::vector<std::string> names;
      for (const AttrDef& def : defs) names.push_back(def.name);
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": unknown attribute '", name, "' (declared: ",
          names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
  }
  for (const AttrDef& def : defs) {
    const AttrValue* value = attrs.Find(def.name);
    if (value == nullptr) {
      if (!def.default_value.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": missing required attribute '", def.name,
                         "' of type ", AttrTypeName(def.type)));
      }
      attrs.Set(def.name, *def.default_value);
      continue;
    }
    if (TypeOf(*value) == def.type) continue;
    if (def.type == AttrType::kFloat && TypeOf(*value) == AttrType::kInt) {
      attrs.Set(def.name, static_cast<double>(std::get<int64_t>(*value)));
      continue;
    }
    if (def.type == AttrType::kShape && TypeOf(*value) == AttrType::kInts) {
      attrs.Set(def.name, ShapeAttr{std::get<std::vector<int64_t>>(*value)});
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": attribute '", def.name, "' must be ", AttrTypeName(def.type),
        ", got ", AttrTypeName(TypeOf(*value)), " ",
        AttrValueToString(*value)));
  }
  // Canonical order is the declaration's, so equal attrs compare equal.
  Attrs canonical;
  for (const AttrDef& def : defs)
    canonical.Set(def.name, *attrs.Find(def.name));
  attrs = std::move(canonical);
  return absl::OkStatus();
}

}  // namespace minigraph
