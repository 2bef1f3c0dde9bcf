// AVX-512 float-activation kernels for the k-quants (Q4_K, Q5_K, Q6_K), one
// 256 super-block per unit. The 6-bit scales and mins of 16 rows are
// unpacked with vector shifts from the three interleaved scale words; Q5_K's
// fifth bit is rotated into bit 4 of the nibble's lane and looked up in a
// 32-entry table (vpermt2ps); Q6_K's 6-bit value is assembled at the top of
// the lane (rotates + one bit select) and sign-extended by an arithmetic
// shift, the stored inversion of its top bit making that q - 32.
#include "f32act_avx512.h"

namespace tessera::cpu::detail::f32act::avx512 {
namespace {

// imm8 of vpternlogd for "c ? b : a" (bitwise).
constexpr int kSelect = 0xD8;

template <DType kType>
struct Q45K {
  static constexpr bool kQ5 = kType == DType::kQ5_K;

  // Scale (sc) and min (m) of sub-block j for 16 rows, from the scale words
  // s0 = bytes 0-3, s1 = bytes 4-7, s2 = bytes 8-11 of each row.
  template <int j>
  static void scales(__m512i s0, __m512i s1, __m512i s2, __m512i& sc, __m512i& m) {
    const __m512i six = _mm512_set1_epi32(63), four = _mm512_set1_epi32(15);
    if constexpr (j < 4) {
      sc = _mm512_and_si512(_mm512_srli_epi32(s0, 8 * j), six);
      m = _mm512_and_si512(_mm512_srli_epi32(s1, 8 * j), six);
    } else {
      constexpr int b = 8 * (j - 4);
      const __m512i hi_mask = _mm512_set1_epi32(0x30);
      // low 4 bits from s2, bits 4-5 from the top 2 bits of byte (j-4) of s0 / s1
      sc = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi32(s2, b), four),
                                     _mm512_srli_epi32(s0, b + 2), hi_mask, kSelect);
      m = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi32(s2, b + 4), four),
                                    _mm512_srli_epi32(s1, b + 2), hi_mask, kSelect);
    }
  }

  template <int MT, int NG, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const uint8_t* const* gp, int64_t u,
                                          const X& x, Out& out) {
    const __m512 t_lo = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 t_hi =
        _mm512_setr_ps(16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m512i bit4 = _mm512_set1_epi32(0x10);
    const size_t qsec = L.sec[kQ5 ? 4 : 3];
    const int64_t k0 = u * 256;
    static_for<8>([&](auto J) {
      constexpr int jb = J;  // sub-block
      __m512 acc[MT][NG];
      for (int i = 0; i < MT; ++i)
        for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_setzero_ps();
      __m512i h[NG];
      if constexpr (kQ5)
        for (int j = 0; j < NG; ++j) h[j] = load_i32x16(gp[j] + L.sec[3] + (u * 8 + jb) * 64);
      static_for<4>([&](auto C) {
        constexpr int c = C;
        __m512i v[NG];
        for (int j = 0; j < NG; ++j) v[j] = load_i32x16(gp[j] + qsec + ((u * 8 + jb) * 4 + c) * 64);
        static_for<8>([&](auto S) {
          constexpr int s = S;
          __m512 w[NG];
          for (int j = 0; j < NG; ++j) {
            const __m512i idx = s ? _mm512_srli_epi32(v[j], 4 * s) : v[j];
            if constexpr (kQ5) {
              const __m512i hb = _mm512_ror_epi32(h[j], (8 * c + s - 4) & 31);
              w[j] = _mm512_permutex2var_ps(t_lo, _mm512_ternarylogic_epi32(idx, hb, bit4, kSelect),
                                            t_hi);
            } else {
              w[j] = _mm512_permutexvar_ps(idx, t_lo);
            }
          }
          for (int i = 0; i < MT; ++i) {
            const __m512 xv = bcast(x.x(i, k0 + 32 * jb + 8 * c + s));
            for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
          }
        });
      });
      for (int j = 0; j < NG; ++j) {
        const uint8_t* sp = gp[j] + L.sec[2] + u * 3 * 64;
        __m512i sc, m;
        scales<jb>(load_i32x16(sp), load_i32x16(sp + 64), load_i32x16(sp + 128), sc, m);
        const __m512 a =
            _mm512_mul_ps(load_f16x16(gp[j] + L.sec[0] + u * 32), _mm512_cvtepi32_ps(sc));
        const __m512 b =
            _mm512_mul_ps(load_f16x16(gp[j] + L.sec[1] + u * 32), _mm512_cvtepi32_ps(m));
        for (int i = 0; i < MT; ++i) {
          out.fma(i, j, a, acc[i][j]);
          out.fnma(i, j, b, bcast(x.sx(i, u * 8 + jb)));
        }
      }
    });
  }
};

struct Q6K {
  template <int MT, int NG, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const uint8_t* const* gp, int64_t u,
                                          const X& x, Out& out) {
    const __m512i top2 = _mm512_set1_epi32(int(0xC0000000u));
    const int64_t k0 = u * 256;
    __m512 d[NG];
    for (int j = 0; j < NG; ++j) d[j] = load_f16x16(gp[j] + L.sec[0] + u * 32);
    static_for<16>([&](auto J) {
      constexpr int jb = J;  // sub-block of 16
      __m512 acc[MT][NG];
      for (int i = 0; i < MT; ++i)
        for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_setzero_ps();
      __m512i h[NG];
      for (int j = 0; j < NG; ++j) h[j] = load_i32x16(gp[j] + L.sec[3] + (u * 16 + jb) * 64);
      static_for<2>([&](auto V) {
        constexpr int half = V;
        __m512i v[NG];
        for (int j = 0; j < NG; ++j)
          v[j] = load_i32x16(gp[j] + L.sec[2] + (u * 32 + 2 * jb + half) * 64);
        static_for<8>([&](auto S) {
          constexpr int s = S, e = 8 * half + s;  // element within the sub-block
          __m512 w[NG];
          for (int j = 0; j < NG; ++j) {
            const __m512i lo = _mm512_ror_epi32(v[j], (4 * s + 6) & 31);  // bits 26-29
            const __m512i hi = _mm512_ror_epi32(h[j], (2 * e + 2) & 31);  // bits 30-31
            const __m512i q = _mm512_ternarylogic_epi32(lo, hi, top2, kSelect);
            w[j] = _mm512_cvtepi32_ps(_mm512_srai_epi32(q, 26));
          }
          for (int i = 0; i < MT; ++i) {
            const __m512 xv = bcast(x.x(i, k0 + 16 * jb + e));
            for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
          }
        });
      });
      for (int j = 0; j < NG; ++j) {
        const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(
            reinterpret_cast<const __m128i*>(gp[j] + L.sec[1] + (u * 16 + jb) * 16)));
        const __m512 a = _mm512_mul_ps(d[j], _mm512_cvtepi32_ps(sc));
        for (int i = 0; i < MT; ++i) out.fma(i, j, a, acc[i][j]);
      }
    });
  }
};

}  // namespace

Kernels kquant_kernels(DType type) {
  switch (type) {
    case DType::kQ4_K:
      return Kernel<Q45K<DType::kQ4_K>>::kernels();
    case DType::kQ5_K:
      return Kernel<Q45K<DType::kQ5_K>>::kernels();
    case DType::kQ6_K:
      return Kernel<Q6K>::kernels();
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail::f32act::avx512
