// AMX-INT8 kernel for the 32-blocks (Q4_0, Q4_1, Q8_0) when a call has many
// activation rows; the "amx" kernel family (AVX-512 VNNI for everything else).
// Per block, one TDPBUSD multiplies 16 weight rows (A tile: 16 x 32 unsigned
// bytes) by 16 activation rows (B tile: 8 x 64 signed bytes, 4 consecutive
// values of each activation row per 4-byte column) into 16 x 16 exact int32
// dots. Those leave the tile through memory into 16 vectors (one per weight
// row, activation rows in lanes) that take the canonical float step of
// quant_internal.h, so the bits equal every other kernel's.
#include <vector>

#include "quant_avx512_common.h"

#define TESSERA_AMX __attribute__((target("amx-tile,amx-int8")))

namespace tessera::cpu::detail {
namespace {

struct TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

// Tiles: 0 and 3 hold C (16 x 16 int32, two blocks in flight), 1 A, 2 B.
TESSERA_AMX void configure_tiles() {
  alignas(64) TileConfig cfg;
  for (int c : {0, 3}) {
    cfg.rows[c] = 16;
    cfg.colsb[c] = 64;
  }
  cfg.rows[1] = 16;
  cfg.colsb[1] = 32;
  cfg.rows[2] = 8;
  cfg.colsb[2] = 64;
  _tile_loadconfig(&cfg);
}

// 16 weight rows of one block: values as unsigned bytes, scales as floats.
struct WeightBlock {
  uint8_t a[16][32];
  float d[16], m[16];
};
// 16 activation rows of one block: the B tile and per-row factors in lanes.
struct ActBlock {
  int8_t b[8][64];
  float da[16], s[16];
  int32_t corr[16];
};

template <typename T>
T* scratch(std::vector<uint8_t>& buf, size_t count) {
  const size_t bytes = count * sizeof(T) + 64;
  if (buf.size() < bytes) buf.resize(bytes);
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
}

template <DType kType>
struct AmxB32 {
  using F = B32Format<kType>;

  static void pack_weights(const MatmulProblem& p, int64_t n, int rows, int64_t nb,
                           WeightBlock* dst) {
    for (int64_t b = 0; b < nb; ++b) {
      WeightBlock& out = dst[b];
      for (int j = 0; j < 16; ++j) {
        if (j >= rows) {
          std::memset(out.a[j], 0, 32);
          out.d[j] = out.m[j] = 0.0f;
          continue;
        }
        const uint8_t* blk = p.w + (n + j) * p.w_stride + b * F::kBytes;
        out.d[j] = f16_at(blk);
        out.m[j] = kType == DType::kQ4_1 ? f16_at(blk + 2) : 0.0f;
        __m256i v;
        if constexpr (kType == DType::kQ8_0) {
          v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)),
                               _mm256_set1_epi8(char(0x80)));
        } else {
          v = unpack_nibbles16(blk + F::kQsOffset);
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(out.a[j]), v);
      }
    }
  }

  static constexpr int kShift = F::kCorrShift > 0 ? F::kCorrShift : 0;

  static void pack_acts(const MatmulProblem& p, int64_t t, int rows, int64_t nb, ActBlock* dst) {
    const __m512i offsets = row_offsets16(p.act_stride);
    const __mmask16 mask = __mmask16((1u << rows) - 1);
    ActB32Row a[16];
    for (int i = 0; i < rows; ++i)
      a[i] = ActB32Row::at(const_cast<uint8_t*>(act_row(p, t + i)), p.K);
    const uint8_t* base = act_row(p, t);
    for (int64_t b = 0; b < nb; ++b) {
      ActBlock& out = dst[b];
      for (int r = 0; r < 8; ++r)  // column r: values 4r..4r+3 of each activation row
        _mm512_store_si512(out.b[r],
                           _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, offsets,
                                                       base + b * 32 + 4 * r, 1));
      for (int i = 0; i < 16; ++i) {
        const bool live = i < rows;
        out.da[i] = live ? a[i].d[b] : 0.0f;
        out.s[i] = live ? a[i].s[b] : 0.0f;
        out.corr[i] = live && F::kCorrShift > 0
                          ? -(a[i].isum[b] << (F::kCorrShift > 0 ? F::kCorrShift : 0))
                          : 0;
      }
    }
  }

  // One block's dots (in C, 16 weight rows x 16 activation rows) into acc.
  static inline void accumulate(const int32_t (*C)[16], const WeightBlock& w, const ActBlock& x,
                                __m512 acc[16]) {
    const __m512 da = _mm512_load_ps(x.da);
    const __m512i corr = _mm512_load_si512(x.corr);
    for (int n = 0; n < 16; ++n) {
      __m512i dot = _mm512_load_si512(C[n]);
      if constexpr (F::kCorrShift > 0) dot = _mm512_add_epi32(dot, corr);
      acc[n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(_mm512_set1_ps(w.d[n]), da),
                               acc[n]);
      if constexpr (kType == DType::kQ4_1)
        acc[n] = _mm512_fmadd_ps(_mm512_set1_ps(w.m[n]), _mm512_load_ps(x.s), acc[n]);
    }
  }

  // out tile: 16 weight rows x 16 activation rows over all nb blocks.
  TESSERA_AMX static void tile(const WeightBlock* w, const ActBlock* x, int64_t nb,
                               float (*res)[16]) {
    alignas(64) int32_t C0[16][16], C1[16][16];
    __m512 acc[16];
    for (int n = 0; n < 16; ++n) acc[n] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {  // two blocks in flight: tiles 0 and 3
      _tile_zero(0);
      _tile_loadd(1, w[b].a, 32);
      _tile_loadd(2, x[b].b, 64);
      _tile_dpbusd(0, 1, 2);
      _tile_zero(3);
      _tile_loadd(1, w[b + 1].a, 32);
      _tile_loadd(2, x[b + 1].b, 64);
      _tile_dpbusd(3, 1, 2);
      _tile_stored(0, C0, 64);
      _tile_stored(3, C1, 64);
      accumulate(C0, w[b], x[b], acc);
      accumulate(C1, w[b + 1], x[b + 1], acc);
    }
    if (b < nb) {
      _tile_zero(0);
      _tile_loadd(1, w[b].a, 32);
      _tile_loadd(2, x[b].b, 64);
      _tile_dpbusd(0, 1, 2);
      _tile_stored(0, C0, 64);
      accumulate(C0, w[b], x[b], acc);
    }
    for (int n = 0; n < 16; ++n) _mm512_store_ps(res[n], acc[n]);
  }

  TESSERA_AMX static void region(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0,
                                 int64_t n1) {
    thread_local std::vector<uint8_t> wbuf, abuf;
    const int64_t nb = p.K / 32, t_tiles = (t1 - t0 + 15) / 16;
    WeightBlock* w = scratch<WeightBlock>(wbuf, size_t(nb));
    ActBlock* x = scratch<ActBlock>(abuf, size_t(nb * t_tiles));
    for (int64_t tt = 0; tt < t_tiles; ++tt)
      pack_acts(p, t0 + 16 * tt, int(std::min<int64_t>(16, t1 - t0 - 16 * tt)), nb, x + tt * nb);
    configure_tiles();
    alignas(64) float res[16][16];
    for (int64_t n = n0; n < n1; n += 16) {
      const int rows = int(std::min<int64_t>(16, n1 - n));
      pack_weights(p, n, rows, nb, w);
      for (int64_t tt = 0; tt < t_tiles; ++tt) {
        tile(w, x + tt * nb, nb, res);
        const int64_t t = t0 + 16 * tt;
        const int trows = int(std::min<int64_t>(16, t1 - t));
        for (int i = 0; i < trows; ++i)
          for (int j = 0; j < rows; ++j) p.out[(t + i) * p.out_stride + n + j] = res[j][i];
      }
    }
    _tile_release();
  }
};

template <DType kType>
KernelInfo amx_b32() {
  KernelInfo k = avx512_kernel(kType);
  k.large = AmxB32<kType>::region;
  k.large_nt = 16;
  k.large_min_t = 16;
  return k;
}

}  // namespace

// The AMX family: the AVX-512 kernels, with AMX for many rows of 32-blocks.
KernelInfo amx_kernel(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return amx_b32<DType::kQ4_0>();
    case DType::kQ4_1:
      return amx_b32<DType::kQ4_1>();
    case DType::kQ8_0:
      return amx_b32<DType::kQ8_0>();
    default:
      return avx512_kernel(type);
  }
}

}  // namespace tessera::cpu::detail
