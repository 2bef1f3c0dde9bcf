// Content hashes of full KV blocks for the prefix cache. A block's hash
// covers its parent's hash, its token ids and a per-request extra key (LoRA
// adapter, cache salt...), so equal hashes mean equal whole prefixes.
//
// 128-bit XXH3, seeded: with 2^40 distinct blocks ever hashed the chance of
// any collision is about 2^80 / 2^129 = 2^-49, so a hit is trusted without
// keeping and comparing the token ids. A per-process random seed (the
// default) also keeps clients from crafting colliding prompts to read another
// tenant's cached KV.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace tessera {

struct BlockHash {
  uint64_t lo = 0;
  uint64_t hi = 0;
  friend bool operator==(const BlockHash&, const BlockHash&) = default;
};

// The parent of a sequence's first block.
inline constexpr BlockHash kRootBlockHash{};

struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const { return static_cast<size_t>(h.lo ^ (h.hi * 31)); }
};

class BlockHasher {
 public:
  explicit BlockHasher(uint64_t seed) : seed_(seed) {}

  // Hash of one full block. Token ids are hashed as native int32 bytes, so
  // hashes are meant for this process (or same-endian peers sharing the seed).
  BlockHash hash(const BlockHash& parent, std::span<const int32_t> tokens,
                 std::string_view extra_key) const;

  uint64_t seed() const { return seed_; }

  // A seed from the OS entropy source.
  static uint64_t random_seed();

 private:
  uint64_t seed_;
};

}  // namespace tessera
