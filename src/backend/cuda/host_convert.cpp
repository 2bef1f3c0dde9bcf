#include "host_convert.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"

namespace tessera::cuda {
namespace {

// One row of `cols` floats into dst; counts finite values that overflow.
int64_t round_row(const float* src, int64_t cols, bool to_fp16, uint16_t* dst) {
  int64_t overflow = 0;
  if (!to_fp16) {
    for (int64_t i = 0; i < cols; ++i) dst[i] = f32_to_bf16(src[i]);
    return 0;
  }
  for (int64_t i = 0; i < cols; ++i) {
    dst[i] = f32_to_fp16(src[i]);
    overflow += (dst[i] & 0x7fffu) == 0x7c00u && std::isfinite(src[i]);
  }
  return overflow;
}

}  // namespace

int64_t convert_to_16bit(const Tensor& host, DType target, uint16_t* dst) {
  const DType dt = host.dtype();
  TESSERA_CHECK(target == DType::kBF16 || target == DType::kF16);
  if (dt == DType::kI32 || dt == DType::kI8 || dt == DType::kQ8_K)
    fail(ErrorKind::kUnsupported, "cannot use a {} tensor as a CUDA weight", dtype_name(dt));
  const bool to_fp16 = target == DType::kF16;
  const int64_t rows = host.rows(), cols = host.cols();
  std::atomic<int64_t> overflow{0};
  parallel_for(rows, 16, [&](int64_t b, int64_t e) {
    std::vector<float> row(dt == target || dt == DType::kF32 ? 0 : size_t(cols));
    int64_t local = 0;
    for (int64_t r = b; r < e; ++r) {
      const void* src = host.row_ptr(r);
      uint16_t* out = dst + r * cols;
      if (dt == target) {
        std::memcpy(out, src, size_t(cols) * 2);
        continue;
      }
      const float* f = row.data();
      if (dt == DType::kF32) {
        f = static_cast<const float*>(src);
      } else if (dt == DType::kF16 || dt == DType::kBF16) {
        const auto* h = static_cast<const uint16_t*>(src);
        for (int64_t i = 0; i < cols; ++i)
          row[size_t(i)] = dt == DType::kF16 ? fp16_to_f32(h[i]) : bf16_to_f32(h[i]);
      } else {
        cpu::dequantize_row(dt, src, row.data(), cols);
      }
      local += round_row(f, cols, to_fp16, out);
    }
    overflow += local;
  });
  return overflow.load();
}

}  // namespace tessera::cuda
