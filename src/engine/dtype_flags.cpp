#include "dtype_flags.h"

#include <optional>
#include <string_view>

#include "tessera/core/error.h"

namespace tessera {
namespace {

// The names --dtype and --kv-cache-dtype take (vLLM's and the short ones).
std::optional<DType> parse_name(const std::string& name) {
  if (name == "bfloat16" || name == "bf16") return DType::kBF16;
  if (name == "float16" || name == "half" || name == "fp16" || name == "f16") return DType::kF16;
  if (name == "float32" || name == "float" || name == "fp32" || name == "f32") return DType::kF32;
  return std::nullopt;
}

std::string_view flag_name(DType t) {
  return t == DType::kBF16 ? "bfloat16" : t == DType::kF16 ? "float16" : "float32";
}

}  // namespace

DType resolve_dtype(const EngineConfig& config) {
  const bool cuda = config.device == "cuda";
  if (!cuda && config.device != "cpu")
    fail(ErrorKind::kInvalidArgument, "unknown --device '{}' (cpu or cuda)", config.device);
  const std::string& name = config.dtype;
  if (name.empty() || name == "auto") return cuda ? DType::kBF16 : DType::kF32;
  const std::optional<DType> t = parse_name(name);
  if (!t)
    fail(ErrorKind::kInvalidArgument, "unknown --dtype '{}' (auto, bfloat16, float16, float32)",
         name);
  if (!cuda && *t != DType::kF32)
    fail(ErrorKind::kInvalidArgument,
         "--dtype {}: the CPU path computes in float32 (--cpu-activations sets its matmul "
         "precision); 16-bit activations need --device cuda",
         name);
  if (cuda && *t == DType::kF32)
    fail(ErrorKind::kInvalidArgument,
         "--dtype {}: the CUDA backend computes in bfloat16 or float16", name);
  return *t;
}

DType kv_cache_dtype(const EngineConfig& config, Device device, DType activations) {
  const std::string& name = config.kv_cache_dtype;
  if (name.empty() || name == "auto") return activations;
  const std::optional<DType> t = parse_name(name);
  if (!t)
    fail(ErrorKind::kInvalidArgument, "unknown --kv-cache-dtype '{}' (auto, f32, f16 or bf16)",
         name);
  if (device == Device::kCUDA && *t != activations) {
    if (*t == DType::kF32)
      fail(ErrorKind::kInvalidArgument,
           "--kv-cache-dtype {}: on CUDA the KV cache is kept in the activation type ({})", name,
           flag_name(activations));
    fail(ErrorKind::kInvalidArgument,
         "--kv-cache-dtype {}: on CUDA the KV cache is kept in the activation type ({}); add "
         "--dtype {} or leave --kv-cache-dtype at auto",
         name, flag_name(activations), flag_name(*t));
  }
  return *t;
}

}  // namespace tessera
