#include "tessera/kv/block_hash.h"

#include <xxhash.h>

#include <cstring>
#include <random>
#include <vector>

namespace tessera {

BlockHash BlockHasher::hash(const BlockHash& parent, std::span<const int32_t> tokens,
                            std::string_view extra_key) const {
  // Layout: parent (16 bytes) | tokens | extra key. The token count is fixed
  // by the block size and the extra key comes last, so the encoding is
  // unambiguous without length prefixes.
  thread_local std::vector<unsigned char> buffer;
  const size_t token_bytes = tokens.size() * sizeof(int32_t);
  buffer.resize(sizeof(uint64_t) * 2 + token_bytes + extra_key.size());
  unsigned char* p = buffer.data();
  std::memcpy(p, &parent.lo, sizeof(uint64_t));
  std::memcpy(p + 8, &parent.hi, sizeof(uint64_t));
  if (token_bytes) std::memcpy(p + 16, tokens.data(), token_bytes);
  if (!extra_key.empty()) std::memcpy(p + 16 + token_bytes, extra_key.data(), extra_key.size());
  const XXH128_hash_t h = XXH3_128bits_withSeed(buffer.data(), buffer.size(), seed_);
  return BlockHash{h.low64, h.high64};
}

uint64_t BlockHasher::random_seed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace tessera
