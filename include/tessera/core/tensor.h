// A Tensor is a typed view of memory on one device: up to 4 dims, row-major,
// contiguous except that the outermost dim may have a larger stride (a view of
// some rows). Quantized dtypes block along the innermost dim. Storage is shared
// by `owner` (an mmap'd file, a host buffer, a device allocation).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/dtype.h"

namespace tessera {

enum class Device : uint8_t { kCPU, kCUDA };

class Tensor {
 public:
  Tensor() = default;
  // A view of memory someone else keeps alive through `owner` (may be null).
  Tensor(void* data, DType dtype, std::vector<int64_t> shape, Device device = Device::kCPU,
         std::shared_ptr<void> owner = nullptr);

  // A new zero-filled host tensor.
  static Tensor empty(DType dtype, std::vector<int64_t> shape);

  void* data() const { return data_; }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  int ndim() const { return ndim_; }
  int64_t dim(int i) const { return shape_[i < 0 ? ndim_ + i : i]; }
  std::vector<int64_t> shape() const { return {shape_.begin(), shape_.begin() + ndim_}; }
  int64_t numel() const;
  int64_t rows() const;  // product of all dims but the innermost
  int64_t cols() const { return ndim_ ? shape_[ndim_ - 1] : 1; }
  size_t row_stride() const { return row_stride_; }  // bytes between rows
  size_t nbytes() const;                             // bytes spanned by the view
  bool defined() const { return data_ != nullptr || numel() == 0; }
  const std::shared_ptr<void>& owner() const { return owner_; }

  // Rows [begin, end) of a 2D tensor (a view; shares storage).
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // Columns [begin, end) of a 2D unquantized tensor: a view whose rows keep
  // the parent's stride (e.g. q, k, v out of one fused projection).
  Tensor slice_cols(int64_t begin, int64_t end) const;
  bool contiguous() const { return row_stride_ == row_bytes(dtype_, cols()); }
  void* row_ptr(int64_t r) const { return static_cast<char*>(data_) + r * row_stride_; }
  // Same bytes, another shape with the same innermost-row layout.
  Tensor reshape(std::vector<int64_t> shape) const;

  std::string describe() const;  // "Q4_1[576, 1536]"

 private:
  void* data_ = nullptr;
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCPU;
  int ndim_ = 0;
  std::array<int64_t, 4> shape_{1, 1, 1, 1};
  size_t row_stride_ = 0;
  std::shared_ptr<void> owner_;
};

}  // namespace tessera
