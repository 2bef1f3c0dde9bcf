// AVX-512 float-activation micro kernel (include only from *_avx512.cpp):
// one zmm holds 16 rows of a group at one k. A type policy Ty provides
//   template <int MT, int NG> static void unit(const Layout&, const uint8_t* gp[NG],
//       int64_t u, const float* xr[MT], const float* sxr[MT], __m512 out[MT][NG]);
// which adds packed unit u of each group into the outputs in canonical order.
#pragma once

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "f32act_simd.h"

namespace tessera::cpu::detail::f32act::avx512 {

inline __m512 load_f16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512i load_i32x16(const uint8_t* p) { return _mm512_loadu_si512(p); }
inline __m512 bcast(const float* p) { return _mm512_set1_ps(*p); }

template <class Ty>
struct Kernel {
  template <int MT, int NG>
  struct Micro {
    static void run(const Problem& p, int64_t g, int64_t t) {
      const uint8_t* gp[NG];
      for (int j = 0; j < NG; ++j) gp[j] = p.group(g + j);
      const float* xr[MT];
      const float* sxr[MT];
      for (int i = 0; i < MT; ++i) {
        xr[i] = p.x + (t + i) * p.x_stride;
        sxr[i] = p.sx ? p.sx + (t + i) * p.sx_stride : nullptr;
      }
      __m512 out[MT][NG];
      for (int i = 0; i < MT; ++i)
        for (int j = 0; j < NG; ++j) out[i][j] = _mm512_setzero_ps();
      for (int64_t u = 0; u < p.L.units; ++u) Ty::template unit<MT, NG>(p.L, gp, u, xr, sxr, out);
      for (int j = 0; j < NG; ++j) {
        const int64_t n = (g + j) * kGroupRows;
        const int64_t rows = std::min<int64_t>(kGroupRows, p.N - n);
        const __mmask16 mask = __mmask16((1u << rows) - 1);
        for (int i = 0; i < MT; ++i)
          _mm512_mask_storeu_ps(p.out + (t + i) * p.out_stride + n, mask, out[i][j]);
      }
    }
  };
  static void region(const Problem& p, int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
    drive_region<Micro, 8, 2, 4>(p, g0, g1, t0, t1);
  }
};

RegionKernel kquant_region(DType type);

}  // namespace tessera::cpu::detail::f32act::avx512
