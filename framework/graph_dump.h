// Graphs for people: a one-line-per-node summary, Graphviz DOT with inputs,
// parameters, constants, forward and gradient nodes in distinct colours, and
// SVG rendered through Graphviz's `dot` when it is installed.
#ifndef MINIGRAPH_FRAMEWORK_GRAPH_DUMP_H_
#define MINIGRAPH_FRAMEWORK_GRAPH_DUMP_H_

#include <string>

#include "absl/status/statusor.h"
#include "framework/graph.h"

namespace minigraph {

// Fill colours of the DOT dump, one per kind of value.
inline constexpr char kDotInputColor[] = "#a6cee3";      // light blue
inline constexpr char kDotParameterColor[] = "#b2df8a";  // light green
inline constexpr char kDotConstantColor[] = "#e0e0e0";   // grey
inline constexpr char kDotForwardColor[] = "#ffffcc";    // pale yellow
inline constexpr char kDotGradientColor[] = "#fdb462";   // orange
inline constexpr char kDotOutputColor[] = "#fb9a99";     // pink

// Header lines, then one line per node:
//   name = op(input, input, attr=value) : dtype[shape]
// with gradient nodes marked by the forward node they belong to.
std::string GraphSummary(const Graph& graph);

// Graphviz DOT: forward and gradient nodes in separate clusters, edges
// labelled with the shape that flows along them.
std::string GraphToDot(const Graph& graph);

// Renders DOT text to SVG with Graphviz's `dot`; an error saying how to
// install Graphviz when `dot` is not on PATH.
absl::StatusOr<std::string> RenderDotToSvg(const std::string& dot);

// Whether Graphviz's `dot` is on PATH.
bool GraphvizAvailable();

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_GRAPH_DUMP_H_
