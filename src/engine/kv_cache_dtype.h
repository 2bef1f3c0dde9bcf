// The KV cache's element type from --kv-cache-dtype.
#pragma once

#include "tessera/backend/backend.h"
#include "tessera/engine/engine.h"

namespace tessera {

// "auto": the backend's activation type (F32 on the CPU, BF16 on CUDA);
// "f32"/"float32", "f16"/"float16", "bf16"/"bfloat16" as named (the
// names --kv-cache-dtype accepts).
// Throws kInvalidArgument for other names.
DType kv_cache_dtype(const EngineConfig& config, const Backend& backend);

}  // namespace tessera
