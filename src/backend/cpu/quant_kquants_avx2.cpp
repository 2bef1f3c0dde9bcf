// AVX2 kernels for the k-quants (Q4_K, Q5_K, Q6_K). Per weight row and
// super-block, 8 chunks of 32 values become unsigned bytes; vpmaddubsw and
// vpmaddwd with the chunk's scales give int32 partial sums, mins come from
// the activation sums per 16 and Q6_K's -32 offset from the same sums. The
// partials of 8 rows are reduced exactly, then 8 rows at a time take the
// canonical float steps of quant_internal.h.
#include "quant_avx2_common.h"

namespace tessera::cpu::detail {
namespace {

struct RowPrep {
  __m256i w[8];   // values 32j..32j+31 as unsigned bytes
  __m256i sc[8];  // int16 scale per int16 pair-sum lane of w[j]
  __m256i extra;  // Q4_K/Q5_K: mins m_j twice each; Q6_K: -32 * sc (16 words)
  float d, dmin;
};

template <DType kType>
struct KQuantAvx2 {
  static constexpr int kBytes = kType == DType::kQ4_K   ? kQ4_KBytes
                                : kType == DType::kQ5_K ? kQ5_KBytes
                                                        : kQ6_KBytes;

  static void prep(const uint8_t* blk, RowPrep& r) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    if constexpr (kType == DType::kQ6_K) {
      const uint8_t* ql = blk;
      const uint8_t* qh = blk + 128;
      const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192);
      r.d = f16_at(blk + 208);
      r.dmin = 0.0f;
      for (int k = 0; k < 8; ++k) {
        const int h = k / 4, q = k % 4;  // q: quarter of the 128-value half
        const __m256i L =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 64 * h + 32 * (q % 2)));
        const __m256i H = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh + 32 * h));
        const __m256i nib = _mm256_and_si256(q / 2 ? _mm256_srli_epi16(L, 4) : L, low4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(H, 2 * q), _mm256_set1_epi8(3));
        r.w[k] = _mm256_or_si256(nib, _mm256_slli_epi16(hi, 4));
        r.sc[k] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
      }
      const __m256i sc16 =
          _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
      r.extra = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5));
    } else {
      r.d = f16_at(blk);
      r.dmin = f16_at(blk + 2);
      uint8_t sc[8], mn[8];
      unpack_k_scales(blk + 4, sc, mn);
      const uint8_t* qs = blk + (kType == DType::kQ5_K ? 48 : 16);
      const __m256i H = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16));
      for (int j = 0; j < 8; ++j) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (j / 2)));
        __m256i v = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(q, 4) : q, low4);
        if constexpr (kType == DType::kQ5_K) {
          const __m256i bit = _mm256_and_si256(_mm256_srli_epi16(H, j), _mm256_set1_epi8(1));
          v = _mm256_or_si256(v, _mm256_slli_epi16(bit, 4));
        }
        r.w[j] = v;
        r.sc[j] = _mm256_set1_epi16(sc[j]);
      }
      r.extra = _mm256_setr_epi16(mn[0], mn[0], mn[1], mn[1], mn[2], mn[2], mn[3], mn[3], mn[4],
                                  mn[4], mn[5], mn[5], mn[6], mn[6], mn[7], mn[7]);
    }
  }

  // Partial sums (8 lanes each) of isum and of msum (zero for Q6_K).
  static void row_dot(const RowPrep& r, const int8_t* aq, const int16_t* bsum, __m256i* isum,
                      __m256i* msum) {
    __m256i acc = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i prod = _mm256_maddubs_epi16(
          r.w[j], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(aq + 32 * j)));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(prod, r.sc[j]));
    }
    const __m256i extra =
        _mm256_madd_epi16(r.extra, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bsum)));
    if constexpr (kType == DType::kQ6_K) {
      *isum = _mm256_add_epi32(acc, extra);
      *msum = _mm256_setzero_si256();
    } else {
      *isum = acc;
      *msum = extra;
    }
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
        __m256i I[MT][8], M[MT][8];
        alignas(32) float d8[8] = {}, dmin8[8] = {};
        for (int j = 0; j < 8; ++j) {
          if (j >= NT) {
            for (int i = 0; i < MT; ++i) I[i][j] = M[i][j] = _mm256_setzero_si256();
            continue;
          }
          RowPrep r;
          prep(w0 + j * p.w_stride + s * kBytes, r);
          d8[j] = r.d;
          dmin8[j] = r.dmin;
          for (int i = 0; i < MT; ++i)
            row_dot(r, a[i].qs + s * 256, a[i].bsum + s * 16, &I[i][j], &M[i][j]);
        }
        const __m256 vd = _mm256_load_ps(d8), vdmin = _mm256_load_ps(dmin8);
        for (int i = 0; i < MT; ++i) {
          const __m256 da = _mm256_set1_ps(a[i].d[s]);
          acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8_rows(I[i])), _mm256_mul_ps(vd, da),
                                   acc[i]);
          if constexpr (kType != DType::kQ6_K)
            acc[i] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(reduce8_rows(M[i])),
                                      _mm256_mul_ps(vdmin, da), acc[i]);
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

template <DType kType>
KernelInfo kquant_kernel() {
  return {TileDriver<2, 8, KQuantAvx2<kType>::template Micro>::run, 2, 8};
}

}  // namespace

KernelInfo avx2_kquant_kernel(DType type) {
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
