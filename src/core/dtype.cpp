#include "tessera/core/dtype.h"

#include <array>

#include "tessera/core/error.h"

namespace tessera {
namespace {

// Order follows the DType enum. Block layouts are the GGML formats.
constexpr std::array<DTypeInfo, 12> kInfo = {{
    {"F32", 1, 4, 0},
    {"F16", 1, 2, 1},
    {"BF16", 1, 2, 30},
    {"Q4_0", 32, 18, 2},
    {"Q4_1", 32, 20, 3},
    {"Q8_0", 32, 34, 8},
    {"Q4_K", 256, 144, 12},
    {"Q5_K", 256, 176, 13},
    {"Q6_K", 256, 210, 14},
    {"Q8_K", 256, 292, 15},
    {"I32", 1, 4, 26},
    {"I8", 1, 1, 24},
}};

}  // namespace

const DTypeInfo& dtype_info(DType t) { return kInfo[static_cast<size_t>(t)]; }

size_t row_bytes(DType t, int64_t n) {
  const DTypeInfo& info = dtype_info(t);
  if (n % info.block_size != 0)
    fail(ErrorKind::kBadFile, "row of {} elements is not a multiple of the {} block size {}", n,
         info.name, info.block_size);
  return static_cast<size_t>(n / info.block_size) * info.block_bytes;
}

std::optional<DType> dtype_from_ggml(uint32_t ggml_type) {
  for (size_t i = 0; i < kInfo.size(); ++i)
    if (kInfo[i].ggml_type == static_cast<int>(ggml_type)) return static_cast<DType>(i);
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kInfo.size(); ++i)
    if (kInfo[i].name == name) return static_cast<DType>(i);
  return std::nullopt;
}

}  // namespace tessera
