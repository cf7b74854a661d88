// Fixtures for minigraph_cli_test.sh, made with the library rather than the
// tool under test:
//   minigraph_cli_fixtures make DIR       graph files and safetensors inputs
//   minigraph_cli_fixtures same A B       exit 0 iff two safetensors files
//                                         hold the same tensors, bit for bit
#include <cstdio>
#include <cstring>
#include <string>

#include "framework/graph_io.h"
#include "framework/safetensors.h"
#include "framework/status_macros.h"
#include "tests/framework/graph_test_util.h"

namespace minigraph {
namespace {

absl::Status Make(const std::string& dir) {
  const testing::TinyModel model =
      testing::MakeTinyModel(2, 3, DType::kFloat32, 1);
  MG_ASSIGN_OR_RETURN(Graph graph, testing::CaptureTinyModel(model));
  GraphWriteOptions with_weights;
  with_weights.with_weights = true;
  GraphWriteOptions without;
  without.with_weights = false;
  for (const char* ext : {"pb", "pbtxt", "json"}) {
    MG_RETURN_IF_ERROR(
        WriteGraphFile(dir + "/tiny." + ext, graph, with_weights));
  }
  MG_RETURN_IF_ERROR(
      WriteGraphFile(dir + "/tiny_noweights.pb", graph, without));
  MG_RETURN_IF_ERROR(
      WriteGraphFile(dir + "/tiny_noweights.pbtxt", graph, without));

  SafetensorsFile inputs;
  inputs.tensors["x"] = model.x;
  MG_RETURN_IF_ERROR(WriteSafetensors(dir + "/inputs.safetensors", inputs));
  SafetensorsFile with_params = inputs;
  with_params.tensors["w1"] = model.w1;
  with_params.tensors["w2"] = model.w2;
  with_params.tensors["b"] = model.b;
  MG_RETURN_IF_ERROR(
      WriteSafetensors(dir + "/inputs_params.safetensors", with_params));
  SafetensorsFile wrong_dtype;
  wrong_dtype.tensors["x"] = ConvertDType(model.x, DType::kFloat64);
  MG_RETURN_IF_ERROR(
      WriteSafetensors(dir + "/inputs_f64.safetensors", wrong_dtype));
  SafetensorsFile misnamed;
  misnamed.tensors["input"] = model.x;
  MG_RETURN_IF_ERROR(
      WriteSafetensors(dir + "/inputs_missing.safetensors", misnamed));
  SafetensorsFile expected;
  expected.tensors["y"] = model.Forward({model.x})[0];
  MG_RETURN_IF_ERROR(WriteSafetensors(dir + "/expected.safetensors", expected));

  // float64 for gradcheck.
  const testing::TinyModel model64 =
      testing::MakeTinyModel(1, 2, DType::kFloat64, 2);
  MG_ASSIGN_OR_RETURN(Graph graph64, testing::CaptureTinyModel(model64));
  return WriteGraphFile(dir + "/tiny64.pb", graph64, with_weights);
}

absl::StatusOr<bool> Same(const std::string& a, const std::string& b) {
  MG_ASSIGN_OR_RETURN(SafetensorsFile fa, ReadSafetensors(a));
  MG_ASSIGN_OR_RETURN(SafetensorsFile fb, ReadSafetensors(b));
  if (fa.tensors.size() != fb.tensors.size()) return false;
  for (const auto& [name, ta] : fa.tensors) {
    auto it = fb.tensors.find(name);
    if (it == fb.tensors.end()) return false;
    if (!testing::BitDifference(ta, it->second).empty()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(),
                   testing::BitDifference(ta, it->second).c_str());
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace minigraph

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "make") == 0) {
    MG_CHECK_OK(minigraph::Make(argv[2]));
    return 0;
  }
  if (argc == 4 && std::strcmp(argv[1], "same") == 0) {
    return minigraph::ValueOrDie(minigraph::Same(argv[2], argv[3])) ? 0 : 1;
  }
  std::fprintf(stderr, "usage: %s make DIR | same A B\n", argv[0]);
  return 2;
}
