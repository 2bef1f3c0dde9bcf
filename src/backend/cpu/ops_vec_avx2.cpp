// AVX2 row kernels of ops_vec.h.
#include <immintrin.h>

#include "ops_vec.h"
#include "quant_avx2_common.h"
#include "simd_exp.h"

namespace tessera::cpu::detail {
namespace {

// f over 8 lanes at a time; the row's tail through masked loads and stores.
template <class F>
inline void each8(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) f(i, _mm256_set1_epi32(-1));
  if (i < n) f(i, lane_mask8(int(n - i)));
}

void exp_row(const float* x, float* y, int64_t n) {
  each8(n, [&](int64_t i, __m256i m) {
    _mm256_maskstore_ps(y + i, m, exp8(_mm256_maskload_ps(x + i, m)));
  });
}

void silu_mul_row(const float* g, const float* u, float* o, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  each8(n, [&](int64_t i, __m256i m) {
    const __m256 gv = _mm256_maskload_ps(g + i, m);
    const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_xor_ps(gv, sign))));
    _mm256_maskstore_ps(o + i, m,
                        _mm256_mul_ps(_mm256_mul_ps(gv, sig), _mm256_maskload_ps(u + i, m)));
  });
}

}  // namespace

RowOps row_ops_avx2() { return {exp_row, silu_mul_row}; }

}  // namespace tessera::cpu::detail
