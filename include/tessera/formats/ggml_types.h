// The GGML tensor type ids a GGUF file may name, with their block layout.
// Knowing the size of every type (even those tessera cannot compute with)
// lets the reader bounds-check all tensors and `info` describe any file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::gguf {

struct GgmlTypeInfo {
  uint32_t id;
  std::string_view name;  // "Q4_K", as gguf-py and llama.cpp spell it
  int block_size;         // elements per block
  int type_size;          // bytes per block
};

// nullptr for ids this table does not know.
const GgmlTypeInfo* ggml_type_info(uint32_t id);
// "Q4_K", or "type 1234" for an unknown id.
std::string ggml_type_name(uint32_t id);

}  // namespace tessera::gguf
