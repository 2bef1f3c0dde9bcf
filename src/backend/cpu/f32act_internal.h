// Internals of the float-activation matmul (the default CPU precision):
// the packed weight layout, the canonical per-element operation order every
// kernel follows, and the kernel signatures the dispatcher calls.
//
// Packed layout. Weight rows are taken in groups of 16 (rows past N are
// zero). A group is stored "k-major": for each position along K, the 16
// rows' quantized values sit next to each other, so one vector load and a
// short unpack give the weights of all 16 rows at one k (16 float lanes =
// one zmm, or two ymm). The bytes are the file's quantized values
// rearranged, never expanded: a group takes 16 * row_bytes plus at most
// 63 bytes of padding per section. Sections of one group, each 64-byte
// aligned, units u = 0 .. units-1 (a unit is a 32-block, a 256 super-block,
// or 32 k of a float weight):
//   Q4_0  D[u][16] f16 | Q[u][4][16] u32
//   Q4_1  D | M[u][16] f16 | Q
//   Q8_0  D | Q[u][32][16] i8
//   Q4_K  D | DMIN[u][16] f16 | S[u][3][16] u32 (the 12 scale bytes) |
//         Q[u][8][4][16] u32
//   Q5_K  D | DMIN | S | H[u][8][16] u32 | Q
//   Q6_K  D | SC[u][16][16] i8 | QL[u][32][16] u32 | QH[u][16][16] u32
//   F32   W[u][32][16] f32;  F16, BF16  W[u][32][16] u16 (zeros past K)
// A u32 of Q holds 8 consecutive 4-bit values: element 8c + s of its 32-run
// in bits 4s..4s+3 (Q4_0/Q4_1: run = block; Q4_K/Q5_K: Q[u][j][c] belongs
// to sub-block j). Q5_K: bit 8c + s of H[u][j] is the fifth bit of element
// 8c + s of sub-block j. Q6_K: QL[u][v] holds elements 8v .. 8v+7 (4 low
// bits), QH[u][c] the two high bits of elements 16c + i in bits 2i, 2i+1,
// with the upper one inverted so that the 6-bit field read as signed is
// q - 32 directly.
//
// Canonical per-element order (fma = one rounding). For out[t, n]:
//   out = 0
//   for each unit in order, for each sub-block j in order (32 values; Q6_K:
//   16 values):
//     acc = 0; for k in the sub-block, in order: acc = fma(w_k, x[t, k], acc)
//       (w_k: the integer value as float: Q4_0 q-8, Q4_1 q, Q8_0 q, Q4_K q,
//        Q5_K q, Q6_K q-32; float weights: the weight itself)
//     Q4_0, Q8_0:  out = fma(d, acc, out)
//     Q4_1:        out = fma(d, acc, out); out = fma(m, sx, out)
//     Q4_K, Q5_K:  out = fma(d*sc_j, acc, out); out = fma(-(dmin*m_j), sx, out)
//     Q6_K:        out = fma(d*sc_j, acc, out)
//     float:       out = out + acc   (last unit: only k < K)
//   sx = sum of x over the 32-run: s[l] = x[l] + x[l+16], then the pairwise
//   tree hsum16_tree (quant_internal.h). Products d*sc and dmin*m are exact.
// Every ISA runs exactly these operations, so outputs are bit-identical on
// all ISAs, for every T, tiling and thread count.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tessera/core/dtype.h"
#include "tessera/core/tensor.h"

namespace tessera::cpu::detail::f32act {

constexpr int kGroupRows = 16;

// Section offsets (bytes from the group start) and sizes of one type's
// packed group for a given K.
struct Layout {
  DType type = DType::kF32;
  int64_t K = 0;
  int unit_k = 0;  // K per unit: 32 or 256
  int64_t units = 0;
  size_t sec[5] = {0, 0, 0, 0, 0};  // section offsets, in the order listed above
  size_t group_bytes = 0;
};
// unit_k == 0 when the type is unsupported or K is not a multiple of the
// type's block size.
Layout layout_for(DType type, int64_t K);

// Packs weight rows [16 g, 16 g + 16) (rows >= N read as zero) into dst
// (layout.group_bytes, 64-byte aligned).
void pack_group(const Layout& L, const uint8_t* w, size_t w_stride, int64_t N, int64_t g,
                uint8_t* dst);

// Memory for one packed weight (64-byte aligned, on 2 MiB pages where the
// kernel allows): see f32act_arena.cpp.
class PackedBuffer {
 public:
  explicit PackedBuffer(size_t bytes);
  ~PackedBuffer();
  PackedBuffer(const PackedBuffer&) = delete;
  PackedBuffer& operator=(const PackedBuffer&) = delete;
  uint8_t* data() const { return data_; }

 private:
  uint8_t* data_ = nullptr;
  void* chunk_ = nullptr;
};

// Which types need the per-32 sums of x (sx).
inline bool needs_block_sums(DType t) {
  return t == DType::kQ4_1 || t == DType::kQ4_K || t == DType::kQ5_K;
}
// sx[b] for b < K / 32 (canonical order above).
void block_sums(const float* x, int64_t K, float* sx);

// Token tiles for prompt-sized calls: tokens [tile * S, tile * S + S) copied
// k-major, xt[k * S + i] (zeros past the last token), then their block sums
// sxt[b * S + i]; S = the kernel family's tile size. Filled once per call so
// every thread's broadcasts come from one base pointer.
size_t tile_floats(int64_t K, int S);
// sums: also write sxt (types that need block sums).
void fill_tile(const float* x, int64_t x_stride, int64_t t, int mt, int64_t K, int S, bool sums,
               float* dst);

// One matmul over a packed weight. Group g's bytes are at
// groups + (g - g_base) * L.group_bytes.
struct Problem {
  Layout L;
  const uint8_t* groups = nullptr;
  int64_t g_base = 0;
  int64_t N = 0;
  const float* x = nullptr;
  int64_t x_stride = 0;
  const float* sx = nullptr;  // row t at sx + t * sx_stride (when needed, no tiles)
  int64_t sx_stride = 0;
  const float* tiles = nullptr;  // token tiles (when T >= kMinTileTokens)
  int tile = 0;                  // tokens per tile (S)
  size_t tile_stride = 0;        // floats between tiles
  float* out = nullptr;
  int64_t out_stride = 0;
  const uint8_t* group(int64_t g) const { return groups + (g - g_base) * L.group_bytes; }
  const float* tile_at(int64_t t) const { return tiles + size_t(t / tile) * tile_stride; }
};

// The packed groups of a weight made by prepare_weight (packed now if not
// yet), or nullptr for any other tensor.
const uint8_t* prepared_groups(const Tensor& w);

// Calls with fewer tokens read x directly (decode); from this many on, the
// SIMD kernels read token tiles.
constexpr int64_t kMinTileTokens = 4;

// Computes out[t, 16 g + r] for t in [t0, t1), groups [g0, g1), r < 16 with
// 16 g + r < N. t0 is a multiple of the tile size.
using RegionKernel = void (*)(const Problem& p, int64_t g0, int64_t g1, int64_t t0, int64_t t1);
using BlockSumsFn = void (*)(const float* x, int64_t K, float* sx);
using FillTileFn = void (*)(const float* x, int64_t x_stride, int64_t t, int mt, int64_t K, int S,
                            bool sums, float* dst);

// A kernel family's entry points for one weight type.
struct Kernels {
  RegionKernel region = nullptr;
  int tile = 0;  // token tile size, 0: reads x directly
  BlockSumsFn block_sums = nullptr;
  FillTileFn fill_tile = nullptr;
};
Kernels portable_kernels(DType type);
Kernels avx2_kernels(DType type);    // region == nullptr where not built
Kernels avx512_kernels(DType type);  // region == nullptr where not built
void block_sums_avx2(const float* x, int64_t K, float* sx);
void fill_tile_avx2(const float* x, int64_t x_stride, int64_t t, int mt, int64_t K, int S,
                    bool sums, float* dst);

}  // namespace tessera::cpu::detail::f32act

namespace tessera::cpu::detail {
// matmul in ActivationPrecision::kFloat, shapes already checked; isa is the
// dispatcher's family: 0 portable, 1 AVX2, 2 and up (AVX-512 VNNI, AMX) AVX-512.
void matmul_f32act(int isa, const float* x, int64_t T, int64_t x_stride, const Tensor& w,
                   float* out, int64_t out_stride);
}  // namespace tessera::cpu::detail
