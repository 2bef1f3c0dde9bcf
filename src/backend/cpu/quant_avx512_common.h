// Helpers for the AVX-512 VNNI kernels (include only from *_avx512.cpp).
#pragma once

// GCC 12 warns about the deliberately undefined vectors inside its own
// AVX-512 intrinsics (_mm512_undefined_*, GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>
#include <cstring>

#include "quant_avx2_common.h"

namespace tessera::cpu::detail {

// Sum of 16 float lanes in a fixed order.
inline float hsum16(__m512 v) {
  const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  return hsum8(h);
}

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint64_t load_u64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Two consecutive 32-bit values v[0], v[1] as 16 lanes: v[0] in lanes 0-7,
// v[1] in lanes 8-15 (the lane groups of two 32-blocks in one register).
inline __m512i spread_pair_epi32(const void* v) {
  const __m512i x = _mm512_zextsi128_si512(_mm_cvtsi64_si128(int64_t(load_u64(v))));
  return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                  x);
}
inline __m512 spread_pair_ps(const float* v) { return _mm512_castsi512_ps(spread_pair_epi32(v)); }

// v[0] in lane 0 and v[1] in lane 8, zeros elsewhere.
inline __m512i lane0_8_epi32(const void* v) {
  const __m512i x = _mm512_zextsi128_si512(_mm_cvtsi64_si128(int64_t(load_u64(v))));
  return _mm512_maskz_permutexvar_epi32(
      0x0101, _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1), x);
}

// Row offsets j * stride for gathers over 16 weight rows.
inline __m512i row_offsets16(size_t stride) {
  return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32(int(stride)));
}

// The f16 pairs of 32-bit values g: low halves and high halves as floats.
inline __m512 f16_low_halves(__m512i g) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g)); }
inline __m512 f16_high_halves(__m512i g) {
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16)));
}

// GGML 32-block types as the AVX-512 kernels see them.
template <DType kType>
struct B32Format {
  static constexpr int kBytes = kType == DType::kQ4_0   ? kQ4_0Bytes
                                : kType == DType::kQ4_1 ? kQ4_1Bytes
                                                        : kQ8_0Bytes;
  static constexpr int kQsOffset = kType == DType::kQ4_1 ? 4 : 2;
  // Weights enter vpdpbusd unsigned: Q4 nibbles q (dot is then off by
  // 8 * sum(a)), Q8_0 bytes w + 128 (off by 128 * sum(a)).
  static constexpr int kCorrShift = kType == DType::kQ4_0 ? 3 : kType == DType::kQ8_0 ? 7 : -1;
};

// Index pairs for the 3-level reduction tree (see reduce8_rows): level l
// combines registers A and B into one whose lane L is
// A-or-B[lo[L]] + A-or-B[hi[L]] (indices >= 16 pick B).
// constexpr so the table is built at compile time: a run-time constructor in
// this AVX-512 translation unit would be vectorized with AVX-512 and run at
// start-up on every CPU, crashing those without it.
struct ReduceTree {
  alignas(64) int32_t lo[3][16] = {}, hi[3][16] = {};
  constexpr ReduceTree() {
    for (int L = 0; L < 16; ++L) {
      // Level 0: rows (A, B), 8 partials per block -> 4: [A b | B b | A b1 | B b1].
      {
        const int g = L / 4, k = L % 4;
        const int src = (g % 2) * 16 + (g / 2) * 8 + 2 * k;
        lo[0][L] = src;
        hi[0][L] = src + 1;
      }
      // Level 1: row pairs (A = rows 0-1, B = rows 2-3) -> 2 partials:
      // [rows 0-3 of b | rows 0-3 of b1].
      {
        const int blk = L / 8, row = (L % 8) / 2, k = L % 2;
        const int src = (row / 2) * 16 + (blk * 2 + row % 2) * 4 + 2 * k;
        lo[1][L] = src;
        hi[1][L] = src + 1;
      }
      // Level 2: A = rows 0-3, B = rows 4-7 -> [rows 0-7 of b | rows 0-7 of b1].
      {
        const int blk = L / 8, row = L % 8;
        const int src = (row / 4) * 16 + blk * 8 + (row % 4) * 2;
        lo[2][L] = src;
        hi[2][L] = src + 1;
      }
    }
  }
};
inline constexpr ReduceTree kTree{};

inline __m512i combine(int level, __m512i a, __m512i b) {
  const __m512i lo = _mm512_load_si512(kTree.lo[level]), hi = _mm512_load_si512(kTree.hi[level]);
  return _mm512_add_epi32(_mm512_permutex2var_epi32(a, lo, b), _mm512_permutex2var_epi32(a, hi, b));
}

// D[j]: 8 partials of row j for block b (lanes 0-7) and b+1 (lanes 8-15).
// Returns [row 0..7 sums of block b | row 0..7 sums of block b+1].
inline __m512i reduce8_rows(const __m512i D[8]) {
  const __m512i e01 = combine(0, D[0], D[1]), e23 = combine(0, D[2], D[3]);
  const __m512i e45 = combine(0, D[4], D[5]), e67 = combine(0, D[6], D[7]);
  return combine(2, combine(1, e01, e23), combine(1, e45, e67));
}

}  // namespace tessera::cpu::detail
