#include "models/rotary.h"

#include <cmath>
#include <vector>

#include "framework/op_registry.h"
#include "ops/all_ops.h"

namespace minigraph {

RotaryTables MakeRotaryTables(int64_t head_dim, double theta, int64_t start,
                              int64_t count, DType dtype) {
  const int64_t half = head_dim / 2;
  // PyTorch: 1 / theta ** (arange(0, d, 2).float() / d), each step rounded
  // to the table's dtype.
  std::vector<double> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) {
    double exponent =
        static_cast<double>(2 * i) / static_cast<double>(head_dim);
    double power = std::pow(theta, exponent);
    if (dtype == DType::kFloat32) {
      exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
      power = static_cast<float>(std::pow(theta, exponent));
      inv_freq[i] = static_cast<float>(1.0 / power);
    } else {
      inv_freq[i] = 1.0 / power;
    }
  }
  // Constants, not parameters: nothing here is recorded for autograd.
  NoGradGuard no_grad;
  NameScope scope("rope_tables");
  const Tensor positions =
      Reshape(Tensor::Arange(static_cast<double>(start),
                             static_cast<double>(start + count), 1.0, dtype),
              {count, 1});
  const Tensor freqs = Reshape(
      ConvertDType(Tensor::FromData(inv_freq, {half}), dtype), {1, half});
  const Tensor angles = positions * freqs;  // [count, half]
  const Tensor cos_half = Cos(angles);
  const Tensor sin_half = Sin(angles);
  return RotaryTables{Concat({cos_half, cos_half}, 1),
                      Concat({sin_half, sin_half}, 1)};
}

Tensor RotateHalf(const Tensor& x) {
  const int64_t axis = x.dim() - 1;
  const int64_t dim = x.size(-1);
  const Tensor first = Slice(x, axis, 0, dim / 2);
  const Tensor second = Slice(x, axis, dim / 2, dim);
  return Concat({Neg(second), first}, axis);
}

Tensor ApplyRotary(const Tensor& x, const RotaryTables& tables) {
  NameScope scope("rope");
  const int64_t count = tables.cos.size(0);
  const int64_t head_dim = tables.cos.size(1);
  // [T, 1, d] broadcasts over batch (leading) and heads (the 1).
  const Tensor cos = Reshape(tables.cos, {count, 1, head_dim});
  const Tensor sin = Reshape(tables.sin, {count, 1, head_dim});
  return x * cos + RotateHalf(x) * sin;
}

}  // namespace minigraph
