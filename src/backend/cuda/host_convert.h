// Weights arrive on the host in the file's dtype; the CUDA kernels read bf16.
#pragma once

#include <cstdint>

#include "tessera/core/tensor.h"

namespace tessera::cuda {

// Writes host's rows() x cols() elements as bf16 bits into dst (contiguous
// rows). F32, F16 and BF16 convert element by element (round to nearest
// even); GGUF block types are dequantized first (cpu::dequantize_row).
// Throws Error(kUnsupported) for integer dtypes.
void convert_to_bf16(const Tensor& host, uint16_t* dst);

}  // namespace tessera::cuda
