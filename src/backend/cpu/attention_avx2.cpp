// AVX2 attention for one query token and one KV head's query group, the
// 8-lane counterpart of attention_avx512.cpp:
//   scores: each (head, key) dot product runs over head_dim in 8 lanes
//     (lane = d mod 8, one fma per 8 dims in order), then the lanes are
//     summed by a fixed tree (i + 4, + 2, + 1); 8 keys' trees run together
//     as one transpose-and-add.
//   softmax: max, then exp(s - max) with an 8-lane running sum (lane = key
//     mod 8) reduced by a fixed tree.
//   output: out[d] = sum over keys in order of p_j * v_j[d] (one fma per
//     key, accumulators in registers), times 1 / sum at the end.
// Nothing here depends on other queries, so batching never changes a bit.
#include <immintrin.h>

#include <algorithm>
#include <cfloat>

#include "attention_internal.h"
#include "quant_avx2_common.h"
#include "simd_exp.h"

namespace tessera::cpu::detail {
namespace {

// r[j] = sum of the lanes of v[j] (tree: i + 4, then + 2, + 1).
inline __m256 sum_lanes8(const __m256 v[8]) {
  __m256 u[4], w[2];
  for (int k = 0; k < 4; ++k)  // [a0+a4 .. a3+a7 | b0+b4 .. b3+b7]
    u[k] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x20),
                         _mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x31));
  for (int k = 0; k < 2; ++k)  // two lanes per vector in each 128-bit half
    w[k] = _mm256_add_ps(_mm256_shuffle_ps(u[2 * k], u[2 * k + 1], 0x44),
                         _mm256_shuffle_ps(u[2 * k], u[2 * k + 1], 0xEE));
  const __m256 y =
      _mm256_add_ps(_mm256_shuffle_ps(w[0], w[1], 0x88), _mm256_shuffle_ps(w[0], w[1], 0xDD));
  // y holds the sums of v[0], v[2], v[4], v[6] | v[1], v[3], v[5], v[7].
  return _mm256_permutevar8x32_ps(y, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// 8 cache elements as floats.
template <DType kT>
inline __m256 load8(const uint8_t* p) {
  if constexpr (kT == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else if constexpr (kT == DType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
}

template <DType kT>
constexpr int kStep = 8 * (kT == DType::kF32 ? 4 : 2);  // bytes per 8 elements

template <DType kT, int C>  // head_dim / 8
void scores_of(const HeadGroupTask& t, float* scores) {
  const int n = t.n_keys;
  const __m256 scale = _mm256_set1_ps(t.scale);
  RowWalk keys(t, t.k_base);
  // 8 keys at a time for every head of the group: each key row comes from
  // memory once and stays in L1 for the other heads.
  for (int j0 = 0; j0 < n; j0 += 8) {
    const int nj = std::min(8, n - j0);
    const uint8_t* rows[8];
    for (int jj = 0; jj < nj; ++jj) rows[jj] = keys.next();
    for (int h = 0; h < t.group; ++h) {
      const float* q = t.q + h * C * 8;
      __m256 acc[8];
      for (int jj = 0; jj < 8; ++jj) {
        if (jj >= nj) {
          acc[jj] = _mm256_setzero_ps();
          continue;
        }
        const uint8_t* key = rows[jj];
        __m256 a = _mm256_mul_ps(_mm256_loadu_ps(q), load8<kT>(key));
        for (int c = 1; c < C; ++c)
          a = _mm256_fmadd_ps(_mm256_loadu_ps(q + 8 * c), load8<kT>(key + kStep<kT> * c), a);
        acc[jj] = a;
      }
      const __m256 s = _mm256_mul_ps(sum_lanes8(acc), scale);
      float* sc = scores + size_t(h) * n;
      if (nj == 8)
        _mm256_storeu_ps(sc + j0, s);
      else
        _mm256_maskstore_ps(sc + j0, lane_mask8(nj), s);
    }
  }
}

// Scores become exp(s - max); returns 1 / their sum.
inline float softmax_numerators(float* sc, int n) {
  const int full = n & ~7;
  const __m256i tail = lane_mask8(n - full);
  __m256 mx = _mm256_set1_ps(-FLT_MAX);
  for (int j = 0; j < full; j += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(sc + j));
  if (full < n)
    mx = _mm256_max_ps(
        mx, _mm256_blendv_ps(mx, _mm256_maskload_ps(sc + full, tail), _mm256_castsi256_ps(tail)));
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const __m256 shift = _mm256_broadcastss_ps(m4);
  __m256 sum = _mm256_setzero_ps();
  for (int j = 0; j < full; j += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(sc + j), shift));
    _mm256_storeu_ps(sc + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (full < n) {
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(sc + full, tail), shift)),
                                   _mm256_castsi256_ps(tail));
    _mm256_maskstore_ps(sc + full, tail, e);
    sum = _mm256_add_ps(sum, e);
  }
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return 1.0f / _mm_cvtss_f32(s);
}

// Heads h0 .. h0+H-1, dims 8 c0 .. 8 (c0 + D) - 1: H * D accumulators.
template <DType kT, int H, int D>
void weighted_values(const HeadGroupTask& t, const float* scores, const float* inv, int h0,
                     int c0) {
  const int n = t.n_keys;
  __m256 acc[H][D];
  for (int h = 0; h < H; ++h)
    for (int c = 0; c < D; ++c) acc[h][c] = _mm256_setzero_ps();
  RowWalk values(t, t.v_base);
  const float* p = scores + size_t(h0) * n;
  for (int j = 0; j < n; ++j) {
    const uint8_t* val = values.next() + kStep<kT> * c0;
    __m256 v[D];
    for (int c = 0; c < D; ++c) v[c] = load8<kT>(val + kStep<kT> * c);
    for (int h = 0; h < H; ++h) {
      const __m256 ph = _mm256_broadcast_ss(p + size_t(h) * n + j);
      for (int c = 0; c < D; ++c) acc[h][c] = _mm256_fmadd_ps(ph, v[c], acc[h][c]);
    }
  }
  for (int h = 0; h < H; ++h) {
    const __m256 s = _mm256_set1_ps(inv[h0 + h]);
    float* out = t.out + (h0 + h) * t.head_dim + 8 * c0;
    for (int c = 0; c < D; ++c) _mm256_storeu_ps(out + 8 * c, _mm256_mul_ps(acc[h][c], s));
  }
}

// Up to 3 heads per pass over the values and 32 dims at a time (12
// accumulators); a lone head takes 64 dims, for 8 independent fma chains.
template <DType kT, int C>
void attend(const HeadGroupTask& t, float* scores) {
  RowWalk(t, t.k_base).prefetch_start();
  RowWalk(t, t.v_base).prefetch_start();
  scores_of<kT, C>(t, scores);
  float inv[64];
  for (int h = 0; h < t.group; ++h)
    inv[h] = softmax_numerators(scores + size_t(h) * t.n_keys, t.n_keys);
  for (int h = 0; h < t.group; h += 3) {
    switch (std::min(3, t.group - h)) {
      case 1:
        if constexpr (C % 8 == 0) {
          for (int c = 0; c < C; c += 8) weighted_values<kT, 1, 8>(t, scores, inv, h, c);
        } else {
          for (int c = 0; c < C; c += 4) weighted_values<kT, 1, 4>(t, scores, inv, h, c);
        }
        break;
      case 2:
        for (int c = 0; c < C; c += 4) weighted_values<kT, 2, 4>(t, scores, inv, h, c);
        break;
      default:
        for (int c = 0; c < C; c += 4) weighted_values<kT, 3, 4>(t, scores, inv, h, c);
        break;
    }
  }
}

}  // namespace

bool attend_avx2(const HeadGroupTask& t, float* scores) {
  return dispatch_task<8, 32, 64, 128>(
      t, [&](auto type, auto c) { attend<decltype(type)::value, decltype(c)::value>(t, scores); });
}

}  // namespace tessera::cpu::detail
