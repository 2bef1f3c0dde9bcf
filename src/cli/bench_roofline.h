// The hardware ceilings `tessera bench latency/throughput` compare against,
// measured in the same run on the device the engine uses, and the model's
// work per token. Conventions (stated in every table):
//  - copy bandwidth counts bytes read plus bytes written (a copy of N bytes
//    moves 2N), as the memory system sees it (on CUDA the better of a copy
//    kernel and cudaMemcpy of 1 GiB); a decode step that reads W bytes of
//    weights cannot take less than W / bandwidth.
//  - the GEMM rate is that of one large matmul through the backend (on CUDA
//    8192^3 on random data in the engine's --dtype, bf16 or fp16; f32 x bf16
//    on the CPU); a prefill of T
//    tokens cannot take less than 2 * params * T / rate, params being the
//    weights every token is multiplied by (attention's own flops are left
//    out, as in the usual 2 * params * tokens count).
#pragma once

#include <cstdint>
#include <string>

#include "tessera/core/dtype.h"
#include "tessera/model/model_config.h"

namespace tessera::cli {

struct Ceilings {
  std::string device;           // GPU name, or the CPU model and threads
  double copy_bytes_per_s = 0;  // read + write
  double gemm_flops_per_s = 0;
  std::string gemm_shape;  // what was timed, e.g. "8192^3 bf16"
};

// Allocates its own buffers on a backend of its own (freed before it
// returns), so run it before the engine takes the device's memory. dtype:
// the CUDA GEMM's element type (resolve_dtype of the engine's config).
Ceilings measure_ceilings(const std::string& device, DType dtype);

// Weights each token is multiplied by in the layers (q, k, v, o, gate, up,
// down), and in the output head (applied only to rows that need logits).
int64_t layer_params(const ModelConfig& c);
int64_t head_params(const ModelConfig& c);

}  // namespace tessera::cli
