// Repacking of GGUF weight rows into the 16-row k-major groups the
// float-activation kernels read (layout in f32act_internal.h). Runs once per
// prepared weight, so it is plain scalar code.
#include <cstring>
#include <vector>

#include "f32act_internal.h"
#include "quant_internal.h"

namespace tessera::cpu::detail::f32act {
namespace {

constexpr int R = kGroupRows;

size_t pad64(size_t n) { return (n + 63) / 64 * 64; }

void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// 4-bit value of element e (0..31) of a GGML 32-block's nibble array
// (element e < 16 in the low nibble of qs[e], e >= 16 in the high one).
int nibble32(const uint8_t* qs, int e) { return e < 16 ? qs[e] & 0x0F : qs[e - 16] >> 4; }

// Packs 8 values v(0..7) as nibbles s = 0..7 of a u32.
template <typename F>
uint32_t pack8(F&& v) {
  uint32_t r = 0;
  for (int s = 0; s < 8; ++s) r |= uint32_t(v(s) & 0x0F) << (4 * s);
  return r;
}

}  // namespace

Layout layout_for(DType type, int64_t K) {
  Layout L;
  L.type = type;
  L.K = K;
  // Section sizes per unit, in layout order.
  size_t per_unit[5] = {0, 0, 0, 0, 0};
  int unit_k = 32;
  switch (type) {
    case DType::kF32:
      per_unit[0] = 32 * R * 4;
      break;
    case DType::kF16:
    case DType::kBF16:
      per_unit[0] = 32 * R * 2;
      break;
    case DType::kQ4_0:
      per_unit[0] = R * 2, per_unit[1] = 4 * R * 4;
      break;
    case DType::kQ4_1:
      per_unit[0] = R * 2, per_unit[1] = R * 2, per_unit[2] = 4 * R * 4;
      break;
    case DType::kQ8_0:
      per_unit[0] = R * 2, per_unit[1] = 32 * R;
      break;
    case DType::kQ4_K:
      unit_k = 256;
      per_unit[0] = R * 2, per_unit[1] = R * 2, per_unit[2] = 3 * R * 4, per_unit[3] = 32 * R * 4;
      break;
    case DType::kQ5_K:
      unit_k = 256;
      per_unit[0] = R * 2, per_unit[1] = R * 2, per_unit[2] = 3 * R * 4, per_unit[3] = 8 * R * 4;
      per_unit[4] = 32 * R * 4;
      break;
    case DType::kQ6_K:
      unit_k = 256;
      per_unit[0] = R * 2, per_unit[1] = 16 * R, per_unit[2] = 32 * R * 4, per_unit[3] = 16 * R * 4;
      break;
    default:
      return L;
  }
  const bool is_float = type == DType::kF32 || type == DType::kF16 || type == DType::kBF16;
  if (K <= 0 || (!is_float && K % unit_k != 0)) return L;
  L.unit_k = unit_k;
  L.units = (K + unit_k - 1) / unit_k;
  size_t off = 0;
  for (int s = 0; s < 5; ++s) {
    L.sec[s] = off;
    off += pad64(per_unit[s] * size_t(L.units));
  }
  L.group_bytes = off;
  return L;
}

void pack_group(const Layout& L, const uint8_t* w, size_t w_stride, int64_t N, int64_t g,
                uint8_t* dst) {
  std::memset(dst, 0, L.group_bytes);
  const int64_t K = L.K, units = L.units;
  for (int r = 0; r < R; ++r) {
    const int64_t n = g * R + r;
    if (n >= N) break;
    const uint8_t* row = w + size_t(n) * w_stride;
    for (int64_t u = 0; u < units; ++u) {
      switch (L.type) {
        case DType::kF32:
        case DType::kF16:
        case DType::kBF16: {
          const size_t es = L.type == DType::kF32 ? 4 : 2;
          for (int64_t kk = 0; kk < 32 && 32 * u + kk < K; ++kk)
            std::memcpy(dst + L.sec[0] + ((u * 32 + kk) * R + r) * es, row + (32 * u + kk) * es,
                        es);
          break;
        }
        case DType::kQ4_0:
        case DType::kQ4_1: {
          const bool q41 = L.type == DType::kQ4_1;
          const uint8_t* blk = row + u * (q41 ? kQ4_1Bytes : kQ4_0Bytes);
          const uint8_t* qs = blk + (q41 ? 4 : 2);
          std::memcpy(dst + L.sec[0] + (u * R + r) * 2, blk, 2);
          if (q41) std::memcpy(dst + L.sec[1] + (u * R + r) * 2, blk + 2, 2);
          uint8_t* q = dst + L.sec[q41 ? 2 : 1];
          for (int c = 0; c < 4; ++c)
            put_u32(q + ((u * 4 + c) * R + r) * 4,
                    pack8([&](int s) { return nibble32(qs, 8 * c + s); }));
          break;
        }
        case DType::kQ8_0: {
          const uint8_t* blk = row + u * kQ8_0Bytes;
          std::memcpy(dst + L.sec[0] + (u * R + r) * 2, blk, 2);
          for (int k = 0; k < 32; ++k) dst[L.sec[1] + (u * 32 + k) * R + r] = blk[2 + k];
          break;
        }
        case DType::kQ4_K:
        case DType::kQ5_K: {
          const bool q5 = L.type == DType::kQ5_K;
          const uint8_t* blk = row + u * (q5 ? kQ5_KBytes : kQ4_KBytes);
          const uint8_t* qh = blk + 16;
          const uint8_t* qs = blk + (q5 ? 48 : 16);
          std::memcpy(dst + L.sec[0] + (u * R + r) * 2, blk, 2);
          std::memcpy(dst + L.sec[1] + (u * R + r) * 2, blk + 2, 2);
          for (int i = 0; i < 3; ++i)
            std::memcpy(dst + L.sec[2] + ((u * 3 + i) * R + r) * 4, blk + 4 + 4 * i, 4);
          uint8_t* q = dst + L.sec[q5 ? 4 : 3];
          for (int j = 0; j < 8; ++j) {
            // Sub-block j: low (j even) or high nibbles of qs[32 (j/2) ..].
            const uint8_t* src = qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int c = 0; c < 4; ++c)
              put_u32(q + (((u * 8 + j) * 4 + c) * R + r) * 4,
                      pack8([&](int s) { return src[8 * c + s] >> shift; }));
            if (q5) {
              uint32_t h = 0;
              for (int i = 0; i < 32; ++i) h |= uint32_t((qh[i] >> j) & 1) << i;
              put_u32(dst + L.sec[3] + ((u * 8 + j) * R + r) * 4, h);
            }
          }
          break;
        }
        case DType::kQ6_K: {
          const uint8_t* blk = row + u * kQ6_KBytes;
          const uint8_t *ql = blk, *qh = blk + 128;
          std::memcpy(dst + L.sec[0] + (u * R + r) * 2, blk + 208, 2);
          for (int j = 0; j < 16; ++j) dst[L.sec[1] + (u * 16 + j) * R + r] = blk[192 + j];
          for (int v = 0; v < 32; ++v)
            put_u32(dst + L.sec[2] + ((u * 32 + v) * R + r) * 4,
                    pack8([&](int s) { return q6k_value(ql, qh, 8 * v + s) & 0x0F; }));
          for (int c = 0; c < 16; ++c) {
            uint32_t h = 0;
            for (int i = 0; i < 16; ++i)
              h |= uint32_t(((q6k_value(ql, qh, 16 * c + i) >> 4) ^ 2) & 3) << (2 * i);
            put_u32(dst + L.sec[3] + ((u * 16 + c) * R + r) * 4, h);
          }
          break;
        }
        default:
          break;
      }
    }
  }
}

size_t tile_floats(int64_t K, int S) { return (size_t(K) * S + size_t(K / 32) * S + 15) / 16 * 16; }

void fill_tile(const float* x, int64_t x_stride, int64_t t, int mt, int64_t K, int S, bool sums,
               float* dst) {
  for (int64_t k = 0; k < K; ++k)
    for (int i = 0; i < S; ++i) dst[k * S + i] = i < mt ? x[(t + i) * x_stride + k] : 0.0f;
  if (!sums) return;
  float* sxt = dst + K * S;
  std::vector<float> row(size_t(K / 32));
  for (int i = 0; i < S; ++i) {
    if (i < mt) block_sums(x + (t + i) * x_stride, K, row.data());
    for (int64_t b = 0; b < K / 32; ++b) sxt[b * S + i] = i < mt ? row[size_t(b)] : 0.0f;
  }
}

void block_sums(const float* x, int64_t K, float* sx) {
  for (int64_t b = 0; b < K / 32; ++b) {
    float s[16];
    for (int l = 0; l < 16; ++l) s[l] = x[32 * b + l] + x[32 * b + 16 + l];
    sx[b] = hsum16_tree(s);
  }
}

}  // namespace tessera::cpu::detail::f32act
