// Vectorizable float math for the CPU ops. std::exp is a libm call the
// compiler cannot vectorize; softmax and SiLU call it for every score and
// every FFN element, which made it the largest cost after the matmuls. This
// exp is plain arithmetic (no branches, no calls), so loops over it compile
// to SIMD code. Relative error below 3e-7 (about 4 ulp) over the float range.
#pragma once

#include <bit>
#include <cstdint>

namespace tessera::cpu {

inline float exp_fast(float x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln(2) / 2.
  x = x < -87.3f ? -87.3f : (x > 88.8f ? 88.8f : x);
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  // Cody-Waite: ln 2 split so n * ln2_hi is exact.
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  // exp(r) on [-0.347, 0.347] by a degree-6 polynomial.
  float p = 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n as two powers of two: n reaches 128 just below ln(FLT_MAX).
  const int32_t n1 = int32_t(n) >> 1, n2 = int32_t(n) - n1;
  return (p * std::bit_cast<float>((n1 + 127) << 23)) * std::bit_cast<float>((n2 + 127) << 23);
}

}  // namespace tessera::cpu
