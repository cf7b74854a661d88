#include "models/rotary.h"

#include <cmath>
#include <vector>

#include "framework/op_registry.h"
#include "ops/all_ops.h"

namespace minigraph {

namespace {

RotaryTables ComputeTables(int64_t head_dim, double theta, int64_t start,
                           int64_t count, DType dtype) {
  const int64_t half = head_dim / 2;
  // PyTorch: 1.0 / (theta ** (arange(0, d, 2).float() / d)), every step in
  // float32 (a float32 pow, then a float32 division).
  std::vector<float> inv_freq(half);
  for (int64_t i = 0; i < half; ++i) {
    const float exponent =
        static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const float power = static_cast<float>(std::pow(theta, exponent));
    inv_freq[i] = 1.0f / power;
  }
  // torch.outer(t, freqs) in float32, then cos and sin of the float32
  // angles, rounded to float32 (computed in double so the rounding is the
  // only error), duplicated over the two halves: [count, head_dim].
  std::vector<float> cos_table(count * head_dim), sin_table(count * head_dim);
  for (int64_t t = 0; t < count; ++t) {
    const float position = static_cast<float>(start + t);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(position * inv_freq[i]);
      const float c = static_cast<float>(std::cos(angle));
      const float s = static_cast<float>(std::sin(angle));
      cos_table[t * head_dim + i] = cos_table[t * head_dim + half + i] = c;
      sin_table[t * head_dim + i] = sin_table[t * head_dim + half + i] = s;
    }
  }
  Tensor cos = Tensor::FromData(cos_table, {count, head_dim});
  Tensor sin = Tensor::FromData(sin_table, {count, head_dim});
  if (dtype != DType::kFloat32) {
    cos = ConvertDType(cos, dtype);
    sin = ConvertDType(sin, dtype);
  }
  return RotaryTables{cos, sin};
}

}  // namespace

RotaryTables MakeRotaryTables(int64_t head_dim, double theta, int64_t start,
                              int64_t count, DType dtype) {
  // Every layer of a model asks for the same tables in one forward pass:
  // keep the last ones made on this thread (they are never written to).
  struct Key {
    int64_t head_dim, start, count;
    double theta;
    DType dtype;
    bool operator==(const Key& o) const {
      return head_dim == o.head_dim && start == o.start && count == o.count &&
             theta == o.theta && dtype == o.dtype;
    }
  };
  thread_local Key last_key{-1, 0, 0, 0.0, DType::kFloat32};
  thread_local RotaryTables last_tables;
  const Key key{head_dim, start, count, theta, dtype};
  if (!(key == last_key)) {
    last_tables = ComputeTables(head_dim, theta, start, count, dtype);
    last_key = key;
  }
  return last_tables;
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
