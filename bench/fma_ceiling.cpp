// Ceilings of the AVX2 float-activation tile kernel's inner loop on one
// core: GFLOP/s of 8 and 12 independent ymm FMA chains whose second operand
// is a register, a broadcast from memory (what the 8-token tile does per
// FMA: AVX2 FMAs cannot broadcast an operand) or a full vector load. Compare
// with bench_matmul_f32act --isa avx2 --threads 1 run in the same minute: on
// a shared machine both move with the load. The last row is the 8-bit
// integer loop an int8 kernel would run instead (vpmaddubsw, 32 multiply-adds
// per instruction, into 16-bit sums), counted the same way: 2 operations per
// multiply-add.
//
//   bench_fma_ceiling
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "bench_util.h"

namespace {

alignas(64) float g_x[64 * 32 + 64];

enum class Operand { kRegister, kBroadcast, kVector };

template <int C, Operand kOp>
__attribute__((target("avx2,fma"), noinline)) double gflops(long iters) {
  __m256 acc[C];
  for (int i = 0; i < C; ++i) acc[i] = _mm256_set1_ps(float(i));
  const __m256 w = _mm256_set1_ps(1.0000001f), xr = _mm256_set1_ps(0.999f);
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iters; ++it) {
    const float* x = g_x + (it & 63) * 32;
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k)
      for (int i = 0; i < C; ++i) {
        __m256 b = xr;
        if constexpr (kOp == Operand::kBroadcast) b = _mm256_broadcast_ss(x + 2 * k + i);
        if constexpr (kOp == Operand::kVector) b = _mm256_loadu_ps(x + 2 * k + i);
        acc[i] = _mm256_fmadd_ps(w, b, acc[i]);
      }
  }
  const double s = tessera::bench::seconds_since(t0);
  float sink = 0;
  for (int i = 0; i < C; ++i) sink += _mm256_cvtss_f32(acc[i]);
  if (sink == 0.123f) std::printf(" ");
  return double(iters) * 8 * C * 16 / s / 1e9;
}

template <int C>
__attribute__((target("avx2"), noinline)) double int8_gops(long iters) {
  __m256i acc[C], a[C];
  for (int i = 0; i < C; ++i) {
    acc[i] = _mm256_set1_epi16(short(i));
    a[i] = _mm256_set1_epi8(char(2 * i - 5));  // never 0
  }
  __m256i w = _mm256_set1_epi8(3);
  const auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 8
    for (int k = 0; k < 8; ++k) {
      asm volatile("" : "+x"(w));  // a new weight vector each step, as in a kernel
      for (int i = 0; i < C; ++i) acc[i] = _mm256_add_epi16(acc[i], _mm256_maddubs_epi16(w, a[i]));
    }
  }
  const double s = tessera::bench::seconds_since(t0);
  int sink = 0;
  for (int i = 0; i < C; ++i) sink += _mm256_extract_epi16(acc[i], 0);
  if (sink == 12345) std::printf(" ");
  return double(iters) * 8 * C * 64 / s / 1e9;
}

template <int C, Operand kOp>
void row(const char* name) {
  double best = 0;
  for (int r = 0; r < 15; ++r) best = std::max(best, gflops<C, kOp>(24000000 / C));
  std::printf("| %-32s | %6.1f |\n", name, best);
}

}  // namespace

int main() {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::printf("no AVX2/FMA on this CPU\n");
    return 0;
  }
  std::printf("# FMA ceilings, one core, best of 15\nmachine: %s; date %s\n\n",
              tessera::bench::cpu_name().c_str(), tessera::bench::today().c_str());
  std::printf("| loop | GFLOP/s (int8: Gop/s) |\n|---|---:|\n");
  row<8, Operand::kRegister>("8 chains, register operand");
  row<12, Operand::kRegister>("12 chains, register operand");
  row<8, Operand::kBroadcast>("8 chains, broadcast from memory");
  row<12, Operand::kBroadcast>("12 chains, broadcast from memory");
  row<8, Operand::kVector>("8 chains, vector from memory");
  row<12, Operand::kVector>("12 chains, vector from memory");
  double best = 0;
  for (int r = 0; r < 15; ++r) best = std::max(best, int8_gops<6>(24000000 / 6));
  std::printf("| %-32s | %6.1f |\n", "6 chains, int8 vpmaddubsw + add", best);
}
