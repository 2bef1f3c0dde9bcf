// AMX-INT8 kernel for the 32-blocks (Q4_0, Q4_1, Q8_0) when a call has many
// activation rows; the "amx" kernel family (AVX-512 VNNI for everything else).
// Per block, one TDPBUSD multiplies 16 weight rows (A tile: 16 x 32 unsigned
// bytes) by 16 activation rows (B tile: 8 x 64 signed bytes, 4 consecutive
// values of each activation row per 4-byte column) into 16 x 16 exact int32
// dots. Those leave the tile through memory into 16 vectors (one per weight
// row, activation rows in lanes) that take the canonical float step of
// quant_internal.h, so the bits equal every other kernel's. With 16-bit
// activations (wide rows) a second TDPBUSD multiplies the same A tile by the
// low halves, and the two dots combine exactly as (hi << 8) + lo.
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

// Tiles: 0 and 3 hold C (16 x 16 int32, two blocks in flight), 1 A, 2 B;
// for wide rows 4 and 5 hold the low halves' C, 6 their B.
TESSERA_AMX void configure_tiles() {
  alignas(64) TileConfig cfg;
  for (int c : {0, 3, 4, 5}) {
    cfg.rows[c] = 16;
    cfg.colsb[c] = 64;
  }
  cfg.rows[1] = 16;
  cfg.colsb[1] = 32;
  for (int b : {2, 6}) {
    cfg.rows[b] = 8;
    cfg.colsb[b] = 64;
  }
  _tile_loadconfig(&cfg);
}

// 16 weight rows of one block: values as unsigned bytes, scales as floats.
struct WeightBlock {
  uint8_t a[16][32];
  float d[16], m[16];
};
// 16 activation rows of one block: the B tile (and, wide, the low halves'
// B tile) and per-row factors in lanes.
struct alignas(64) ActBlockFactors {
  float da[16], s[16];
  int32_t corr[16];
};
template <bool kWide>
struct ActBlock : ActBlockFactors {
  int8_t b[8][64];
};
template <>
struct ActBlock<true> : ActBlockFactors {
  int8_t b[8][64], lo[8][64];
};

template <typename T>
T* scratch(std::vector<uint8_t>& buf, size_t count) {
  const size_t bytes = count * sizeof(T) + 64;
  if (buf.size() < bytes) buf.resize(bytes);
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
}

// Block dots of weight block W and activation block X into C tile c (and,
// wide, the low halves' into tile l); the tile intrinsics need literal tile
// numbers, hence macros.
#define TESSERA_AMX_BLOCK_DOTS(c, l, W, X) \
  do {                                     \
    _tile_zero(c);                         \
    _tile_loadd(1, (W).a, 32);             \
    _tile_loadd(2, (X).b, 64);             \
    _tile_dpbusd(c, 1, 2);                 \
    if constexpr (kWide) {                 \
      _tile_zero(l);                       \
      _tile_loadd(6, (X).lo, 64);          \
      _tile_dpbusd(l, 1, 6);               \
    }                                      \
  } while (0)
#define TESSERA_AMX_STORE_DOTS(c, l, C, L)       \
  do {                                           \
    _tile_stored(c, C, 64);                      \
    if constexpr (kWide) _tile_stored(l, L, 64); \
  } while (0)

template <DType kType, bool kWide>
struct AmxB32 {
  using F = B32Format<kType>;
  using ActBlock = detail::ActBlock<kWide>;

  // Row by row, so each weight row streams in order (prefetch-friendly).
  static void pack_weights(const MatmulProblem& p, int64_t n, int rows, int64_t nb,
                           WeightBlock* dst) {
    for (int j = 0; j < 16; ++j) {
      const uint8_t* row = p.w + (n + j) * p.w_stride;
      for (int64_t b = 0; b < nb; ++b) {
        WeightBlock& out = dst[b];
        if (j >= rows) {
          std::memset(out.a[j], 0, 32);
          out.d[j] = out.m[j] = 0.0f;
          continue;
        }
        const uint8_t* blk = row + b * F::kBytes;
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
      a[i] = ActB32Row::at(const_cast<uint8_t*>(act_row(p, t + i)), p.K, kWide);
    const uint8_t* base = act_row(p, t);
    const size_t lo_offset = kWide ? size_t(a[0].lo - a[0].qs) : 0;
    for (int64_t b = 0; b < nb; ++b) {
      ActBlock& out = dst[b];
      for (int r = 0; r < 8; ++r) {  // column r: values 4r..4r+3 of each activation row
        _mm512_store_si512(out.b[r],
                           _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, offsets,
                                                       base + b * 32 + 4 * r, 1));
        if constexpr (kWide)
          _mm512_store_si512(out.lo[r],
                             _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, offsets,
                                                         base + lo_offset + b * 32 + 4 * r, 1));
      }
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

  // One block's dots (in C, 16 weight rows x 16 activation rows; wide: the
  // high halves' dots, and the low halves' in L) into acc.
  static inline void accumulate(const int32_t (*C)[16], const int32_t (*L)[16],
                                const WeightBlock& w, const ActBlock& x, __m512 acc[16]) {
    const __m512 da = _mm512_load_ps(x.da);
    const __m512i corr = _mm512_load_si512(x.corr);
    for (int n = 0; n < 16; ++n) {
      __m512i dot = _mm512_load_si512(C[n]);
      if constexpr (kWide)
        dot = _mm512_add_epi32(_mm512_slli_epi32(dot, 8), _mm512_load_si512(L[n]));
      if constexpr (F::kCorrShift > 0) dot = _mm512_add_epi32(dot, corr);
      acc[n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(_mm512_set1_ps(w.d[n]), da),
                               acc[n]);
      if constexpr (kType == DType::kQ4_1)
        acc[n] = _mm512_fmadd_ps(_mm512_set1_ps(w.m[n]), _mm512_load_ps(x.s), acc[n]);
    }
  }

  // out tile: 16 weight rows x 16 activation rows over all nb blocks. Two
  // blocks are in flight on the tiles while the float step runs on the pair
  // before (stored one iteration earlier, so its loads do not wait on the
  // tile stores); blocks still accumulate in order.
  TESSERA_AMX static void tile(const WeightBlock* w, const ActBlock* x, int64_t nb,
                               float (*res)[16]) {
    alignas(64) int32_t C[2][2][16][16], L[2][2][16][16];  // [buffer][block of the pair]
    __m512 acc[16];
    for (int n = 0; n < 16; ++n) acc[n] = _mm512_setzero_ps();
    int64_t b = 0, pending = -1;
    int buf = 0;
    for (; b + 2 <= nb; b += 2, buf ^= 1) {  // tiles 0 (4) and 3 (5)
      TESSERA_AMX_BLOCK_DOTS(0, 4, w[b], x[b]);
      TESSERA_AMX_BLOCK_DOTS(3, 5, w[b + 1], x[b + 1]);
      if (pending >= 0) {
        accumulate(C[buf ^ 1][0], L[buf ^ 1][0], w[pending], x[pending], acc);
        accumulate(C[buf ^ 1][1], L[buf ^ 1][1], w[pending + 1], x[pending + 1], acc);
      }
      TESSERA_AMX_STORE_DOTS(0, 4, C[buf][0], L[buf][0]);
      TESSERA_AMX_STORE_DOTS(3, 5, C[buf][1], L[buf][1]);
      pending = b;
    }
    if (pending >= 0) {
      accumulate(C[buf ^ 1][0], L[buf ^ 1][0], w[pending], x[pending], acc);
      accumulate(C[buf ^ 1][1], L[buf ^ 1][1], w[pending + 1], x[pending + 1], acc);
    }
    if (b < nb) {
      TESSERA_AMX_BLOCK_DOTS(0, 4, w[b], x[b]);
      TESSERA_AMX_STORE_DOTS(0, 4, C[0][0], L[0][0]);
      accumulate(C[0][0], L[0][0], w[b], x[b], acc);
    }
    for (int n = 0; n < 16; ++n) _mm512_store_ps(res[n], acc[n]);
  }

  static size_t tile_bytes(int64_t K) { return size_t(K / 32) * sizeof(ActBlock); }
  static void pack_tile(const MatmulProblem& p, int64_t t, int rows, uint8_t* dst) {
    pack_acts(p, t, rows, p.K / 32, reinterpret_cast<ActBlock*>(dst));
  }

  // t0 is a multiple of 16: the activation tiles were packed once per call.
  TESSERA_AMX static void region(const MatmulProblem& p, int64_t t0, int64_t t1, int64_t n0,
                                 int64_t n1) {
    thread_local std::vector<uint8_t> wbuf;
    const int64_t nb = p.K / 32, t_tiles = (t1 - t0 + 15) / 16;
    WeightBlock* w = scratch<WeightBlock>(wbuf, size_t(nb));
    const ActBlock* x = reinterpret_cast<const ActBlock*>(p.tiles) + (t0 / 16) * nb;
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

#undef TESSERA_AMX_BLOCK_DOTS
#undef TESSERA_AMX_STORE_DOTS

template <DType kType, bool kWide = false>
KernelInfo amx_b32() {
  KernelInfo k = kWide ? avx512_wide_kernel(kType) : avx512_kernel(kType);
  k.large = AmxB32<kType, kWide>::region;
  k.large_nt = 16;
  k.large_min_t = 16;
  k.tile_bytes = AmxB32<kType, kWide>::tile_bytes;
  k.pack_tile = AmxB32<kType, kWide>::pack_tile;
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

KernelInfo amx_wide_kernel(DType type) {
  switch (type) {
    case DType::kQ4_0:
      return amx_b32<DType::kQ4_0, true>();
    case DType::kQ4_1:
      return amx_b32<DType::kQ4_1, true>();
    case DType::kQ8_0:
      return amx_b32<DType::kQ8_0, true>();
    default:
      return {};
  }
}

}  // namespace tessera::cpu::detail
