// AVX-512 VNNI kernel for the k-quants (Q4_K, Q5_K, Q6_K) when a call has
// many activation rows. Like the 32-block batched kernel, each tile of 16
// weight rows is repacked once per call into "rows in lanes" form: per
// super-block 64 zmm whose lane n holds 4 consecutive weight values of row n,
// plus the rows' scales, mins and float factors in lanes. vpdpbusd against 4
// broadcast activation bytes advances 16 rows at once; each sub-block's exact
// dot is scaled per lane with vpmulld, mins (and Q6_K's -32 offset) come from
// the activation sums with vpdpwssd. The two float steps per super-block are
// the canonical ones of quant_internal.h: bit-identical to the other kernels.
#include <vector>

#include "quant_kquant_rows_avx512.h"

namespace tessera::cpu::detail {
namespace {

// One repacked super-block of 16 rows.
struct PackedSuperBlock {
  __m512i w[64];     // column c: values 4c..4c+3 of each row
  __m512i sc[16];    // int32 scale per sub-block (Q4_K/Q5_K: 8 of 32; Q6_K: 16 of 16)
  __m512i extra[8];  // int16 pairs: Q4_K/Q5_K mins (m_2k, m_2k+1); Q6_K -32 * (sc_2k, sc_2k+1)
  __m512 d, dmin;
};

uint8_t* packed_scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) &
                                    ~uintptr_t(63));
}

inline __m512i bcast_u32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <DType kType>
struct BatchedKQuant {
  using Row = KQuantRowAvx512<kType>;
  static constexpr bool kQ6 = kType == DType::kQ6_K;

  // Rows [n, n + rows) (rows <= 16) of every super-block into dst.
  static void repack(const MatmulProblem& p, int64_t n, int rows, int64_t nsb,
                     PackedSuperBlock* dst) {
    alignas(64) uint8_t values[16][256];
    alignas(64) int32_t sc[16][16];
    alignas(64) int16_t extra[8][16][2];
    alignas(64) float d[16], dmin[16];
    const __m512i row_offsets =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(256));
    for (int64_t s = 0; s < nsb; ++s) {
      std::memset(values, 0, sizeof values);
      std::memset(sc, 0, sizeof sc);
      std::memset(extra, 0, sizeof extra);
      std::memset(d, 0, sizeof d);
      std::memset(dmin, 0, sizeof dmin);
      for (int j = 0; j < rows; ++j) {
        const uint8_t* blk = p.w + (n + j) * p.w_stride + s * Row::kBytes;
        KRowPrep r;
        Row::prep(blk, r);
        for (int c = 0; c < 4; ++c) _mm512_store_si512(values[j] + 64 * c, r.w[c]);
        d[j] = r.d;
        dmin[j] = r.dmin;
        if constexpr (kQ6) {
          const int8_t* s8 = reinterpret_cast<const int8_t*>(blk + 192);
          for (int g = 0; g < 16; ++g) sc[g][j] = s8[g];
          for (int k = 0; k < 8; ++k) {
            extra[k][j][0] = int16_t(-32 * s8[2 * k]);
            extra[k][j][1] = int16_t(-32 * s8[2 * k + 1]);
          }
        } else {
          uint8_t s6[8], m6[8];
          unpack_k_scales(blk + 4, s6, m6);
          for (int g = 0; g < 8; ++g) sc[g][j] = s6[g];
          for (int k = 0; k < 4; ++k) {
            extra[k][j][0] = m6[2 * k];
            extra[k][j][1] = m6[2 * k + 1];
          }
        }
      }
      PackedSuperBlock& out = dst[s];
      for (int c = 0; c < 64; ++c)  // transpose: column c of all 16 rows
        out.w[c] = _mm512_i32gather_epi32(row_offsets, values[0] + 4 * c, 1);
      for (int g = 0; g < 16; ++g) out.sc[g] = _mm512_load_si512(sc[g]);
      for (int k = 0; k < 8; ++k) out.extra[k] = _mm512_load_si512(extra[k]);
      out.d = _mm512_load_ps(d);
      out.dmin = _mm512_load_ps(dmin);
    }
  }

  template <int MT>
  static void micro(const PackedSuperBlock* packed, const MatmulProblem& p, int64_t t, int64_t n,
                    int rows) {
    const int64_t nsb = p.K / 256;
    ActB256Row a[MT];
    for (int i = 0; i < MT; ++i)
      a[i] = ActB256Row::at(const_cast<uint8_t*>(act_row(p, t + i)), p.K);
    __m512 acc[MT];
    for (int i = 0; i < MT; ++i) acc[i] = _mm512_setzero_ps();
    constexpr int kGroups = kQ6 ? 16 : 8, kCols = 64 / kGroups;
    for (int64_t s = 0; s < nsb; ++s) {
      const PackedSuperBlock& blk = packed[s];
      __m512i isum[MT], msum[MT];
      for (int i = 0; i < MT; ++i) isum[i] = msum[i] = _mm512_setzero_si512();
      for (int g = 0; g < kGroups; ++g) {
        __m512i dot[MT];
        for (int i = 0; i < MT; ++i) dot[i] = _mm512_setzero_si512();
        for (int r = 0; r < kCols; ++r) {
          const int c = g * kCols + r;
          const __m512i w = _mm512_load_si512(&blk.w[c]);
          for (int i = 0; i < MT; ++i)
            dot[i] = _mm512_dpbusd_epi32(dot[i], w, bcast_u32(a[i].qs + s * 256 + 4 * c));
        }
        const __m512i scale = _mm512_load_si512(&blk.sc[g]);
        for (int i = 0; i < MT; ++i)
          isum[i] = _mm512_add_epi32(isum[i], _mm512_mullo_epi32(dot[i], scale));
      }
      for (int i = 0; i < MT; ++i) {
        const int16_t* bsum = a[i].bsum + s * 16;
        if constexpr (kQ6) {  // -32 * sum_g sc_g * bsum_g, two groups per step
          for (int k = 0; k < 8; ++k)
            isum[i] = _mm512_dpwssd_epi32(isum[i], _mm512_load_si512(&blk.extra[k]),
                                          bcast_u32(bsum + 2 * k));
        } else {  // sum_j m_j * (sums over sub-block j), sub-blocks 2k and 2k+1 per step
          for (int k = 0; k < 4; ++k) {
            const int16_t pair[2] = {int16_t(bsum[4 * k] + bsum[4 * k + 1]),
                                     int16_t(bsum[4 * k + 2] + bsum[4 * k + 3])};
            msum[i] =
                _mm512_dpwssd_epi32(msum[i], _mm512_load_si512(&blk.extra[k]), bcast_u32(pair));
          }
        }
        const __m512 da = _mm512_set1_ps(a[i].d[s]);
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]), _mm512_mul_ps(blk.d, da), acc[i]);
        if constexpr (!kQ6)
          acc[i] =
              _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[i]), _mm512_mul_ps(blk.dmin, da), acc[i]);
      }
    }
    const __mmask16 mask = __mmask16((1u << rows) - 1);
    for (int i = 0; i < MT; ++i)
      _mm512_mask_storeu_ps(p.out + (t + i) * p.out_stride + n, mask, acc[i]);
  }

  static constexpr int kMT = 4;

  template <int M>
  static void micro_upto(const PackedSuperBlock* packed, const MatmulProblem& p, int64_t t,
                         int64_t n, int rows, int mt) {
    if constexpr (M > 1) {
      if (mt < M) return micro_upto<M - 1>(packed, p, t, n, rows, mt);
    }
    micro<M>(packed, p, t, n, rows);
  }

  static void region(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
    const int64_t nsb = p.K / 256;
    auto* packed =
        reinterpret_cast<PackedSuperBlock*>(packed_scratch(size_t(nsb) * sizeof(PackedSuperBlock)));
    for (int64_t n = n0; n < n1; n += 16) {
      const int rows = int(std::min<int64_t>(16, n1 - n));
      repack(p, n, rows, nsb, packed);
      for (int64_t t = t0; t < t1; t += kMT) {
        const int mt = int(std::min<int64_t>(kMT, t1 - t));
        if (mt == kMT)
          micro<kMT>(packed, p, t, n, rows);
        else
          micro_upto<kMT>(packed, p, t, n, rows, mt);
      }
    }
  }
};

template <DType kType>
KernelInfo batched() {
  KernelInfo k;
  k.batched = BatchedKQuant<kType>::region;
  k.batched_nt = 16;
  k.batched_min_t = 16;
  return k;
}

}  // namespace

KernelInfo avx512_kquant_batched(DType type) {
  switch (type) {
    case DType::kQ4_K:
      return batched<DType::kQ4_K>();
    case DType::kQ5_K:
      return batched<DType::kQ5_K>();
    case DType::kQ6_K:
      return batched<DType::kQ6_K>();
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail
