#include "framework/graph_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "framework/op_registry.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace minigraph {
namespace {

proto::DataType DTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return proto::FLOAT32;
    case DType::kFloat64:
      return proto::FLOAT64;
    case DType::kInt64:
      return proto::INT64;
  }
  return proto::DATA_TYPE_UNSPECIFIED;
}

absl::StatusOr<DType> DTypeFromProto(int value, absl::string_view where) {
  switch (value) {
    case proto::FLOAT32:
      return DType::kFloat32;
    case proto::FLOAT64:
      return DType::kFloat64;
    case proto::INT64:
      return DType::kInt64;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": dtype ", value, " is not one of FLOAT32, FLOAT64, INT64"));
  }
}

void TypeToProto(const ValueType& type, proto::TensorType* out) {
  out->set_dtype(DTypeToProto(type.dtype));
  for (const SymDim& d : type.shape) {
    proto::Dim* dim = out->mutable_shape()->add_dims();
    dim->set_size(d.size);
    dim->set_symbol(d.symbol);
  }
}

absl::StatusOr<ValueType> TypeFromProto(const proto::TensorType& message,
                                        absl::string_view where) {
  ValueType type;
  MG_ASSIGN_OR_RETURN(type.dtype, DTypeFromProto(message.dtype(), where));
  for (const proto::Dim& dim : message.shape().dims()) {
    type.shape.push_back({dim.size(), dim.symbol()});
  }
  return type;
}

void RefToProto(const TensorRef& ref, proto::TensorRef* out) {
  out->set_node(ref.node);
  out->set_output(ref.output);
}

TensorRef RefFromProto(const proto::TensorRef& message) {
  return TensorRef{message.node(), message.output()};
}

void AttrToProto(const AttrValue& value, proto::AttrValue* out) {
  switch (TypeOf(value)) {
    case AttrType::kInt:
      out->set_i(std::get<int64_t>(value));
      break;
    case AttrType::kFloat:
      out->set_f(std::get<double>(value));
      break;
    case AttrType::kBool:
      out->set_b(std::get<bool>(value));
      break;
    case AttrType::kString:
      out->set_s(std::get<std::string>(value));
      break;
    case AttrType::kInts:
      out->mutable_ints();  // present even when empty
      for (int64_t v : std::get<std::vector<int64_t>>(value)) {
        out->mutable_ints()->add_values(v);
      }
      break;
    case AttrType::kFloats:
      out->mutable_floats();
      for (double v : std::get<std::vector<double>>(value)) {
        out->mutable_floats()->add_values(v);
      }
      break;
    case AttrType::kDType:
      out->set_dtype(DTypeToProto(std::get<DType>(value)));
      break;
    case AttrType::kShape:
      // Present even when empty: a 0-d shape is still a shape.
      out->mutable_shape();
      for (int64_t v : std::get<ShapeAttr>(value).dims) {
        out->mutable_shape()->add_dims()->set_size(v);
      }
      break;
  }
}

// Fills *out; an out-parameter rather than StatusOr<AttrValue>, whose
// variant-in-optional moves trip GCC's maybe-uninitialized analysis.
absl::Status AttrFromProto(const proto::AttrValue& message,
                           absl::string_view where, AttrValue* out) {
  switch (message.value_case()) {
    case proto::AttrValue::kI:
      *out = message.i();
      return absl::OkStatus();
    case proto::AttrValue::kF:
      *out = message.f();
      return absl::OkStatus();
    case proto::AttrValue::kB:
      *out = message.b();
      return absl::OkStatus();
    case proto::AttrValue::kS:
      *out = message.s();
      return absl::OkStatus();
    case proto::AttrValue::kInts:
      *out = std::vector<int64_t>(message.ints().values().begin(),
                                  message.ints().values().end());
      return absl::OkStatus();
    case proto::AttrValue::kFloats:
      *out = std::vector<double>(message.floats().values().begin(),
                                 message.floats().values().end());
      return absl::OkStatus();
    case proto::AttrValue::kDtype: {
      MG_ASSIGN_OR_RETURN(DType dtype, DTypeFromProto(message.dtype(), where));
      *out = dtype;
      return absl::OkStatus();
    }
    case proto::AttrValue::kShape: {
      ShapeAttr shape;
      for (const proto::Dim& dim : message.shape().dims()) {
        shape.dims.push_back(dim.size());
      }
      *out = std::move(shape);
      return absl::OkStatus();
    }
    case proto::AttrValue::kTensor:
      return absl::InvalidArgumentError(absl::StrCat(
          where,
          " holds a tensor, which no op attribute takes: a graph stores "
          "tensor values as constants or parameters that nodes read as "
          "inputs"));
    case proto::AttrValue::VALUE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(where, " has no value"));
}

absl::StatusOr<Graph> ConvertGraph(const proto::Graph& message,
                                   absl::string_view source) {
  if (message.format_version() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a minigraph graph (format_version is missing)"));
  }
  if (message.format_version() > kGraphFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": format_version ", message.format_version(),
        " is newer than this build reads (", kGraphFormatVersion, ")"));
  }
  Graph graph;
  graph.name = message.name();
  graph.producer = message.producer();
  for (const proto::Symbol& symbol : message.symbols()) {
    if (!graph.symbols.emplace(symbol.name(), symbol.value()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": symbol '", symbol.name(), "' is defined twice"));
    }
  }
  for (const proto::ValueInfo& input : message.inputs()) {
    const std::string where =
        absl::StrCat(source, ": graph input '", input.name(), "'");
    MG_ASSIGN_OR_RETURN(ValueType type, TypeFromProto(input.type(), where));
    graph.inputs.push_back({input.name(), std::move(type)});
  }
  for (const proto::Parameter& param : message.parameters()) {
    const std::string where =
        absl::StrCat(source, ": parameter '", param.name(), "'");
    GraphParameter converted;
    converted.name = param.name();
    MG_ASSIGN_OR_RETURN(converted.type, TypeFromProto(param.type(), where));
    if (param.has_value()) {
      MG_ASSIGN_OR_RETURN(converted.value,
                          TensorFromProto(param.value(), where));
    }
    graph.parameters.push_back(std::move(converted));
  }
  for (const proto::Constant& constant : message.constants()) {
    const std::string where =
        absl::StrCat(source, ": constant '", constant.name(), "'");
    if (!constant.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has no value"));
    }
    MG_ASSIGN_OR_RETURN(Tensor value, TensorFromProto(constant.value(), where));
    graph.constants.push_back({constant.name(), std::move(value)});
  }
  for (const proto::Node& node : message.nodes()) {
    const std::string where =
        absl::StrCat(source, ": node '", node.name(), "' (", node.op(), ")");
    GraphNode converted;
    converted.name = node.name();
    converted.op = node.op();
    for (const proto::TensorRef& ref : node.inputs()) {
      converted.inputs.push_back(RefFromProto(ref));
    }
    for (const auto& [name, value] : node.attrs()) {
      AttrValue attr;
      MG_RETURN_IF_ERROR(AttrFromProto(
          value, absl::StrCat(where, ": attribute '", name, "'"), &attr));
      converted.attrs.Set(name, std::move(attr));
    }
    for (const auto& [name, list] : node.attr_symbols()) {
      converted.attr_symbols[name].assign(list.expressions().begin(),
                                          list.expressions().end());
    }
    for (int i = 0; i < node.outputs_size(); ++i) {
      MG_ASSIGN_OR_RETURN(
          ValueType type,
          TypeFromProto(node.outputs(i), absl::StrCat(where, ": output ", i)));
      converted.outputs.push_back(std::move(type));
    }
    switch (node.role()) {
      case proto::Node::ROLE_UNSPECIFIED:
      case proto::Node::FORWARD:
        converted.role = NodeRole::kForward;
        break;
      case proto::Node::GRADIENT:
        converted.role = NodeRole::kGradient;
        break;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": unknown role ", node.role()));
    }
    converted.forward_node = node.forward_node();
    graph.nodes.push_back(std::move(converted));
  }
  for (const proto::GraphOutput& output : message.outputs()) {
    graph.outputs.push_back({output.name(), RefFromProto(output.value())});
  }
  MG_RETURN_IF_ERROR(ValidateGraph(graph, source));
  return graph;
}

// Collects the text parser's complaints for the error message.
class TextErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

const char* GraphFormatName(GraphFormat format) {
  switch (format) {
    case GraphFormat::kBinary:
      return "pb";
    case GraphFormat::kText:
      return "pbtxt";
    case GraphFormat::kJson:
      return "json";
  }
  return "?";
}

absl::StatusOr<GraphFormat> ParseGraphFormat(absl::string_view name) {
  if (name == "pb") return GraphFormat::kBinary;
  if (name == "pbtxt" || name == "txtpb") return GraphFormat::kText;
  if (name == "json") return GraphFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown graph format '", name, "' (pb, pbtxt, json)"));
}

absl::StatusOr<GraphFormat> GraphFormatFromPath(absl::string_view path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot == absl::string_view::npos ||
      (slash != absl::string_view::npos && dot < slash)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": no extension to tell the graph format "
                     "(.pb, .pbtxt, .json)"));
  }
  absl::StatusOr<GraphFormat> format = ParseGraphFormat(path.substr(dot + 1));
  if (!format.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", format.status().message()));
  }
  return format;
}

proto::TensorValue TensorToProto(const Tensor& tensor) {
  proto::TensorValue value;
  value.set_dtype(DTypeToProto(tensor.dtype()));
  for (int64_t d : tensor.shape()) value.add_shape(d);
  const Tensor contiguous =
      tensor.is_contiguous() ? tensor : CopyToContiguous(tensor);
  const size_t element_size = DTypeSize(contiguous.dtype());
  const char* begin = static_cast<const char*>(contiguous.storage()->data()) +
                      contiguous.offset() * element_size;
  value.set_data(begin, static_cast<size_t>(contiguous.numel()) * element_size);
  return value;
}

absl::StatusOr<Tensor> TensorFromProto(const proto::TensorValue& value,
                                       absl::string_view where) {
  MG_ASSIGN_OR_RETURN(DType dtype, DTypeFromProto(value.dtype(), where));
  const Shape shape(value.shape().begin(), value.shape().end());
  if (absl::Status s = ValidateShape(shape); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
  }
  // Compared before allocating: the bytes present bound the allocation.
  const uint64_t expected =
      static_cast<uint64_t>(NumElements(shape)) * DTypeSize(dtype);
  if (value.data().size() != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", DTypeName(dtype), ShapeToString(shape), " needs ",
        expected, " bytes of data, the file has ", value.data().size()));
  }
  Tensor tensor = Tensor::Empty(shape, dtype);
  if (expected > 0) {
    std::memcpy(tensor.storage()->data(), value.data().data(), expected);
  }
  return tensor;
}

proto::Graph GraphToProto(const Graph& graph,
                          const GraphWriteOptions& options) {
  proto::Graph message;
  message.set_format_version(kGraphFormatVersion);
  message.set_producer(graph.producer);
  message.set_name(graph.name);
  for (const auto& [name, size] : graph.symbols) {
    proto::Symbol* symbol = message.add_symbols();
    symbol->set_name(name);
    symbol->set_value(size);
  }
  for (const GraphInput& input : graph.inputs) {
    proto::ValueInfo* info = message.add_inputs();
    info->set_name(input.name);
    TypeToProto(input.type, info->mutable_type());
  }
  for (const GraphParameter& param : graph.parameters) {
    proto::Parameter* out = message.add_parameters();
    out->set_name(param.name);
    TypeToProto(param.type, out->mutable_type());
    if (options.with_weights && param.value.defined()) {
      *out->mutable_value() = TensorToProto(param.value);
    }
  }
  for (const GraphConstant& constant : graph.constants) {
    proto::Constant* out = message.add_constants();
    out->set_name(constant.name);
    *out->mutable_value() = TensorToProto(constant.value);
  }
  for (const GraphNode& node : graph.nodes) {
    proto::Node* out = message.add_nodes();
    out->set_name(node.name);
    out->set_op(node.op);
    for (const TensorRef& ref : node.inputs) RefToProto(ref, out->add_inputs());
    for (const auto& [name, value] : node.attrs.items()) {
      AttrToProto(value, &(*out->mutable_attrs())[name]);
    }
    for (const auto& [name, expressions] : node.attr_symbols) {
      proto::SymbolicInts& list = (*out->mutable_attr_symbols())[name];
      for (const std::string& e : expressions) list.add_expressions(e);
    }
    for (const ValueType& type : node.outputs) {
      TypeToProto(type, out->add_outputs());
    }
    out->set_role(node.role == NodeRole::kGradient ? proto::Node::GRADIENT
                                                   : proto::Node::FORWARD);
    out->set_forward_node(node.forward_node);
  }
  for (const GraphOutput& output : graph.outputs) {
    proto::GraphOutput* out = message.add_outputs();
    out->set_name(output.name);
    RefToProto(output.value, out->mutable_value());
  }
  return message;
}

absl::StatusOr<Graph> GraphFromProto(const proto::Graph& message,
                                     absl::string_view source) {
  return ConvertGraph(message, source);
}

absl::StatusOr<std::string> SerializeGraph(const Graph& graph,
                                           GraphFormat format,
                                           const GraphWriteOptions& options) {
  const proto::Graph message = GraphToProto(graph, options);
  std::string out;
  switch (format) {
    case GraphFormat::kBinary: {
      if (message.ByteSizeLong() > static_cast<size_t>(kMaxGraphFileBytes)) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "graph '", graph.name, "' is over 2 GiB as a binary protobuf"));
      }
      // Deterministic: the same graph gives the same bytes (map order).
      google::protobuf::io::StringOutputStream stream(&out);
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.SetSerializationDeterministic(true);
      message.SerializeToCodedStream(&coded);
      break;
    }
    case GraphFormat::kText: {
      google::protobuf::TextFormat::Printer printer;
      if (!printer.PrintToString(message, &out)) {
        return absl::InternalError("text format printer failed");
      }
      break;
    }
    case GraphFormat::kJson: {
      google::protobuf::util::JsonPrintOptions json;
      json.add_whitespace = true;
      json.preserve_proto_field_names = true;
      const auto status =
          google::protobuf::util::MessageToJsonString(message, &out, json);
      if (!status.ok()) {
        return absl::InternalError(absl::StrCat("JSON printer failed: ",
                                                std::string(status.message())));
      }
      break;
    }
  }
  return out;
}

absl::StatusOr<Graph> ParseGraph(absl::string_view bytes, GraphFormat format,
                                 absl::string_view source) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": empty file"));
  }
  if (bytes.size() > static_cast<size_t>(kMaxGraphFileBytes) ||
      bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", bytes.size(),
                                                   " bytes is over the 2 GiB "
                                                   "limit for a graph file"));
  }
  proto::Graph message;
  switch (format) {
    case GraphFormat::kBinary:
      if (!message.ParseFromArray(bytes.data(),
                                  static_cast<int>(bytes.size()))) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": not a binary graph protobuf (truncated or corrupted)"));
      }
      break;
    case GraphFormat::kText: {
      google::protobuf::TextFormat::Parser parser;
      TextErrors errors;
      parser.RecordErrorsTo(&errors);
      google::protobuf::io::ArrayInputStream stream(
          bytes.data(), static_cast<int>(bytes.size()));
      if (!parser.Parse(&stream, &message)) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": not a graph in protobuf text format: ", errors.first()));
      }
      break;
    }
    case GraphFormat::kJson: {
      const auto status = google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(bytes.data(), bytes.size()), &message,
          google::protobuf::util::JsonParseOptions());
      if (!status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source,
            ": not a graph in protobuf JSON: ", std::string(status.message())));
      }
      break;
    }
  }
  return ConvertGraph(message, source);
}

absl::StatusOr<Graph> ReadGraphFile(const std::string& path) {
  MG_ASSIGN_OR_RETURN(GraphFormat format, GraphFormatFromPath(path));
  MG_ASSIGN_OR_RETURN(std::string bytes,
                      ReadFileToString(path, kMaxGraphFileBytes));
  return ParseGraph(bytes, format, path);
}

absl::Status WriteGraphFile(const std::string& path, const Graph& graph,
                            const GraphWriteOptions& options) {
  MG_ASSIGN_OR_RETURN(GraphFormat format, GraphFormatFromPath(path));
  MG_ASSIGN_OR_RETURN(std::string bytes,
                      SerializeGraph(graph, format, options));
  return WriteFileAtomically(path, bytes);
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             int64_t max_bytes) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a file"));
  }
  if (info.st_size > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", info.st_size, " bytes is over the limit of ", max_bytes));
  }
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  const size_t read = std::fread(bytes.data(), 1, bytes.size(), file);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed || read != bytes.size()) {
    return absl::DataLossError(
        absl::StrCat(path, ": read ", read, " of ", bytes.size(), " bytes"));
  }
  return bytes;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  static std::atomic<int> counter{0};
  const std::string temp =
      absl::StrCat(path, ".tmp.", getpid(), ".", counter.fetch_add(1));
  FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot write (", std::strerror(errno), ")"));
  }
  const size_t written = std::fwrite(contents.data(), 1, contents.size(), file);
  const bool flushed = std::fflush(file) == 0;
  const bool closed = std::fclose(file) == 0;
  if (written != contents.size() || !flushed || !closed) {
    std::remove(temp.c_str());
    return absl::DataLossError(
        absl::StrCat(path, ": writing failed (", std::strerror(errno), ")"));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": cannot rename the finished file into place (", reason, ")"));
  }
  return absl::OkStatus();
}

}  // namespace minigraph
