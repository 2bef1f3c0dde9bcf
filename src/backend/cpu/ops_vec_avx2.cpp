// AVX2 row kernels of ops_vec.h.
#include <immintrin.h>

#include "ops_vec.h"
#include "quant_avx2_common.h"
#include "simd_exp.h"

namespace tessera::cpu::detail {
namespace {

// 8 lanes of a row: plain loads and stores, or masked ones for the row's
// tail (vmaskmovps is slow enough that full vectors must not use it).
struct Lanes {
  bool tail;
  __m256i m;
  __m256 load(const float* p) const { return tail ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p); }
  void store(float* p, __m256 v) const {
    if (tail)
      _mm256_maskstore_ps(p, m, v);
    else
      _mm256_storeu_ps(p, v);
  }
};

template <class F>
inline void each8(int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) f(i, Lanes{false, _mm256_setzero_si256()});
  if (i < n) f(i, Lanes{true, lane_mask8(int(n - i))});
}

void exp_row(const float* x, float* y, int64_t n) {
  each8(n, [&](int64_t i, const Lanes& l) { l.store(y + i, exp8(l.load(x + i))); });
}

void silu_mul_row(const float* g, const float* u, float* o, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  each8(n, [&](int64_t i, const Lanes& l) {
    const __m256 gv = l.load(g + i);
    const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_xor_ps(gv, sign))));
    l.store(o + i, _mm256_mul_ps(_mm256_mul_ps(gv, sig), l.load(u + i)));
  });
}

void to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  if (i < n) {  // the tail through the same instruction
    alignas(32) float in[8] = {};
    alignas(16) uint16_t out[8];
    for (int64_t j = i; j < n; ++j) in[j - i] = x[j];
    _mm_store_si128(reinterpret_cast<__m128i*>(out),
                    _mm256_cvtps_ph(_mm256_load_ps(in), _MM_FROUND_TO_NEAREST_INT));
    for (int64_t j = i; j < n; ++j) y[j] = out[j - i];
  }
}

}  // namespace

RowOps row_ops_avx2() { return {exp_row, silu_mul_row, to_fp16_row}; }

}  // namespace tessera::cpu::detail
