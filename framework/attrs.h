// Typed op attributes: each op declares (name, type, default) once, and every
// call, loaded graph and dump is checked against that declaration.
#ifndef MINIGRAPH_FRAMEWORK_ATTRS_H_
#define MINIGRAPH_FRAMEWORK_ATTRS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "framework/dtype.h"

namespace minigraph {

enum class AttrType : int {
  kInt = 0,
  kFloat = 1,
  kBool = 2,
  kString = 3,
  kInts = 4,
  kFloats = 5,
  kDType = 6,
  kShape = 7,  // a list of dimensions; -1 may stand for "infer"
};

const char* AttrTypeName(AttrType type);

// A shape attribute is kept apart from a plain list of ints so that the type
// survives serialization.
struct ShapeAttr {
  std::vector<int64_t> dims;
  bool operator==(const ShapeAttr& other) const { return dims == other.dims; }
};

using AttrValue =
    std::variant<int64_t, double, bool, std::string, std::vector<int64_t>,
                 std::vector<double>, DType, ShapeAttr>;

// The variant index equals the AttrType value.
inline AttrType TypeOf(const AttrValue& value) {
  return static_cast<AttrType>(value.index());
}
std::string AttrValueToString(const AttrValue& value);

struct AttrDef {
  std::string name;
  AttrType type;
  // Absent means the attribute is required.
  std::optional<AttrValue> default_value;
  std::string doc;
};

// An ordered list of (name, value): small, so lookups scan.
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<std::string, AttrValue>> items);

  Attrs& Set(std::string name, AttrValue value);
  const AttrValue* Find(absl::string_view name) const;
  bool Has(absl::string_view name) const { return Find(name) != nullptr; }

  // Typed reads; the op's declaration guarantees presence and type once the
  // attrs have been validated, so these die on misuse (a programming error).
  int64_t GetInt(absl::string_view name) const;
  double GetFloat(absl::string_view name) const;
  bool GetBool(absl::string_view name) const;
  const std::string& GetString(absl::string_view name) const;
  const std::vector<int64_t>& GetInts(absl::string_view name) const;
  const std::vector<double>& GetFloats(absl::string_view name) const;
  DType GetDType(absl::string_view name) const;
  const std::vector<int64_t>& GetShape(absl::string_view name) const;

  const std::vector<std::pair<std::string, AttrValue>>& items() const {
    return items_;
  }
  // "axis=1, keepdim=true"
  std::string ToString() const;
  bool operator==(const Attrs& other) const { return items_ == other.items_; }

 private:
  const AttrValue& GetOrDie(absl::string_view name, AttrType type) const;
  std::vector<std::pair<std::string, AttrValue>> items_;
};

// Fills defaults, rejects unknown names, missing required attributes and
// wrong types. An int given for a float attribute is widened. `where` prefixes
// every message (it names the op and the node).
absl::Status ValidateAttrs(const std::vector<AttrDef>& defs,
                           absl::string_view where, Attrs& attrs);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_ATTRS_H_
