// A graph: op calls by name with typed attributes, wired by reference to
// each other's outputs, with graph inputs, parameters, constants and named
// outputs. Graphs are captured from model scripts (graph_capture.h), turned
// into gradient graphs (graph_backward.h), saved and loaded
// (graph_io.h), checked against the op registry (ValidateGraph below),
// executed (graph_executor.h) and shown to people (graph_dump.h).
//
// Every shape is concrete (the sizes the graph was captured at); a dimension
// may also carry a symbolic expression ("B", "T", "B*T") when it follows the
// size of a graph input.
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "framework/attrs.h"
#include "framework/tensor.h"

namespace minigraph {

// Graph files of a newer version are rejected.
inline constexpr int kGraphFormatVersion = 1;

struct SymDim {
  int64_t size = 0;
  // Empty for a constant dimension; else a product of names and integers,
  // such as "B", "T" or "B*T", evaluated with the graph's symbol sizes.
  std::string symbol;
  bool operator==(const SymDim& other) const {
    return size == other.size && symbol == other.symbol;
  }
};
using SymShape = std::vector<SymDim>;
// The dimensions joined by `separator`, each its size or its symbol.
std::string SymShapeToString(const SymShape& shape,
                             absl::string_view separator = ", ");

struct ValueType {
  DType dtype = DType::kFloat32;
  SymShape shape;

  TensorMeta meta() const;
  static ValueType FromMeta(const TensorMeta& meta);
  // "float32[B, T, 512]".
  std::string ToString() const;
  bool operator==(const ValueType& other) const {
    return dtype == other.dtype && shape == other.shape;
  }
};

// Output `output` of the node, input, parameter or constant named `node`.
struct TensorRef {
  std::string node;
  int output = 0;
  bool operator==(const TensorRef& other) const {
    return node == other.node && output == other.output;
  }
  // "name" for output 0, else "name:1".
  std::string ToString() const;
};

enum class NodeRole { kForward, kGradient };

struct GraphNode {
  std::string name;
  std::string op;
  std::vector<TensorRef> inputs;
  // Validated against the op's declaration: complete and in its order.
  Attrs attrs;
  std::vector<ValueType> outputs;
  NodeRole role = NodeRole::kForward;
  // For a gradient node: the forward node whose backward it belongs to.
  std::string forward_node;
};

struct GraphInput {
  std::string name;
  ValueType type;
};

struct GraphParameter {
  std::string name;
  ValueType type;
  Tensor value;  // undefined when the graph carries no weights
};

struct GraphConstant {
  std::string name;
  Tensor value;  // contiguous
};

struct GraphOutput {
  std::string name;
  TensorRef value;
};

struct Graph {
  std::string name;
  std::string producer;
  // Size of each symbol at capture time, by name.
  std::map<std::string, int64_t> symbols;
  std::vector<GraphInput> inputs;
  std::vector<GraphParameter> parameters;
  std::vector<GraphConstant> constants;
  // Topological order: every node follows the nodes it reads.
  std::vector<GraphNode> nodes;
  std::vector<GraphOutput> outputs;

  const GraphNode* FindNode(absl::string_view node_name) const;
  const GraphParameter* FindParameter(absl::string_view param_name) const;
  int CountNodes(NodeRole role) const;
  // Dtype and shape of any reference (input, parameter, constant or node
  // output); an error names the reference when it does not resolve.
  absl::StatusOr<ValueType> TypeOf(const TensorRef& ref) const;
};

// Everything a loaded graph must satisfy before anything runs: unique names,
// references to earlier values only (so no cycles and no dangling edges),
// known ops, arity, attributes against the op's declaration (defaults are
// filled in), output types equal to the op's shape inference on the stored
// input types, symbolic dimensions consistent with the symbol sizes, and
// every shape within the allocation bound, symbolic dimensions that move
// with the symbols as inference says (CheckSymbolicDims). `source` names the
// file in messages; each names the node too.
absl::Status ValidateGraph(Graph& graph, absl::string_view source);

// Gives node output dimensions symbolic expressions where they follow the
// graph inputs' symbols: each op's inference is probed with every symbol
// moved to another size, and a dimension that moves as a product of symbols
// (B, T, B*T, 8*T) gets that product. A node whose inference fails at other
// sizes (a reshape to a fixed shape) keeps plain sizes, as does everything
// computed from it.
void AnnotateSymbolicDims(Graph& graph);
// The check ValidateGraph makes of stored expressions with the same probes:
// wherever a node can be inferred at other sizes, its stored expressions
// must give the inferred dimensions.
absl::Status CheckSymbolicDims(const Graph& graph, absl::string_view source);

// Evaluates a symbolic dimension ("B*T", "8*T") with the given sizes;
// errors for unknown names, malformed text and overflow.
absl::StatusOr<int64_t> EvaluateSymbol(
    absl::string_view expression, const std::map<std::string, int64_t>& sizes);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_H_
