// Weights arrive on the host in the file's dtype; the CUDA kernels read the
// backend's 16-bit type (bf16 or fp16).
#pragma once

#include <cstdint>

#include "tessera/core/tensor.h"

namespace tessera::cuda {

// Writes host's rows() x cols() elements as `target` (kBF16 or kF16) bits
// into dst (contiguous rows). F32, F16 and BF16 convert element by element
// (round to nearest even); GGUF block types are dequantized first
// (cpu::dequantize_row). Returns how many finite values became infinite
// (beyond fp16's ±65504; always 0 for bf16). Throws Error(kUnsupported) for
// integer dtypes.
int64_t convert_to_16bit(const Tensor& host, DType target, uint16_t* dst);

}  // namespace tessera::cuda
