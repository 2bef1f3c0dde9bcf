// The 16-bit and 8-bit activation matmul for Q4_0/Q4_1/Q8_0 below AMX
// sizes, on the weights as the float path packs them (16 rows interleaved
// along K, f32act_internal.h): one zmm holds 8 values of each of 16 rows, so
// vpdpbusd against 4 broadcast activation bytes advances all 16 rows at once
// and every lane ends a block with that row's exact dot. No reduction tree
// and no gathers: decode streams the weights at memory speed. The float step
// per block is the canonical one of quant_internal.h, so the bits equal the
// AMX, row-major VNNI and portable kernels'.
#include <algorithm>

#include "f32act_internal.h"
#include "quant_avx512_common.h"
#include "quant_wide_packed.h"

namespace tessera::cpu::detail {
namespace {

using f32act::Layout;

inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Q8_0 packs k-major: 64 bytes hold k = 4z..4z+3 for the 16 rows, byte
// 16 k + r. Regrouped to one dword per row (byte 4 r + k), as vpdpbusd
// wants, by a dword transpose across the 128-bit lanes and a byte transpose
// inside them; then made unsigned (w + 128, the dot is off by 128 * sum(a)).
inline __m512i q8_rows_in_lanes(const uint8_t* p) {
  const __m512i dwords = _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
      _mm512_load_si512(p));
  const __m512i bytes = _mm512_shuffle_epi8(
      dwords,
      _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)));
  return _mm512_xor_si512(bytes, _mm512_set1_epi8(char(0x80)));
}

// MT tokens against groups [g0, g1). Q4: a packed u32 holds elements
// 8c..8c+7 of a block, element 8c + s in bits 4s..4s+3: its low nibbles are
// the even elements, its high nibbles the odd ones, which is the order the
// activations were permuted to (permute_even_odd). Q8_0 reads activations
// in order.
template <DType kType, bool kWide, int MT>
void groups_mt(const WidePackedProblem& p, int64_t t, int64_t g0, int64_t g1) {
  const Layout& L = p.L;
  const int64_t nb = L.units;
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* grp = p.groups + (g - p.g_base) * L.group_bytes;
    const uint16_t* D = reinterpret_cast<const uint16_t*>(grp + L.sec[0]);
    const uint16_t* M =
        kType == DType::kQ4_1 ? reinterpret_cast<const uint16_t*>(grp + L.sec[1]) : nullptr;
    const uint8_t* Q = grp + L.sec[kType == DType::kQ4_1 ? 2 : 1];
    __m512 acc[MT];
    for (int i = 0; i < MT; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      // wv[z]: 16 rows' weights for activation bytes 4z..4z+3 (of the
      // permuted order for Q4).
      __m512i wv[8];
      if constexpr (kType == DType::kQ8_0) {
        for (int z = 0; z < 8; ++z) wv[z] = q8_rows_in_lanes(Q + (b * 8 + z) * 64);
      } else {
        for (int c = 0; c < 4; ++c) {
          const __m512i q = _mm512_load_si512(Q + (b * 4 + c) * 64);
          wv[2 * c] = _mm512_and_si512(q, nib);
          wv[2 * c + 1] = _mm512_and_si512(_mm512_srli_epi32(q, 4), nib);
        }
      }
      const __m512 wd =
          _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(D + b * 16)));
      __m512 wm = _mm512_setzero_ps();
      if constexpr (kType == DType::kQ4_1)
        wm = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(M + b * 16)));
      for (int i = 0; i < MT; ++i) {
        const WidePackedRow& a = p.rows[t + i];
        const int8_t* hi = a.hi + b * 32;
        // Independent dpbusd chains (integer sums: any order is exact).
        __m512i h0 = _mm512_setzero_si512(), h1 = h0, l0 = h0, l1 = h0;
        for (int z = 0; z < 8; z += 2) {
          h0 = _mm512_dpbusd_epi32(h0, wv[z], bcast4(hi + 4 * z));
          h1 = _mm512_dpbusd_epi32(h1, wv[z + 1], bcast4(hi + 4 * z + 4));
          if constexpr (kWide) {
            const int8_t* lo = a.lo + b * 32;
            l0 = _mm512_dpbusd_epi32(l0, wv[z], bcast4(lo + 4 * z));
            l1 = _mm512_dpbusd_epi32(l1, wv[z + 1], bcast4(lo + 4 * z + 4));
          }
        }
        __m512i dot = _mm512_add_epi32(h0, h1);
        if constexpr (kWide)
          dot = _mm512_add_epi32(_mm512_slli_epi32(dot, 8), _mm512_add_epi32(l0, l1));
        // Q4_0 weights are q - 8, Q8_0 ones entered as w + 128: the unsigned
        // dot is off by 8 (128) * sum(a).
        if constexpr (kType == DType::kQ4_0)
          dot = _mm512_sub_epi32(dot, _mm512_set1_epi32(a.isum[b] << 3));
        if constexpr (kType == DType::kQ8_0)
          dot = _mm512_sub_epi32(dot, _mm512_set1_epi32(a.isum[b] << 7));
        const __m512 scale = _mm512_mul_ps(wd, _mm512_set1_ps(a.d[b]));
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[i]);
        if constexpr (kType == DType::kQ4_1)
          acc[i] = _mm512_fmadd_ps(wm, _mm512_set1_ps(a.s[b]), acc[i]);
      }
    }
    const int64_t n = 16 * g;
    const __mmask16 mask = __mmask16(p.N - n >= 16 ? 0xFFFF : (1u << (p.N - n)) - 1);
    for (int i = 0; i < MT; ++i)
      _mm512_mask_storeu_ps(p.out + (t + i) * p.out_stride + n, mask, acc[i]);
  }
}

// Every token against groups [g0, g1).
template <DType kType, bool kWide>
void all_tokens(const WidePackedProblem& p, int64_t t0, int64_t t1, int64_t g0, int64_t g1) {
  int64_t t = t0;
  for (; t + 4 <= t1; t += 4) groups_mt<kType, kWide, 4>(p, t, g0, g1);
  switch (t1 - t) {
    case 3:
      return groups_mt<kType, kWide, 3>(p, t, g0, g1);
    case 2:
      return groups_mt<kType, kWide, 2>(p, t, g0, g1);
    case 1:
      return groups_mt<kType, kWide, 1>(p, t, g0, g1);
    default:
      return;
  }
}

// The groups in tiles of about 128 KiB of weights, each tile against every
// token before the next: a tile stays in L2 while the tokens pass over it,
// where sweeping the whole range per 4 tokens would stream a large matrix
// (the output head) from memory once per 4 tokens.
template <DType kType, bool kWide>
void region(const WidePackedProblem& p, int64_t t0, int64_t t1, int64_t g0, int64_t g1) {
  const int64_t tile = std::max<int64_t>(1, int64_t(128 << 10) / int64_t(p.L.group_bytes));
  for (int64_t g = g0; g < g1; g += tile)
    all_tokens<kType, kWide>(p, t0, t1, g, std::min(g1, g + tile));
}

}  // namespace

WidePackedRegion wide_packed_region_avx512(DType type, bool wide) {
  switch (type) {
    case DType::kQ4_0:
      return wide ? region<DType::kQ4_0, true> : region<DType::kQ4_0, false>;
    case DType::kQ4_1:
      return wide ? region<DType::kQ4_1, true> : region<DType::kQ4_1, false>;
    case DType::kQ8_0:
      return wide ? region<DType::kQ8_0, true> : region<DType::kQ8_0, false>;
    default:
      return nullptr;
  }
}

}  // namespace tessera::cpu::detail
