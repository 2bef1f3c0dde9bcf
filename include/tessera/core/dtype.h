// Element types. The quantized ones are GGUF/GGML block formats: a row of n
// elements is stored as n / block_size() blocks of block_bytes() each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tessera {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ4_0,
  kQ4_1,
  kQ8_0,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kQ8_K,  // activations only (k-quant dot products)
  kI32,
  kI8,
};

struct DTypeInfo {
  std::string_view name;
  int block_size;   // elements per block (1 for plain types)
  int block_bytes;  // bytes per block
  int ggml_type;    // GGML type id, -1 if none
};

const DTypeInfo& dtype_info(DType t);
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
inline bool is_quantized(DType t) { return dtype_info(t).block_size > 1; }
// Bytes of a row of n elements; n must be a multiple of the block size.
size_t row_bytes(DType t, int64_t n);
std::optional<DType> dtype_from_ggml(uint32_t ggml_type);
std::optional<DType> dtype_from_name(std::string_view name);  // "F16", "Q4_K", ...

}  // namespace tessera
