// AVX-512 VNNI kernels for the k-quants (Q4_K, Q5_K, Q6_K). Per weight row
// and super-block, the 256 values are unpacked to unsigned bytes in natural
// order (4 zmm); vpmaddubsw against the 8-bit activations gives int16 pair
// sums and vpdpwssd multiplies them by the sub-block scales into int32
// lanes. Mins (Q4_K/Q5_K) come from the activation sums per 16; Q6_K's -32
// offset is folded into the same int32 lanes. The partial sums of 8 rows
// are reduced exactly, then 8 rows at a time take the canonical float steps
// of quant_internal.h.
#include "quant_avx512_common.h"

namespace tessera::cpu::detail {
namespace {

// One weight row's super-block, ready for the dot products.
struct RowPrep {
  __m512i w[4];   // values 64c..64c+63 as unsigned bytes
  __m512i sc[4];  // int16 scale per int16 pair-sum lane of w[c]
  __m512i extra;  // Q4_K/Q5_K: mins m_j twice each (16 words); Q6_K: -32 * sc (16 words)
  float d, dmin;
};

template <DType kType>
struct KQuantAvx512 {
  static constexpr int kBytes = kType == DType::kQ4_K   ? kQ4_KBytes
                                : kType == DType::kQ5_K ? kQ5_KBytes
                                                        : kQ6_KBytes;

  static void prep(const uint8_t* blk, RowPrep& r) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    if constexpr (kType == DType::kQ6_K) {
      const uint8_t* ql = blk;
      const uint8_t* qh = blk + 128;
      r.d = f16_at(blk + 208);
      r.dmin = 0.0f;
      const __m256i sc16 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)));
      for (int k = 0; k < 4; ++k) {
        const int h = k / 2, s = k % 2;
        const __m512i L = _mm512_loadu_si512(ql + 64 * h);
        const __m512i nib = s ? _mm512_srli_epi16(L, 4) : L;
        const __m512i H = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh + 32 * h)));
        // Bits 4s (first 32 values) and 4s+2 (next 32) of each qh byte to bits 4-5.
        const __m512i rot =
            s ? _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 30, 30, 30, 30, 30, 30, 30, 30)
              : _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 2);
        const __m512i hi = _mm512_and_si512(_mm512_rolv_epi32(H, rot), _mm512_set1_epi8(0x30));
        r.w[k] = _mm512_ternarylogic_epi32(nib, hi, low4, 0xEC);  // (nib & 0x0F) | hi
        // Scale groups 4k..4k+3, 8 int16 lanes each.
        const __m512i idx = _mm512_set_epi16(
            4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3,
            4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2,
            4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
            4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k);
        r.sc[k] = _mm512_permutexvar_epi16(idx, _mm512_zextsi256_si512(sc16));
      }
      r.extra = _mm512_zextsi256_si512(
          _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5)));
    } else {
      r.d = f16_at(blk);
      r.dmin = f16_at(blk + 2);
      uint8_t sc[8], mn[8];
      unpack_k_scales(blk + 4, sc, mn);
      uint64_t sc64, mn64;
      std::memcpy(&sc64, sc, 8);
      std::memcpy(&mn64, mn, 8);
      const __m512i scw =
          _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc64))));
      const __m512i mnw =
          _mm512_zextsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(mn64))));
      const uint8_t* qs = blk + (kType == DType::kQ5_K ? 48 : 16);
      __m512i H = _mm512_setzero_si512();
      if constexpr (kType == DType::kQ5_K)
        H = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16)));
      for (int c = 0; c < 4; ++c) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
        const __m512i both =
            _mm512_inserti64x4(_mm512_zextsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
        if constexpr (kType == DType::kQ5_K) {
          // Bit 2c (first 32 values) and 2c+1 (next 32) of each qh byte to bit 4.
          const int r0 = (4 - 2 * c) & 31, r1 = (3 - 2 * c) & 31;
          const __m512i rot =
              _mm512_setr_epi32(r0, r0, r0, r0, r0, r0, r0, r0, r1, r1, r1, r1, r1, r1, r1, r1);
          const __m512i hi = _mm512_and_si512(_mm512_rolv_epi32(H, rot), _mm512_set1_epi8(0x10));
          r.w[c] = _mm512_ternarylogic_epi32(both, hi, low4, 0xEC);
        } else {
          r.w[c] = _mm512_and_si512(both, low4);
        }
        const __m512i idx = _mm512_set_epi16(
            2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1,
            2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1,
            2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c,
            2 * c, 2 * c, 2 * c, 2 * c);
        r.sc[c] = _mm512_permutexvar_epi16(idx, scw);
      }
      r.extra =
          _mm512_permutexvar_epi16(_mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                    7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0),
                                   mnw);
    }
  }

  // Lanes 0-7: partial sums of isum; lanes 8-15: partial sums of msum.
  static __m512i row_dot(const RowPrep& r, const int8_t* aq, const int16_t* bsum) {
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
          RowPrep r;
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
  return {TileDriver<4, 8, KQuantAvx512<kType>::template Micro>::run, 4, 8};
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
