#include "framework/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "framework/allocator.h"
#include "framework/autograd.h"
#include "framework/memory_stats.h"

namespace minigraph {

void DieWithStatus(const absl::Status& status) {
  std::fprintf(stderr, "minigraph: %s\n",
               std::string(status.message()).c_str());
  std::fflush(stderr);
  std::abort();
}

namespace {

// Bytes allocated past the end of every heap buffer, so that a kernel's
// load of a whole last vector stays inside the block.
constexpr size_t kTailBytes = 64;

}  // namespace

Storage::Storage(size_t num_bytes, Init init) : num_bytes_(num_bytes) {
  if (num_bytes <= kInlineBytes) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(inline_);
    data_ = inline_ + ((64 - address % 64) % 64);
  } else {
    // Reused blocks come from the caching allocator (framework/allocator.h)
    // so that a loop allocating the same tensors again touches no fresh
    // pages. One extra vector keeps reads of a whole last vector in bounds.
    data_ = StorageAllocator().Allocate(num_bytes + kTailBytes);
    if (data_ == nullptr) {
      DieWithStatus(absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", num_bytes, " bytes")));
    }
  }
  // A reused block holds its last user's bytes: zero it here, not in the
  // allocator, so kernels that write every byte skip the fill.
  if (init == Init::kZero) std::memset(data_, 0, num_bytes);
  RecordAllocation(num_bytes);
}

Storage::~Storage() {
  RecordDeallocation(num_bytes_);
  if (data_ < static_cast<void*>(inline_) ||
      data_ >= static_cast<void*>(inline_ + sizeof(inline_))) {
    StorageAllocator().Free(data_, num_bytes_ + kTailBytes);
  }
}

namespace {

Tensor NewContiguous(const Shape& shape, DType dtype, Storage::Init init) {
  MG_CHECK_OK(ValidateShape(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = dtype;
  impl->shape = shape;
  impl->strides = ContiguousStrides(shape);
  impl->storage = std::make_shared<Storage>(
      static_cast<size_t>(NumElements(shape)) * DTypeSize(dtype), init);
  return Tensor(std::move(impl));
}

}  // namespace

Tensor Tensor::Empty(const Shape& shape, DType dtype) {
  return NewContiguous(shape, dtype, Storage::Init::kZero);
}

Tensor Tensor::Uninitialized(const Shape& shape, DType dtype) {
  return NewContiguous(shape, dtype, Storage::Init::kUninitialized);
}

Tensor Tensor::Zeros(const Shape& shape, DType dtype) {
  return Empty(shape, dtype);
}

Tensor Tensor::Ones(const Shape& shape, DType dtype) {
  return Full(shape, 1.0, dtype);
}

namespace {

// Writes value into element i of a contiguous buffer of `dtype`.
void StoreAs(DType dtype, void* base, int64_t i, double value) {
  switch (dtype) {
    case DType::kFloat32:
      static_cast<float*>(base)[i] = static_cast<float>(value);
      break;
    case DType::kFloat64:
      static_cast<double*>(base)[i] = value;
      break;
    case DType::kInt64:
      static_cast<int64_t*>(base)[i] = static_cast<int64_t>(value);
      break;
  }
}

double LoadAs(DType dtype, const void* base, int64_t i) {
  switch (dtype) {
    case DType::kFloat32:
      return static_cast<const float*>(base)[i];
    case DType::kFloat64:
      return static_cast<const double*>(base)[i];
    case DType::kInt64:
      return static_cast<double>(static_cast<const int64_t*>(base)[i]);
  }
  return 0.0;
}

}  // namespace

Tensor Tensor::Full(const Shape& shape, double value, DType dtype) {
  Tensor t = Uninitialized(shape, dtype);
  void* base = t.storage()->data();
  for (int64_t i = 0; i < t.numel(); ++i) StoreAs(dtype, base, i, value);
  return t;
}

Tensor Tensor::Scalar(double value, DType dtype) {
  return Full({}, value, dtype);
}

Tensor Tensor::Arange(double start, double end, double step, DType dtype) {
  if (step == 0.0) DieWithStatus(absl::InvalidArgumentError("arange: step 0"));
  const int64_t n = std::max<int64_t>(
      0, static_cast<int64_t>(std::ceil((end - start) / step)));
  Tensor t = Empty({n}, dtype);
  for (int64_t i = 0; i < n; ++i) {
    StoreAs(dtype, t.storage()->data(), i, start + step * i);
  }
  return t;
}

Tensor Tensor::Randn(const Shape& shape, Generator& generator, DType dtype) {
  Tensor t = Empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) {
    StoreAs(dtype, t.storage()->data(), i, generator.NextNormal());
  }
  return t;
}

Tensor Tensor::Uniform(const Shape& shape, double low, double high,
                       Generator& generator, DType dtype) {
  Tensor t = Empty(shape, dtype);
  for (int64_t i = 0; i < t.numel(); ++i) {
    StoreAs(dtype, t.storage()->data(), i,
            low + (high - low) * generator.NextUnit());
  }
  return t;
}

int64_t Tensor::size(int axis) const {
  return shape()[ValueOrDie(NormalizeAxis(axis, dim()))];
}

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

double Tensor::ValueAt(absl::Span<const int64_t> index) const {
  int64_t element = offset();
  for (size_t i = 0; i < index.size(); ++i) element += index[i] * strides()[i];
  return LoadAs(dtype(), storage()->data(), element);
}

double Tensor::item() const {
  if (numel() != 1) {
    DieWithStatus(absl::InvalidArgumentError(
        absl::StrCat("item(): tensor of shape ", ShapeToString(shape()),
                     " has ", numel(), " elements, expected 1")));
  }
  return LoadAs(dtype(), storage()->data(), offset());
}

namespace {

std::string FormatElement(DType dtype, double v) {
  if (dtype == DType::kInt64) return absl::StrCat(static_cast<int64_t>(v));
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return absl::StrFormat("%.4f", v);
}

// Nested brackets like PyTorch; long dimensions show 3 items, "...", 3 items;
// elements right-aligned to a common `width`.
void AppendNested(const Tensor& t, const std::vector<double>& values, int axis,
                  int64_t base, int64_t stride_product, int indent,
                  size_t width, std::string* out) {
  const int64_t n = t.shape()[axis];
  const int64_t inner = stride_product / std::max<int64_t>(n, 1);
  const bool summarise = t.numel() > 1000 && n > 6;
  out->push_back('[');
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && i == 3) {
      absl::StrAppend(out, axis + 1 == t.dim() ? "..., " : "...,\n");
      if (axis + 1 != t.dim()) out->append(indent + 1, ' ');
      i = n - 3;
    }
    if (axis + 1 == t.dim()) {
      const std::string text = FormatElement(t.dtype(), values[base + i]);
      out->append(width > text.size() ? width - text.size() : 0, ' ');
      absl::StrAppend(out, text);
    } else {
      AppendNested(t, values, axis + 1, base + i * inner, inner, indent + 1,
                   width, out);
    }
    if (i + 1 < n) {
      if (axis + 1 == t.dim()) {
        out->append(", ");
      } else {
        out->append(",\n");
        if (axis + 2 < t.dim()) out->append("\n");
        out->append(indent + 1, ' ');
      }
    }
  }
  out->push_back(']');
}

}  // namespace

std::string Tensor::ToString() const {
  if (!defined()) return "tensor(undefined)";
  const std::vector<double> values = ToVector<double>();
  std::string out = "tensor(";
  if (dim() == 0) {
    out += FormatElement(dtype(), values[0]);
  } else {
    size_t width = 0;
    for (double v : values) {
      width = std::max(width, FormatElement(dtype(), v).size());
    }
    AppendNested(*this, values, 0, 0, numel(), 7, width, &out);
  }
  absl::StrAppend(&out, ", dtype=", DTypeName(dtype()),
                  ", shape=", ShapeToString(shape()));
  if (grad_fn() != nullptr) {
    absl::StrAppend(&out, ", grad_fn=", grad_fn()->name());
  } else if (requires_grad()) {
    absl::StrAppend(&out, ", requires_grad=true");
  }
  out += ")";
  return out;
}

Tensor& Tensor::set_requires_grad(bool requires_grad) {
  if (requires_grad && !IsFloating(dtype())) {
    DieWithStatus(absl::InvalidArgumentError(
        "only float32 and float64 tensors can require gradients"));
  }
  if (!is_leaf()) {
    DieWithStatus(absl::InvalidArgumentError(
        absl::StrCat("set_requires_grad on a non-leaf tensor (made by node '",
                     grad_fn()->name(), "'); call Detach() first")));
  }
  impl_->requires_grad = requires_grad;
  return *this;
}

Tensor Tensor::grad() const {
  return impl_->grad ? Tensor(impl_->grad) : Tensor();
}

void Tensor::ZeroGrad() { impl_->grad.reset(); }

Tensor Tensor::Detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = impl_->dtype;
  impl->shape = impl_->shape;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->storage = impl_->storage;
  impl->name = impl_->name;
  return Tensor(std::move(impl));
}

Tensor Tensor::ShallowCopy() const {
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->grad.reset();
  return Tensor(std::move(impl));
}

Tensor& Tensor::set_name(std::string name) {
  impl_->name = std::move(name);
  return *this;
}

absl::Status Tensor::Backward(const Tensor& grad_output, bool retain_graph,
                              bool create_graph) const {
  BackwardOptions options;
  options.retain_graph = retain_graph;
  options.create_graph = create_graph;
  return minigraph::Backward({*this}, {grad_output}, options);
}

Tensor MakeView(const Tensor& base, Shape shape, Shape strides,
                int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->dtype = base.dtype();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->storage = base.storage();
  return Tensor(std::move(impl));
}

Tensor CopyToContiguous(const Tensor& t) {
  Tensor out = Tensor::Uninitialized(t.shape(), t.dtype());
  const size_t size = DTypeSize(t.dtype());
  const char* src = static_cast<const char*>(t.storage()->data());
  char* dst = static_cast<char*>(out.storage()->data());
  if (t.is_contiguous()) {
    std::memcpy(dst, src + t.offset() * size, t.numel() * size);
    return out;
  }
  ForEachOffset(t.shape(), t.strides(), t.offset(), [&](int64_t i, int64_t e) {
    std::memcpy(dst + i * size, src + e * size, size);
  });
  return out;
}

Tensor ConvertDType(const Tensor& t, DType dtype) {
  Tensor out = Tensor::Uninitialized(t.shape(), dtype);
  const void* src = t.storage()->data();
  void* dst = out.storage()->data();
  const DType from = t.dtype();
  ForEachOffset(t.shape(), t.strides(), t.offset(), [&](int64_t i, int64_t e) {
    StoreAs(dtype, dst, i, LoadAs(from, src, e));
  });
  return out;
}

}  // namespace minigraph
