// Portable matmul kernels for every weight type. Each weight row is unpacked
// once per region into int8 values and float block parameters, then dotted
// with every activation row of the region, in the canonical float order of
// quant_internal.h (std::fma is one rounding like the SIMD FMAs).
#include <cmath>
#include <cstring>
#include <vector>

#include "quant_internal.h"

namespace tessera::cpu::detail {
namespace {

inline int32_t dot_i8(const int8_t* a, const int8_t* b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += int32_t(a[i]) * int32_t(b[i]);
  return s;
}

// Unpacked weight row: signed values (Q4_0: q-8, Q4_1: q, Q6_K: q-32) and
// per-block float parameters.
struct UnpackedRow {
  std::vector<int8_t> q;
  std::vector<float> d, m;      // per block (B32) or super-block (k-quants)
  std::vector<int16_t> sc, mn;  // k-quants: per sub-block scales and mins
  explicit UnpackedRow(int64_t K)
      : q(size_t(K)),
        d(size_t(K / 32)),
        m(size_t(K / 32)),
        sc(size_t(K / 16)),
        mn(size_t(K / 32)) {}
};

void unpack_row(DType type, const uint8_t* w, int64_t K, UnpackedRow& r) {
  switch (type) {
    case DType::kQ4_0:
    case DType::kQ4_1: {
      const int bytes = type == DType::kQ4_0 ? kQ4_0Bytes : kQ4_1Bytes;
      const int off = type == DType::kQ4_0 ? 2 : 4;
      const int bias = type == DType::kQ4_0 ? 8 : 0;
      for (int64_t b = 0; b < K / 32; ++b) {
        const uint8_t* blk = w + b * bytes;
        r.d[b] = load_f16(blk);
        r.m[b] = type == DType::kQ4_1 ? load_f16(blk + 2) : 0.0f;
        for (int i = 0; i < 16; ++i) {
          r.q[b * 32 + i] = int8_t((blk[off + i] & 0x0F) - bias);
          r.q[b * 32 + i + 16] = int8_t((blk[off + i] >> 4) - bias);
        }
      }
      return;
    }
    case DType::kQ8_0:
      for (int64_t b = 0; b < K / 32; ++b) {
        const uint8_t* blk = w + b * kQ8_0Bytes;
        r.d[b] = load_f16(blk);
        std::memcpy(&r.q[b * 32], blk + 2, 32);
      }
      return;
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool five = type == DType::kQ5_K;
      const int bytes = five ? kQ5_KBytes : kQ4_KBytes;
      for (int64_t b = 0; b < K / 256; ++b) {
        const uint8_t* blk = w + b * bytes;
        const uint8_t* qh = blk + 16;
        const uint8_t* qs = blk + (five ? 48 : 16);
        r.d[b] = load_f16(blk);
        r.m[b] = load_f16(blk + 2);
        uint8_t sc[8], mn[8];
        unpack_k_scales(blk + 4, sc, mn);
        for (int j = 0; j < 8; ++j) {
          r.sc[b * 8 + j] = sc[j];
          r.mn[b * 8 + j] = mn[j];
          for (int i = 0; i < 32; ++i) {
            int v = (qs[32 * (j / 2) + i] >> (4 * (j % 2))) & 0x0F;
            if (five) v |= ((qh[i] >> j) & 1) << 4;
            r.q[b * 256 + 32 * j + i] = int8_t(v);
          }
        }
      }
      return;
    }
    case DType::kQ6_K:
      for (int64_t b = 0; b < K / 256; ++b) {
        const uint8_t* blk = w + b * kQ6_KBytes;
        r.d[b] = load_f16(blk + 208);
        for (int g = 0; g < 16; ++g) r.sc[b * 16 + g] = int8_t(blk[192 + g]);
        for (int e = 0; e < 256; ++e) r.q[b * 256 + e] = int8_t(q6k_value(blk, blk + 128, e) - 32);
      }
      return;
    default:
      return;
  }
}

// kWide: 16-bit activation rows, dot = 256 * dot(w, hi) + dot(w, lo).
template <DType kType, bool kWide = false>
void region_b32(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
  const int64_t K = p.K, nb = K / 32;
  UnpackedRow w(K);
  for (int64_t n = n0; n < n1; ++n) {
    unpack_row(kType, p.w + n * p.w_stride, K, w);
    for (int64_t t = t0; t < t1; ++t) {
      const ActB32Row a = ActB32Row::at(const_cast<uint8_t*>(p.act + t * p.act_stride), K, kWide);
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        int32_t dot = dot_i8(&w.q[b * 32], a.qs + b * 32, 32);
        if constexpr (kWide) dot = 256 * dot + dot_i8(&w.q[b * 32], a.lo + b * 32, 32);
        acc = std::fma(float(dot), w.d[b] * a.d[b], acc);
        if constexpr (kType == DType::kQ4_1) acc = std::fma(w.m[b], a.s[b], acc);
      }
      p.out[t * p.out_stride + n] = acc;
    }
  }
}

template <DType kType>
void region_kquant(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
  const int64_t K = p.K, nsb = K / 256;
  UnpackedRow w(K);
  for (int64_t n = n0; n < n1; ++n) {
    unpack_row(kType, p.w + n * p.w_stride, K, w);
    for (int64_t t = t0; t < t1; ++t) {
      const ActB256Row a = ActB256Row::at(const_cast<uint8_t*>(p.act + t * p.act_stride), K);
      float acc = 0.0f;
      for (int64_t b = 0; b < nsb; ++b) {
        const int8_t* wq = &w.q[b * 256];
        const int8_t* aq = a.qs + b * 256;
        int32_t isum = 0;
        if constexpr (kType == DType::kQ6_K) {
          for (int g = 0; g < 16; ++g)
            isum += w.sc[b * 16 + g] * dot_i8(wq + 16 * g, aq + 16 * g, 16);
          acc = std::fma(float(isum), w.d[b] * a.d[b], acc);
        } else {
          int32_t msum = 0;
          for (int j = 0; j < 8; ++j) {
            isum += w.sc[b * 8 + j] * dot_i8(wq + 32 * j, aq + 32 * j, 32);
            msum += w.mn[b * 8 + j] * (a.bsum[b * 16 + 2 * j] + a.bsum[b * 16 + 2 * j + 1]);
          }
          acc = std::fma(float(isum), w.d[b] * a.d[b], acc);
          acc = std::fma(float(-msum), w.m[b] * a.d[b], acc);
        }
      }
      p.out[t * p.out_stride + n] = acc;
    }
  }
}

template <DType kType>
void region_float(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0, int64_t n1) {
  const int64_t K = p.K;
  std::vector<float> w(static_cast<size_t>(K));
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* src = p.w + n * p.w_stride;
    for (int64_t k = 0; k < K; ++k) {
      if constexpr (kType == DType::kF32)
        std::memcpy(&w[k], src + 4 * k, 4);
      else if constexpr (kType == DType::kF16)
        w[k] = load_f16(src + 2 * k);
      else
        w[k] = bf16_to_f32(load_u16(src + 2 * k));
    }
    for (int64_t t = t0; t < t1; ++t) {
      const float* x = reinterpret_cast<const float*>(p.act + t * p.act_stride);
      float acc[16] = {};
      int64_t k = 0;
      for (; k + 16 <= K; k += 16)
        for (int l = 0; l < 16; ++l) acc[l] = std::fma(w[k + l], x[k + l], acc[l]);
      if (k < K) {  // last partial chunk; its zero padding counts too (-0 + 0 is +0)
        for (int l = 0; l < 16; ++l, ++k)
          acc[l] = k < K ? std::fma(w[k], x[k], acc[l]) : std::fma(0.0f, 0.0f, acc[l]);
      }
      p.out[t * p.out_stride + n] = hsum16_tree(acc);
    }
  }
}

}  // namespace

KernelInfo portable_kernel(DType type) {
  switch (type) {
    case DType::kF32:
      return {region_float<DType::kF32>, 1, 1};
    case DType::kF16:
      return {region_float<DType::kF16>, 1, 1};
    case DType::kBF16:
      return {region_float<DType::kBF16>, 1, 1};
    case DType::kQ4_0:
      return {region_b32<DType::kQ4_0>, 1, 1};
    case DType::kQ4_1:
      return {region_b32<DType::kQ4_1>, 1, 1};
    case DType::kQ8_0:
      return {region_b32<DType::kQ8_0>, 1, 1};
    case DType::kQ4_K:
      return {region_kquant<DType::kQ4_K>, 1, 1};
    case DType::kQ5_K:
      return {region_kquant<DType::kQ5_K>, 1, 1};
    case DType::kQ6_K:
      return {region_kquant<DType::kQ6_K>, 1, 1};
    default:
      return {};
  }
}

KernelInfo portable_wide_kernel(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return {region_b32<DType::kQ4_0, true>, 1, 1};
    case DType::kQ4_1:
      return {region_b32<DType::kQ4_1, true>, 1, 1};
    case DType::kQ8_0:
      return {region_b32<DType::kQ8_0, true>, 1, 1};
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail
