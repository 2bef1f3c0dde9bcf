// Shared helpers for the CUDA kernel tests: one backend for the process,
// random host data rounded to bf16 (the reference sees exactly what the GPU
// sees), NaN poisoning of outputs, and error measures.
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
#include "tessera/backend/backend.h"
#include "tessera/core/half.h"

namespace tessera::cuda_test {

inline cuda::CudaBackend& backend() {
  static std::unique_ptr<Backend> b = make_cuda_backend(0);
  return static_cast<cuda::CudaBackend&>(*b);
}

// Smaller problem sizes (compute-sanitizer runs) when TESSERA_CUDA_TEST_QUICK is set.
inline bool quick() { return std::getenv("TESSERA_CUDA_TEST_QUICK") != nullptr; }

// A fresh seed per call, printed by the caller's SCOPED_TRACE on failure.
inline uint32_t fresh_seed() {
  static std::random_device rd;
  return rd();
}

inline float round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// Uniform values in [-scale, scale), never exactly zero, rounded to bf16.
inline std::vector<float> random_bf16(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) {
    do {
      x = round_bf16(dist(rng));
    } while (x == 0.0f);
  }
  return v;
}

// Host float data -> a new contiguous device tensor of `dtype` (BF16 or F32).
inline Tensor upload(const std::vector<float>& v, std::vector<int64_t> shape,
                     DType dtype = DType::kBF16) {
  Tensor host = Tensor::empty(DType::kF32, shape);
  std::memcpy(host.data(), v.data(), v.size() * sizeof(float));
  if (dtype == DType::kBF16) return backend().load_weight(host);
  Tensor dev = backend().alloc(DType::kF32, shape);
  EXPECT_EQ(cudaMemcpyAsync(dev.data(), v.data(), v.size() * 4, cudaMemcpyHostToDevice,
                            backend().stream()),
            cudaSuccess);
  backend().synchronize();
  return dev;
}

inline Tensor upload_i32(const std::vector<int32_t>& v) {
  Tensor t = backend().alloc(DType::kI32, {int64_t(std::max<size_t>(v.size(), 1))});
  backend().upload_i32(v.data(), int64_t(v.size()), t);
  return Tensor(t.data(), DType::kI32, {int64_t(v.size())}, Device::kCUDA, t.owner());
}

// Writes an all-ones bit pattern (NaN in bf16 and f32) over the bytes a
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
