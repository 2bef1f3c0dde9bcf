// Reference dequantizers. The float operations (and their order) follow the
// `gguf` Python package so results are bit-exact with it: e.g. Q4_1 is
// (d * q) + m in float32, and the k-quants first form d * sc and dmin * m.
#include <cstring>

#include "quant_internal.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"

namespace tessera::cpu {
namespace {

using namespace detail;

void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int i = 0; i < 16; ++i) {
    y[i] = d * float((b[2 + i] & 0x0F) - 8);
    y[i + 16] = d * float((b[2 + i] >> 4) - 8);
  }
}

void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = load_f16(b), m = load_f16(b + 2);
  for (int i = 0; i < 16; ++i) {
    const float lo = d * float(b[4 + i] & 0x0F);
    const float hi = d * float(b[4 + i] >> 4);
    y[i] = lo + m;
    y[i + 16] = hi + m;
  }
}

void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = load_f16(b);
  for (int i = 0; i < 32; ++i) y[i] = float(int8_t(b[2 + i])) * d;
}

// Shared by Q4_K and Q5_K: qh == nullptr means 4-bit values.
void dequant_k4_k5(const uint8_t* b, const uint8_t* qh, const uint8_t* qs, float* y) {
  const float d = load_f16(b), dmin = load_f16(b + 2);
  uint8_t sc[8], m[8];
  unpack_k_scales(b + 4, sc, m);
  for (int j = 0; j < 8; ++j) {
    const float dl = d * float(sc[j]);
    const float ml = dmin * float(m[j]);
    const uint8_t* q = qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    for (int i = 0; i < 32; ++i) {
      int v = (q[i] >> shift) & 0x0F;
      if (qh) v |= ((qh[i] >> j) & 1) << 4;
      const float p = dl * float(v);
      y[32 * j + i] = p - ml;
    }
  }
}

void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = load_f16(b + 208);
  for (int g = 0; g < 16; ++g) {
    const float dl = d * float(scales[g]);
    for (int i = 0; i < 16; ++i) {
      const int e = 16 * g + i;
      y[e] = dl * float(q6k_value(ql, qh, e) - 32);
    }
  }
}

}  // namespace

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const DTypeInfo& info = dtype_info(type);
  if (n < 0 || n % info.block_size != 0)
    fail(ErrorKind::kInvalidArgument,
         "dequantize_row: {} elements is not a multiple of the {} block", n, info.name);
  const int64_t blocks = n / info.block_size;
  switch (type) {
    case DType::kF32:
      std::memcpy(dst, p, size_t(n) * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = load_f16(p + 2 * i);
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(p + 2 * i));
      return;
    case DType::kQ4_0:
      for (int64_t b = 0; b < blocks; ++b) dequant_q4_0(p + b * kQ4_0Bytes, dst + b * 32);
      return;
    case DType::kQ4_1:
      for (int64_t b = 0; b < blocks; ++b) dequant_q4_1(p + b * kQ4_1Bytes, dst + b * 32);
      return;
    case DType::kQ8_0:
      for (int64_t b = 0; b < blocks; ++b) dequant_q8_0(p + b * kQ8_0Bytes, dst + b * 32);
      return;
    case DType::kQ4_K:
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = p + b * kQ4_KBytes;
        dequant_k4_k5(blk, nullptr, blk + 16, dst + b * 256);
      }
      return;
    case DType::kQ5_K:
      for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = p + b * kQ5_KBytes;
        dequant_k4_k5(blk, blk + 16, blk + 48, dst + b * 256);
      }
      return;
    case DType::kQ6_K:
      for (int64_t b = 0; b < blocks; ++b) dequant_q6_k(p + b * kQ6_KBytes, dst + b * 256);
      return;
    default:
      fail(ErrorKind::kUnsupported, "dequantize_row: no dequantizer for {}", info.name);
  }
}

}  // namespace tessera::cpu
