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

// Token rows per cache chunk in prompts: x rows of one chunk stay in L2
// while all groups of the region pass by.
constexpr int64_t kTokenChunk = 64;

// Micro<M, 1>::run for the M = mt < MT leftover tokens.
template <template <int, int> class Micro, int MT>
inline void run_tail(const Problem& p, int64_t g, int64_t t, int64_t mt) {
  if constexpr (MT > 1) {
    if (mt == MT - 1) return Micro<MT - 1, 1>::run(p, g, t);
    return run_tail<Micro, MT - 1>(p, g, t, mt);
  }
}

// Micro<MT, NG>::run(p, g, t): tokens [t, t + MT) x groups [g, g + NG).
// Decode-sized calls (T < 4) run kDecodeGroups groups per call for
// independent FMA chains (and kDecodeTokens tokens at a time where that
// fits the registers); prompts run kPromptTokens tokens against one group
// so each unpacked weight vector feeds several FMAs.
template <template <int, int> class Micro, int kPromptTokens, int kDecodeTokens, int kDecodeGroups>
void drive_region(const Problem& p, int64_t g0, int64_t g1, int64_t t0, int64_t t1) {
  const int64_t T = t1 - t0;
  if (T < 4) {
    int64_t t = t0;
    for (; t + kDecodeTokens <= t1; t += kDecodeTokens) {
      int64_t g = g0;
      for (; g + kDecodeGroups <= g1; g += kDecodeGroups)
        Micro<kDecodeTokens, kDecodeGroups>::run(p, g, t);
      for (; g < g1; ++g) Micro<kDecodeTokens, 1>::run(p, g, t);
    }
    for (; t < t1; ++t) {
      int64_t g = g0;
      for (; g + kDecodeGroups <= g1; g += kDecodeGroups) Micro<1, kDecodeGroups>::run(p, g, t);
      for (; g < g1; ++g) Micro<1, 1>::run(p, g, t);
    }
    return;
  }
  for (int64_t tc = t0; tc < t1; tc += kTokenChunk) {
    const int64_t tc1 = std::min(t1, tc + kTokenChunk);
    for (int64_t g = g0; g < g1; ++g) {
      int64_t t = tc;
      for (; t + kPromptTokens <= tc1; t += kPromptTokens) Micro<kPromptTokens, 1>::run(p, g, t);
      if (t < tc1) run_tail<Micro, kPromptTokens>(p, g, t, tc1 - t);
    }
  }
}

}  // namespace tessera::cpu::detail::f32act
