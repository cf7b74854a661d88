// libFuzzer target for ParseGraph: the first byte picks the format (binary
// protobuf, text format, JSON), the rest is the file. Any bytes must give a
// validated graph or an error naming the source, without crashing. An
// accepted graph must also serialize again, re-derive at other symbol sizes
// (its symbolic attributes evaluated there) and take the graph passes, each
// with a status, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "framework/graph_io.h"
#include "framework/graph_passes.h"

namespace {

constexpr absl::string_view kSource = "fuzz.graph";

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using minigraph::GraphFormat;
  if (size == 0) return 0;
  constexpr GraphFormat kFormats[] = {GraphFormat::kBinary, GraphFormat::kText,
                                      GraphFormat::kJson};
  const GraphFormat format = kFormats[data[0] % 3];
  const absl::string_view bytes(reinterpret_cast<const char*>(data) + 1,
                                size - 1);
  absl::StatusOr<minigraph::Graph> graph =
      minigraph::ParseGraph(bytes, format, kSource);
  if (!graph.ok()) {
    Check(absl::StrContains(graph.status().message(), kSource));
    return 0;
  }
  Check(minigraph::SerializeGraph(*graph, format).ok());
  std::map<std::string, int64_t> sizes = graph->symbols;
  for (auto& [name, size] : sizes) size += 1 + data[0] / 3 % 4;
  (void)minigraph::RebindGraph(*graph, sizes).status();
  minigraph::GraphPassOptions passes;
  passes.max_fold_bytes = int64_t{1} << 16;
  passes.max_total_fold_bytes = int64_t{1} << 18;
  (void)minigraph::OptimizeGraph(*graph, passes).status();
  return 0;
}
