// Shared scaffolding of the SIMD float-activation kernels: compile-time loops
// and the region driver that tiles (tokens x 16-row groups) into micro
// kernels. Every micro kernel instantiation runs the canonical per-element
// order of f32act_internal.h, so the tiling never shows in the results.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "f32act_internal.h"

namespace tessera::cpu::detail::f32act {

// f(std::integral_constant<int, 0>{}) ... f(<N-1>) in order, so shift and
// rotate counts are immediates.
template <int N, class F>
inline __attribute__((always_inline)) void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f(std::integral_constant<int, I>{}), ...); }
  (std::make_integer_sequence<int, N>{});
}

// Activations of a few tokens read straight from x (decode-sized calls).
struct RowsX {
  const float* const* xr;   // [MT] rows of x
  const float* const* sxr;  // [MT] rows of sx (or null)
  const float* x(int i, int64_t k) const { return xr[i] + k; }
  const float* sx(int i, int64_t b) const { return sxr[i] + b; }
};

// A tile of MT tokens copied k-major (xt[k * MT + i]), so one base pointer
// serves every broadcast; tokens past the real ones are zeros.
template <int MT>
struct TileX {
  const float* xt;
  const float* sxt;  // sxt[b * MT + i]
  const float* x(int i, int64_t k) const { return xt + k * MT + i; }
  const float* sx(int i, int64_t b) const { return sxt + b * MT + i; }
};

// Token tiles of a prompt chunk: x rows [t, t + mt) -> xt, sx -> sxt.
inline void fill_tile(const Problem& p, int64_t t, int mt, int MT, float* xt, float* sxt) {
  const int64_t K = p.L.K;
  for (int i = 0; i < mt; ++i) {
    const float* xr = p.x + (t + i) * p.x_stride;
    for (int64_t k = 0; k < K; ++k) xt[k * MT + i] = xr[k];
  }
  for (int i = mt; i < MT; ++i)
    for (int64_t k = 0; k < K; ++k) xt[k * MT + i] = 0.0f;
  if (!p.sx) return;
  for (int64_t b = 0; b < K / 32; ++b)
    for (int i = 0; i < MT; ++i) sxt[b * MT + i] = i < mt ? p.sx[(t + i) * p.sx_stride + b] : 0.0f;
}

// Region driver. Kernel provides
//   template <int MT, int NG> static void rows(const Problem&, int64_t g, int64_t t);
//     tokens [t, t + MT) x groups [g, g + NG), activations read from x;
//   template <int MT> static void tile(const Problem&, int64_t g, TileX<MT>, int64_t t, int mt);
//     one group against a token tile, storing the first mt tokens.
// Decode-sized calls (T < 4) run kDecodeGroups groups at a time for
// independent FMA chains; prompts copy chunks of tokens into tiles of
// kTile tokens (smaller tiles for the rest) and run every group of the
// region against them while they sit in cache.
template <class Kernel, int kTile, int kDecodeTokens, int kDecodeGroups>
void drive_region(const Problem& p, int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
  const int64_t T = t1 - t0;
  if (T < 4) {
    int64_t t = t0;
    for (; t + kDecodeTokens <= t1; t += kDecodeTokens) {
      int64_t g = g0;
      for (; g + kDecodeGroups <= g1; g += kDecodeGroups)
        Kernel::template rows<kDecodeTokens, kDecodeGroups>(p, g, t);
      for (; g < g1; ++g) Kernel::template rows<kDecodeTokens, 1>(p, g, t);
    }
    for (; t < t1; ++t) {
      int64_t g = g0;
      for (; g + kDecodeGroups <= g1; g += kDecodeGroups)
        Kernel::template rows<1, kDecodeGroups>(p, g, t);
      for (; g < g1; ++g) Kernel::template rows<1, 1>(p, g, t);
    }
    return;
  }
  const int64_t K = p.L.K, kpad = p.L.units * p.L.unit_k;
  // Tokens per chunk: about 512 KB of activations, whole tiles.
  const int64_t chunk = std::clamp<int64_t>((512 << 10) / (K * 4) / kTile, 1, 8) * kTile;
  thread_local std::vector<float> buf;
  const size_t tile_floats = size_t(kpad) * kTile + size_t(K / 32 + 1) * kTile;
  const size_t tiles = size_t(chunk / kTile);
  if (buf.size() < tiles * tile_floats + 16) buf.resize(tiles * tile_floats + 16);
  float* base =
      reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
  for (int64_t tc = t0; tc < t1; tc += chunk) {
    const int64_t tc1 = std::min(t1, tc + chunk);
    // Tile sizes: kTile, then the smallest of kTile/4, kTile/2, kTile that
    // holds the rest.
    int sizes[8], count = 0;
    for (int64_t t = tc; t < tc1; t += sizes[count++]) {
      const int64_t left = tc1 - t;
      sizes[count] = left >= kTile       ? kTile
                     : left <= kTile / 4 ? kTile / 4
                     : left <= kTile / 2 ? kTile / 2
                                         : kTile;
    }
    for (int c = 0, t = 0; c < count; t += sizes[c++]) {
      float* xt = base + c * tile_floats;
      const int mt = int(std::min<int64_t>(sizes[c], tc1 - tc - t));
      fill_tile(p, tc + t, mt, sizes[c], xt, xt + size_t(kpad) * sizes[c]);
    }
    for (int64_t g = g0; g < g1; ++g)
      for (int c = 0, t = 0; c < count; t += sizes[c++]) {
        const float* xt = base + c * tile_floats;
        const int mt = int(std::min<int64_t>(sizes[c], tc1 - tc - t));
        const float* sxt = xt + size_t(kpad) * sizes[c];
        if (sizes[c] == kTile)
          Kernel::template tile<kTile>(p, g, TileX<kTile>{xt, sxt}, tc + t, mt);
        else if (sizes[c] == kTile / 2)
          Kernel::template tile<kTile / 2>(p, g, TileX<kTile / 2>{xt, sxt}, tc + t, mt);
        else
          Kernel::template tile<kTile / 4>(p, g, TileX<kTile / 4>{xt, sxt}, tc + t, mt);
      }
  }
}

}  // namespace tessera::cpu::detail::f32act
