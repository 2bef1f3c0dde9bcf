// Internals shared by the dequantizers and the matmul kernels of every ISA:
// GGML block layouts, the 8-bit activation row formats, and the kernel
// signatures the dispatcher (quant_matmul.cpp) calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "tessera/core/dtype.h"
#include "tessera/core/half.h"

namespace tessera::cpu::detail {

// ---- GGML block layouts (byte offsets inside one block) ----
// Q4_0 (18 B / 32): f16 d | u8 qs[16]; x[i] = d*(lo(qs[i])-8), x[i+16] = d*(hi(qs[i])-8)
// Q4_1 (20 B / 32): f16 d | f16 m | u8 qs[16]; x = d*q + m, same nibble order
// Q8_0 (34 B / 32): f16 d | i8 qs[32]; x = d*q
// Q4_K (144 B / 256): f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
//   8 sub-blocks of 32 with 6-bit scale sc and min m: x = d*sc*q - dmin*m;
//   sub-block 2c uses the low nibbles of qs[32c..32c+32), 2c+1 the high ones.
// Q5_K (176 B / 256): f16 d | f16 dmin | scales[12] | u8 qh[32] | u8 qs[128]
//   like Q4_K plus a fifth bit: bit j of qh[i] is the high bit of element i
//   of sub-block j.
// Q6_K (210 B / 256): u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d
//   x = d*scales[e/16]*(q-32), q = 4 low bits from ql, 2 high bits from qh
//   (see q6k_value()).
constexpr int kQ4_0Bytes = 18, kQ4_1Bytes = 20, kQ8_0Bytes = 34;
constexpr int kQ4_KBytes = 144, kQ5_KBytes = 176, kQ6_KBytes = 210;

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline float load_f16(const uint8_t* p) { return fp16_to_f32(load_u16(p)); }

// The 6-bit scales and mins of a Q4_K/Q5_K super-block: bytes 0-3 hold the
// low 6 bits of sc[0..3], bytes 4-7 those of m[0..3], bytes 8-11 the low
// nibbles of sc[4..7] (low half) and m[4..7] (high half); the top 2 bits of
// bytes 0-7 are the high bits of sc[4..7] and m[4..7].
inline void unpack_k_scales(const uint8_t* s, uint8_t sc[8], uint8_t m[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    m[j] = s[j + 4] & 63;
    sc[j + 4] = uint8_t((s[j + 8] & 0x0F) | ((s[j] >> 6) << 4));
    m[j + 4] = uint8_t((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
  }
}

// Unsigned 6-bit value (0..63) of element e of a Q6_K super-block; the
// signed weight is value - 32. Half h = e/128 uses ql[64h..64h+64) (low
// nibbles for its first 64 elements, high nibbles for the next 64) and
// qh[32h..32h+32) (2 bits per element, shifted by 2*(e%128/32)).
inline int q6k_value(const uint8_t* ql, const uint8_t* qh, int e) {
  const int h = e / 128, r = e % 128;
  const int lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
  const int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
  return lo | (hi << 4);
}

// ---- quantized activation rows ----
// One activation row of K floats quantized for the matmul. Three formats:
//  B32 (Q4_0/Q4_1/Q8_0 weights): nb = K/32 blocks; d = amax/127,
//      q = round_even(x * 127/amax); isum = sum(q); s = d * isum.
//  B32 wide (same weights, 16-bit activations): d = amax/kWideLevels,
//      q = round_even(x * kWideLevels/amax), stored as two int8 halves
//      q = 256 * hi + lo (hi in qs, lo in lo) so 8-bit integer hardware
//      (VNNI, AMX) computes exact dots as 256 * dot(w, hi) + dot(w, lo);
//      isum and s as above, of the 16-bit values.
//  B256 (k-quant weights): nsb = K/256 super-blocks; one d per super-block,
//      bsum[16] = sums of q over each run of 16.
// Arrays are padded with zeros to 16 entries so SIMD kernels may load pairs
// past the last block. The layout is the same on every ISA.
inline size_t pad64(size_t bytes) { return (bytes + 63) / 64 * 64; }
inline int64_t pad16(int64_t n) { return (n + 15) / 16 * 16; }

// The largest 16-bit value whose halves both fit int8 (0x7F7F), so every
// |q| <= kWideLevels splits with hi and lo in [-128, 127].
constexpr int kWideLevels = 32639;

struct ActB32Row {
  int8_t* qs;     // [nb * 32]: the values, or (wide) their high halves
  int8_t* lo;     // wide rows only: [nb * 32] low halves; nullptr otherwise
  float* d;       // [pad16(nb)]
  float* s;       // [pad16(nb)]
  int32_t* isum;  // [pad16(nb)]

  static size_t bytes(int64_t K, bool wide = false) {
    const int64_t nb = K / 32;
    const size_t narrow = pad64(size_t(nb) * 32) + 3 * size_t(pad16(nb)) * 4;
    return wide ? pad64(narrow) + pad64(size_t(nb) * 32) : narrow;
  }
  static ActB32Row at(uint8_t* base, int64_t K, bool wide = false) {
    const int64_t nb = K / 32;
    ActB32Row r;
    r.qs = reinterpret_cast<int8_t*>(base);
    uint8_t* p = base + pad64(size_t(nb) * 32);
    r.d = reinterpret_cast<float*>(p);
    r.s = r.d + pad16(nb);
    r.isum = reinterpret_cast<int32_t*>(r.s + pad16(nb));
    r.lo = wide ? reinterpret_cast<int8_t*>(base + pad64(bytes(K))) : nullptr;
    return r;
  }
};

struct ActB256Row {
  int8_t* qs;     // [nsb * 256]
  float* d;       // [pad16(nsb)]
  int16_t* bsum;  // [nsb * 16]

  static size_t bytes(int64_t K) {
    const int64_t nsb = K / 256;
    return size_t(nsb) * 256 + size_t(pad16(nsb)) * 4 + pad64(size_t(nsb) * 32);
  }
  static ActB256Row at(uint8_t* base, int64_t K) {
    const int64_t nsb = K / 256;
    ActB256Row r;
    r.qs = reinterpret_cast<int8_t*>(base);
    r.d = reinterpret_cast<float*>(base + size_t(nsb) * 256);
    r.bsum = reinterpret_cast<int16_t*>(r.d + pad16(nsb));
    return r;
  }
};

enum class ActFormat { kFloat, kB32, kB32Wide, kB256 };
// The row format matmul quantizes activations to for this weight type in
// the current activation_precision(); kFloat where they stay float.
ActFormat act_format(DType weight_type);
size_t act_row_bytes(ActFormat f, int64_t K);

// Quantizes rows [t0, t1) of x into dst (row stride dst_stride bytes).
// Every implementation gives bit-identical rows.
using QuantizeRowsFn = void (*)(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                                uint8_t* dst, size_t dst_stride);
void quantize_b32_portable(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                           uint8_t* dst, size_t dst_stride);
void quantize_b256_portable(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                            uint8_t* dst, size_t dst_stride);
void quantize_b32_avx2(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                       uint8_t* dst, size_t dst_stride);
void quantize_b256_avx2(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                        uint8_t* dst, size_t dst_stride);
void quantize_b32_wide_portable(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                                uint8_t* dst, size_t dst_stride);
void quantize_b32_wide_avx2(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                            uint8_t* dst, size_t dst_stride);

// ---- kernels ----
// The canonical per-element float order. Integer dot products are exact, so
// kernels may compute them any way they like (lane layouts, repacked tiles,
// reductions in any order); only the float operations below are fixed, and
// every ISA runs exactly these, so outputs are bit-identical across ISAs, T,
// tilings and thread counts (fma = one rounding, as std::fma):
//  B32 (Q4_0, Q4_1, Q8_0), blocks b in order, acc = 0:
//     acc = fma(float(dot_b), dw_b * da_b, acc)     dot_b = sum w_q * a_q
//     acc = fma(mw_b, sa_b, acc)                    Q4_1 only
//     (the same for wide rows, a_q being the 16-bit value 256 * hi + lo)
//  k-quants, super-blocks s in order, acc = 0:
//     acc = fma(float(isum_s), d_s * da_s, acc)     isum = sum_j sc_j * dot_j
//     acc = fma(float(-msum_s), dmin_s * da_s, acc) Q4_K/Q5_K: msum = sum_j m_j * asum_j
//  float weights: 16 lanes, lane l takes k = l, l+16, ...: lane = fma(w, x, lane)
//     (K padded with zeros to a multiple of 16), then a fixed pairwise tree:
//     lanes k + k+8, then k + k+4, then k + k+2, then the last two.
inline float hsum16_tree(const float l[16]) {
  float s8[8], s4[4];
  for (int k = 0; k < 8; ++k) s8[k] = l[k] + l[k + 8];
  for (int k = 0; k < 4; ++k) s4[k] = s8[k] + s8[k + 4];
  const float s2a = s4[0] + s4[2], s2b = s4[1] + s4[3];
  return s2a + s2b;
}

// One matmul problem: activation rows (float x, or quantized rows) and the
// weight rows in file format. A kernel computes out[t, n] for the region
// [t0, t1) x [n0, n1).
struct MatmulProblem {
  const uint8_t* act = nullptr;  // row t at act + t * act_stride
  size_t act_stride = 0;         // bytes
  const uint8_t* w = nullptr;    // row n at w + n * w_stride
  size_t w_stride = 0;           // bytes
  int64_t K = 0;
  float* out = nullptr;
  int64_t out_stride = 0;  // elements
  // Large kernels with a pack_tile step: every 16 activation rows packed
  // once per call (tile i at tiles + i * tile_bytes(K)).
  const uint8_t* tiles = nullptr;
};
using RegionKernel = void (*)(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0,
                              int64_t n1);

// A kernel and its register tile: rows of activations (mt) x weight rows (nt).
// `batched` and `large` (optional) compute the same bits faster when a call
// has at least batched_min_t / large_min_t rows (e.g. by repacking weight
// tiles once per call, or with AMX tiles).
struct KernelInfo {
  RegionKernel fn = nullptr;
  int mt = 1, nt = 1;
  RegionKernel batched = nullptr;
  int batched_nt = 1;
  int batched_min_t = 1 << 30;
  RegionKernel large = nullptr;
  int large_nt = 1;
  int large_min_t = 1 << 30;
  // Optional for `large`: packs activation rows [t, t + rows) (rows <= 16)
  // into one tile of tile_bytes(K) bytes, done once per call before the
  // regions run (which then start at multiples of 16 rows).
  size_t (*tile_bytes)(int64_t K) = nullptr;
  void (*pack_tile)(const MatmulProblem& p, int64_t t, int rows, uint8_t* dst) = nullptr;
};

// Kernels per ISA; fn == nullptr where an ISA has no kernel for a type (the
// dispatcher then uses the next ISA down).
KernelInfo portable_kernel(DType type);
KernelInfo avx2_kernel(DType type);
KernelInfo avx512_kernel(DType type);
KernelInfo amx_kernel(DType type);
// Kernels for wide (16-bit) activation rows, Q4_0/Q4_1/Q8_0 only (AVX2
// machines use the portable ones).
KernelInfo portable_wide_kernel(DType type);
KernelInfo avx512_wide_kernel(DType type);
KernelInfo amx_wide_kernel(DType type);

// Calls micro<MT', NT'>(p, t, n) over the region in register tiles of MT x NT,
// with smaller instantiations at the edges. All instantiations of a micro
// kernel must run the same per-element operation sequence.
template <int MT, int NT, template <int, int> class Micro>
struct TileDriver {
  template <int M, int N>
  static void edge(const MatmulProblem& p, int64_t t, int64_t n, int mt, int nt) {
    if constexpr (M > 1) {
      if (mt < M) return edge<M - 1, N>(p, t, n, mt, nt);
    }
    if constexpr (N > 1) {
      if (nt < N) return edge<M, N - 1>(p, t, n, mt, nt);
    }
    Micro<M, N>::run(p, t, n);
  }
  static void run(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n += NT) {
      const int nt = int(n1 - n < NT ? n1 - n : NT);
      for (int64_t t = t0; t < t1; t += MT) {
        const int mt = int(t1 - t < MT ? t1 - t : MT);
        if (mt == MT && nt == NT)
          Micro<MT, NT>::run(p, t, n);
        else
          edge<MT, NT>(p, t, n, mt, nt);
      }
    }
  }
};

// The kernel family kernel_isa() names, as a number: 0 portable, 1 AVX2,
// 2 AVX-512 VNNI, 3 AMX (which also runs the AVX-512 kernels).
int kernel_family();

}  // namespace tessera::cpu::detail
