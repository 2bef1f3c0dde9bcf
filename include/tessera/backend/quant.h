// CPU weight formats: reference dequantizers and the matmul the model uses.
// Weights stay in their file format (GGUF blocks); activations are float.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/core/tensor.h"

namespace tessera::cpu {

// Reference dequantization of n elements (a multiple of the type's block
// size) of one row. Bit-exact with the `gguf` Python package.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// out[t, n] = sum_k x[t, k] * w[n, k] for a weight w of shape [N, K] in any
// supported dtype. x is float [T, K] with row stride x_stride (elements), out
// is float [T, N] with row stride out_stride. Quantized weights use 8-bit
// quantized activations for the dot products. Each out element depends only
// on its own x row and w row, never on T or on other rows (batch invariance).
// Threads over N (and T for large T) with parallel_for.
void matmul(const float* x, int64_t T, int64_t x_stride, const Tensor& w, float* out,
            int64_t out_stride);

// Which kernel family matmul uses on this CPU: "avx512-vnni", "avx2", "portable".
std::string kernel_isa();
// Force a family (tests and benchmarks compare them); false if unsupported.
bool set_kernel_isa(const std::string& isa);

}  // namespace tessera::cpu
