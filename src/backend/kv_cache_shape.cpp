#include "tessera/backend/backend.h"

namespace tessera {

size_t KvCacheShape::bytes_per_block() const {
  return static_cast<size_t>(num_layers) * 2 * num_kv_heads * block_size * head_dim *
         dtype_info(dtype).block_bytes;
}

}  // namespace tessera
