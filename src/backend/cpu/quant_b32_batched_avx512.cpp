// AVX-512 VNNI kernel for the 32-blocks (Q4_0, Q4_1, Q8_0) when a call has
// many activation rows (prompt processing). Each tile of 16 weight rows is
// repacked once per call into "rows in lanes" form: for every block, 8 zmm
// whose lane n holds 4 consecutive weight bytes of row n, plus the 16 rows'
// scales as floats. One vpdpbusd against 4 activation bytes broadcast to all
// lanes then advances 16 rows at once, 8 of them finish a block with exact
// per-row dots, and one FMA per block applies the canonical float order of
// quant_internal.h: the same bits as the small-T kernel, at a fraction of the
// work per multiply-add. The repack is a pass over the weights amortized over
// all rows of the call.
#include <vector>

#include "quant_avx512_common.h"

namespace tessera::cpu::detail {
namespace {

// Repacked block of 16 rows: W[8] (512 bytes), d[16], m[16] floats.
constexpr size_t kPackedBlockBytes = 8 * 64 + 64 + 64;

uint8_t* packed_scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) &
                                    ~uintptr_t(63));
}

inline __m512i bcast_u32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <DType kType>
struct BatchedB32 {
  using F = B32Format<kType>;

  // Rows [n, n + rows) (rows <= 16; missing rows read as zero) of every block.
  static void repack(const MatmulProblem& p, int64_t n, int rows, int64_t nb, uint8_t* dst) {
    const __m512i offsets = row_offsets16(p.w_stride);
    const __mmask16 mask = __mmask16((1u << rows) - 1);
    const uint8_t* w0 = p.w + n * p.w_stride;
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* base = w0 + b * F::kBytes;
      uint8_t* out = dst + b * kPackedBlockBytes;
      if constexpr (kType == DType::kQ8_0) {
        for (int r = 0; r < 8; ++r) {
          const __m512i g = _mm512_mask_i32gather_epi32(zero, mask, offsets, base + 2 + 4 * r, 1);
          _mm512_store_si512(out + 64 * r, _mm512_xor_si512(g, _mm512_set1_epi8(char(0x80))));
        }
      } else {
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        for (int r = 0; r < 4; ++r) {
          const __m512i g =
              _mm512_mask_i32gather_epi32(zero, mask, offsets, base + F::kQsOffset + 4 * r, 1);
          _mm512_store_si512(out + 64 * r, _mm512_and_si512(g, low4));
          _mm512_store_si512(out + 64 * (r + 4), _mm512_and_si512(_mm512_srli_epi32(g, 4), low4));
        }
      }
      const __m512i g = _mm512_mask_i32gather_epi32(zero, mask, offsets, base, 1);
      _mm512_store_ps(out + 512, f16_low_halves(g));
      _mm512_store_ps(out + 576, f16_high_halves(g));
    }
  }

  template <int MT>
  static void micro(const uint8_t* packed, const MatmulProblem& p, int64_t t, int64_t n, int rows) {
    const int64_t nb = p.K / 32;
    ActB32Row a[MT];
    for (int i = 0; i < MT; ++i) a[i] = ActB32Row::at(const_cast<uint8_t*>(act_row(p, t + i)), p.K);
    __m512 acc[MT];
    for (int i = 0; i < MT; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = packed + b * kPackedBlockBytes;
      __m512i w[8];
      for (int r = 0; r < 8; ++r) w[r] = _mm512_load_si512(blk + 64 * r);
      const __m512 wd = _mm512_load_ps(blk + 512);
      for (int i = 0; i < MT; ++i) {
        const int8_t* aq = a[i].qs + b * 32;
        __m512i d0 = _mm512_setzero_si512();
        if constexpr (F::kCorrShift > 0) d0 = _mm512_set1_epi32(-(a[i].isum[b] << F::kCorrShift));
        __m512i d1 = _mm512_setzero_si512();
        for (int r = 0; r < 4; ++r) {
          d0 = _mm512_dpbusd_epi32(d0, w[r], bcast_u32(aq + 4 * r));
          d1 = _mm512_dpbusd_epi32(d1, w[r + 4], bcast_u32(aq + 16 + 4 * r));
        }
        const __m512i dot = _mm512_add_epi32(d0, d1);
        const __m512 scale = _mm512_mul_ps(wd, _mm512_set1_ps(a[i].d[b]));
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[i]);
        if constexpr (kType == DType::kQ4_1)
          acc[i] = _mm512_fmadd_ps(_mm512_load_ps(blk + 576), _mm512_set1_ps(a[i].s[b]), acc[i]);
      }
    }
    const __mmask16 mask = __mmask16((1u << rows) - 1);
    for (int i = 0; i < MT; ++i)
      _mm512_mask_storeu_ps(p.out + (t + i) * p.out_stride + n, mask, acc[i]);
  }

  static constexpr int kMT = 8;

  template <int M>
  static void micro_upto(const uint8_t* packed, const MatmulProblem& p, int64_t t, int64_t n,
                         int rows, int mt) {
    if constexpr (M > 1) {
      if (mt < M) return micro_upto<M - 1>(packed, p, t, n, rows, mt);
    }
    micro<M>(packed, p, t, n, rows);
  }

  static void region(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
    const int64_t nb = p.K / 32;
    uint8_t* packed = packed_scratch(size_t(nb) * kPackedBlockBytes);
    for (int64_t n = n0; n < n1; n += 16) {
      const int rows = int(std::min<int64_t>(16, n1 - n));
      repack(p, n, rows, nb, packed);
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
  k.batched = BatchedB32<kType>::region;
  k.batched_nt = 16;
  k.batched_min_t = 2;
  return k;
}

}  // namespace

KernelInfo avx512_b32_batched(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return batched<DType::kQ4_0>();
    case DType::kQ4_1:
      return batched<DType::kQ4_1>();
    case DType::kQ8_0:
      return batched<DType::kQ8_0>();
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail
