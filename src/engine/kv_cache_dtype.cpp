#include "kv_cache_dtype.h"

#include "tessera/core/error.h"

namespace tessera {

DType kv_cache_dtype(const EngineConfig& config, const Backend& backend) {
  const std::string& name = config.kv_cache_dtype;
  if (name.empty() || name == "auto") return backend.activation_dtype();
  if (name == "f32" || name == "float32") return DType::kF32;
  if (name == "f16" || name == "float16") return DType::kF16;
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  fail(ErrorKind::kInvalidArgument, "unknown --kv-cache-dtype '{}' (auto, f32, f16 or bf16)", name);
}

}  // namespace tessera
