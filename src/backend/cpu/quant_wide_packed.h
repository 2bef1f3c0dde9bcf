// The 16-bit and 8-bit activation matmul on packed (f32act layout) 32-block
// weights: see quant_wide_packed_avx512.cpp.
#pragma once

#include <cstdint>
#include <cstring>

#include "f32act_internal.h"
#include "quant_internal.h"

namespace tessera::cpu::detail {

// One activation row: its high and low halves (permuted by
// permute_even_odd for Q4 weights, in order for Q8_0), and the row's block
// factors (ActB32Row). An 8-bit row has its values in `hi` and no `lo`.
struct WidePackedRow {
  const int8_t* hi;
  const int8_t* lo;
  const float* d;
  const float* s;
  const int32_t* isum;
};

struct WidePackedProblem {
  f32act::Layout L;
  const uint8_t* groups = nullptr;  // group g at groups + (g - g_base) * L.group_bytes
  int64_t g_base = 0;
  int64_t N = 0;
  const WidePackedRow* rows = nullptr;
  float* out = nullptr;
  int64_t out_stride = 0;
};

// Computes out[t, 16 g + r] for t in [t0, t1), groups [g0, g1).
using WidePackedRegion = void (*)(const WidePackedProblem& p, int64_t t0, int64_t t1, int64_t g0,
                                  int64_t g1);
// For 16-bit (wide) or 8-bit rows; nullptr for types other than
// Q4_0/Q4_1/Q8_0.
WidePackedRegion wide_packed_region_avx512(DType type, bool wide);

// Within every run of 8 values, the 4 even-indexed ones, then the 4 odd.
// (On one 64-bit word: shifts and masks instead of eight byte moves.)
inline void permute_even_odd(const int8_t* src, int8_t* dst, int64_t K) {
  for (int64_t k = 0; k < K; k += 8) {
    uint64_t v;
    std::memcpy(&v, src + k, 8);
    uint64_t r = 0;
    for (int i = 0; i < 4; ++i) {
      r |= ((v >> (16 * i)) & 0xFF) << (8 * i);
      r |= ((v >> (16 * i + 8)) & 0xFF) << (8 * (4 + i));
    }
    std::memcpy(dst + k, &r, 8);
  }
}

}  // namespace tessera::cpu::detail
