// AVX2/FMA kernels for float weights (F32, F16, BF16). The canonical 16
// lanes (k mod 16) live in two ymm per output; a partial last chunk is
// copied into zero-padded buffers so it runs the same FMAs as the portable
// kernel.
#include <cstring>

#include "quant_avx2_common.h"

namespace tessera::cpu::detail {
namespace {

template <DType kType>
struct FloatAvx2 {
  static constexpr int kElemBytes = kType == DType::kF32 ? 4 : 2;

  // 8 weights at element k of a row as floats.
  static __m256 load_w8(const uint8_t* row, int64_t k) {
    if constexpr (kType == DType::kF32) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + k);
    } else if constexpr (kType == DType::kF16) {
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
    } else {
      const __m256i v =
          _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * k)));
      return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    }
  }

  template <int MT, int NT>
  struct Micro {
    static void run(const MatmulProblem& p, int64_t t, int64_t n) {
      const int64_t K = p.K, full = K / 16 * 16;
      const uint8_t* w[NT];
      const float* x[MT];
      for (int j = 0; j < NT; ++j) w[j] = p.w + (n + j) * p.w_stride;
      for (int i = 0; i < MT; ++i) x[i] = reinterpret_cast<const float*>(act_row(p, t + i));
      __m256 lo[MT][NT], hi[MT][NT];
      for (int i = 0; i < MT; ++i)
        for (int j = 0; j < NT; ++j) lo[i][j] = hi[i][j] = _mm256_setzero_ps();
      auto chunk = [&](const uint8_t* const* wr, const float* const* xr, int64_t kw, int64_t kx) {
        __m256 wv[NT];
        for (int j = 0; j < NT; ++j) wv[j] = load_w8(wr[j], kw);
        for (int i = 0; i < MT; ++i) {
          const __m256 xv = _mm256_loadu_ps(xr[i] + kx);
          for (int j = 0; j < NT; ++j) lo[i][j] = _mm256_fmadd_ps(wv[j], xv, lo[i][j]);
        }
        for (int j = 0; j < NT; ++j) wv[j] = load_w8(wr[j], kw + 8);
        for (int i = 0; i < MT; ++i) {
          const __m256 xv = _mm256_loadu_ps(xr[i] + kx + 8);
          for (int j = 0; j < NT; ++j) hi[i][j] = _mm256_fmadd_ps(wv[j], xv, hi[i][j]);
        }
      };
      for (int64_t k = 0; k < full; k += 16) chunk(w, x, k, k);
      if (full < K) {  // zero-padded copy of the last partial chunk
        alignas(32) uint8_t wbuf[NT][64] = {};
        alignas(32) float xbuf[MT][16] = {};
        const uint8_t* wr[NT];
        const float* xr[MT];
        for (int j = 0; j < NT; ++j) {
          std::memcpy(wbuf[j], w[j] + full * kElemBytes, size_t(K - full) * kElemBytes);
          wr[j] = wbuf[j];
        }
        for (int i = 0; i < MT; ++i) {
          std::memcpy(xbuf[i], x[i] + full, size_t(K - full) * 4);
          xr[i] = xbuf[i];
        }
        chunk(wr, xr, 0, 0);
      }
      for (int i = 0; i < MT; ++i)
        for (int j = 0; j < NT; ++j)
          p.out[(t + i) * p.out_stride + n + j] = hsum8(_mm256_add_ps(lo[i][j], hi[i][j]));
    }
  };
};

template <DType kType>
KernelInfo float_kernel() {
  return {TileDriver<3, 2, FloatAvx2<kType>::template Micro>::run, 3, 2};
}

}  // namespace

KernelInfo avx2_float_kernel(DType type) {
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
