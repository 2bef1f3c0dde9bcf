// Helpers for the AVX2 kernels (include only from *_avx2.cpp / *_avx512.cpp).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant_internal.h"

namespace tessera::cpu::detail {

inline float f16_at(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

// Sum of 8 float lanes in a fixed order.
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 16 nibbles -> 32 bytes: low nibbles first, then high nibbles.
inline __m256i unpack_nibbles16(const uint8_t* p) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
}

// Pairwise u8 x s8 products summed to 8 int32 lanes (4 products each).
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

inline const uint8_t* act_row(const MatmulProblem& p, int64_t t) {
  return p.act + t * p.act_stride;
}

// Sums the 8 int32 lanes of each of D[0..7] (exactly): lane j = sum of D[j].
inline __m256i reduce8_rows(const __m256i D[8]) {
  const __m256i h01 = _mm256_hadd_epi32(D[0], D[1]), h23 = _mm256_hadd_epi32(D[2], D[3]);
  const __m256i h45 = _mm256_hadd_epi32(D[4], D[5]), h67 = _mm256_hadd_epi32(D[6], D[7]);
  const __m256i h0123 = _mm256_hadd_epi32(h01, h23), h4567 = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                          _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

inline __m256i row_offsets8(size_t stride) {
  const int s = int(stride);
  return _mm256_setr_epi32(0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s);
}

inline __m256i lane_mask8(int nt) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(nt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace tessera::cpu::detail
