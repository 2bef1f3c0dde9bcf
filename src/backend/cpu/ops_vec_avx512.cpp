// AVX-512 row kernels of ops_vec.h (the AVX2 ones, 16 lanes).
#include "ops_vec.h"
#include "quant_avx512_common.h"
#include "simd_exp.h"

namespace tessera::cpu::detail {
namespace {

// f over 16 lanes at a time; the row's tail under a mask.
template <class F>
inline void each16(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) f(i, __mmask16(0xFFFF));
  if (i < n) f(i, __mmask16((1u << (n - i)) - 1));
}

void exp_row(const float* x, float* y, int64_t n) {
  each16(n, [&](int64_t i, __mmask16 m) {
    _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
  });
}

void silu_mul_row(const float* g, const float* u, float* o, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f), sign = _mm512_set1_ps(-0.0f);
  each16(n, [&](int64_t i, __mmask16 m) {
    const __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
    const __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_xor_ps(gv, sign))));
    _mm512_mask_storeu_ps(o + i, m,
                          _mm512_mul_ps(_mm512_mul_ps(gv, sig), _mm512_maskz_loadu_ps(m, u + i)));
  });
}

void to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  each16(n, [&](int64_t i, __mmask16 m) {
    const __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_mask_storeu_epi16(y + i, m, h);
  });
}

}  // namespace

RowOps row_ops_avx512() { return {exp_row, silu_mul_row, to_fp16_row}; }

}  // namespace tessera::cpu::detail
