// AVX-512 attention for one query token and one KV head's query group.
//   scores: each (head, key) dot product runs over head_dim in 16 lanes
//     (lane = d mod 16, one fma per 16 dims in order), then the lanes are
//     summed by a fixed tree (i + 8, + 4, + 2, + 1); 16 keys' trees run
//     together as one transpose-and-add, which is what makes decode fast.
//   softmax: max, then exp(s - max) with a 16-lane running sum (lane =
//     key mod 16) reduced by _mm512_reduce_add_ps.
//   output: out[d] = sum over keys in order of p_j * v_j[d] (one fma per
//     key, accumulators in registers), times 1 / sum at the end.
// Nothing here depends on other queries, so batching never changes a bit.
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// undefined-vector placeholders.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cfloat>

#include "attention_internal.h"
#include "simd_exp.h"

#pragma GCC diagnostic pop

namespace tessera::cpu::detail {
namespace {

// r[j] = sum of the lanes of v[j] (tree: i + 8, then + 4, + 2, + 1).
inline __m512 sum_lanes16(__m512 v[16]) {
  __m512 u[8], w[4], x[2];
  for (int k = 0; k < 8; ++k)  // [a0..7 + a8..15 | b0..7 + b8..15]
    u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
  for (int k = 0; k < 4; ++k)  // four vectors, 4 lanes each
    w[k] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], 0x88),
                         _mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], 0xDD));
  for (int k = 0; k < 2; ++k)  // 2 lanes each
    x[k] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * k], w[2 * k + 1], 0x44),
                         _mm512_shuffle_ps(w[2 * k], w[2 * k + 1], 0xEE));
  const __m512 y =
      _mm512_add_ps(_mm512_shuffle_ps(x[0], x[1], 0x88), _mm512_shuffle_ps(x[0], x[1], 0xDD));
  // y[4c + r] holds the sum of v[4r + c].
  const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(idx, y);
}

// 16 cache elements as floats.
template <DType kT>
inline __m512 load16(const uint8_t* p) {
  if constexpr (kT == DType::kF32) {
    return _mm512_loadu_ps(p);
  } else if constexpr (kT == DType::kF16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  } else {
    const __m512i v =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
}

template <DType kT, int C>  // head_dim / 16
void scores_of(const HeadGroupTask& t, float* scores) {
  const int n = t.n_keys;
  const __m512 scale = _mm512_set1_ps(t.scale);
  constexpr int kStep = 16 * (kT == DType::kF32 ? 4 : 2);  // bytes per 16 elements
  RowWalk keys(t, t.k_base);
  // 16 keys at a time for every head of the group, so each key row is read
  // from memory once and stays in L1 for the other heads.
  for (int j0 = 0; j0 < n; j0 += 16) {
    const int nj = std::min(16, n - j0);
    const uint8_t* rows[16];
    for (int jj = 0; jj < nj; ++jj) rows[jj] = keys.next();
    // 16-bit rows are widened once (exactly) for all the heads.
    alignas(64) float wide[kT == DType::kF32 ? 1 : 16 * C * 16];
    if constexpr (kT != DType::kF32)
      for (int jj = 0; jj < nj; ++jj) {
        for (int c = 0; c < C; ++c)
          _mm512_store_ps(wide + (jj * C + c) * 16, load16<kT>(rows[jj] + kStep * c));
        rows[jj] = reinterpret_cast<const uint8_t*>(wide + jj * C * 16);
      }
    for (int h = 0; h < t.group; ++h) {
      __m512 q[C];
      for (int c = 0; c < C; ++c) q[c] = _mm512_loadu_ps(t.q + h * C * 16 + c * 16);
      __m512 acc[16];
      for (int jj = 0; jj < 16; ++jj) {
        if (jj >= nj) {
          acc[jj] = _mm512_setzero_ps();
          continue;
        }
        // Rows are float32 here (cache rows or their widened copies).
        __m512 a = _mm512_mul_ps(q[0], load16<DType::kF32>(rows[jj]));
        for (int c = 1; c < C; ++c)
          a = _mm512_fmadd_ps(q[c], load16<DType::kF32>(rows[jj] + 64 * c), a);
        acc[jj] = a;
      }
      _mm512_mask_storeu_ps(scores + size_t(h) * n + j0, __mmask16((1u << nj) - 1),
                            _mm512_mul_ps(sum_lanes16(acc), scale));
    }
  }
}

// Scores become exp(s - max); returns 1 / their sum.
inline float softmax_numerators(float* sc, int n) {
  __m512 mx = _mm512_set1_ps(-FLT_MAX);
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = __mmask16((1u << std::min(16, n - j)) - 1);
    mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, sc + j));
  }
  const __m512 shift = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 m = __mmask16((1u << std::min(16, n - j)) - 1);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sc + j), shift));
    _mm512_mask_storeu_ps(sc + j, m, e);
    sum = _mm512_mask_add_ps(sum, m, sum, e);
  }
  return 1.0f / _mm512_reduce_add_ps(sum);
}

template <DType kT, int C, int H>  // H heads of this chunk, C vectors per head
void weighted_values(const HeadGroupTask& t, const float* scores, const float* inv, int h0) {
  const int n = t.n_keys;
  __m512 acc[H][C];
  for (int h = 0; h < H; ++h)
    for (int c = 0; c < C; ++c) acc[h][c] = _mm512_setzero_ps();
  RowWalk values(t, t.v_base);
  for (int j = 0; j < n; ++j) {
    const uint8_t* val = values.next();
    constexpr int kStep = 16 * (kT == DType::kF32 ? 4 : 2);
    __m512 v[C];
    for (int c = 0; c < C; ++c) v[c] = load16<kT>(val + kStep * c);
    for (int h = 0; h < H; ++h) {
      const __m512 p = _mm512_set1_ps(scores[size_t(h0 + h) * n + j]);
      for (int c = 0; c < C; ++c) acc[h][c] = _mm512_fmadd_ps(p, v[c], acc[h][c]);
    }
  }
  for (int h = 0; h < H; ++h) {
    const __m512 s = _mm512_set1_ps(inv[h0 + h]);
    for (int c = 0; c < C; ++c)
      _mm512_storeu_ps(t.out + (h0 + h) * C * 16 + c * 16, _mm512_mul_ps(acc[h][c], s));
  }
}

template <DType kT, int C>
void attend(const HeadGroupTask& t, float* scores) {
  constexpr int kHeads = 16 / C;  // accumulators stay within 16 registers
  RowWalk(t, t.k_base).prefetch_start();
  RowWalk(t, t.v_base).prefetch_start();
  scores_of<kT, C>(t, scores);
  float inv[64];
  for (int h = 0; h < t.group; ++h)
    inv[h] = softmax_numerators(scores + size_t(h) * t.n_keys, t.n_keys);
  // Up to kHeads heads per pass over the values (a GQA group of 3 is one).
  for (int h = 0; h < t.group; h += kHeads) {
    switch (std::min(kHeads, t.group - h)) {
      case 1:
        weighted_values<kT, C, 1>(t, scores, inv, h);
        break;
      case 2:
        weighted_values<kT, C, 2>(t, scores, inv, h);
        break;
      case 3:
        if constexpr (kHeads >= 3) weighted_values<kT, C, 3>(t, scores, inv, h);
        break;
      default:
        if constexpr (kHeads >= 4) weighted_values<kT, C, 4>(t, scores, inv, h);
        break;
    }
  }
}

}  // namespace

bool attend_avx512(const HeadGroupTask& t, float* scores) {
  return dispatch_task<16, 64, 128>(
      t, [&](auto type, auto c) { attend<decltype(type)::value, decltype(c)::value>(t, scores); });
}

}  // namespace tessera::cpu::detail
