// Random weights for the CPU matmul benchmarks: SmolLM2-135M's shapes
// (the model's fused projections), on 2 MiB pages where the kernel allows,
// with block scales that keep outputs in a realistic range; and a
// process CPU-time clock for timings on a shared machine.
#pragma once

#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>

#include "bench_util.h"
#include "tessera/core/dtype.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"
#include "tessera/core/tensor.h"

namespace tessera::bench {

using tessera::DType;
using tessera::Tensor;

struct Shape {
  const char* name;
  int64_t N, K;
  bool head;
};
// SmolLM2-135M: hidden 576, ffn 1536, 9 heads / 3 kv heads of 64, 30 layers.
inline constexpr Shape kShapes[] = {
    {"qkv", 960, 576, false},   {"o", 576, 576, false},     {"gate_up", 3072, 576, false},
    {"down", 576, 1536, false}, {"head", 49152, 576, true},
};
inline constexpr int kLayers = 30;

// The header every matmul benchmark prints: title, machine, time, weights.
inline void print_matmul_header(const char* title, DType layer_type, DType head_type, int reps) {
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::printf("# %s\n", title);
  std::printf("machine: %s, %d threads available\ndate:    %s\n", cpu_name().c_str(),
              tessera::num_threads(), date);
  std::printf("weights: SmolLM2-135M shapes, layers %s, head %s; best of >= %d runs\n\n",
              std::string(tessera::dtype_name(layer_type)).c_str(),
              std::string(tessera::dtype_name(head_type)).c_str(), reps);
}

inline void put_f16(uint8_t* p, float v) {
  const uint16_t h = tessera::f32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// Host memory on 2 MiB pages where the kernel allows (MADV_HUGEPAGE).
inline Tensor huge_page_tensor(DType type, int64_t N, int64_t K) {
  const Tensor probe = Tensor::empty(type, {1, K});
  const size_t bytes = probe.row_stride() * size_t(N), huge = size_t(2) << 20;
  const size_t size = (bytes + huge - 1) / huge * huge;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Tensor::empty(type, {N, K});
  madvise(p, size, MADV_HUGEPAGE);
  std::shared_ptr<void> mem(p, [size](void* q) { munmap(q, size); });
  return Tensor(p, type, {N, K}, tessera::Device::kCPU, std::move(mem));
}

// huge: on 2 MiB pages (MADV_HUGEPAGE) where the kernel allows.
inline Tensor random_weight(DType type, int64_t N, int64_t K, std::mt19937& rng, bool huge = true) {
  Tensor w = huge ? huge_page_tensor(type, N, K) : Tensor::empty(type, {N, K});
  auto* p = static_cast<uint8_t*>(w.data());
  const size_t bytes = w.nbytes();
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  if (!tessera::is_quantized(type)) {
    for (int64_t i = 0; i < N * K; ++i) {
      const float v = normal(rng);
      if (type == DType::kF32) std::memcpy(p + 4 * i, &v, 4);
      if (type == DType::kF16) put_f16(p + 2 * i, v);
      if (type == DType::kBF16) {
        const uint16_t b = tessera::f32_to_bf16(v);
        std::memcpy(p + 2 * i, &b, 2);
      }
    }
    return w;
  }
  for (size_t i = 0; i < bytes; ++i) p[i] = uint8_t(byte(rng));
  const int bb = tessera::dtype_info(type).block_bytes;
  for (size_t off = 0; off < bytes; off += bb) {
    uint8_t* b = p + off;
    if (type == DType::kQ6_K) {
      put_f16(b + 208, 0.001f);
    } else {
      put_f16(b, 0.01f);
      if (type == DType::kQ4_1) put_f16(b + 2, -0.08f);
      if (type == DType::kQ4_K || type == DType::kQ5_K) put_f16(b + 2, 0.0002f);
    }
  }
  return w;
}

inline double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace tessera::bench
