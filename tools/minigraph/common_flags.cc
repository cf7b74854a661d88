#include "tools/minigraph/common_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "framework/dtype.h"
#include "tools/minigraph/verb.h"

ABSL_FLAG(std::string, model, "",
          "dump, stats, gradcheck, run: build the graph from a registered "
          "model (e.g. attention) instead of reading a graph file; train, "
          "lm, generate: a checkpoint directory (config.json + "
          "model.safetensors, and tokenizer.json for text)");
ABSL_FLAG(int64_t, batch, 1,
          "batch size B of the model's example input (train: sequences per "
          "micro-batch, default 16)");
ABSL_FLAG(int64_t, seq, 8,
          "sequence length T of the model's example input (train: tokens per "
          "sequence, default 128)");
ABSL_FLAG(std::string, dtype, "",
          "float32 or float64 (default: float32; float64 for gradcheck)");
ABSL_FLAG(uint64_t, seed, 0,
          "seed for parameters and example inputs (train: also the data "
          "windows and dropout)");
ABSL_FLAG(std::vector<std::string>, set, {},
          "model settings as key=value,... (e.g. heads=8,kv_heads=2)");
ABSL_FLAG(std::string, preset, "tiny",
          "train: model preset when --model is not given (tiny, "
          "minimind2-small, minimind3); dump, stats, gradcheck, run: the "
          "preset of --model minimind (the same as --set preset=NAME)");
ABSL_FLAG(std::string, input, "",
          "attention, lm: safetensors file with the input tensors");
ABSL_FLAG(bool, grad, false,
          "attention, lm: also write the gradients (grad.<name>)");
ABSL_FLAG(double, eps, 1e-6,
          "gradcheck: finite-difference step (default 1e-6); train: AdamW "
          "epsilon (default 1e-8 there)");
ABSL_FLAG(std::string, output, "",
          "file to write (written whole through a temporary file; "
          "default: standard output where that makes sense); train: the "
          "checkpoint directory (--out)");
ABSL_FLAG(std::string, format, "summary",
          "summary, pbtxt, json, pb, dot or svg");
ABSL_FLAG(std::string, inputs, "",
          "safetensors file with the graph's inputs (and any parameters)");
ABSL_FLAG(bool, backward, false,
          "use the gradient graph (forward and backward nodes) instead of "
          "the forward graph");
ABSL_FLAG(bool, with_weights, false,
          "store parameter values in a written graph file");
ABSL_FLAG(std::string, data, "",
          "train: .txt (UTF-8), .jsonl ({\"text\": ...} per line) or "
          ".safetensors (input_ids int64 [S, B, T], optional labels), "
          "default the fortunes corpus; tokenizer train: .txt or .jsonl");
ABSL_FLAG(std::string, tokenizer, "",
          "tokenize, train: a tokenizer.json file, or a directory holding "
          "one (train: default the --model directory's, else byte-level)");

namespace minigraph::cli {

absl::StatusOr<ModelOptions> ModelOptionsFromFlags(DType default_dtype) {
  ModelOptions options;
  options.batch = absl::GetFlag(FLAGS_batch);
  options.seq = absl::GetFlag(FLAGS_seq);
  if (options.batch <= 0 || options.seq <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch and --seq must be positive, got ", options.batch,
                     " and ", options.seq));
  }
  options.dtype = default_dtype;
  const std::string dtype = absl::GetFlag(FLAGS_dtype);
  if (!dtype.empty()) {
    absl::StatusOr<DType> parsed = ParseDType(dtype);
    if (!parsed.ok() || !IsFloating(*parsed)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--dtype must be float32 or float64, got '", dtype, "'"));
    }
    options.dtype = *parsed;
  }
  options.seed = absl::GetFlag(FLAGS_seed);
  for (const std::string& item : absl::GetFlag(FLAGS_set)) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set expects key=value, got '", item, "'"));
    }
    options.settings[item.substr(0, eq)] = item.substr(eq + 1);
  }
  // --preset only counts when given: its default is train's.
  if (FlagGiven("preset")) {
    const std::string preset = absl::GetFlag(FLAGS_preset);
    auto it = options.settings.find("preset");
    if (it != options.settings.end() && it->second != preset) {
      return absl::InvalidArgumentError(
          absl::StrCat("--preset ", preset, " and --set preset=", it->second,
                       " disagree (give one of them)"));
    }
    options.settings["preset"] = preset;
  }
  return options;
}

}  // namespace minigraph::cli
