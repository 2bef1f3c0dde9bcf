// Row kernels of the elementwise ops, one set per kernel family (chosen
// like the matmul kernels, by kernel_family()). The compiler does not
// vectorize exp_fast inside the SiLU loop on its own, so the SIMD families
// call an explicit vector exp (simd_exp.h). Every element runs the same
// operations wherever it sits in the row (row tails go through masked
// vectors, not a scalar loop), so results never depend on the batch.
#pragma once

#include <cstdint>

namespace tessera::cpu::detail {

struct RowOps {
  void (*exp)(const float* x, float* y, int64_t n);
  // o = (g * sigmoid(g)) * u, rounded as transformers computes it.
  void (*silu_mul)(const float* g, const float* u, float* o, int64_t n);
  // y = x as IEEE half, rounded to nearest even (f32_to_fp16's bits; a NaN
  // stays a NaN).
  void (*to_fp16)(const float* x, uint16_t* y, int64_t n);
};

RowOps row_ops_avx2();
RowOps row_ops_avx512();
// The family's kernels: 0 portable, 1 AVX2, 2 and up AVX-512.
RowOps row_ops(int family);

}  // namespace tessera::cpu::detail
