#include "framework/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/util/json_util.h"

// Tensor data is copied with memcpy: the file is little-endian and so must
// the host be.
#if !defined(ABSL_IS_LITTLE_ENDIAN)
#error "safetensors.cc assumes a little-endian host"
#endif

namespace minigraph {
namespace {

using ::google::protobuf::ListValue;
using ::google::protobuf::Struct;
using ::google::protobuf::Value;

constexpr absl::string_view kMetadataKey = "__metadata__";
// The reference implementation's limit on the JSON header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// Shapes longer than this are corrupt, not models: bounds the memory a
// malicious header can make us spend on shape vectors.
constexpr size_t kMaxRank = 64;
// JSON numbers arrive as doubles: integers at or above 2^53 may have been
// rounded, so they are rejected rather than trusted.
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53

// How the bytes of one safetensors dtype become a minigraph tensor.
enum class Decode { kCopy, kHalf, kBFloat16 };

struct FileDType {
  absl::string_view name;
  size_t bytes;  // per element in the file
  DType dtype;   // of the tensor we make
  Decode decode;
};

constexpr FileDType kReadableDTypes[] = {
    {"F32", 4, DType::kFloat32, Decode::kCopy},
    {"F64", 8, DType::kFloat64, Decode::kCopy},
    {"I64", 8, DType::kInt64, Decode::kCopy},
    {"F16", 2, DType::kFloat32, Decode::kHalf},
    {"BF16", 2, DType::kFloat32, Decode::kBFloat16},
};

// Valid safetensors dtypes this library does not read.
constexpr absl::string_view kOtherKnownDTypes[] = {
    "BOOL", "U8",  "I8",  "I16",     "U16",
    "I32",  "U32", "U64", "F8_E4M3", "F8_E5M2"};

const char* FileDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "F32";
    case DType::kFloat64:
      return "F64";
    case DType::kInt64:
      return "I64";
  }
  return "?";
}

// Text from the file goes into messages with control characters escaped
// (\n, \x01), so that a message stays one line whatever the file holds.
// With `ascii_only`, bytes >= 0x80 are escaped too (for raw header text,
// which may not be UTF-8).
std::string Printable(absl::string_view text, bool ascii_only = false) {
  std::string out;
  for (char c : text) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F || (ascii_only && byte >= 0x80)) {
      out += absl::CHexEscape(absl::string_view(&c, 1));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Quote(absl::string_view text) {
  return absl::StrCat("'", Printable(text), "'");
}

std::string DoubleQuote(absl::string_view text) {
  return absl::StrCat("\"", Printable(text), "\"");
}

absl::Status FileError(absl::string_view source, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": invalid safetensors file: ", what));
}

absl::Status TensorError(absl::string_view source, absl::string_view tensor,
                         absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": invalid safetensors file: tensor ", Quote(tensor),
                   ": ", what));
}

// protobuf's JSON errors are "<what>\n<text near the error>\n<caret>":
// keeps the first two on one line.
std::string OneLine(absl::string_view message) {
  const std::vector<absl::string_view> lines = absl::StrSplit(message, '\n');
  if (lines.size() < 2) return Printable(message, true);
  return absl::StrCat(Printable(lines[0], true), " near \"",
                      Printable(lines[1], true), "\"");
}

const char* KindName(const Value& value) {
  switch (value.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return "a number";
    case Value::kStringValue:
      return "a string";
    case Value::kBoolValue:
      return "a boolean";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "an array";
    case Value::KIND_NOT_SET:
      break;
  }
  return "nothing";
}

// A JSON number that must be an integer in [0, 2^53); `what` names it in the
// error ("shape[1]", "data_offsets[0]").
absl::StatusOr<int64_t> ToCount(const Value& value, absl::string_view what) {
  if (value.kind_case() != Value::kNumberValue) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", KindName(value), ", expected a non-negative integer"));
  }
  const double number = value.number_value();
  if (!(number >= 0) || number >= kMaxExactInteger ||
      std::floor(number) != number) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is ", number, ", expected a non-negative integer below 2^53"));
  }
  return static_cast<int64_t>(number);
}

// One tensor's header entry, validated on its own.
struct Entry {
  std::string name;
  const FileDType* type = nullptr;
  Shape shape;
  int64_t begin = 0;
  int64_t end = 0;
};

absl::StatusOr<const FileDType*> LookUpDType(const Value& value) {
  if (value.kind_case() != Value::kStringValue) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"dtype\" is ", KindName(value),
                     ", expected a string such as \"F32\""));
  }
  const std::string& name = value.string_value();
  for (const FileDType& type : kReadableDTypes) {
    if (type.name == name) return &type;
  }
  std::vector<absl::string_view> readable;
  for (const FileDType& type : kReadableDTypes) readable.push_back(type.name);
  const bool known =
      std::find(std::begin(kOtherKnownDTypes), std::end(kOtherKnownDTypes),
                name) != std::end(kOtherKnownDTypes);
  return absl::InvalidArgumentError(absl::StrCat(
      known ? "unsupported" : "unknown", " dtype ", DoubleQuote(name),
      ", expected one of ", absl::StrJoin(readable, ", ")));
}

// Checks one entry's keys, dtype, shape and offsets, and that its byte count
// matches dtype and shape. Errors are without the file/tensor prefix.
absl::Status ParseEntry(const Value& value, Entry& entry, int64_t data_bytes) {
  if (value.kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError(absl::StrCat(
        "entry is ", KindName(value),
        ", expected an object with \"dtype\", \"shape\" and \"data_offsets\""));
  }
  const auto& fields = value.struct_value().fields();
  for (const auto& [key, unused] : fields) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected key ", DoubleQuote(key),
          ", expected only \"dtype\", \"shape\" and \"data_offsets\""));
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (fields.find(key) == fields.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing key \"", key, "\""));
    }
  }

  MG_ASSIGN_OR_RETURN(entry.type, LookUpDType(fields.at("dtype")));

  const Value& shape = fields.at("shape");
  if (shape.kind_case() != Value::kListValue) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"shape\" is ", KindName(shape), ", expected an array of integers"));
  }
  const ListValue& dims = shape.list_value();
  if (static_cast<size_t>(dims.values_size()) > kMaxRank) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"shape\" has ", dims.values_size(),
                     " dimensions, expected at most ", kMaxRank));
  }
  entry.shape.clear();
  for (int i = 0; i < dims.values_size(); ++i) {
    MG_ASSIGN_OR_RETURN(
        int64_t dim, ToCount(dims.values(i), absl::StrCat("shape[", i, "]")));
    entry.shape.push_back(dim);
  }
  // Bounds the element count by 2^40, so the byte count below (at most
  // 2^43) cannot overflow.
  MG_RETURN_IF_ERROR(ValidateShape(entry.shape));

  const Value& offsets = fields.at("data_offsets");
  if (offsets.kind_case() != Value::kListValue ||
      offsets.list_value().values_size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"data_offsets\" is ",
        offsets.kind_case() == Value::kListValue
            ? absl::StrCat("an array of ", offsets.list_value().values_size(),
                           " values")
            : KindName(offsets),
        ", expected [begin, end]"));
  }
  MG_ASSIGN_OR_RETURN(
      entry.begin, ToCount(offsets.list_value().values(0), "data_offsets[0]"));
  MG_ASSIGN_OR_RETURN(
      entry.end, ToCount(offsets.list_value().values(1), "data_offsets[1]"));
  if (entry.end < entry.begin) {
    return absl::InvalidArgumentError(absl::StrCat("data_offsets [",
                                                   entry.begin, ", ", entry.end,
                                                   "] end before they begin"));
  }
  if (entry.end > data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_offsets [", entry.begin, ", ", entry.end,
        "] run past the end of the data buffer (", data_bytes, " bytes)"));
  }
  const int64_t expected_bytes =
      NumElements(entry.shape) * static_cast<int64_t>(entry.type->bytes);
  if (entry.end - entry.begin != expected_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_offsets [", entry.begin, ", ", entry.end, "] hold ",
        entry.end - entry.begin, " bytes, but dtype ", entry.type->name,
        " and shape ", ShapeToString(entry.shape), " need ", expected_bytes));
  }
  return absl::OkStatus();
}

absl::Status ParseMetadata(const Value& value, absl::string_view source,
                           std::map<std::string, std::string>& metadata) {
  if (value.kind_case() != Value::kStructValue) {
    return FileError(source,
                     absl::StrCat("\"__metadata__\" is ", KindName(value),
                                  ", expected an object of strings"));
  }
  for (const auto& [key, entry] : value.struct_value().fields()) {
    if (entry.kind_case() != Value::kStringValue) {
      return FileError(
          source, absl::StrCat("\"__metadata__\" entry ", DoubleQuote(key),
                               " is ", KindName(entry), ", expected a string"));
    }
    metadata[key] = entry.string_value();
  }
  return absl::OkStatus();
}

// The offsets must tile the data buffer: sorted by position, each tensor
// starts where the previous one ended, and the last one ends at the end of
// the buffer. This rules out overlaps (two tensors sharing bytes) and holes
// (bytes no tensor owns), as the reference implementation does.
absl::Status CheckTiling(std::vector<Entry>& entries, absl::string_view source,
                         int64_t data_bytes) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  int64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < covered) {
      return TensorError(
          source, entry.name,
          absl::StrCat("data_offsets [", entry.begin, ", ", entry.end,
                       "] overlap tensor ", Quote(previous->name), " at [",
                       previous->begin, ", ", previous->end, "]"));
    }
    if (entry.begin > covered) {
      return TensorError(
          source, entry.name,
          absl::StrCat("data_offsets [", entry.begin, ", ", entry.end,
                       "] leave bytes [", covered, ", ", entry.begin,
                       ") of the data buffer unused, expected the tensor to "
                       "begin at ",
                       covered));
    }
    covered = entry.end;
    previous = &entry;
  }
  if (covered != data_bytes) {
    if (previous == nullptr) {
      return FileError(source,
                       absl::StrCat("there are no tensors, but the data "
                                    "buffer holds ",
                                    data_bytes, " bytes"));
    }
    return TensorError(
        source, previous->name,
        absl::StrCat("data_offsets [", previous->begin, ", ", previous->end,
                     "] end at byte ", previous->end,
                     ", but the data buffer holds ", data_bytes,
                     " bytes: the last tensor must end at the end of the "
                     "file"));
  }
  return absl::OkStatus();
}

Tensor DecodeTensor(const Entry& entry, const char* data) {
  // Every element is written below.
  Tensor tensor = Tensor::Uninitialized(entry.shape, entry.type->dtype);
  const char* src = data + entry.begin;
  const int64_t n = tensor.numel();
  switch (entry.type->decode) {
    case Decode::kCopy:
      std::memcpy(tensor.storage()->data(), src, entry.end - entry.begin);
      break;
    case Decode::kHalf:
    case Decode::kBFloat16: {
      float* out = tensor.data<float>();
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t bits =
            static_cast<uint16_t>(static_cast<uint8_t>(src[2 * i]) |
                                  (static_cast<uint8_t>(src[2 * i + 1]) << 8));
        out[i] = entry.type->decode == Decode::kHalf ? HalfToFloat(bits)
                                                     : BFloat16ToFloat(bits);
      }
      break;
    }
  }
  return tensor;
}

float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// JSON string literal: quotes, backslashes and control characters escaped as
// serde_json (the reference writer) escapes them; other UTF-8 as is.
void AppendJsonString(absl::string_view text, std::string& out) {
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[(c >> 4) & 0xF]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

absl::Status CheckUtf8(absl::string_view text, absl::string_view what) {
  if (!google::protobuf::internal::IsStructurallyValidUTF8(
          text.data(), static_cast<int>(text.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors: ", what, " is not valid UTF-8"));
  }
  return absl::OkStatus();
}

std::string ErrnoText(int error) { return std::strerror(error); }

}  // namespace

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits >> 15) << 31;
  uint32_t exponent = (bits >> 10) & 0x1F;
  uint32_t mantissa = bits & 0x3FF;
  if (exponent == 0x1F) {
    // inf or NaN; the payload (and so the quiet bit) moves up 13 bits.
    return BitsToFloat(sign | 0x7F800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    if (mantissa == 0) return BitsToFloat(sign);  // +-0
    // Subnormal m * 2^-24: normalise so the leading 1 becomes implicit.
    uint32_t float_exponent = 127 - 15 + 1;
    while ((mantissa & 0x400) == 0) {
      mantissa <<= 1;
      --float_exponent;
    }
    return BitsToFloat(sign | (float_exponent << 23) |
                       ((mantissa & 0x3FF) << 13));
  }
  // Normal: rebias the exponent from 15 to 127; every half is exact in f32.
  return BitsToFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

float BFloat16ToFloat(uint16_t bits) {
  return BitsToFloat(static_cast<uint32_t>(bits) << 16);
}

absl::StatusOr<SafetensorsFile> ParseSafetensors(absl::string_view bytes,
                                                 absl::string_view source) {
  if (bytes.size() < 8) {
    return FileError(source,
                     absl::StrCat("the file has ", bytes.size(),
                                  " bytes, expected at least 8 (the header "
                                  "length)"));
  }
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) {
    header_bytes = (header_bytes << 8) | static_cast<uint8_t>(bytes[i]);
  }
  if (header_bytes > kMaxHeaderBytes) {
    return FileError(source, absl::StrCat("header length ", header_bytes,
                                          " exceeds the limit of ",
                                          kMaxHeaderBytes, " bytes"));
  }
  if (header_bytes > bytes.size() - 8) {
    return FileError(
        source,
        absl::StrCat("header length ", header_bytes, " exceeds the ",
                     bytes.size() - 8, " bytes that follow the length field"));
  }
  const absl::string_view header = bytes.substr(8, header_bytes);
  const absl::string_view data = bytes.substr(8 + header_bytes);
  const int64_t data_bytes = static_cast<int64_t>(data.size());
  if (header.empty() || header.front() != '{') {
    return FileError(source, "the JSON header does not start with '{'");
  }

  Struct root;
  const auto json_status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(header.data(), header.size()), &root);
  if (!json_status.ok()) {
    return FileError(source,
                     absl::StrCat("the header is not valid JSON: ",
                                  OneLine(std::string(json_status.message()))));
  }

  SafetensorsFile file;
  std::vector<Entry> entries;
  entries.reserve(root.fields_size());
  // In name order, so that the error reported for a file with several bad
  // entries does not depend on hashing.
  std::vector<const std::string*> names;
  names.reserve(root.fields_size());
  for (const auto& field : root.fields()) names.push_back(&field.first);
  std::sort(names.begin(), names.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  for (const std::string* name_ptr : names) {
    const std::string& name = *name_ptr;
    const Value& value = root.fields().at(name);
    if (name == kMetadataKey) {
      MG_RETURN_IF_ERROR(ParseMetadata(value, source, file.metadata));
      continue;
    }
    Entry entry;
    entry.name = name;
    if (absl::Status status = ParseEntry(value, entry, data_bytes);
        !status.ok()) {
      return TensorError(source, name, status.message());
    }
    entries.push_back(std::move(entry));
  }
  // Only now, with every offset checked against the buffer and the tiling
  // checked, is any data read.
  MG_RETURN_IF_ERROR(CheckTiling(entries, source, data_bytes));
  for (const Entry& entry : entries) {
    file.tensors.emplace(entry.name, DecodeTensor(entry, data.data()));
  }
  return file;
}

absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
  // below); reads of regular files ignore the flag.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    return absl::Status(
        absl::ErrnoToStatusCode(error),
        absl::StrCat(path, ": cannot open: ", ErrnoText(error)));
  }
  auto fail = [&](absl::string_view what, int error) {
    close(fd);
    return absl::Status(absl::ErrnoToStatusCode(error),
                        absl::StrCat(path, ": ", what, ErrnoText(error)));
  };
  struct stat info;
  if (fstat(fd, &info) != 0) return fail("cannot stat: ", errno);
  // Only regular files: a FIFO or a device such as /dev/zero could make the
  // read below block or never end.
  if (!S_ISREG(info.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a regular file"));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot read: ", errno);
    if (n == 0) break;  // the file shrank while we read it
    got += static_cast<size_t>(n);
  }
  close(fd);
  bytes.resize(got);
  return ParseSafetensors(bytes, path);
}

absl::StatusOr<std::string> SerializeSafetensors(const SafetensorsFile& file) {
  std::string header = "{";
  if (!file.metadata.empty()) {
    AppendJsonString(kMetadataKey, header);
    header += ":{";
    bool first = true;
    for (const auto& [key, value] : file.metadata) {
      MG_RETURN_IF_ERROR(CheckUtf8(key, "metadata key " + Quote(key)));
      MG_RETURN_IF_ERROR(CheckUtf8(value, "metadata value of " + Quote(key)));
      if (!first) header += ",";
      first = false;
      AppendJsonString(key, header);
      header += ":";
      AppendJsonString(value, header);
    }
    header += "}";
  }
  int64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {
    MG_RETURN_IF_ERROR(CheckUtf8(name, "tensor name " + Quote(name)));
    if (name == kMetadataKey) {
      return absl::InvalidArgumentError(
          "safetensors: \"__metadata__\" is reserved and cannot name a tensor");
    }
    if (!tensor.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: tensor ", Quote(name), " is undefined"));
    }
    const int64_t bytes =
        tensor.numel() * static_cast<int64_t>(DTypeSize(tensor.dtype()));
    if (header.size() > 1) header += ",";
    AppendJsonString(name, header);
    absl::StrAppend(&header, ":{\"dtype\":\"", FileDTypeName(tensor.dtype()),
                    "\",\"shape\":[", absl::StrJoin(tensor.shape(), ","),
                    "],\"data_offsets\":[", offset, ",", offset + bytes, "]}");
    offset += bytes;
  }
  header += "}";
  // Pad with spaces so the data starts 8-byte aligned, as the reference
  // writer does.
  header.append((8 - header.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + header.size() + static_cast<size_t>(offset));
  uint64_t header_bytes = header.size();
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>(header_bytes & 0xFF));
    header_bytes >>= 8;
  }
  out += header;
  for (const auto& [name, tensor] : file.tensors) {
    const size_t size = DTypeSize(tensor.dtype());
    const char* base = static_cast<const char*>(tensor.storage()->data());
    if (tensor.is_contiguous()) {
      out.append(base + tensor.offset() * size, tensor.numel() * size);
      continue;
    }
    ForEachOffset(tensor.shape(), tensor.strides(), tensor.offset(),
                  [&](int64_t, int64_t element) {
                    out.append(base + element * size, size);
                  });
  }
  return out;
}

absl::Status WriteSafetensors(const std::string& path,
                              const SafetensorsFile& file) {
  MG_ASSIGN_OR_RETURN(std::string bytes, SerializeSafetensors(file));

  // A fresh name next to `path` (same file system, so rename is atomic).
  // O_EXCL with mode 0666 respects the umask, unlike mkstemp's 0600.
  static std::atomic<uint64_t> counter{0};
  std::string temp_path;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp_path = absl::StrCat(path, ".tmp.", getpid(), ".", counter++);
    fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    const int error = errno;
    return absl::Status(absl::ErrnoToStatusCode(error),
                        absl::StrCat(path, ": cannot create a temporary file ",
                                     temp_path, ": ", ErrnoText(error)));
  }
  auto fail = [&](absl::string_view what, int error) {
    if (fd >= 0) close(fd);
    unlink(temp_path.c_str());
    return absl::Status(
        absl::ErrnoToStatusCode(error),
        absl::StrCat(path, ": ", what, " ", temp_path, ": ", ErrnoText(error)));
  };
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write", errno);
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("cannot flush", errno);
  const int closed = close(fd);
  fd = -1;
  if (closed != 0) return fail("cannot close", errno);
  if (std::rename(temp_path.c_str(), path.c_str()) != 0) {
    return fail("cannot rename into place", errno);
  }
  return absl::OkStatus();
}

}  // namespace minigraph
