// Portable float-activation kernels: the canonical operation order of
// f32act_internal.h in scalar C++ (std::fma), one packed unit at a time.
// The SIMD kernels run the same operations and give the same bits.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "f32act_internal.h"
#include "quant_internal.h"

namespace tessera::cpu::detail::f32act {
namespace {

constexpr int R = kGroupRows;

uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
float f16_at(const uint8_t* p) { return load_f16(p); }

// One unit of one group, decoded: per sub-block j, its weight values
// w[k][r] (k within the sub-block) and the multipliers of the combine step.
struct Unit {
  int subs = 0, sub_k = 0;
  float w[256][R];
  float a[16][R];  // multiplies acc (d, d*sc); unused for float weights
  float b[16][R];  // multiplies sx (m, -(dmin*m)); used where has_b
  bool has_b = false, is_float = false;
};

void decode_unit(const Layout& L, const uint8_t* gp, int64_t u, Unit& U) {
  U.has_b = U.is_float = false;
  switch (L.type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16: {
      U.subs = 1, U.sub_k = 32, U.is_float = true;
      for (int k = 0; k < 32; ++k)
        for (int r = 0; r < R; ++r) {
          const uint8_t* p = gp + L.sec[0];
          const size_t i = size_t(u * 32 + k) * R + r;
          if (L.type == DType::kF32)
            std::memcpy(&U.w[k][r], p + 4 * i, 4);
          else if (L.type == DType::kF16)
            U.w[k][r] = f16_at(p + 2 * i);
          else
            U.w[k][r] = bf16_to_f32(load_u16(p + 2 * i));
        }
      return;
    }
    case DType::kQ4_0:
    case DType::kQ4_1: {
      const bool q41 = L.type == DType::kQ4_1;
      U.subs = 1, U.sub_k = 32, U.has_b = q41;
      const uint8_t* q = gp + L.sec[q41 ? 2 : 1];
      for (int r = 0; r < R; ++r) {
        U.a[0][r] = f16_at(gp + L.sec[0] + (u * R + r) * 2);
        if (q41) U.b[0][r] = f16_at(gp + L.sec[1] + (u * R + r) * 2);
        for (int c = 0; c < 4; ++c) {
          const uint32_t v = u32_at(q + ((u * 4 + c) * R + r) * 4);
          for (int s = 0; s < 8; ++s)
            U.w[8 * c + s][r] = float(int((v >> (4 * s)) & 0x0F) - (q41 ? 0 : 8));
        }
      }
      return;
    }
    case DType::kQ8_0: {
      U.subs = 1, U.sub_k = 32;
      for (int r = 0; r < R; ++r) {
        U.a[0][r] = f16_at(gp + L.sec[0] + (u * R + r) * 2);
        for (int k = 0; k < 32; ++k) U.w[k][r] = float(int8_t(gp[L.sec[1] + (u * 32 + k) * R + r]));
      }
      return;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      const bool q5 = L.type == DType::kQ5_K;
      U.subs = 8, U.sub_k = 32, U.has_b = true;
      const uint8_t* q = gp + L.sec[q5 ? 4 : 3];
      for (int r = 0; r < R; ++r) {
        const float d = f16_at(gp + L.sec[0] + (u * R + r) * 2);
        const float dmin = f16_at(gp + L.sec[1] + (u * R + r) * 2);
        uint8_t s12[12], sc[8], m[8];
        for (int i = 0; i < 3; ++i)
          std::memcpy(s12 + 4 * i, gp + L.sec[2] + ((u * 3 + i) * R + r) * 4, 4);
        unpack_k_scales(s12, sc, m);
        for (int j = 0; j < 8; ++j) {
          U.a[j][r] = d * float(sc[j]);
          U.b[j][r] = -(dmin * float(m[j]));
          const uint32_t h = q5 ? u32_at(gp + L.sec[3] + ((u * 8 + j) * R + r) * 4) : 0;
          for (int c = 0; c < 4; ++c) {
            const uint32_t v = u32_at(q + (((u * 8 + j) * 4 + c) * R + r) * 4);
            for (int s = 0; s < 8; ++s) {
              const uint32_t hi = (h >> (8 * c + s)) & 1;
              U.w[32 * j + 8 * c + s][r] = float(((v >> (4 * s)) & 0x0F) | (hi << 4));
            }
          }
        }
      }
      return;
    }
    case DType::kQ6_K: {
      U.subs = 16, U.sub_k = 16;
      for (int r = 0; r < R; ++r) {
        const float d = f16_at(gp + L.sec[0] + (u * R + r) * 2);
        for (int j = 0; j < 16; ++j)
          U.a[j][r] = d * float(int8_t(gp[L.sec[1] + (u * 16 + j) * R + r]));
        for (int e = 0; e < 256; ++e) {
          const uint32_t lo =
              (u32_at(gp + L.sec[2] + ((u * 32 + e / 8) * R + r) * 4) >> (4 * (e % 8))) & 0x0F;
          const uint32_t hi =
              ((u32_at(gp + L.sec[3] + ((u * 16 + e / 16) * R + r) * 4) >> (2 * (e % 16))) & 3) ^
              2;  // undo the stored inversion
          U.w[e][r] = float(int(lo | (hi << 4)) - 32);
        }
      }
      return;
    }
    default:
      return;
  }
}

void region_impl(const Problem& p, int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
  const Layout& L = p.L;
  const int64_t T = t1 - t0;
  std::vector<float> out(size_t(T) * R);
  auto U = std::make_unique<Unit>();
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* gp = p.group(g);
    std::fill(out.begin(), out.end(), 0.0f);
    for (int64_t u = 0; u < L.units; ++u) {
      decode_unit(L, gp, u, *U);
      for (int64_t i = 0; i < T; ++i) {
        const float* x = p.x + (t0 + i) * p.x_stride;
        float* o = &out[size_t(i) * R];
        for (int j = 0; j < U->subs; ++j) {
          const int64_t k0 = u * L.unit_k + j * U->sub_k;
          const int64_t kn = std::min<int64_t>(U->sub_k, L.K - k0);
          float acc[R] = {};
          for (int64_t k = 0; k < kn; ++k)
            for (int r = 0; r < R; ++r)
              acc[r] = std::fma(U->w[j * U->sub_k + k][r], x[k0 + k], acc[r]);
          if (U->is_float) {
            for (int r = 0; r < R; ++r) o[r] = o[r] + acc[r];
            continue;
          }
          for (int r = 0; r < R; ++r) o[r] = std::fma(U->a[j][r], acc[r], o[r]);
          if (U->has_b) {
            const float sx = p.sx[(t0 + i) * p.sx_stride + k0 / 32];
            for (int r = 0; r < R; ++r) o[r] = std::fma(U->b[j][r], sx, o[r]);
          }
        }
      }
    }
    const int rows = int(std::min<int64_t>(R, p.N - g * R));
    for (int64_t i = 0; i < T; ++i)
      std::memcpy(p.out + (t0 + i) * p.out_stride + g * R, &out[size_t(i) * R], size_t(rows) * 4);
  }
}

}  // namespace

Kernels portable_kernels(DType type) {
  switch (type) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return {region_impl, 0, block_sums, fill_tile};
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail::f32act
