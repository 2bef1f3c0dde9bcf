// CPU weight formats: reference dequantizers and the matmul the model uses.
// Weights stay in their file format (GGUF blocks); activations are float.
// matmul has two activation precisions (see ActivationPrecision below):
// kFloat, the default, keeps activations in float32; kInt8 is described next.
//
// How the matmul computes in kInt8. Float weights (F32/F16/BF16) use float
// dot products with FMA. Quantized weights use integer dot products against
// 8-bit activations: each activation row is quantized once per call,
//   - for Q4_0/Q4_1/Q8_0 weights in blocks of 32 (int8 values, float scale
//     amax/127, round to nearest even), matching the weight's 32-blocks;
//   - for Q4_K/Q5_K/Q6_K weights in super-blocks of 256 with one float scale
//     and int sums per 16 values (the weight mins and the Q6_K offset of 32
//     are applied through those sums).
// Integer products are exact; scales are applied in float once per block
// (32) or super-block (256).
//
// Reduction order. Integer dot products are exact, so only the float steps
// matter, and they follow one canonical order per output element on every
// ISA (documented in src/backend/cpu/quant_internal.h): quantized weights
// take one FMA per block (32) or super-block (256), in order along the row;
// float weights use 16 lanes (k mod 16) and a fixed summation tree. So
// out[t, n] is bit-identical whether the row is computed alone (decode) or
// in a batch of 512 (batch invariance), whatever the thread count, and also
// across the portable, AVX2, AVX-512 and AMX kernels.
//
// Kernels (src/backend/cpu/quant_*). T = 1 (decode) runs on the weights as
// stored, 8 weight rows at a time, reducing per-row int sums exactly. With
// more rows, 16-row weight tiles are repacked once per call into "rows in
// lanes" form so one vpdpbusd advances 16 rows (Q4_0/Q4_1/Q8_0 from T = 2,
// k-quants from T = 16), or, in the "amx" family, one TDPBUSD computes a
// 16 x 16 tile of block dots (32-blocks, T >= 16). bench/matmul_cpu.cpp
// measures them on SmolLM2's shapes.
//
// Effect of 8-bit activations, measured by tests/python/
// test_dequant_activation_error.py on SmolLM2-135M-Instruct Q4_1 (numpy
// forward pass of the real model, float vs tessera's activation rounding in
// every matmul, 30 positions of English text):
//   - relative error ||y_q8 - y_f32|| / ||y_f32|| of each projection on the
//     real hidden states: mean 0.6-1.1% (q/k/v 1.1%, o 0.6%, gate/up 0.75%,
//     down 0.75%, head 0.9%), worst 3.1% (a q/k/v input); on real weight
//     rows with synthetic activations: 0.5% (Gaussian), 0.8% (Student-t 3);
//   - final logits (std 5.9): RMS difference 0.23, max 1.4; KL(f32 || q8)
//     3e-3 nats; top-1 token agrees at 27 of 30 positions, and at every
//     position where the float top-1 leads by more than 1 logit; top-5
//     overlap 97%. llama.cpp makes the same trade (Q8_0/Q8_1 activations).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera::cpu {

// Reference dequantization of n elements (a multiple of the type's block
// size) of one row. Bit-exact with the `gguf` Python package.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);

// out[t, n] = sum_k x[t, k] * w[n, k] for a weight w of shape [N, K] in any
// supported dtype. x is float [T, K] with row stride x_stride (elements), out
// is float [T, N] with row stride out_stride. Activations stay float or are
// rounded to 8 bits per activation_precision(). Each out element depends only
// on its own x row and w row, never on T or on other rows (batch invariance).
// Threads over N (and T for large T) with parallel_for. out must not overlap
// x. Throws Error (kInvalidArgument / kUnsupported) on bad shapes or types.
void matmul(const float* x, int64_t T, int64_t x_stride, const Tensor& w, float* out,
            int64_t out_stride);

// The activation row x[0..K) as matmul sees it for weights of `weight_type`:
// quantized to 8 bits and back for quantized weights, unchanged for float
// weights. Lets tests build an exact float reference; identical on all ISAs.
void activation_roundtrip(DType weight_type, const float* x, float* out, int64_t K);

// Which kernel family matmul uses on this CPU: "amx" (AVX-512 VNNI plus AMX
// tiles for prompts), "avx512-vnni", "avx2", "portable". Chosen at first use
// from the CPU (cpuid), or from the environment variable
// TESSERA_KERNELS=portable|avx2|avx512-vnni|amx when the CPU supports it.
// All families give bit-identical results.
std::string kernel_isa();
// Force a family (tests and benchmarks compare them); false if unsupported.
bool set_kernel_isa(const std::string& isa);
// The families this CPU can run, best last.
std::vector<std::string> supported_kernel_isas();

// Precision modes of matmul's activations.
//
// kFloat: activations stay float32. Weights are repacked once
// (prepare_weight) into groups of 16 rows interleaved along K, still
// quantized (the same bytes rearranged); the kernels unpack 16 rows' weights
// at a time into float registers and FMA them against broadcast
// activations, applying block scales (and mins) once per 32 values, in one
// canonical order per output element on every ISA (portable, AVX2,
// AVX-512: bit-identical, batch- and thread-invariant; the order is in
// src/backend/cpu/f32act_internal.h).
// Measured on SmolLM2-135M-Instruct Q4_1 (tests/python/test_f32act_logits.py:
// numpy forward pass with tessera's matmul in every projection vs float64
// matmuls, 3 prompts, 70 positions): logits relative L2 error <= 3.2e-6 at
// the last position (1.6e-6 over all positions), top-1 identical everywhere.
// End to end against transformers (float32, same dequantized weights), a
// float-activation matmul (double accumulation) gave ~2.6e-6 and identical
// greedy continuations; these kernels are as close (above).
// Per matmul on random data, relative L2 error vs a float64 reference is
// 2e-7 to 3.5e-7 on every type (tests/backend/f32act_matmul_test.cpp).
//
// kInt8 (opt-in, fastest prompts): the 8-bit activations described at the
// top of this file. End to end against transformers on SmolLM2: logits
// relative L2 error 8e-2 at the last position and 14 greedy divergences in
// 10 x 64 tokens, which is why it is not the default; test_f32act_logits.py
// with the real kInt8 kernels: 1.7e-2 to 1.0e-1 at the last position, top-1
// agreement at 95.7% of positions. activation_roundtrip() above describes
// this mode.
//
// kInt16: Q4_0/Q4_1/Q8_0 weights take activations quantized to 16 bits per
// 32-block (scale amax/32639), each split into two 8-bit halves so VNNI and
// AMX compute the exact integer dot as 256 * dot(w, hi) + dot(w, lo); then
// the same float step as kInt8. Other weight types keep float activations
// (as in kFloat). Integer dots are exact, so AMX (many rows) and VNNI (few
// rows) give the same bits: batch invariance holds. CPUs without AVX-512
// VNNI run this mode on the portable kernels (slow).
//
// The default (default_activation_precision) is kInt16 on CPUs that run the
// AVX-512 VNNI or AMX kernels (same decode speed as kFloat, about 1.6x its
// prompt and batch throughput, logits within 6e-4 of transformers) and
// kFloat elsewhere (the portable int16 kernels would be slow).
enum class ActivationPrecision {
  kFloat,  // float32 activations, weights unpacked in registers
  kInt8,   // 8-bit activations, integer dot products
  kInt16,  // 16-bit activations for 32-block weights, integer dot products
};
ActivationPrecision default_activation_precision();
// Process-wide; the first call reads TESSERA_CPU_ACTIVATIONS=auto|f32|int16|
// int8 (auto or unset: the default above).
ActivationPrecision activation_precision();
void set_activation_precision(ActivationPrecision p);

// A weight for matmul in ActivationPrecision::kFloat: a Tensor over the same
// bytes (same data(), dtype and shape) whose owner also holds the weight
// repacked for the float kernels (same size, on 2 MiB pages), made on the
// first matmul that uses it. The bytes must not change afterwards. Returns w
// itself for tensors matmul cannot use (not 2-D, not contiguous, other
// dtypes). Unprepared weights give the same results but are repacked on
// every call (about 12x slower decode). The CPU backend's load_weight should
// return prepare_weight(host).
Tensor prepare_weight(const Tensor& w);
bool is_prepared(const Tensor& w);

}  // namespace tessera::cpu
