// AVX-512 float-activation micro kernel (include only from *_avx512.cpp):
// one zmm holds 16 rows of a group at one k.
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

// Outputs of MT tokens x NG groups kept in registers (decode).
template <int MT, int NG>
struct RegOut {
  __m512 v[MT][NG];
  void fma(int i, int j, __m512 a, __m512 b) { v[i][j] = _mm512_fmadd_ps(a, b, v[i][j]); }
  void fnma(int i, int j, __m512 a, __m512 b) { v[i][j] = _mm512_fnmadd_ps(a, b, v[i][j]); }
  void add(int i, int j, __m512 a) { v[i][j] = _mm512_add_ps(v[i][j], a); }
};

// Outputs of a token tile (one group) in an L1 buffer, updated once per
// sub-block, so all registers go to the accumulators.
struct MemOut {
  float* v;  // [MT][16], 64-byte aligned
  void fma(int i, int, __m512 a, __m512 b) {
    _mm512_store_ps(v + 16 * i, _mm512_fmadd_ps(a, b, _mm512_load_ps(v + 16 * i)));
  }
  void fnma(int i, int, __m512 a, __m512 b) {
    _mm512_store_ps(v + 16 * i, _mm512_fnmadd_ps(a, b, _mm512_load_ps(v + 16 * i)));
  }
  void add(int i, int, __m512 a) {
    _mm512_store_ps(v + 16 * i, _mm512_add_ps(_mm512_load_ps(v + 16 * i), a));
  }
};

inline __mmask16 row_mask(const Problem& p, int64_t g) {
  const int64_t rows = std::min<int64_t>(kGroupRows, p.N - g * kGroupRows);
  return __mmask16((1u << rows) - 1);
}

// A type policy Ty provides
//   template <int MT, int NG, class X, class Out>
//   static void unit(const Layout&, const uint8_t* const* gp, int64_t u, const X& x, Out& out);
// adding packed unit u of groups gp[0..NG) times tokens 0..MT of x into out
// in the canonical order.
template <class Ty>
struct Kernel {
  template <int MT, int NG>
  static void rows(const Problem& p, int64_t g, int64_t t) {
    const uint8_t* gp[NG];
    for (int j = 0; j < NG; ++j) gp[j] = p.group(g + j);
    const float* xr[MT];
    const float* sxr[MT];
    for (int i = 0; i < MT; ++i) {
      xr[i] = p.x + (t + i) * p.x_stride;
      sxr[i] = p.sx ? p.sx + (t + i) * p.sx_stride : nullptr;
    }
    const RowsX x{xr, sxr};
    RegOut<MT, NG> out;
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NG; ++j) out.v[i][j] = _mm512_setzero_ps();
    for (int64_t u = 0; u < p.L.units; ++u) Ty::template unit<MT, NG>(p.L, gp, u, x, out);
    for (int j = 0; j < NG; ++j) {
      const __mmask16 mask = row_mask(p, g + j);
      for (int i = 0; i < MT; ++i)
        _mm512_mask_storeu_ps(p.out + (t + i) * p.out_stride + (g + j) * kGroupRows, mask,
                              out.v[i][j]);
    }
  }

  template <int MT, int S>
  static void tile(const Problem& p, int64_t g, TileX<MT, S> x, int64_t t, int mt) {
    alignas(64) float buf[MT * 16];
    for (int i = 0; i < MT; ++i) _mm512_store_ps(buf + 16 * i, _mm512_setzero_ps());
    MemOut out{buf};
    const uint8_t* gp[1] = {p.group(g)};
    for (int64_t u = 0; u < p.L.units; ++u) Ty::template unit<MT, 1>(p.L, gp, u, x, out);
    const __mmask16 mask = row_mask(p, g);
    for (int i = 0; i < mt; ++i)
      _mm512_mask_storeu_ps(p.out + (t + i) * p.out_stride + g * kGroupRows, mask,
                            _mm512_load_ps(buf + 16 * i));
  }

  static constexpr int kTile = 16;
  static void region(const Problem& p, int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
    drive_region<Kernel, kTile, 2, 4>(p, g0, g1, t0, t1);
  }
  static Kernels kernels() { return {region, kTile, block_sums_avx2, fill_tile_avx2}; }
};

Kernels kquant_kernels(DType type);

}  // namespace tessera::cpu::detail::f32act::avx512
