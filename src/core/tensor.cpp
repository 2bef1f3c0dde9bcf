#include "tessera/core/tensor.h"

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "tessera/core/error.h"

namespace tessera {

Tensor::Tensor(void* data, DType dtype, std::vector<int64_t> shape, Device device,
               std::shared_ptr<void> owner)
    : data_(data), dtype_(dtype), device_(device), owner_(std::move(owner)) {
  TESSERA_CHECK(shape.size() <= shape_.size());
  ndim_ = static_cast<int>(shape.size());
  for (int i = 0; i < ndim_; ++i) {
    TESSERA_CHECK(shape[i] >= 0);
    shape_[i] = shape[i];
  }
  row_stride_ = row_bytes(dtype_, cols());
}

Tensor Tensor::empty(DType dtype, std::vector<int64_t> shape) {
  Tensor probe(nullptr, dtype, shape);
  const size_t bytes = probe.nbytes();
  // 64-byte alignment suits every vector width the kernels use.
  void* mem = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  if (!mem) fail(ErrorKind::kResourceExhausted, "out of host memory allocating {} bytes", bytes);
  std::memset(mem, 0, bytes);
  std::shared_ptr<void> owner(mem, std::free);
  return Tensor(mem, dtype, std::move(shape), Device::kCPU, std::move(owner));
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= shape_[i];
  return n;
}

int64_t Tensor::rows() const {
  int64_t n = 1;
  for (int i = 0; i + 1 < ndim_; ++i) n *= shape_[i];
  return n;
}

size_t Tensor::nbytes() const {
  const int64_t r = rows();
  return r == 0 ? 0 : static_cast<size_t>(r - 1) * row_stride_ + row_bytes(dtype_, cols());
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  TESSERA_CHECK(ndim_ == 2 && 0 <= begin && begin <= end && end <= shape_[0]);
  Tensor view = *this;
  view.data_ = static_cast<char*>(data_) + begin * row_stride_;
  view.shape_[0] = end - begin;
  return view;
}

Tensor Tensor::slice_cols(int64_t begin, int64_t end) const {
  TESSERA_CHECK(ndim_ == 2 && !is_quantized(dtype_) && 0 <= begin && begin <= end &&
                end <= shape_[1]);
  Tensor view = *this;
  view.data_ = static_cast<char*>(data_) + begin * dtype_info(dtype_).block_bytes;
  view.shape_[1] = end - begin;
  return view;
}

Tensor Tensor::reshape(std::vector<int64_t> shape) const {
  Tensor view(data_, dtype_, std::move(shape), device_, owner_);
  TESSERA_CHECK(view.numel() == numel());
  TESSERA_CHECK(row_stride_ == row_bytes(dtype_, cols()) || view.cols() == cols());
  if (view.cols() == cols()) view.row_stride_ = row_stride_;
  return view;
}

std::string Tensor::describe() const {
  std::string s = fmt::format("{}[", dtype_name(dtype_));
  for (int i = 0; i < ndim_; ++i) s += fmt::format("{}{}", i ? ", " : "", shape_[i]);
  return s + "]";
}

}  // namespace tessera
