// GCC under its default -ftrapping-math keeps float compare-and-select as
// branches, so none of the loops below would vectorize. Nothing here reads
// the floating-point exception flags.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "sampler_kernels.h"

#include <bit>
#include <cmath>
#include <limits>

namespace tessera::sampler_kernels {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Cephes-style expf: exp(x) = 2^n * exp(r), |r| <= ln2 / 2, with a degree-6
// polynomial for exp(r). Rounding to n uses the 1.5 * 2^23 trick, which
// needs no libm call; internal linkage lets the loops below inline and
// vectorize it.
inline float exp_approx(float x) {
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const float scale = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
  const float result = y * scale;
  return x < -87.0f ? 0.0f : result;
}
}  // namespace

float fast_exp(float x) { return exp_approx(x); }

// The vocabulary-wide loops get an AVX2 clone picked at load time (ifunc)
// where the CPU has it; the default clone is plain SSE2.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TESSERA_VOCAB_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define TESSERA_VOCAB_LOOP
#endif

TESSERA_VOCAB_LOOP void copy_without_nan(const float* in, float* out, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) out[i] = in[i] != in[i] ? kNegInf : in[i];
}

TESSERA_VOCAB_LOOP float max_value(const float* v, int n) {
  float m = kNegInf;
#pragma omp simd reduction(max : m)
  for (int i = 0; i < n; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

int32_t first_index_of(const float* v, int n, float value) {
  for (int i = 0; i < n; ++i)
    if (v[i] == value) return i;
  return -1;
}

TESSERA_VOCAB_LOOP int count_greater(const float* v, int n, float x) {
  int count = 0;
#pragma omp simd reduction(+ : count)
  for (int i = 0; i < n; ++i) count += v[i] > x ? 1 : 0;
  return count;
}

TESSERA_VOCAB_LOOP double exp_weights(const float* x, float* w, int n, float shift, float scale) {
  double total = 0.0;
  for (int b = 0; b < n; b += kBlock) {
    const int e = b + kBlock < n ? b + kBlock : n;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = b; i < e; ++i) {
      w[i] = exp_approx((x[i] - shift) * scale);
      sum += w[i];
    }
    total += sum;
  }
  return total;
}

TESSERA_VOCAB_LOOP double block_sums(const float* w, int n, double* sums) {
  double total = 0.0;
  for (int b = 0; b < n; b += kBlock) {
    const int e = b + kBlock < n ? b + kBlock : n;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = b; i < e; ++i) sum += w[i];
    sums[b / kBlock] = sum;
    total += sum;
  }
  return total;
}

TESSERA_VOCAB_LOOP void float_buckets(const float* w, int n, int shift, uint16_t* bucket) {
#pragma omp simd
  for (int i = 0; i < n; ++i)
    bucket[i] = static_cast<uint16_t>(std::bit_cast<uint32_t>(w[i]) >> shift);
}

TESSERA_VOCAB_LOOP void zero_below_bucket(float* w, const uint16_t* bucket, int n, uint16_t cut) {
#pragma omp simd
  for (int i = 0; i < n; ++i) w[i] = bucket[i] < cut ? 0.0f : w[i];
}

TESSERA_VOCAB_LOOP void zero_below(float* w, int n, float threshold) {
#pragma omp simd
  for (int i = 0; i < n; ++i) w[i] = w[i] < threshold ? 0.0f : w[i];
}

TESSERA_VOCAB_LOOP double logsumexp(const float* v, int n) {
  float m = kNegInf;
#pragma omp simd reduction(max : m)
  for (int i = 0; i < n; ++i) m = v[i] > m ? v[i] : m;  // NaN compares false: skipped
  if (m == kNegInf || m != m) return m;
  if (m == std::numeric_limits<float>::infinity()) return m;
  double total = 0.0;
  for (int b = 0; b < n; b += kBlock) {
    const int e = b + kBlock < n ? b + kBlock : n;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = b; i < e; ++i) {
      const float term = exp_approx(v[i] - m);
      sum += v[i] != v[i] ? 0.0f : term;
    }
    total += sum;
  }
  return static_cast<double>(m) + std::log(total);
}

}  // namespace tessera::sampler_kernels
