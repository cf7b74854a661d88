// Flags shared by several verbs. absl flag names are global to the binary,
// so each is defined once, here; a verb's own flags live in its file.
#ifndef MINIGRAPH_TOOLS_MINIGRAPH_COMMON_FLAGS_H_
#define MINIGRAPH_TOOLS_MINIGRAPH_COMMON_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "models/model_registry.h"

ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(int64_t, batch);
ABSL_DECLARE_FLAG(int64_t, seq);
ABSL_DECLARE_FLAG(std::string, dtype);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::vector<std::string>, set);
ABSL_DECLARE_FLAG(std::string, preset);
ABSL_DECLARE_FLAG(std::string, input);
ABSL_DECLARE_FLAG(bool, grad);
ABSL_DECLARE_FLAG(double, eps);
ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(std::string, inputs);
ABSL_DECLARE_FLAG(bool, backward);
ABSL_DECLARE_FLAG(bool, with_weights);
ABSL_DECLARE_FLAG(std::string, data);
ABSL_DECLARE_FLAG(std::string, tokenizer);

namespace minigraph::cli {

// --batch, --seq, --dtype, --seed, --set key=value,... and --preset (when
// given, as settings["preset"]; an error if --set gives another) as
// ModelOptions; `default_dtype` applies when --dtype is not given.
absl::StatusOr<ModelOptions> ModelOptionsFromFlags(DType default_dtype);

}  // namespace minigraph::cli

#endif  // MINIGRAPH_TOOLS_MINIGRAPH_COMMON_FLAGS_H_
