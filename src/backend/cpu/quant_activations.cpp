// 8-bit activation rows (portable). The AVX2 version in
// quant_activations_avx2.cpp must produce the same bytes: both use
// d = amax / 127, id = 127 / amax, q = round-half-even(x * id).
#include <cmath>
#include <cstring>
#include <vector>

#include "quant_internal.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"

namespace tessera::cpu {
namespace detail {
namespace {

// Round half to even for |v| < 2^22, exact (the float add/sub pair keeps no
// fraction bits); the same rounding as cvtps2dq in the default MXCSR mode.
inline int round_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return int((v + kMagic) - kMagic);
}

// Quantizes n values with one scale; returns d (NaN if x has inf/NaN, with
// q all zero, so the bad input shows up as NaN outputs).
float quantize_run(const float* x, int n, int8_t* q) {
  float amax = 0.0f;
  bool finite = true;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    amax = a > amax ? a : amax;
    finite &= a <= 3.4028235e38f;
  }
  if (!finite) {
    std::memset(q, 0, size_t(n));
    return std::nanf("");
  }
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < n; ++i) q[i] = int8_t(round_even(x[i] * id));
  return d;
}

}  // namespace

ActFormat act_format(DType weight_type) {
  const ActivationPrecision precision = activation_precision();
  if (precision == ActivationPrecision::kFloat) return ActFormat::kFloat;
  const bool wide = precision == ActivationPrecision::kInt16;
  switch (weight_type) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ8_0:
      return wide ? ActFormat::kB32Wide : ActFormat::kB32;
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return wide ? ActFormat::kFloat : ActFormat::kB256;
    default:
      return ActFormat::kFloat;
  }
}

size_t act_row_bytes(ActFormat f, int64_t K) {
  switch (f) {
    case ActFormat::kB32:
      return ActB32Row::bytes(K);
    case ActFormat::kB32Wide:
      return ActB32Row::bytes(K, true);
    case ActFormat::kB256:
      return ActB256Row::bytes(K);
    case ActFormat::kFloat:
      break;
  }
  return size_t(K) * 4;
}

void quantize_b32_portable(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                           uint8_t* dst, size_t dst_stride) {
  const int64_t nb = K / 32;
  for (int64_t t = t0; t < t1; ++t) {
    uint8_t* base = dst + t * dst_stride;
    std::memset(base, 0, ActB32Row::bytes(K));
    const ActB32Row r = ActB32Row::at(base, K);
    const float* xr = x + t * x_stride;
    for (int64_t b = 0; b < nb; ++b) {
      int8_t* q = r.qs + b * 32;
      const float d = quantize_run(xr + b * 32, 32, q);
      int32_t sum = 0;
      for (int i = 0; i < 32; ++i) sum += q[i];
      r.d[b] = d;
      r.isum[b] = sum;
      r.s[b] = d * float(sum);
    }
  }
}

void quantize_b32_wide_portable(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                                uint8_t* dst, size_t dst_stride) {
  const int64_t nb = K / 32;
  for (int64_t t = t0; t < t1; ++t) {
    uint8_t* base = dst + t * dst_stride;
    std::memset(base, 0, ActB32Row::bytes(K, true));
    const ActB32Row r = ActB32Row::at(base, K, true);
    const float* xr = x + t * x_stride;
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = xr + b * 32;
      float amax = 0.0f;
      bool finite = true;
      for (int i = 0; i < 32; ++i) {
        const float a = std::fabs(xb[i]);
        amax = a > amax ? a : amax;
        finite &= a <= 3.4028235e38f;
      }
      if (!finite) {  // q stays zero; NaN d makes the bad input show as NaN outputs
        r.d[b] = r.s[b] = std::nanf("");
        continue;
      }
      const float d = amax / float(kWideLevels);
      const float id = amax != 0.0f ? float(kWideLevels) / amax : 0.0f;
      int32_t sum = 0;
      for (int i = 0; i < 32; ++i) {
        int q = round_even(xb[i] * id);
        q = q > kWideLevels ? kWideLevels : q < -kWideLevels ? -kWideLevels : q;
        const int hi = (q + 128) >> 8;  // arithmetic shift: floor
        r.qs[b * 32 + i] = int8_t(hi);
        r.lo[b * 32 + i] = int8_t(q - 256 * hi);
        sum += q;
      }
      r.d[b] = d;
      r.isum[b] = sum;
      r.s[b] = d * float(sum);
    }
  }
}

void quantize_b256_portable(const float* x, int64_t x_stride, int64_t t0, int64_t t1, int64_t K,
                            uint8_t* dst, size_t dst_stride) {
  const int64_t nsb = K / 256;
  for (int64_t t = t0; t < t1; ++t) {
    uint8_t* base = dst + t * dst_stride;
    std::memset(base, 0, ActB256Row::bytes(K));
    const ActB256Row r = ActB256Row::at(base, K);
    const float* xr = x + t * x_stride;
    for (int64_t b = 0; b < nsb; ++b) {
      int8_t* q = r.qs + b * 256;
      r.d[b] = quantize_run(xr + b * 256, 256, q);
      for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) sum += q[16 * g + i];
        r.bsum[b * 16 + g] = int16_t(sum);
      }
    }
  }
}

}  // namespace detail

void activation_roundtrip(DType weight_type, const float* x, float* out, int64_t K) {
  using namespace detail;
  const ActFormat f = act_format(weight_type);
  if (f == ActFormat::kFloat) {
    std::memcpy(out, x, size_t(K) * 4);
    return;
  }
  const int block = f == ActFormat::kB256 ? 256 : 32;
  if (K % block != 0)
    fail(ErrorKind::kInvalidArgument, "activation_roundtrip: K={} is not a multiple of {}", K,
         block);
  std::vector<uint8_t> buf(act_row_bytes(f, K) + 64);
  uint8_t* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~63);
  const int8_t* qs;
  const float* d;
  if (f == ActFormat::kB32Wide) {
    quantize_b32_wide_portable(x, K, 0, 1, K, base, 0);
    const ActB32Row r = ActB32Row::at(base, K, true);
    for (int64_t k = 0; k < K; ++k) out[k] = r.d[k / 32] * float(256 * int(r.qs[k]) + int(r.lo[k]));
    return;
  }
  if (f == ActFormat::kB32) {
    quantize_b32_portable(x, K, 0, 1, K, base, 0);
    const ActB32Row r = ActB32Row::at(base, K);
    qs = r.qs;
    d = r.d;
  } else {
    quantize_b256_portable(x, K, 0, 1, K, base, 0);
    const ActB256Row r = ActB256Row::at(base, K);
    qs = r.qs;
    d = r.d;
  }
  for (int64_t k = 0; k < K; ++k) out[k] = d[k / block] * float(qs[k]);
}

}  // namespace tessera::cpu
