#include "tools/minigraph/graph_verbs_util.h"

#include <cstdio>
#include <utility>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "framework/graph_backward.h"
#include "framework/graph_io.h"
#include "models/train/train_step_graph.h"
#include "tools/minigraph/common_flags.h"
#include "tools/minigraph/model_capture.h"
#include "tools/minigraph/verb.h"

ABSL_FLAG(bool, train_step, false,
          "dump, stats: the whole training step of --model minimind as one "
          "graph (forward, loss, backward, clipping with --grad-clip, the "
          "--optimizer update; parameters, optimizer state, step, lr and the "
          "batch are inputs)");
ABSL_DECLARE_FLAG(std::string, optimizer);
ABSL_DECLARE_FLAG(std::vector<std::string>, betas);
ABSL_DECLARE_FLAG(double, eps);
ABSL_DECLARE_FLAG(double, weight_decay);
ABSL_DECLARE_FLAG(double, momentum);
ABSL_DECLARE_FLAG(double, dampening);
ABSL_DECLARE_FLAG(bool, nesterov);
ABSL_DECLARE_FLAG(double, grad_clip);

namespace minigraph::cli {
namespace {

// The training-step options from the same flags `minigraph train` reads,
// with its defaults.
absl::StatusOr<TrainStepGraphOptions> TrainStepOptionsFromFlags() {
  TrainStepGraphOptions options;
  options.optimizer = absl::GetFlag(FLAGS_optimizer);
  const std::vector<std::string> betas = absl::GetFlag(FLAGS_betas);
  if (!betas.empty() &&
      (betas.size() != 2 || !absl::SimpleAtod(betas[0], &options.adamw.beta1) ||
       !absl::SimpleAtod(betas[1], &options.adamw.beta2))) {
    return absl::InvalidArgumentError(
        "--betas must be two numbers, e.g. 0.9,0.95");
  }
  options.adamw.eps = FlagGiven("eps") ? absl::GetFlag(FLAGS_eps) : 1e-8;
  const double weight_decay = absl::GetFlag(FLAGS_weight_decay);
  options.adamw.weight_decay = weight_decay;
  options.sgd.weight_decay = FlagGiven("weight_decay") ? weight_decay : 0.0;
  options.sgd.momentum = absl::GetFlag(FLAGS_momentum);
  options.sgd.dampening = absl::GetFlag(FLAGS_dampening);
  options.sgd.nesterov = absl::GetFlag(FLAGS_nesterov);
  options.grad_clip = absl::GetFlag(FLAGS_grad_clip);
  return options;
}

// Symbol sizes from --set entries whose key is a symbol of `graph`
// (B=4,T=512); `others` gets the rest.
absl::StatusOr<std::map<std::string, int64_t>> SymbolSizes(
    const Graph& graph, const std::vector<std::string>& items,
    std::vector<std::string>* others) {
  std::map<std::string, int64_t> sizes;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    if (eq == std::string::npos || graph.symbols.count(key) == 0) {
      others->push_back(item);
      continue;
    }
    int64_t size = 0;
    if (!absl::SimpleAtoi(item.substr(eq + 1), &size) || size <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set ", item, ": symbol ", key, " needs a size > 0"));
    }
    sizes[key] = size;
  }
  return sizes;
}

// The registered model whose settings take a preset (--preset NAME).
constexpr char kModelWithPresets[] = "minimind";

}  // namespace

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
  // Only MiniMind's LM has presets; elsewhere --preset would be ignored.
  if (FlagGiven("preset") && model != kModelWithPresets) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--preset applies only to --model ", kModelWithPresets,
        model.empty() ? " (no --model given)"
                      : absl::StrCat(" (model ", model, " has no presets)")));
  }
  const bool train_step = absl::GetFlag(FLAGS_train_step);
  if (train_step && (model != kModelWithPresets || backward)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--train-step needs --model ", kModelWithPresets,
        backward ? " and no --backward (the step holds its backward pass)"
                 : ""));
  }
  // --set B=4,T=512 gives a graph file's symbols sizes; for a model, B and
  // T are its batch and sequence length and other keys its settings.
  std::vector<std::string> symbol_items;
  if (model.empty()) symbol_items = absl::GetFlag(FLAGS_set);
  GraphSource source;
  if (!model.empty()) {
    MG_ASSIGN_OR_RETURN(ModelOptions options,
                        ModelOptionsFromFlags(default_dtype));
    for (const auto& [key, size] :
         std::vector<std::pair<const char*, int64_t*>>{{"B", &options.batch},
                                                       {"T", &options.seq}}) {
      auto it = options.settings.find(key);
      if (it == options.settings.end()) continue;
      if (!absl::SimpleAtoi(it->second, size) || *size <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--set ", key, "=", it->second, ": needs a size > 0"));
      }
      options.settings.erase(it);
    }
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
  if (train_step) {
    MG_ASSIGN_OR_RETURN(const TrainStepGraphOptions options,
                        TrainStepOptionsFromFlags());
    MG_ASSIGN_OR_RETURN(source.graph,
                        BuildTrainStepGraph(source.graph, options));
    source.feeds.clear();
  }
  if (!symbol_items.empty()) {
    std::vector<std::string> unknown;
    MG_ASSIGN_OR_RETURN(const auto sizes,
                        SymbolSizes(source.graph, symbol_items, &unknown));
    if (!unknown.empty()) {
      std::vector<std::string> symbols;
      for (const auto& [name, size] : source.graph.symbols) {
        symbols.push_back(name);
      }
      return absl::InvalidArgumentError(
          absl::StrCat("--set ", unknown[0], ": not a symbol of ",
                       source.description, " (its symbols: ",
                       symbols.empty() ? "none" : absl::StrJoin(symbols, ", "),
                       "; give them as NAME=SIZE)"));
    }
    MG_ASSIGN_OR_RETURN(source.graph, RebindGraph(source.graph, sizes));
    // Example values were made at the captured sizes.
    source.feeds.clear();
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
