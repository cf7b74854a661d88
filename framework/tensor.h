// Tensor: a dtype, a shape, strides and an offset into shared storage.
//
// Views (reshape, permute, expand, slice) share storage with their base and
// differ only in shape, strides and offset. A Tensor is a cheap handle: copies
// share the same TensorImpl, as torch.Tensor objects do in Python.
#ifndef MINIGRAPH_FRAMEWORK_TENSOR_H_
#define MINIGRAPH_FRAMEWORK_TENSOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "framework/dtype.h"
#include "framework/random.h"
#include "framework/shape.h"
#include "framework/status_macros.h"

namespace minigraph {

class Node;

// A 64-byte aligned byte buffer shared by a tensor and its views; zero-filled
// unless made for a kernel that writes every byte.
class Storage {
 public:
  enum class Init { kZero, kUninitialized };
  explicit Storage(size_t num_bytes, Init init = Init::kZero);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t num_bytes() const { return num_bytes_; }

 private:
  // Buffers this small live inside the object (and so in the same heap block
  // as the shared_ptr's control block): one allocation fewer per tiny
  // tensor, which is most of what a recorded op on a tiny tensor costs.
  static constexpr size_t kInlineBytes = 64;
  void* data_;
  size_t num_bytes_;
  unsigned char inline_[kInlineBytes + 63];  // 64 bytes at a 64-byte boundary
};

struct TensorImpl {
  DType dtype = DType::kFloat32;
  Shape shape;
  Shape strides;       // in elements; 0 for an expanded (broadcast) dimension
  int64_t offset = 0;  // in elements, into storage
  std::shared_ptr<Storage> storage;

  // Autograd. A leaf that requires grad has no grad_fn and accumulates into
  // `grad`; a recorded result points at the node that made it.
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  int output_index = 0;
  std::shared_ptr<TensorImpl> grad;
  std::string name;  // optional, for parameters and graph dumps
};

// Shape and dtype without data: what shape inference produces.
struct TensorMeta {
  DType dtype = DType::kFloat32;
  Shape shape;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -----------------------------------------------------------
  // Uninitialised-looking but actually zero-filled contiguous tensor.
  static Tensor Empty(const Shape& shape, DType dtype = DType::kFloat32);
  // A contiguous tensor whose elements are left unset, for kernels that
  // write every element (saves the zero fill). `shape` must be valid.
  static Tensor Uninitialized(const Shape& shape,
                              DType dtype = DType::kFloat32);
  static Tensor Zeros(const Shape& shape, DType dtype = DType::kFloat32);
  static Tensor Ones(const Shape& shape, DType dtype = DType::kFloat32);
  static Tensor Full(const Shape& shape, double value,
                     DType dtype = DType::kFloat32);
  // A 0-d tensor.
  static Tensor Scalar(double value, DType dtype = DType::kFloat32);
  // [start, end) in steps of step, like torch.arange.
  static Tensor Arange(double start, double end, double step = 1.0,
                       DType dtype = DType::kFloat32);
  // Copies `values` (row-major) into a new tensor of `shape`; dies if the
  // count does not match (use FromDataOr for user input).
  template <typename T>
  static Tensor FromData(const std::vector<T>& values, const Shape& shape);
  template <typename T>
  static absl::StatusOr<Tensor> FromDataOr(const std::vector<T>& values,
                                           const Shape& shape);
  // Standard normal and uniform [low, high) samples from `generator`.
  static Tensor Randn(const Shape& shape, Generator& generator,
                      DType dtype = DType::kFloat32);
  static Tensor Uniform(const Shape& shape, double low, double high,
                        Generator& generator, DType dtype = DType::kFloat32);

  // ---- metadata -----------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  DType dtype() const { return impl_->dtype; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t offset() const { return impl_->offset; }
  int dim() const { return static_cast<int>(impl_->shape.size()); }
  // Size of one dimension; negative axes count from the end.
  int64_t size(int axis) const;
  int64_t numel() const { return NumElements(impl_->shape); }
  bool is_contiguous() const;
  TensorMeta meta() const { return {impl_->dtype, impl_->shape}; }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool SharesStorageWith(const Tensor& other) const {
    return impl_->storage == other.impl_->storage;
  }

  // ---- data ---------------------------------------------------------------
  // Pointer to element [0, 0, ...]; honour strides() when not contiguous.
  template <typename T>
  T* data() const;
  // Element at a full index; negative indices are not accepted.
  template <typename T>
  T At(absl::Span<const int64_t> index) const;
  // Any element as double (int64 converted), for printing and checks.
  double ValueAt(absl::Span<const int64_t> index) const;
  // The single value of a one-element tensor.
  double item() const;
  // All elements in row-major order, converted to T.
  template <typename T>
  std::vector<T> ToVector() const;
  // PyTorch-like text: tensor([[...]], dtype=float32, shape=[2, 3]).
  std::string ToString() const;

  // ---- autograd -----------------------------------------------------------
  bool requires_grad() const { return impl_->requires_grad; }
  // Marks a leaf as a parameter to differentiate; returns *this for chaining.
  Tensor& set_requires_grad(bool requires_grad);
  // Accumulated gradient (undefined until a backward pass reaches it).
  Tensor grad() const;
  void ZeroGrad();
  const std::shared_ptr<Node>& grad_fn() const { return impl_->grad_fn; }
  int output_index() const { return impl_->output_index; }
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  // A new handle on the same data, cut from the graph.
  Tensor Detach() const;
  // Same data, same graph links, new handle (so renaming does not leak).
  Tensor ShallowCopy() const;
  const std::string& name() const { return impl_->name; }
  Tensor& set_name(std::string name);

  // Backward pass from this tensor; see autograd.h for the options.
  absl::Status Backward(const Tensor& grad_output = Tensor(),
                        bool retain_graph = false,
                        bool create_graph = false) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A view of `base` with another shape, strides and offset; shares storage.
Tensor MakeView(const Tensor& base, Shape shape, Shape strides, int64_t offset);
// A contiguous copy (always copies); Contiguous() in ops/ only when needed.
Tensor CopyToContiguous(const Tensor& t);
// Converts every element to `dtype` (always copies).
Tensor ConvertDType(const Tensor& t, DType dtype);

// Calls fn(linear_output_index, element_offset) for every element of a
// strided tensor in row-major order.
template <typename Fn>
void ForEachOffset(const Shape& shape, const Shape& strides, int64_t offset,
                   Fn&& fn) {
  const int rank = static_cast<int>(shape.size());
  const int64_t n = NumElements(shape);
  if (n == 0) return;
  std::vector<int64_t> index(rank, 0);
  int64_t element = offset;
  for (int64_t linear = 0; linear < n; ++linear) {
    fn(linear, element);
    for (int axis = rank - 1; axis >= 0; --axis) {
      if (++index[axis] < shape[axis]) {
        element += strides[axis];
        break;
      }
      element -= strides[axis] * (shape[axis] - 1);
      index[axis] = 0;
    }
  }
}

// ---- template definitions ---------------------------------------------------

template <typename T>
T* Tensor::data() const {
  return static_cast<T*>(impl_->storage->data()) + impl_->offset;
}

template <typename T>
T Tensor::At(absl::Span<const int64_t> index) const {
  int64_t element = impl_->offset;
  for (size_t i = 0; i < index.size(); ++i) element += index[i] * strides()[i];
  return static_cast<T*>(impl_->storage->data())[element];
}

template <typename T>
std::vector<T> Tensor::ToVector() const {
  std::vector<T> out(numel());
  const char* base = static_cast<const char*>(impl_->storage->data());
  const DType type = dtype();
  ForEachOffset(shape(), strides(), offset(), [&](int64_t i, int64_t e) {
    switch (type) {
      case DType::kFloat32:
        out[i] = static_cast<T>(reinterpret_cast<const float*>(base)[e]);
        break;
      case DType::kFloat64:
        out[i] = static_cast<T>(reinterpret_cast<const double*>(base)[e]);
        break;
      case DType::kInt64:
        out[i] = static_cast<T>(reinterpret_cast<const int64_t*>(base)[e]);
        break;
    }
  });
  return out;
}

template <typename T>
absl::StatusOr<Tensor> Tensor::FromDataOr(const std::vector<T>& values,
                                          const Shape& shape) {
  if (absl::Status s = ValidateShape(shape); !s.ok()) return s;
  if (static_cast<int64_t>(values.size()) != NumElements(shape)) {
    return absl::InvalidArgumentError(
        "FromData: " + std::to_string(values.size()) +
        " values do not fill shape " + ShapeToString(shape) + " (" +
        std::to_string(NumElements(shape)) + " elements)");
  }
  Tensor t = Uninitialized(shape, DTypeOf<T>::value);
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

template <typename T>
Tensor Tensor::FromData(const std::vector<T>& values, const Shape& shape) {
  absl::StatusOr<Tensor> t = FromDataOr(values, shape);
  if (!t.ok()) DieWithStatus(t.status());
  return *std::move(t);
}

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_TENSOR_H_
