// A graph: op calls by name with typed attributes, wired by reference to
// each other's outputs, with graph inputs, parameters, constants and named
// outputs. Graphs are captured from model scripts (graph_capture.h), turned
// into gradient graphs (graph_backward.h), saved and loaded
// (graph_io.h), checked against the op registry (ValidateGraph below),
// executed (graph_executor.h) and shown to people (graph_dump.h).
//
// Every shape is concrete (the sizes the graph was captured at); a dimension
// may also carry a symbolic expression ("B", "T", "B*T", "T-1") when it
// follows the size of a graph input, and so may an integer attribute (a
// reshape target, a slice end). RebindGraph re-derives the graph at other
// symbol sizes; the executor does so when fed other sizes.
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_H_

#include <cstdint>
#include <map>
#include <optional>
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
  // Values are those at the graph's symbol sizes.
  Attrs attrs;
  // Integer attributes that follow the symbols (a reshape to [B, T, 8, 64],
  // a slice ending at T-1): attribute name -> one expression per element of
  // an int, ints or shape attribute; an empty expression keeps the stored
  // element. Evaluated with EvaluateSymbolicInt at other sizes.
  std::map<std::string, std::vector<std::string>> attr_symbols;
  std::vector<ValueType> outputs;
  NodeRole role = NodeRole::kForward;
  // For a gradient node: the forward node whose backward it belongs to.
  std::string forward_node;
};

// "shape=(B, T, 8, 64), axis=1": the node's attributes with symbolic
// elements shown as their expressions.
std::string NodeAttrsToString(const GraphNode& node);

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

// Evaluates a symbolic expression: terms joined by + and -, each a product
// of symbol names and integers ("B*T", "8*T", "T-1", "2*B*T+1"). Errors for
// unknown names, malformed text and overflow.
absl::StatusOr<int64_t> EvaluateSymbolicInt(
    absl::string_view expression, const std::map<std::string, int64_t>& sizes);
// EvaluateSymbolicInt for a dimension: the result must be >= 0.
absl::StatusOr<int64_t> EvaluateSymbol(
    absl::string_view expression, const std::map<std::string, int64_t>& sizes);

// The node's attributes with every symbolic element evaluated at `sizes`.
// Errors name the node and the attribute.
absl::StatusOr<Attrs> ResolveAttrs(const GraphNode& node,
                                   const std::map<std::string, int64_t>& sizes);

// The expression, made of `names`, that gives `values[k]` at `bindings[k]`
// for every k, of the form sum over subsets S of the names of
// c_S * prod(S) with integer c_S ("B*T", "T-1", "8*T+8"); nullopt when no
// such expression fits. `bindings` must hold every corner of the box
// {v, v + 1}^n around bindings[0] (as FitBindings makes them), then checks.
std::optional<std::string> FitSymbolicExpression(
    const std::vector<std::string>& names,
    const std::vector<std::map<std::string, int64_t>>& bindings,
    const std::vector<int64_t>& values);
// The bindings FitSymbolicExpression needs around `sizes`: `sizes` itself,
// the other 2^n - 1 corners (symbols moved by one), then two far checks.
std::vector<std::map<std::string, int64_t>> FitBindings(
    const std::map<std::string, int64_t>& sizes);

// `graph` re-derived at other symbol sizes: symbolic attributes evaluated,
// every node's outputs inferred again, and dimensions re-sized from their
// expressions (which stay). The result's `symbols` are `sizes` (symbols not
// given keep their sizes). Errors name the first node that cannot take the
// sizes (one whose attributes fix a size).
absl::StatusOr<Graph> RebindGraph(const Graph& graph,
                                  const std::map<std::string, int64_t>& sizes);

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_H_
