// AVX-512 VNNI kernels for the 32-blocks (Q4_0, Q4_1, Q8_0) on weights as
// stored, used for small T (decode), and the AVX-512 kernel table. One zmm
// holds two blocks (64 values) of one weight row; vpdpbusd leaves 8 int32
// partial sums per block. The partials of 8 rows are reduced exactly with a
// permute tree to one int per (row, block), and then, with the 8 rows in 8
// float lanes, one FMA per block applies the canonical float order of
// quant_internal.h (bit-identical to the batched kernel and other ISAs).
#include "quant_avx512_common.h"

namespace tessera::cpu::detail {

KernelInfo avx512_kquant_kernel(DType type);
KernelInfo avx512_b32_batched(DType type);
KernelInfo avx512_float_kernel(DType type);

namespace {

// kWide: 16-bit activation rows; per row the 8-bit dot of the high halves
// is shifted up by 8 bits before the low halves are added in, so the reduce
// tree sees exact 16-bit-activation partials.
template <DType kType, bool kWide = false>
struct B32Avx512 {
  using F = B32Format<kType>;

  // Weight values of blocks b and (if two) b+1 of one row, unsigned bytes in
  // natural order (64 values).
  static __m512i load_w(const uint8_t* blk, bool two) {
    if constexpr (kType == DType::kQ8_0) {
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      const __m256i hi =
          two ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + F::kBytes + 2))
              : _mm256_setzero_si256();
      const __m512i w = _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1);
      return _mm512_xor_si512(w, _mm512_set1_epi8(char(0x80)));
    } else {
      const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + F::kQsOffset));
      const __m128i q1 =
          two ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + F::kBytes + F::kQsOffset))
              : _mm_setzero_si128();
      const __m256i q = _mm256_set_m128i(q1, q0);
      // [lo(b) | hi(b) | lo(b+1) | hi(b+1)] in 128-bit lanes, then mask.
      const __m512i both = _mm512_permutex2var_epi64(
          _mm512_zextsi256_si512(q), _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11),
          _mm512_zextsi256_si512(_mm256_srli_epi16(q, 4)));
      return _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
    }
  }

  // MT activation rows x NT (<= 8) weight rows.
  template <int MT, int NT>
  struct Micro {
    static void run(const MatmulProblem& p, int64_t t, int64_t n) {
      const int64_t nb = p.K / 32;
      ActB32Row a[MT];
      for (int i = 0; i < MT; ++i)
        a[i] = ActB32Row::at(const_cast<uint8_t*>(act_row(p, t + i)), p.K, kWide);
      const uint8_t* w0 = p.w + n * p.w_stride;
      // Gather offsets of the (d, m) words: rows in lanes 0-7, again for b+1 in 8-15.
      const __m512i offsets = _mm512_add_epi32(
          _mm512_permutexvar_epi32(
              _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7),
              row_offsets16(p.w_stride)),
          _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, F::kBytes, F::kBytes, F::kBytes, F::kBytes,
                            F::kBytes, F::kBytes, F::kBytes, F::kBytes));
      const __mmask16 rows_mask = __mmask16(((1u << NT) - 1) * 0x0101u);
      __m256 acc[MT];
      for (int i = 0; i < MT; ++i) acc[i] = _mm256_setzero_ps();

      for (int64_t b = 0; b < nb; b += 2) {
        const bool two = b + 1 < nb;
        __m512i wq[NT];
        for (int j = 0; j < NT; ++j) wq[j] = load_w(w0 + j * p.w_stride + b * F::kBytes, two);
        const __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(),
                                                      two ? rows_mask : __mmask16(rows_mask & 0xFF),
                                                      offsets, w0 + b * F::kBytes, 1);
        const __m512 wd = f16_low_halves(g);
        __m512 wm = _mm512_setzero_ps();
        if constexpr (kType == DType::kQ4_1) wm = f16_high_halves(g);
        for (int i = 0; i < MT; ++i) {
          const __m512i aq = _mm512_loadu_si512(a[i].qs + b * 32);
          __m512i D[8];
          for (int j = 0; j < 8; ++j)
            D[j] = j < NT ? _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[j], aq)
                          : _mm512_setzero_si512();
          if constexpr (kWide) {
            const __m512i lo = _mm512_loadu_si512(a[i].lo + b * 32);
            for (int j = 0; j < NT; ++j)
              D[j] = _mm512_dpbusd_epi32(_mm512_slli_epi32(D[j], 8), wq[j], lo);
          }
          __m512i dot = reduce8_rows(D);
          if constexpr (F::kCorrShift > 0)
            dot = _mm512_sub_epi32(
                dot, _mm512_slli_epi32(spread_pair_epi32(a[i].isum + b), F::kCorrShift));
          const __m512 fdot = _mm512_cvtepi32_ps(dot);
          const __m512 scale = _mm512_mul_ps(wd, spread_pair_ps(a[i].d + b));
          acc[i] =
              _mm256_fmadd_ps(_mm512_castps512_ps256(fdot), _mm512_castps512_ps256(scale), acc[i]);
          if constexpr (kType == DType::kQ4_1)
            acc[i] = _mm256_fmadd_ps(_mm512_castps512_ps256(wm), _mm256_set1_ps(a[i].s[b]), acc[i]);
          if (two) {
            acc[i] = _mm256_fmadd_ps(_mm512_extractf32x8_ps(fdot, 1),
                                     _mm512_extractf32x8_ps(scale, 1), acc[i]);
            if constexpr (kType == DType::kQ4_1)
              acc[i] = _mm256_fmadd_ps(_mm512_extractf32x8_ps(wm, 1), _mm256_set1_ps(a[i].s[b + 1]),
                                       acc[i]);
          }
        }
      }
      for (int i = 0; i < MT; ++i)
        _mm256_mask_storeu_ps(p.out + (t + i) * p.out_stride + n, __mmask8((1u << NT) - 1), acc[i]);
    }
  };
};

template <DType kType>
KernelInfo b32_kernel() {
  KernelInfo k = avx512_b32_batched(kType);
  k.fn = TileDriver<4, 8, B32Avx512<kType>::template Micro>::run;
  k.mt = 4;
  k.nt = 8;
  return k;
}

template <DType kType>
KernelInfo b32_wide_kernel() {
  KernelInfo k;
  k.fn = TileDriver<4, 8, B32Avx512<kType, true>::template Micro>::run;
  k.mt = 4;
  k.nt = 8;
  return k;
}

}  // namespace

KernelInfo avx512_kernel(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return b32_kernel<DType::kQ4_0>();
    case DType::kQ4_1:
      return b32_kernel<DType::kQ4_1>();
    case DType::kQ8_0:
      return b32_kernel<DType::kQ8_0>();
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return avx512_kquant_kernel(type);
    default:
      return avx512_float_kernel(type);
  }
}

KernelInfo avx512_wide_kernel(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return b32_wide_kernel<DType::kQ4_0>();
    case DType::kQ4_1:
      return b32_wide_kernel<DType::kQ4_1>();
    case DType::kQ8_0:
      return b32_wide_kernel<DType::kQ8_0>();
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail
