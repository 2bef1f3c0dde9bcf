// AVX2/FMA kernels for the 32-blocks (Q4_0, Q4_1, Q8_0), and the AVX2 kernel
// table. Eight weight rows sit in the 8 float lanes: per block, each row's
// int32 partial dot products are reduced exactly to one int per row, then one
// FMA per block adds float(dot) * (dw * da) for all 8 rows at once: the
// canonical order of quant_internal.h.
#include "quant_avx2_common.h"

namespace tessera::cpu::detail {

KernelInfo avx2_kquant_kernel(DType type);
KernelInfo avx2_float_kernel(DType type);

namespace {

// Lanes j < nt of the f16 pairs at base + j * stride: d (low half) and m
// (high half) as floats; other lanes are zero.
inline void load_dm8(const uint8_t* base, __m256i row_offsets, __m256i lane_mask, __m256* d,
                     __m256* m) {
  const __m256i g = _mm256_mask_i32gather_epi32(
      _mm256_setzero_si256(), reinterpret_cast<const int*>(base), row_offsets, lane_mask, 1);
  const __m256i lo =
      _mm256_packus_epi32(_mm256_and_si256(g, _mm256_set1_epi32(0xFFFF)), _mm256_setzero_si256());
  const __m256i hi = _mm256_packus_epi32(_mm256_srli_epi32(g, 16), _mm256_setzero_si256());
  // packus works per 128-bit half: words 0-3 and 8-11 hold the 8 values.
  *d = _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(lo, 0x08)));
  *m = _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(hi, 0x08)));
}

template <DType kType>
struct B32Avx2 {
  static constexpr int kBytes = kType == DType::kQ4_0   ? kQ4_0Bytes
                                : kType == DType::kQ4_1 ? kQ4_1Bytes
                                                        : kQ8_0Bytes;
  static constexpr int kQsOffset = kType == DType::kQ4_1 ? 4 : 2;

  // MT activation rows x NT (<= 8) weight rows; rows are the float lanes.
  template <int MT, int NT>
  struct Micro {
    static void run(const MatmulProblem& p, int64_t t, int64_t n) {
      const int64_t nb = p.K / 32;
      ActB32Row a[MT];
      for (int i = 0; i < MT; ++i)
        a[i] = ActB32Row::at(const_cast<uint8_t*>(act_row(p, t + i)), p.K);
      const uint8_t* w0 = p.w + n * p.w_stride;
      const __m256i offsets = row_offsets8(p.w_stride), mask = lane_mask8(NT);
      __m256 acc[MT];
      for (int i = 0; i < MT; ++i) acc[i] = _mm256_setzero_ps();

      for (int64_t b = 0; b < nb; ++b) {
        __m256i wq[NT], wsign[NT];
        for (int j = 0; j < NT; ++j) {
          const uint8_t* blk = w0 + j * p.w_stride + b * kBytes;
          if constexpr (kType == DType::kQ8_0) {
            wsign[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
            wq[j] = _mm256_abs_epi8(wsign[j]);
          } else {
            wq[j] = unpack_nibbles16(blk + kQsOffset);
          }
        }
        __m256 wd, wm;
        load_dm8(w0 + b * kBytes, offsets, mask, &wd, &wm);
        for (int i = 0; i < MT; ++i) {
          const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs + b * 32));
          __m256i D[8];
          for (int j = 0; j < 8; ++j) {
            if (j >= NT) {
              D[j] = _mm256_setzero_si256();
            } else if constexpr (kType == DType::kQ8_0) {
              D[j] = dot_u8s8(wq[j], _mm256_sign_epi8(aq, wsign[j]));
            } else {
              D[j] = dot_u8s8(wq[j], aq);
            }
          }
          __m256i dot = reduce8_rows(D);
          if constexpr (kType == DType::kQ4_0)  // the -8 offset of Q4_0
            dot = _mm256_add_epi32(dot, _mm256_set1_epi32(-8 * a[i].isum[b]));
          const __m256 scale = _mm256_mul_ps(wd, _mm256_set1_ps(a[i].d[b]));
          acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, acc[i]);
          if constexpr (kType == DType::kQ4_1)
            acc[i] = _mm256_fmadd_ps(wm, _mm256_set1_ps(a[i].s[b]), acc[i]);
        }
      }
      for (int i = 0; i < MT; ++i) {
        alignas(32) float v[8];
        _mm256_store_ps(v, acc[i]);
        for (int j = 0; j < NT; ++j) p.out[(t + i) * p.out_stride + n + j] = v[j];
      }
    }
  };
};

template <DType kType, int MT>
KernelInfo b32_kernel() {
  return {TileDriver<MT, 8, B32Avx2<kType>::template Micro>::run, MT, 8};
}

}  // namespace

KernelInfo avx2_kernel(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return b32_kernel<DType::kQ4_0, 2>();
    case DType::kQ4_1:
      return b32_kernel<DType::kQ4_1, 2>();
    case DType::kQ8_0:
      return b32_kernel<DType::kQ8_0, 2>();
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return avx2_kquant_kernel(type);
    default:
      return avx2_float_kernel(type);
  }
}

}  // namespace tessera::cpu::detail
