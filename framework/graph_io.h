// Saving and loading graphs (framework/graph.proto) as binary protobuf
// (.pb), protobuf text format (.pbtxt) or protobuf's JSON mapping (.json).
//
// Loading checks the bytes, converts and then validates the whole graph
// against the op registry (ValidateGraph) before returning it: what comes
// back can be executed. Every error names the source and the node or field.
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_IO_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_IO_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/graph.h"
#include "framework/graph.pb.h"

namespace minigraph {

enum class GraphFormat { kBinary, kText, kJson };

// "pb", "pbtxt", "json".
const char* GraphFormatName(GraphFormat format);
absl::StatusOr<GraphFormat> ParseGraphFormat(absl::string_view name);
// From the file extension: .pb, .pbtxt (or .txtpb), .json.
absl::StatusOr<GraphFormat> GraphFormatFromPath(absl::string_view path);

// Largest graph file read (protobuf's own limit is 2 GiB).
inline constexpr int64_t kMaxGraphFileBytes = int64_t{1} << 31;

struct GraphWriteOptions {
  // Store parameter values; without them the graph needs them at run time.
  bool with_weights = true;
};

proto::Graph GraphToProto(const Graph& graph,
                          const GraphWriteOptions& options = {});
// Converts and validates; `source` names the file in errors.
absl::StatusOr<Graph> GraphFromProto(const proto::Graph& message,
                                     absl::string_view source);

absl::StatusOr<std::string> SerializeGraph(
    const Graph& graph, GraphFormat format,
    const GraphWriteOptions& options = {});
// Parses, converts and validates the bytes of a whole file. Never crashes or
// hangs on any input.
absl::StatusOr<Graph> ParseGraph(absl::string_view bytes, GraphFormat format,
                                 absl::string_view source);

absl::StatusOr<Graph> ReadGraphFile(const std::string& path);
// Writes through a temporary file and a rename.
absl::Status WriteGraphFile(const std::string& path, const Graph& graph,
                            const GraphWriteOptions& options = {});

// Whole-file helpers used by the graph tools. Reading refuses files over
// `max_bytes` before reading them; writing goes to a temporary file in the
// same directory, renamed over `path` only once complete.
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             int64_t max_bytes);
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// Tensor <-> proto::TensorValue (row-major, little-endian bytes).
proto::TensorValue TensorToProto(const Tensor& tensor);
absl::StatusOr<Tensor> TensorFromProto(const proto::TensorValue& value,
                                       absl::string_view where);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_IO_H_
