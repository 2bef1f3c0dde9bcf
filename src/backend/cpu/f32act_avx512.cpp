// AVX-512 float-activation kernels for float weights and the 32-blocks
// (Q4_0, Q4_1, Q8_0). 4-bit values become floats through a 16-entry vpermps
// table (the index is the low 4 bits of each lane, so a shifted u32 of 8
// packed nibbles needs no mask); Q8_0 bytes through vpmovsxbd + vcvtdq2ps.
#include "f32act_avx512.h"

namespace tessera::cpu::detail::f32act::avx512 {
namespace {

template <DType kType>
struct FloatW {
  static __m512 load_w(const uint8_t* p) {
    if constexpr (kType == DType::kF32) {
      return _mm512_loadu_ps(p);
    } else if constexpr (kType == DType::kF16) {
      return load_f16x16(p);
    } else {
      const __m512i v =
          _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
      return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
    }
  }
  static constexpr size_t kStep = kGroupRows * (kType == DType::kF32 ? 4 : 2);

  template <int MT, int NG, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const uint8_t* const* gp, int64_t u,
                                          const X& x, Out& out) {
    const int64_t k0 = u * 32;
    const int64_t kn = std::min<int64_t>(32, L.K - k0);
    __m512 acc[MT][NG];
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_setzero_ps();
    auto step = [&](int64_t kk) {
      __m512 w[NG];
      for (int j = 0; j < NG; ++j) w[j] = load_w(gp[j] + L.sec[0] + (k0 + kk) * kStep);
      for (int i = 0; i < MT; ++i) {
        const __m512 xv = bcast(x.x(i, k0 + kk));
        for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
      }
    };
    if (kn == 32) {
#pragma GCC unroll 4
      for (int64_t kk = 0; kk < 32; ++kk) step(kk);
    } else {
      for (int64_t kk = 0; kk < kn; ++kk) step(kk);
    }
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NG; ++j) out.add(i, j, acc[i][j]);
  }
};

template <DType kType>
struct Q4 {
  static constexpr bool kMins = kType == DType::kQ4_1;

  template <int MT, int NG, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const uint8_t* const* gp, int64_t u,
                                          const X& x, Out& out) {
    const __m512 table =
        kMins ? _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
              : _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7);
    const size_t qsec = L.sec[kMins ? 2 : 1];
    const int64_t k0 = u * 32;
    __m512 acc[MT][NG];
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_setzero_ps();
    static_for<4>([&](auto C) {
      constexpr int c = C;
      __m512i v[NG];
      for (int j = 0; j < NG; ++j) v[j] = load_i32x16(gp[j] + qsec + (u * 4 + c) * 64);
      static_for<8>([&](auto S) {
        constexpr int s = S;
        __m512 w[NG];
        for (int j = 0; j < NG; ++j)
          w[j] = _mm512_permutexvar_ps(s ? _mm512_srli_epi32(v[j], 4 * s) : v[j], table);
        for (int i = 0; i < MT; ++i) {
          const __m512 xv = bcast(x.x(i, k0 + 8 * c + s));
          for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
        }
      });
    });
    for (int j = 0; j < NG; ++j) {
      const __m512 d = load_f16x16(gp[j] + L.sec[0] + u * 32);
      for (int i = 0; i < MT; ++i) out.fma(i, j, d, acc[i][j]);
      if constexpr (kMins) {
        const __m512 m = load_f16x16(gp[j] + L.sec[1] + u * 32);
        for (int i = 0; i < MT; ++i) out.fma(i, j, m, bcast(x.sx(i, u)));
      }
    }
  }
};

struct Q8 {
  template <int MT, int NG, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const uint8_t* const* gp, int64_t u,
                                          const X& x, Out& out) {
    const int64_t k0 = u * 32;
    __m512 acc[MT][NG];
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int k = 0; k < 32; ++k) {
      __m512 w[NG];
      for (int j = 0; j < NG; ++j)
        w[j] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(
            reinterpret_cast<const __m128i*>(gp[j] + L.sec[1] + (k0 + k) * kGroupRows))));
      for (int i = 0; i < MT; ++i) {
        const __m512 xv = bcast(x.x(i, k0 + k));
        for (int j = 0; j < NG; ++j) acc[i][j] = _mm512_fmadd_ps(w[j], xv, acc[i][j]);
      }
    }
    for (int j = 0; j < NG; ++j) {
      const __m512 d = load_f16x16(gp[j] + L.sec[0] + u * 32);
      for (int i = 0; i < MT; ++i) out.fma(i, j, d, acc[i][j]);
    }
  }
};

}  // namespace
}  // namespace tessera::cpu::detail::f32act::avx512

namespace tessera::cpu::detail::f32act {

Kernels avx512_kernels(DType type) {
  using namespace avx512;
  switch (type) {
    case DType::kF32:
      return Kernel<FloatW<DType::kF32>>::kernels();
    case DType::kF16:
      return Kernel<FloatW<DType::kF16>>::kernels();
    case DType::kBF16:
      return Kernel<FloatW<DType::kBF16>>::kernels();
    case DType::kQ4_0:
      return Kernel<Q4<DType::kQ4_0>>::kernels();
    case DType::kQ4_1:
      return Kernel<Q4<DType::kQ4_1>>::kernels();
    case DType::kQ8_0:
      return Kernel<Q8>::kernels();
    default:
      return kquant_kernels(type);
  }
}

}  // namespace tessera::cpu::detail::f32act
