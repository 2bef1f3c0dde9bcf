// AVX-512 kernels for float weights (F32, F16, BF16): the canonical 16 lanes
// (k mod 16) are one zmm per output; the last partial chunk uses zeroing
// masked loads, which runs the same FMAs as the portable kernel.
#include "quant_avx512_common.h"

namespace tessera::cpu::detail {
namespace {

template <DType kType>
struct FloatAvx512 {
  static __m512 load_w16(const uint8_t* row, int64_t k, __mmask16 m) {
    if constexpr (kType == DType::kF32) {
      return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + k);
    } else if constexpr (kType == DType::kF16) {
      return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * k));
    } else {
      const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, row + 2 * k));
      return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    }
  }

  template <int MT, int NT>
  struct Micro {
    static void run(const MatmulProblem& p, int64_t t, int64_t n) {
      const int64_t K = p.K;
      const uint8_t* w[NT];
      const float* x[MT];
      for (int j = 0; j < NT; ++j) w[j] = p.w + (n + j) * p.w_stride;
      for (int i = 0; i < MT; ++i) x[i] = reinterpret_cast<const float*>(act_row(p, t + i));
      __m512 acc[MT][NT];
      for (int i = 0; i < MT; ++i)
        for (int j = 0; j < NT; ++j) acc[i][j] = _mm512_setzero_ps();
      for (int64_t k = 0; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (K - k)) - 1);
        __m512 wv[NT];
        for (int j = 0; j < NT; ++j) wv[j] = load_w16(w[j], k, m);
        for (int i = 0; i < MT; ++i) {
          const __m512 xv = _mm512_maskz_loadu_ps(m, x[i] + k);
          for (int j = 0; j < NT; ++j) acc[i][j] = _mm512_fmadd_ps(wv[j], xv, acc[i][j]);
        }
      }
      for (int i = 0; i < MT; ++i)
        for (int j = 0; j < NT; ++j) p.out[(t + i) * p.out_stride + n + j] = hsum16(acc[i][j]);
    }
  };
};

template <DType kType>
KernelInfo float_kernel() {
  return {TileDriver<4, 4, FloatAvx512<kType>::template Micro>::run, 4, 4};
}

}  // namespace

KernelInfo avx512_float_kernel(DType type) {
  switch (type) {
    case DType::kF32:
      return float_kernel<DType::kF32>();
    case DType::kF16:
      return float_kernel<DType::kF16>();
    case DType::kBF16:
      return float_kernel<DType::kBF16>();
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail
