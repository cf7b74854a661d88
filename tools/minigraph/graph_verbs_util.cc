#include "tools/minigraph/graph_verbs_util.h"

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "framework/graph_backward.h"
#include "framework/graph_io.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/model_capture.h"
#include "tools/minigraph/verb.h"

namespace minigraph::cli {

int ReportBadInput(absl::string_view verb, const absl::Status& status) {
  std::fprintf(stderr, "minigraph %s: %s\n", std::string(verb).c_str(),
               std::string(status.message()).c_str());
  return kExitBadInput;
}

absl::StatusOr<GraphSource> GraphFromArgs(
    const std::vector<std::string>& positional, DType default_dtype,
    bool backward) {
  const std::string model = absl::GetFlag(FLAGS_model);
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expects one graph file, got ", positional.size(), " arguments"));
  }
  if (positional.empty() == model.empty()) {
    return absl::InvalidArgumentError(
        "give either a graph file (.pb, .pbtxt, .json) or --model NAME");
  }
  GraphSource source;
  if (!model.empty()) {
    MG_ASSIGN_OR_RETURN(ModelOptions options,
                        ModelOptionsFromFlags(default_dtype));
    MG_ASSIGN_OR_RETURN(CapturedModel captured, CaptureModel(model, options));
    source.graph = std::move(captured.graph);
    source.feeds = std::move(captured.feeds);
    source.description = absl::StrCat("model ", model);
  } else {
    MG_ASSIGN_OR_RETURN(source.graph, ReadGraphFile(positional[0]));
    source.description = positional[0];
  }
  if (backward) {
    BackwardGraphOptions options;
    options.feeds = source.feeds;
    MG_ASSIGN_OR_RETURN(source.graph,
                        BuildBackwardGraph(source.graph, options));
  }
  return source;
}

absl::Status EmitOutput(const std::string& contents) {
  const std::string path = absl::GetFlag(FLAGS_output);
  if (path.empty()) {
    std::fwrite(contents.data(), 1, contents.size(), stdout);
    std::fflush(stdout);
    return absl::OkStatus();
  }
  return WriteFileAtomically(path, contents);
}

}  // namespace minigraph::cli
