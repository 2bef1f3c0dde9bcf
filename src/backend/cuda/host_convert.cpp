#include "host_convert.h"

#include <cstring>
#include <vector>

#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"

namespace tessera::cuda {

void convert_to_bf16(const Tensor& host, uint16_t* dst) {
  const DType dt = host.dtype();
  if (dt == DType::kI32 || dt == DType::kI8 || dt == DType::kQ8_K)
    fail(ErrorKind::kUnsupported, "cannot use a {} tensor as a CUDA weight", dtype_name(dt));
  const int64_t rows = host.rows(), cols = host.cols();
  parallel_for(rows, 16, [&](int64_t b, int64_t e) {
    std::vector<float> row(is_quantized(dt) ? size_t(cols) : 0);
    for (int64_t r = b; r < e; ++r) {
      const void* src = host.row_ptr(r);
      uint16_t* out = dst + r * cols;
      switch (dt) {
        case DType::kBF16:
          std::memcpy(out, src, size_t(cols) * 2);
          break;
        case DType::kF32: {
          const auto* f = static_cast<const float*>(src);
          for (int64_t i = 0; i < cols; ++i) out[i] = f32_to_bf16(f[i]);
          break;
        }
        case DType::kF16: {
          const auto* h = static_cast<const uint16_t*>(src);
          for (int64_t i = 0; i < cols; ++i) out[i] = f32_to_bf16(fp16_to_f32(h[i]));
          break;
        }
        default:
          cpu::dequantize_row(dt, src, row.data(), cols);
          for (int64_t i = 0; i < cols; ++i) out[i] = f32_to_bf16(row[i]);
      }
    }
  });
}

}  // namespace tessera::cuda
