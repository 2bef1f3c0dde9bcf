// AVX-512 VNNI kernels for the k-quants (Q4_K, Q5_K, Q6_K). Per weight row
// and super-block, the 256 values are unpacked to unsigned bytes in natural
// order (4 zmm); vpmaddubsw against the 8-bit activations gives int16 pair
// sums and vpdpwssd multiplies them by the sub-block scales into int32
// lanes. Mins (Q4_K/Q5_K) come from the activation sums per 16; Q6_K's -32
// offset is folded into the same int32 lanes. The partial sums of 8 rows
// are reduced exactly, then 8 rows at a time take the canonical float steps
// of quant_internal.h.
#include "quant_kquant_rows_avx512.h"

namespace tessera::cpu::detail {

KernelInfo avx512_kquant_batched(DType type);

namespace {

template <DType kType>
struct KQuantAvx512 : KQuantRowAvx512<kType> {
  using KQuantRowAvx512<kType>::kBytes;
  using KQuantRowAvx512<kType>::prep;

  // Lanes 0-7: partial sums of isum; lanes 8-15: partial sums of msum.
  static __m512i row_dot(const KRowPrep& r, const int8_t* aq, const int16_t* bsum) {
    __m512i acc = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c) {
      const __m512i prod = _mm512_maddubs_epi16(r.w[c], _mm512_loadu_si512(aq + 64 * c));
      acc = _mm512_dpwssd_epi32(acc, prod, r.sc[c]);
    }
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsum));
    const __m256i extra = _mm256_madd_epi16(_mm512_castsi512_si256(r.extra), bs);
    __m256i isum = _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
    if constexpr (kType == DType::kQ6_K)
      return _mm512_zextsi256_si512(_mm256_add_epi32(isum, extra));
    return _mm512_inserti64x4(_mm512_zextsi256_si512(isum), extra, 1);
  }

  // MT activation rows x NT (<= 8) weight rows in 8 float lanes.
  template <int MT, int NT>
  struct Micro {
    static void run(const MatmulProblem& p, int64_t t, int64_t n) {
      const int64_t nsb = p.K / 256;
      ActB256Row a[MT];
      for (int i = 0; i < MT; ++i)
        a[i] = ActB256Row::at(const_cast<uint8_t*>(act_row(p, t + i)), p.K);
      const uint8_t* w0 = p.w + n * p.w_stride;
      __m256 acc[MT];
      for (int i = 0; i < MT; ++i) acc[i] = _mm256_setzero_ps();
      for (int64_t s = 0; s < nsb; ++s) {
        __m512i D[MT][8];
        alignas(32) float d8[8] = {}, dmin8[8] = {};
        for (int j = 0; j < 8; ++j) {
          if (j >= NT) {
            for (int i = 0; i < MT; ++i) D[i][j] = _mm512_setzero_si512();
            continue;
          }
          KRowPrep r;
          prep(w0 + j * p.w_stride + s * kBytes, r);
          d8[j] = r.d;
          dmin8[j] = r.dmin;
          for (int i = 0; i < MT; ++i) D[i][j] = row_dot(r, a[i].qs + s * 256, a[i].bsum + s * 16);
        }
        const __m256 vd = _mm256_load_ps(d8), vdmin = _mm256_load_ps(dmin8);
        for (int i = 0; i < MT; ++i) {
          const __m512 sums = _mm512_cvtepi32_ps(reduce8_rows(D[i]));
          const __m256 da = _mm256_set1_ps(a[i].d[s]);
          acc[i] = _mm256_fmadd_ps(_mm512_castps512_ps256(sums), _mm256_mul_ps(vd, da), acc[i]);
          if constexpr (kType != DType::kQ6_K)
            acc[i] =
                _mm256_fnmadd_ps(_mm512_extractf32x8_ps(sums, 1), _mm256_mul_ps(vdmin, da), acc[i]);
        }
      }
      for (int i = 0; i < MT; ++i)
        _mm256_mask_storeu_ps(p.out + (t + i) * p.out_stride + n, __mmask8((1u << NT) - 1), acc[i]);
    }
  };
};

template <DType kType>
KernelInfo kquant_kernel() {
  KernelInfo k = avx512_kquant_batched(kType);
  k.fn = TileDriver<4, 8, KQuantAvx512<kType>::template Micro>::run;
  k.mt = 4;
  k.nt = 8;
  return k;
}

}  // namespace

KernelInfo avx512_kquant_kernel(DType type) {
  switch (type) {
    case DType::kQ4_K:
      return kquant_kernel<DType::kQ4_K>();
    case DType::kQ5_K:
      return kquant_kernel<DType::kQ5_K>();
    case DType::kQ6_K:
      return kquant_kernel<DType::kQ6_K>();
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail
