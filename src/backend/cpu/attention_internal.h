// Internals of the CPU paged attention: one task is one query token against
// its sequence's keys 0..n_keys-1 for the `group` query heads that share one
// KV head. Every query runs the same operations in the same order whatever
// else is in the batch, so results never depend on batching or chunking.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tessera/core/dtype.h"

namespace tessera::cpu::detail {

struct HeadGroupTask {
  const float* q;         // group * head_dim
  float* out;             // group * head_dim
  const int32_t* table;   // the sequence's block table
  const uint8_t* k_base;  // K cache of this layer, offset to this KV head
  const uint8_t* v_base;
  DType kv_type;        // F32, F16 or BF16
  int elem_bytes;       // of kv_type
  size_t block_stride;  // elements between blocks
  int block_size, head_dim, group, n_keys;
  float scale;

  size_t offset(int j) const {
    return (size_t(table[j / block_size]) * block_stride + size_t(j % block_size) * head_dim) *
           size_t(elem_bytes);
  }
  const uint8_t* key(int j) const { return k_base + offset(j); }
  const uint8_t* value(int j) const { return v_base + offset(j); }
};

// AVX-512 kernel for head_dim 64 or 128 (false: not handled, use the
// portable one). scores: group * n_keys floats of scratch.
bool attend_avx512(const HeadGroupTask& t, float* scores);

}  // namespace tessera::cpu::detail
