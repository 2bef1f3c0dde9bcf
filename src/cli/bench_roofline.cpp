#include "bench_roofline.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "bench_report.h"
#include "tessera/backend/backend.h"
#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"
#ifdef TESSERA_WITH_CUDA
#include "tessera/backend/cuda.h"
#endif

namespace tessera::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Seconds per call of f: a warm-up, then `reps` calls between two waits.
template <class F>
double seconds_per_call(Backend& backend, int reps, F&& f) {
  f();
  backend.synchronize();
  const auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) f();
  backend.synchronize();
  return std::chrono::duration<double>(Clock::now() - t0).count() / reps;
}

#ifdef TESSERA_WITH_CUDA
Ceilings cuda_ceilings(DType dtype) {
  Ceilings c;
  std::unique_ptr<Backend> backend = make_cuda_backend(0, dtype);
  c.device = cuda::device_info(*backend).name;
  {
    const size_t bytes = size_t(1) << 30;
    Tensor a = backend->alloc(DType::kBF16, {int64_t(bytes / 2)});
    Tensor b = backend->alloc(DType::kBF16, {int64_t(bytes / 2)});
    cuda::fill_uniform(*backend, a, 1, 1.0f);
    // The better of a copy kernel and the copy engines (cudaMemcpy).
    const double kernel =
        seconds_per_call(*backend, 20, [&] { backend->copy(b.data(), a.data(), bytes); });
    const double engines = seconds_per_call(
        *backend, 20, [&] { cuda::memcpy_device(*backend, b.data(), a.data(), bytes); });
    c.copy_bytes_per_s = 2.0 * double(bytes) / std::min(kernel, engines);
  }
  {
    const int64_t n = 8192;
    Tensor x = backend->alloc(dtype, {n, n}), w = backend->alloc(dtype, {n, n});
    Tensor out = backend->alloc(dtype, {n, n});
    cuda::fill_uniform(*backend, x, 2, 1.0f);
    cuda::fill_uniform(*backend, w, 3, 1.0f);
    const double s = seconds_per_call(*backend, 10, [&] { backend->matmul(x, w, out); });
    c.gemm_flops_per_s = 2.0 * double(n) * double(n) * double(n) / s;
    c.gemm_shape = dtype == DType::kF16 ? "8192^3 fp16" : "8192^3 bf16";
  }
  backend->synchronize();
  return c;
}
#endif

Ceilings cpu_ceilings() {
  Ceilings c;
  c.device = machine_description();
  {
    // All threads copying their share, as the decode's weight reads do.
    const size_t bytes = size_t(1) << 30;
    std::vector<char> a(bytes, 1), b(bytes, 0);
    auto copy = [&] {
      parallel_for(int64_t(bytes >> 20), 1, [&](int64_t lo, int64_t hi) {
        std::memcpy(b.data() + (lo << 20), a.data() + (lo << 20), size_t(hi - lo) << 20);
      });
    };
    copy();
    const auto t0 = Clock::now();
    const int reps = 5;
    for (int i = 0; i < reps; ++i) copy();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count() / reps;
    c.copy_bytes_per_s = 2.0 * double(bytes) / s;
  }
  {
    std::unique_ptr<Backend> backend = make_cpu_backend();
    const int64_t m = 256, n = 2048, k = 2048;
    Tensor x = Tensor::empty(DType::kF32, {m, k}), w = Tensor::empty(DType::kBF16, {n, k});
    Tensor out = Tensor::empty(DType::kF32, {m, n});
    for (int64_t i = 0; i < m * k; ++i) x.data_as<float>()[i] = float((i * 7919) % 1000) / 1000.0f;
    for (int64_t i = 0; i < n * k; ++i)
      w.data_as<uint16_t>()[i] = f32_to_bf16(float((i * 104729) % 1000) / 1000.0f - 0.5f);
    const double s = seconds_per_call(*backend, 3, [&] { backend->matmul(x, w, out); });
    c.gemm_flops_per_s = 2.0 * double(m) * double(n) * double(k) / s;
    c.gemm_shape = "256x2048x2048 f32 x bf16";
  }
  return c;
}

}  // namespace

Ceilings measure_ceilings(const std::string& device, DType dtype) {
  if (device == "cuda") {
#ifdef TESSERA_WITH_CUDA
    return cuda_ceilings(dtype);
#else
    fail(ErrorKind::kUnsupported, "this tessera was built without CUDA");
#endif
  }
  return cpu_ceilings();
}

int64_t layer_params(const ModelConfig& c) {
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  const int64_t q = int64_t(c.num_heads) * c.head_dim, kv = int64_t(c.num_kv_heads) * c.head_dim;
  return int64_t(c.num_layers) * (d * (q + 2 * kv) + q * d + 3 * d * f);
}

int64_t head_params(const ModelConfig& c) { return c.vocab_size * c.hidden_size; }

}  // namespace tessera::cli
