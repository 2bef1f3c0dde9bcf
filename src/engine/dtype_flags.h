// Element types from the flags: --dtype (activations; on CUDA also weights)
// and --kv-cache-dtype. resolve_dtype (--dtype) is declared in
// tessera/engine/engine.h for the CLI's benchmarks.
#pragma once

#include "tessera/core/tensor.h"
#include "tessera/engine/engine.h"

namespace tessera {

// --kv-cache-dtype for a backend on `device` whose activations are
// `activations`. "auto": the activation type (F32 on the CPU, the --dtype
// type on CUDA); "f32"/"float32", "f16"/"float16", "bf16"/"bfloat16" as
// named (the names --kv-cache-dtype accepts). On CUDA the cache is kept in
// the activation type, so another explicit type is refused. Throws
// kInvalidArgument for those and for other names.
DType kv_cache_dtype(const EngineConfig& config, Device device, DType activations);

}  // namespace tessera
