// AVX2/FMA float-activation kernels for every weight type. Same packed
// groups as AVX-512, read as two halves of 8 rows (one ymm each), and the
// same canonical per-element operations, so results are bit-identical to the
// portable and AVX-512 kernels. Without vpermps over 16 entries or vpternlog,
// 4-bit values are masked and converted (vcvtdq2ps).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "f32act_simd.h"

namespace tessera::cpu::detail::f32act {
namespace {

// Rows 8h .. 8h+7 of a packed group: byte offset of the half inside a
// 16-row vector whose elements are `es` bytes.
struct Half {
  const uint8_t* g;
  int h;
  const uint8_t* at(size_t offset, int es) const { return g + offset + size_t(8 * es * h); }
};

inline __m256 load_f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256i load_u32x8(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline __m256i load_i8x8(const uint8_t* p) {
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 bcast(const float* p) { return _mm256_broadcast_ss(p); }

// v >> n for n >= 0, v << -n otherwise (n a compile-time constant).
template <int n>
inline __m256i shift_right(__m256i v) {
  if constexpr (n > 0) return _mm256_srli_epi32(v, n);
  if constexpr (n < 0) return _mm256_slli_epi32(v, -n);
  return v;
}

template <int MT, int NH>
struct RegOut {
  __m256 v[MT][NH];
  void fma(int i, int j, __m256 a, __m256 b) { v[i][j] = _mm256_fmadd_ps(a, b, v[i][j]); }
  void fnma(int i, int j, __m256 a, __m256 b) { v[i][j] = _mm256_fnmadd_ps(a, b, v[i][j]); }
  void add(int i, int j, __m256 a) { v[i][j] = _mm256_add_ps(v[i][j], a); }
};

struct MemOut {
  float* v;  // [MT][8], 32-byte aligned
  void fma(int i, int, __m256 a, __m256 b) {
    _mm256_store_ps(v + 8 * i, _mm256_fmadd_ps(a, b, _mm256_load_ps(v + 8 * i)));
  }
  void fnma(int i, int, __m256 a, __m256 b) {
    _mm256_store_ps(v + 8 * i, _mm256_fnmadd_ps(a, b, _mm256_load_ps(v + 8 * i)));
  }
  void add(int i, int, __m256 a) {
    _mm256_store_ps(v + 8 * i, _mm256_add_ps(_mm256_load_ps(v + 8 * i), a));
  }
};

// Zeroed accumulators, and the FMA of one weight vector per half into them.
template <int MT, int NH>
struct Acc {
  __m256 v[MT][NH];
  Acc() {
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NH; ++j) v[i][j] = _mm256_setzero_ps();
  }
  template <class X>
  void step(const __m256 (&w)[NH], const X& x, int64_t k) {
    for (int i = 0; i < MT; ++i) {
      const __m256 xv = bcast(x.x(i, k));
      for (int j = 0; j < NH; ++j) v[i][j] = _mm256_fmadd_ps(w[j], xv, v[i][j]);
    }
  }
};

template <DType kType>
struct FloatW {
  static constexpr int kEs = kType == DType::kF32 ? 4 : 2;
  static __m256 load_w(const uint8_t* p) {
    if constexpr (kType == DType::kF32) {
      return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
    } else if constexpr (kType == DType::kF16) {
      return load_f16x8(p);
    } else {
      const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    }
  }
  template <int MT, int NH, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const Half* hs, int64_t u, const X& x,
                                          Out& out) {
    const int64_t k0 = u * 32, kn = std::min<int64_t>(32, L.K - k0);
    Acc<MT, NH> acc;
    auto step = [&](int64_t kk) {
      __m256 w[NH];
      for (int j = 0; j < NH; ++j) w[j] = load_w(hs[j].at(L.sec[0] + (k0 + kk) * 16 * kEs, kEs));
      acc.step(w, x, k0 + kk);
    };
    if (kn == 32) {
#pragma GCC unroll 4
      for (int64_t kk = 0; kk < 32; ++kk) step(kk);
    } else {
      for (int64_t kk = 0; kk < kn; ++kk) step(kk);
    }
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NH; ++j) out.add(i, j, acc.v[i][j]);
  }
};

template <DType kType>
struct Q4 {
  static constexpr bool kMins = kType == DType::kQ4_1;
  template <int MT, int NH, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const Half* hs, int64_t u, const X& x,
                                          Out& out) {
    const __m256i low4 = _mm256_set1_epi32(15), eight = _mm256_set1_epi32(kMins ? 0 : 8);
    const size_t qsec = L.sec[kMins ? 2 : 1];
    Acc<MT, NH> acc;
    static_for<4>([&](auto C) {
      constexpr int c = C;
      __m256i v[NH];
      for (int j = 0; j < NH; ++j) v[j] = load_u32x8(hs[j].at(qsec + (u * 4 + c) * 64, 4));
      static_for<8>([&](auto S) {
        constexpr int s = S;
        __m256 w[NH];
        for (int j = 0; j < NH; ++j) {
          // Nibble s: the lowest needs no shift, the highest no mask.
          __m256i q = v[j];
          if constexpr (s > 0) q = _mm256_srli_epi32(q, 4 * s);
          if constexpr (s < 7) q = _mm256_and_si256(q, low4);
          w[j] = _mm256_cvtepi32_ps(kMins ? q : _mm256_sub_epi32(q, eight));
        }
        acc.step(w, x, u * 32 + 8 * c + s);
      });
    });
    for (int j = 0; j < NH; ++j) {
      const __m256 d = load_f16x8(hs[j].at(L.sec[0] + u * 32, 2));
      for (int i = 0; i < MT; ++i) out.fma(i, j, d, acc.v[i][j]);
      if constexpr (kMins) {
        const __m256 m = load_f16x8(hs[j].at(L.sec[1] + u * 32, 2));
        for (int i = 0; i < MT; ++i) out.fma(i, j, m, bcast(x.sx(i, u)));
      }
    }
  }
};

struct Q8 {
  template <int MT, int NH, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const Half* hs, int64_t u, const X& x,
                                          Out& out) {
    Acc<MT, NH> acc;
#pragma GCC unroll 8
    for (int k = 0; k < 32; ++k) {
      __m256 w[NH];
      for (int j = 0; j < NH; ++j)
        w[j] = _mm256_cvtepi32_ps(load_i8x8(hs[j].at(L.sec[1] + (u * 32 + k) * 16, 1)));
      acc.step(w, x, u * 32 + k);
    }
    for (int j = 0; j < NH; ++j) {
      const __m256 d = load_f16x8(hs[j].at(L.sec[0] + u * 32, 2));
      for (int i = 0; i < MT; ++i) out.fma(i, j, d, acc.v[i][j]);
    }
  }
};

template <DType kType>
struct Q45K {
  static constexpr bool kQ5 = kType == DType::kQ5_K;

  // Scale (sc) and min (m) of sub-block j (see unpack_k_scales).
  template <int j>
  static void scales(__m256i s0, __m256i s1, __m256i s2, __m256i& sc, __m256i& m) {
    const __m256i six = _mm256_set1_epi32(63), four = _mm256_set1_epi32(15);
    if constexpr (j < 4) {
      sc = _mm256_and_si256(_mm256_srli_epi32(s0, 8 * j), six);
      m = _mm256_and_si256(_mm256_srli_epi32(s1, 8 * j), six);
    } else {
      constexpr int b = 8 * (j - 4);
      const __m256i hi = _mm256_set1_epi32(0x30);
      sc = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s2, b), four),
                           _mm256_and_si256(_mm256_srli_epi32(s0, b + 2), hi));
      m = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s2, b + 4), four),
                          _mm256_and_si256(_mm256_srli_epi32(s1, b + 2), hi));
    }
  }

  template <int MT, int NH, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const Half* hs, int64_t u, const X& x,
                                          Out& out) {
    const __m256i low4 = _mm256_set1_epi32(15), bit4 = _mm256_set1_epi32(16);
    const size_t qsec = L.sec[kQ5 ? 4 : 3];
    static_for<8>([&](auto J) {
      constexpr int jb = J;
      Acc<MT, NH> acc;
      __m256i h[NH];
      if constexpr (kQ5)
        for (int j = 0; j < NH; ++j) h[j] = load_u32x8(hs[j].at(L.sec[3] + (u * 8 + jb) * 64, 4));
      static_for<4>([&](auto C) {
        constexpr int c = C;
        __m256i v[NH];
        for (int j = 0; j < NH; ++j)
          v[j] = load_u32x8(hs[j].at(qsec + ((u * 8 + jb) * 4 + c) * 64, 4));
        static_for<8>([&](auto S) {
          constexpr int s = S;
          __m256 w[NH];
          for (int j = 0; j < NH; ++j) {
            __m256i q = _mm256_and_si256(_mm256_srli_epi32(v[j], 4 * s), low4);
            if constexpr (kQ5)
              q = _mm256_or_si256(q, _mm256_and_si256(shift_right<8 * c + s - 4>(h[j]), bit4));
            w[j] = _mm256_cvtepi32_ps(q);
          }
          acc.step(w, x, u * 256 + 32 * jb + 8 * c + s);
        });
      });
      for (int j = 0; j < NH; ++j) {
        const uint8_t* sp = hs[j].at(L.sec[2] + u * 3 * 64, 4);
        __m256i sc, m;
        scales<jb>(load_u32x8(sp), load_u32x8(sp + 64), load_u32x8(sp + 128), sc, m);
        const __m256 a =
            _mm256_mul_ps(load_f16x8(hs[j].at(L.sec[0] + u * 32, 2)), _mm256_cvtepi32_ps(sc));
        const __m256 b =
            _mm256_mul_ps(load_f16x8(hs[j].at(L.sec[1] + u * 32, 2)), _mm256_cvtepi32_ps(m));
        for (int i = 0; i < MT; ++i) {
          out.fma(i, j, a, acc.v[i][j]);
          out.fnma(i, j, b, bcast(x.sx(i, u * 8 + jb)));
        }
      }
    });
  }
};

struct Q6K {
  template <int MT, int NH, class X, class Out>
  [[gnu::always_inline]] static void unit(const Layout& L, const Half* hs, int64_t u, const X& x,
                                          Out& out) {
    const __m256i low4 = _mm256_set1_epi32(15), bits45 = _mm256_set1_epi32(0x30);
    static_for<16>([&](auto J) {
      constexpr int jb = J;
      Acc<MT, NH> acc;
      __m256i h[NH];
      for (int j = 0; j < NH; ++j) h[j] = load_u32x8(hs[j].at(L.sec[3] + (u * 16 + jb) * 64, 4));
      static_for<2>([&](auto V) {
        constexpr int half = V;
        __m256i v[NH];
        for (int j = 0; j < NH; ++j)
          v[j] = load_u32x8(hs[j].at(L.sec[2] + (u * 32 + 2 * jb + half) * 64, 4));
        static_for<8>([&](auto S) {
          constexpr int s = S, e = 8 * half + s;
          __m256 w[NH];
          for (int j = 0; j < NH; ++j) {
            // 6-bit field lo | hi << 4 with hi's top bit stored inverted:
            // read as signed 6-bit it is q - 32.
            const __m256i lo = _mm256_and_si256(_mm256_srli_epi32(v[j], 4 * s), low4);
            const __m256i hi = _mm256_and_si256(shift_right<2 * e - 4>(h[j]), bits45);
            const __m256i q = _mm256_slli_epi32(_mm256_or_si256(lo, hi), 26);
            w[j] = _mm256_cvtepi32_ps(_mm256_srai_epi32(q, 26));
          }
          acc.step(w, x, u * 256 + 16 * jb + e);
        });
      });
      for (int j = 0; j < NH; ++j) {
        const __m256 a = _mm256_mul_ps(
            load_f16x8(hs[j].at(L.sec[0] + u * 32, 2)),
            _mm256_cvtepi32_ps(load_i8x8(hs[j].at(L.sec[1] + (u * 16 + jb) * 16, 1))));
        for (int i = 0; i < MT; ++i) out.fma(i, j, a, acc.v[i][j]);
      }
    });
  }
};

template <class Ty>
struct Kernel {
  // Tokens [t, t + MT) x groups [g, g + NG), both halves of each group.
  template <int MT, int NG>
  static void rows(const Problem& p, int64_t g, int64_t t) {
    constexpr int NH = 2 * NG;
    Half hs[NH];
    for (int j = 0; j < NH; ++j) hs[j] = {p.group(g + j / 2), j % 2};
    const float* xr[MT];
    const float* sxr[MT];
    for (int i = 0; i < MT; ++i) {
      xr[i] = p.x + (t + i) * p.x_stride;
      sxr[i] = p.sx ? p.sx + (t + i) * p.sx_stride : nullptr;
    }
    const RowsX x{xr, sxr};
    RegOut<MT, NH> out;
    for (int i = 0; i < MT; ++i)
      for (int j = 0; j < NH; ++j) out.v[i][j] = _mm256_setzero_ps();
    for (int64_t u = 0; u < p.L.units; ++u) Ty::template unit<MT, NH>(p.L, hs, u, x, out);
    for (int j = 0; j < NH; ++j) {
      __m256 col[MT];
      for (int i = 0; i < MT; ++i) col[i] = out.v[i][j];
      store(p, g + j / 2, j % 2, t, MT, col);
    }
  }

  // One group against a token tile, one half at a time.
  template <int MT, int S>
  static void tile(const Problem& p, int64_t g, TileX<MT, S> x, int64_t t, int mt) {
    for (int h = 0; h < 2; ++h) {
      alignas(32) float buf[MT * 8];
      for (int i = 0; i < MT; ++i) _mm256_store_ps(buf + 8 * i, _mm256_setzero_ps());
      MemOut out{buf};
      const Half hs[1] = {{p.group(g), h}};
      for (int64_t u = 0; u < p.L.units; ++u) Ty::template unit<MT, 1>(p.L, hs, u, x, out);
      __m256 v[MT];
      for (int i = 0; i < MT; ++i) v[i] = _mm256_load_ps(buf + 8 * i);
      store(p, g, h, t, mt, v);
    }
  }

  // Rows of half h of group g for tokens t .. t+mt (v[i]).
  static void store(const Problem& p, int64_t g, int h, int64_t t, int mt, const __m256* v) {
    const int64_t n = g * kGroupRows + 8 * h;
    const int64_t rows = std::min<int64_t>(8, p.N - n);
    if (rows <= 0) return;
    for (int i = 0; i < mt; ++i) {
      float* dst = p.out + (t + i) * p.out_stride + n;
      if (rows == 8) {
        _mm256_storeu_ps(dst, v[i]);
      } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, v[i]);
        for (int64_t r = 0; r < rows; ++r) dst[r] = tmp[r];
      }
    }
  }

  static constexpr int kTile = 8;
  static void region(const Problem& p, int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
    drive_region<Kernel, kTile, 1, 2>(p, g0, g1, t0, t1);
  }
  static Kernels kernels() { return {region, kTile, block_sums_avx2, fill_tile_avx2}; }
};

}  // namespace

Kernels avx2_kernels(DType type) {
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

// The canonical block sums (f32act_internal.h): s[l] = x[l] + x[l + 16] in
// two ymm, then the same pairwise tree.
void block_sums_avx2(const float* x, int64_t K, float* sx) {
  for (int64_t b = 0; b < K / 32; ++b) {
    const float* p = x + 32 * b;
    const __m256 s0 = _mm256_add_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 16));      // s[0..7]
    const __m256 s1 = _mm256_add_ps(_mm256_loadu_ps(p + 8), _mm256_loadu_ps(p + 24));  // s[8..15]
    const __m256 s8 = _mm256_add_ps(s0, s1);
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));  // [s4[0]+s4[2], s4[1]+s4[3]]
    sx[b] = _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
  }
}

// 8 rows of 8 floats (r[i] = row i) become 8 columns (r[j] = element j of
// every row).
inline void transpose8(__m256 r[8]) {
  __m256 a[8], b[8];
  for (int i = 0; i < 4; ++i) {
    a[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      b[4 * i + 2 * j] = _mm256_shuffle_ps(a[4 * i + j], a[4 * i + j + 2], 0x44);
      b[4 * i + 2 * j + 1] = _mm256_shuffle_ps(a[4 * i + j], a[4 * i + j + 2], 0xEE);
    }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(b[j], b[j + 4], 0x20);
    r[j + 4] = _mm256_permute2f128_ps(b[j], b[j + 4], 0x31);
  }
}

// fill_tile by 8 x 8 transposes (8 tokens, 8 k at a time; full tiles, the
// last, partial one takes the scalar path). The block sums then come from
// the tile, 8 tokens per vector: lane i runs token i's canonical tree.
void fill_tile_avx2(const float* x, int64_t x_stride, int64_t t, int mt, int64_t K, int S,
                    bool sums, float* dst) {
  if (mt != S || S % 8 != 0) {
    fill_tile(x, x_stride, t, mt, K, S, sums, dst);
    return;
  }
  for (int h = 0; h < S; h += 8) {
    const float* base = x + (t + h) * x_stride;
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(base + i * x_stride + k);
      transpose8(r);
      for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (k + j) * S + h, r[j]);
    }
    for (; k < K; ++k)
      for (int i = 0; i < 8; ++i) dst[k * S + h + i] = base[i * x_stride + k];
  }
  if (!sums) return;
  float* sxt = dst + K * S;
  for (int h = 0; h < S; h += 8)
    for (int64_t b = 0; b < K / 32; ++b) {
      const float* xb = dst + 32 * b * S + h;
      __m256 s[16];
      for (int l = 0; l < 16; ++l)
        s[l] = _mm256_add_ps(_mm256_loadu_ps(xb + l * S), _mm256_loadu_ps(xb + (l + 16) * S));
      for (int l = 0; l < 8; ++l) s[l] = _mm256_add_ps(s[l], s[l + 8]);
      for (int l = 0; l < 4; ++l) s[l] = _mm256_add_ps(s[l], s[l + 4]);
      const __m256 s2a = _mm256_add_ps(s[0], s[2]), s2b = _mm256_add_ps(s[1], s[3]);
      _mm256_storeu_ps(sxt + b * S + h, _mm256_add_ps(s2a, s2b));
    }
}

}  // namespace tessera::cpu::detail::f32act
