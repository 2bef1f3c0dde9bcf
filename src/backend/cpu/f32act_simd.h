// Shared scaffolding of the SIMD float-activation kernels: compile-time loops
// and the region driver that tiles (tokens x 16-row groups) into micro
// kernels. Every micro kernel instantiation runs the canonical per-element
// order of f32act_internal.h, so the tiling never shows in the results.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

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

// MT tokens of a token tile of S (f32act_internal.h): one base pointer
// serves every broadcast.
template <int MT, int S>
struct TileX {
  const float* xt;
  const float* sxt;
  const float* x(int i, int64_t k) const { return xt + k * S + i; }
  const float* sx(int i, int64_t b) const { return sxt + b * S + i; }
};

// Region driver. Kernel provides
//   template <int MT, int NG> static void rows(const Problem&, int64_t g, int64_t t);
//     tokens [t, t + MT) x groups [g, g + NG), activations read from x;
//   template <int MT, int S>
//   static void tile(const Problem&, int64_t g, TileX<MT, S>, int64_t t, int mt);
//     one group against MT tokens of a tile, storing the first mt of them.
// Decode-sized calls run kDecodeGroups groups at a time for independent FMA
// chains; prompts run every group of the region against a chunk of token
// tiles while those sit in L2, S tokens at a time (S/2 or S/4 for the last).
template <class Kernel, int S, int kDecodeTokens, int kDecodeGroups>
void drive_region(const Problem& p, int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
  if (!p.tiles) {
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
  const int64_t K = p.L.K;
  // Tokens per chunk: about 512 KB of activations, whole tiles.
  const int64_t chunk = std::clamp<int64_t>((512 << 10) / (K * 4) / S, 1, 8) * S;
  const int64_t sx_offset = K * S;
  for (int64_t tc = t0; tc < t1; tc += chunk) {
    const int64_t tc1 = std::min(t1, tc + chunk);
    for (int64_t g = g0; g < g1; ++g)
      for (int64_t t = tc; t < tc1; t += S) {
        const float* xt = p.tile_at(t);
        const int mt = int(std::min<int64_t>(S, tc1 - t));
        if (mt > S / 2)
          Kernel::template tile<S, S>(p, g, TileX<S, S>{xt, xt + sx_offset}, t, mt);
        else if (mt > S / 4)
          Kernel::template tile<S / 2, S>(p, g, TileX<S / 2, S>{xt, xt + sx_offset}, t, mt);
        else
          Kernel::template tile<S / 4, S>(p, g, TileX<S / 4, S>{xt, xt + sx_offset}, t, mt);
      }
  }
}

}  // namespace tessera::cpu::detail::f32act
