// Unpacking of one k-quant weight row's super-block for the AVX-512 kernels
// (include only from *_avx512.cpp).
#pragma once

#include "quant_avx512_common.h"

namespace tessera::cpu::detail {

// One weight row's super-block, ready for the dot products.
struct KRowPrep {
  __m512i w[4];   // values 64c..64c+63 as unsigned bytes
  __m512i sc[4];  // int16 scale per int16 pair-sum lane of w[c]
  __m512i extra;  // Q4_K/Q5_K: mins m_j twice each (16 words); Q6_K: -32 * sc (16 words)
  float d, dmin;
};

template <DType kType>
struct KQuantRowAvx512 {
  static constexpr int kBytes = kType == DType::kQ4_K   ? kQ4_KBytes
                                : kType == DType::kQ5_K ? kQ5_KBytes
                                                        : kQ6_KBytes;

  static void prep(const uint8_t* blk, KRowPrep& r) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    if constexpr (kType == DType::kQ6_K) {
      const uint8_t* ql = blk;
      const uint8_t* qh = blk + 128;
      r.d = f16_at(blk + 208);
      r.dmin = 0.0f;
      const __m256i sc16 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)));
      for (int k = 0; k < 4; ++k) {
        const int h = k / 2, s = k % 2;
        const __m512i L = _mm512_loadu_si512(ql + 64 * h);
        const __m512i nib = s ? _mm512_srli_epi16(L, 4) : L;
        const __m512i H = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh + 32 * h)));
        // Bits 4s (first 32 values) and 4s+2 (next 32) of each qh byte to bits 4-5.
        const __m512i rot =
            s ? _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 30, 30, 30, 30, 30, 30, 30, 30)
              : _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2);
        const __m512i hi = _mm512_and_si512(_mm512_rolv_epi32(H, rot), _mm512_set1_epi8(0x30));
        r.w[k] = _mm512_ternarylogic_epi32(nib, hi, low4, 0xEC);  // (nib & 0x0F) | hi
        // Scale groups 4k..4k+3, 8 int16 lanes each.
        const __m512i idx = _mm512_set_epi16(
            4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3,
            4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2,
            4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
            4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k);
        r.sc[k] = _mm512_permutexvar_epi16(idx, _mm512_zextsi256_si512(sc16));
      }
      r.extra = _mm512_zextsi256_si512(
          _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5)));
    } else {
      r.d = f16_at(blk);
      r.dmin = f16_at(blk + 2);
      uint8_t sc[8], mn[8];
      unpack_k_scales(blk + 4, sc, mn);
      uint64_t sc64, mn64;
      std::memcpy(&sc64, sc, 8);
      std::memcpy(&mn64, mn, 8);
      const __m512i scw =
          _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc64))));
      const __m512i mnw =
          _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(mn64))));
      const uint8_t* qs = blk + (kType == DType::kQ5_K ? 48 : 16);
      __m512i H = _mm512_setzero_si512();
      if constexpr (kType == DType::kQ5_K)
        H = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16)));
      for (int c = 0; c < 4; ++c) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
        const __m512i both =
            _mm512_inserti64x4(_mm512_zextsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
        if constexpr (kType == DType::kQ5_K) {
          // Bit 2c (first 32 values) and 2c+1 (next 32) of each qh byte to bit 4.
          const int r0 = (4 - 2 * c) & 31, r1 = (3 - 2 * c) & 31;
          const __m512i rot =
              _mm512_setr_epi32(r0, r0, r0, r0, r0, r0, r0, r0, r1, r1, r1, r1, r1, r1, r1, r1);
          const __m512i hi = _mm512_and_si512(_mm512_rolv_epi32(H, rot), _mm512_set1_epi8(0x10));
          r.w[c] = _mm512_ternarylogic_epi32(both, hi, low4, 0xEC);
        } else {
          r.w[c] = _mm512_and_si512(both, low4);
        }
        const __m512i idx = _mm512_set_epi16(
            2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1,
            2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1,
            2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c,
            2 * c, 2 * c, 2 * c, 2 * c);
        r.sc[c] = _mm512_permutexvar_epi16(idx, scw);
      }
      r.extra =
          _mm512_permutexvar_epi16(_mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                    7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0),
                                   mnw);
    }
  }
};

}  // namespace tessera::cpu::detail
