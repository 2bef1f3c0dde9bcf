// 8-bit and 16-bit activation rows with AVX2. Same bytes as
// quant_activations.cpp:
// max and the float products are exact in any order, cvtps2dq rounds half to
// even like the portable round_even().
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "quant_internal.h"

namespace tessera::cpu::detail {
namespace {

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// amax over n floats (n a multiple of 8); false if any is inf or NaN.
inline bool abs_max(const float* x, int n, float* amax) {
  const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(3.4028235e38f);
  __m256 m = _mm256_setzero_ps();
  int finite = 0xFF;
  for (int i = 0; i < n; i += 8) {
    const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i));
    m = _mm256_max_ps(a, m);
    finite &= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_LE_OQ));
  }
  *amax = hmax(m);
  return finite == 0xFF;
}

// Quantizes 32 floats to int8 with scale id; returns the int32 lanes' sum
// vector through *sums (8 lanes, each the sum of 4 values).
inline void quantize32(const float* x, __m256 id, int8_t* q, __m256i* sums) {
  const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
  const __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
  const __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
  const __m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
  *sums = _mm256_add_epi32(_mm256_add_epi32(q0, q1), _mm256_add_epi32(q2, q3));
  const __m256i p01 = _mm256_packs_epi32(q0, q1), p23 = _mm256_packs_epi32(q2, q3);
  const __m256i b = _mm256_packs_epi16(p01, p23);
  const __m256i fixed = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), fixed);
}

// Packs 32 int32 lanes (values in int8 range) into 32 bytes in order.
inline void store_bytes32(__m256i q0, __m256i q1, __m256i q2, __m256i q3, int8_t* dst) {
  const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

}  // namespace

void quantize_b32_wide_avx2(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                            uint8_t* dst, size_t dst_stride) {
  const int64_t nb = K / 32;
  const __m256i top = _mm256_set1_epi32(kWideLevels), bottom = _mm256_set1_epi32(-kWideLevels);
  for (int64_t t = t0; t < t1; ++t) {
    uint8_t* base = dst + t * dst_stride;
    std::memset(base, 0, ActB32Row::bytes(K, true));
    const ActB32Row r = ActB32Row::at(base, K, true);
    const float* xr = x + t * x_stride;
    for (int64_t b = 0; b < nb; ++b) {
      float amax;
      if (!abs_max(xr + b * 32, 32, &amax)) {
        r.d[b] = r.s[b] = std::nanf("");
        continue;
      }
      const float d = amax / float(kWideLevels);
      const __m256 id = _mm256_set1_ps(amax != 0.0f ? float(kWideLevels) / amax : 0.0f);
      __m256i q[4], hi[4], lo[4], sums = _mm256_setzero_si256();
      for (int i = 0; i < 4; ++i) {
        q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + b * 32 + 8 * i), id));
        q[i] = _mm256_max_epi32(_mm256_min_epi32(q[i], top), bottom);
        hi[i] = _mm256_srai_epi32(_mm256_add_epi32(q[i], _mm256_set1_epi32(128)), 8);
        lo[i] = _mm256_sub_epi32(q[i], _mm256_slli_epi32(hi[i], 8));
        sums = _mm256_add_epi32(sums, q[i]);
      }
      store_bytes32(hi[0], hi[1], hi[2], hi[3], r.qs + b * 32);
      store_bytes32(lo[0], lo[1], lo[2], lo[3], r.lo + b * 32);
      const int32_t isum = hsum_i32(sums);
      r.d[b] = d;
      r.isum[b] = isum;
      r.s[b] = d * float(isum);
    }
  }
}

void quantize_b32_avx2(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                       uint8_t* dst, size_t dst_stride) {
  const int64_t nb = K / 32;
  for (int64_t t = t0; t < t1; ++t) {
    uint8_t* base = dst + t * dst_stride;
    const ActB32Row r = ActB32Row::at(base, K);
    const float* xr = x + t * x_stride;
    for (int64_t b = 0; b < nb; ++b) {
      float amax;
      int8_t* q = r.qs + b * 32;
      if (!abs_max(xr + b * 32, 32, &amax)) {
        std::memset(q, 0, 32);
        r.d[b] = std::nanf("");
        r.isum[b] = 0;
        r.s[b] = r.d[b];
        continue;
      }
      const float d = amax / 127.0f;
      const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
      __m256i sums;
      quantize32(xr + b * 32, _mm256_set1_ps(id), q, &sums);
      const int32_t isum = hsum_i32(sums);
      r.d[b] = d;
      r.isum[b] = isum;
      r.s[b] = d * float(isum);
    }
    for (int64_t b = nb; b < pad16(nb); ++b) {
      r.d[b] = 0.0f;
      r.s[b] = 0.0f;
      r.isum[b] = 0;
    }
    std::memset(r.qs + nb * 32, 0, pad64(size_t(nb) * 32) - size_t(nb) * 32);
  }
}

void quantize_b256_avx2(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                        uint8_t* dst, size_t dst_stride) {
  const int64_t nsb = K / 256;
  for (int64_t t = t0; t < t1; ++t) {
    uint8_t* base = dst + t * dst_stride;
    const ActB256Row r = ActB256Row::at(base, K);
    const float* xr = x + t * x_stride;
    for (int64_t b = 0; b < nsb; ++b) {
      float amax;
      int8_t* q = r.qs + b * 256;
      int16_t* bsum = r.bsum + b * 16;
      if (!abs_max(xr + b * 256, 256, &amax)) {
        std::memset(q, 0, 256);
        std::memset(bsum, 0, 32);
        r.d[b] = std::nanf("");
        continue;
      }
      r.d[b] = amax / 127.0f;
      const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
      for (int c = 0; c < 8; ++c) {
        // Sums per 16: the 8 lanes of `sums` hold sums of elements
        // {i, i+8, i+16, i+24}; split them by source halves instead.
        const float* xc = xr + b * 256 + 32 * c;
        const __m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xc), id));
        const __m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xc + 8), id));
        const __m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xc + 16), id));
        const __m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xc + 24), id));
        bsum[2 * c] = int16_t(hsum_i32(_mm256_add_epi32(q0, q1)));
        bsum[2 * c + 1] = int16_t(hsum_i32(_mm256_add_epi32(q2, q3)));
        const __m256i p01 = _mm256_packs_epi32(q0, q1), p23 = _mm256_packs_epi32(q2, q3);
        const __m256i bytes = _mm256_permutevar8x32_epi32(
            _mm256_packs_epi16(p01, p23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 32 * c), bytes);
      }
    }
    for (int64_t b = nsb; b < pad16(nsb); ++b) r.d[b] = 0.0f;
  }
}

}  // namespace tessera::cpu::detail
