#include "tests/framework/graph_test_util.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "framework/graph_capture.h"
#include "ops/all_ops.h"

namespace minigraph::testing {

std::string BitDifference(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return "undefined tensor";
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) {
    return absl::StrCat(DTypeName(a.dtype()), ShapeToString(a.shape()), " vs ",
                        DTypeName(b.dtype()), ShapeToString(b.shape()));
  }
  const Tensor ca = CopyToContiguous(a);
  const Tensor cb = CopyToContiguous(b);
  const size_t size = DTypeSize(a.dtype());
  const char* pa = static_cast<const char*>(ca.storage()->data());
  const char* pb = static_cast<const char*>(cb.storage()->data());
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::memcmp(pa + i * size, pb + i * size, size) != 0) {
      return absl::StrCat("element ", i, ": ", ca.ToVector<double>()[i], " vs ",
                          cb.ToVector<double>()[i]);
    }
  }
  return "";
}

std::vector<Tensor> TinyModel::Forward(
    const std::vector<Tensor>& inputs) const {
  const Tensor& in = inputs[0];
  const Tensor h = Silu(Matmul(in, w1, false, true) + b);
  const Tensor g = Matmul(in, w2, false, true);
  return {Sum(h * g * 0.5, {-1})};
}

TinyModel MakeTinyModel(int64_t batch, int64_t seq, DType dtype,
                        uint64_t seed) {
  Generator gen(seed);
  TinyModel model;
  model.x = Tensor::Randn({batch, seq, 6}, gen, dtype);
  model.w1 = Tensor::Randn({4, 6}, gen, dtype);
  model.w2 = Tensor::Randn({4, 6}, gen, dtype);
  model.b = Tensor::Randn({4}, gen, dtype);
  for (Tensor* p : {&model.w1, &model.w2, &model.b}) p->set_requires_grad(true);
  return model;
}

absl::StatusOr<Graph> CaptureTinyModel(const TinyModel& model) {
  GraphCapture capture("tiny");
  MG_RETURN_IF_ERROR(capture.AddInput(model.x, "x", {"B", "T", "6"}));
  MG_RETURN_IF_ERROR(capture.AddParameter(model.w1, "w1"));
  MG_RETURN_IF_ERROR(capture.AddParameter(model.w2, "w2"));
  MG_RETURN_IF_ERROR(capture.AddParameter(model.b, "b"));
  std::vector<Tensor> outputs;
  {
    GraphCapture::Scope recording(capture);
    outputs = model.Forward({model.x});
  }
  return capture.Finish({{"y", outputs[0]}});
}

}  // namespace minigraph::testing
