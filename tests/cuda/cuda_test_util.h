// Shared helpers for the CUDA kernel tests: one backend for the process
// (its ops take bf16 and fp16 operands alike, so every kernel test runs for
// both element types through it), random host data rounded to the element
// type (the reference sees exactly what the GPU sees), NaN poisoning of
// outputs, error measures and per-type tolerances.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda/cuda_backend.h"
#include "cuda/host_convert.h"
#include "tessera/backend/backend.h"
#include "tessera/core/half.h"

namespace tessera {
// Test names and failure messages print a DType parameter by name.
inline void PrintTo(DType t, std::ostream* os) { *os << dtype_name(t); }
}  // namespace tessera

namespace tessera::cuda_test {

inline cuda::CudaBackend& backend() {
  static std::unique_ptr<Backend> b = make_cuda_backend(0);
  return static_cast<cuda::CudaBackend&>(*b);
}

// A second backend whose own type is fp16, for what depends on the
// backend's type (load_weight, activation_dtype). Its stream is its own:
// use its ops and downloads on its tensors only.
inline Backend& fp16_backend() {
  static std::unique_ptr<Backend> b = make_cuda_backend(0, DType::kF16);
  return *b;
}

// Smaller problem sizes (compute-sanitizer runs) when TESSERA_CUDA_TEST_QUICK is set.
inline bool quick() { return std::getenv("TESSERA_CUDA_TEST_QUICK") != nullptr; }

// A fresh seed per call, printed by the caller's SCOPED_TRACE on failure.
inline uint32_t fresh_seed() {
  static std::random_device rd;
  return rd();
}

// The element types the kernel tests run for, and their names in test names.
inline const auto kElemTypes = testing::Values(DType::kBF16, DType::kF16);
inline std::string elem_name(const testing::TestParamInfo<DType>& info) {
  return info.param == DType::kF16 ? "fp16" : "bf16";
}

// x rounded to `dtype` (BF16, F16; F32 leaves it as is), to nearest even.
inline float round_to(float x, DType dtype) {
  if (dtype == DType::kBF16) return bf16_to_f32(f32_to_bf16(x));
  if (dtype == DType::kF16) return fp16_to_f32(f32_to_fp16(x));
  return x;
}
inline float round_bf16(float x) { return round_to(x, DType::kBF16); }

// Bounds below are written for bf16 (8 significant bits). fp16 keeps 11, so
// its rounding errors are 8x smaller; its bound is a quarter of bf16's.
inline double tol(DType dtype, double bf16_bound) {
  return dtype == DType::kF16 ? bf16_bound / 4 : bf16_bound;
}

// Uniform values in [-scale, scale), never exactly zero, rounded to dtype.
inline std::vector<float> random_values(size_t n, std::mt19937& rng, DType dtype,
                                        float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) {
    do {
      x = round_to(dist(rng), dtype);
    } while (x == 0.0f);
  }
  return v;
}
inline std::vector<float> random_bf16(size_t n, std::mt19937& rng, float scale = 1.0f) {
  return random_values(n, rng, DType::kBF16, scale);
}

// Host float data -> a new contiguous device tensor of `dtype` (BF16, F16
// or F32), converted on the host (round to nearest even) whatever the
// backend's own type is.
inline Tensor upload(const std::vector<float>& v, std::vector<int64_t> shape,
                     DType dtype = DType::kBF16) {
  Tensor host = Tensor::empty(DType::kF32, shape);
  std::memcpy(host.data(), v.data(), v.size() * sizeof(float));
  Tensor dev = backend().alloc(dtype, shape);
  std::vector<uint16_t> bits;
  const void* src = v.data();
  if (dtype != DType::kF32) {
    bits.resize(v.size());
    cuda::convert_to_16bit(host, dtype, bits.data());
    src = bits.data();
  }
  EXPECT_EQ(
      cudaMemcpyAsync(dev.data(), src, dev.nbytes(), cudaMemcpyHostToDevice, backend().stream()),
      cudaSuccess);
  backend().synchronize();
  return dev;
}

inline Tensor upload_i32(const std::vector<int32_t>& v) {
  Tensor t = backend().alloc(DType::kI32, {int64_t(std::max<size_t>(v.size(), 1))});
  backend().upload_i32(v.data(), int64_t(v.size()), t);
  return Tensor(t.data(), DType::kI32, {int64_t(v.size())}, Device::kCUDA, t.owner());
}

// Writes an all-ones bit pattern (NaN in bf16, fp16 and f32) over the bytes a
// tensor spans: an element a kernel fails to write stays NaN.
inline void poison(const Tensor& t) {
  ASSERT_EQ(cudaMemsetAsync(t.data(), 0xff, t.nbytes(), backend().stream()), cudaSuccess);
}

inline std::vector<float> download(const Tensor& t) {
  std::vector<float> v(size_t(t.rows() * t.cols()));
  backend().download_f32(t, v.data());
  return v;
}

inline size_t count_nonfinite(const std::vector<float>& v) {
  size_t n = 0;
  for (float x : v) n += !std::isfinite(x);
  return n;
}

// ||out - ref|| / ||ref||; infinite when out has a NaN.
inline double rel_l2(const std::vector<float>& out, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(out[i])) return INFINITY;
    num += (out[i] - ref[i]) * (out[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

inline void sync_and_check() {
  backend().synchronize();
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
}

}  // namespace tessera::cuda_test
