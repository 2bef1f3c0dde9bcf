// The pool of KV blocks: ids only (the backend owns the memory; block b holds
// slots [b * block_size, (b + 1) * block_size) of every layer's K and V).
//
// Every block is in exactly one state:
//   in use      ref_count > 0 (held by one or more requests' block tables)
//   evictable   ref_count == 0, registered in the prefix cache, on the LRU
//   free        ref_count == 0, not cached, on the free list
// Allocation takes free blocks first, then evicts the least recently released
// evictable block (dropping its hash). Block 0 is the null block: never handed
// out, so the model runner can point padding slots at it.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "tessera/kv/block_hash.h"

namespace tessera {

using BlockId = int32_t;
inline constexpr BlockId kNullBlock = 0;

class BlockPool {
 public:
  // `num_blocks` counts the null block, so capacity() == num_blocks - 1.
  // With `enable_caching` false, register_cached() is a no-op.
  BlockPool(int num_blocks, bool enable_caching);

  int num_blocks() const { return static_cast<int>(meta_.size()); }
  int capacity() const { return num_blocks() - 1; }
  bool caching_enabled() const { return caching_; }

  // Blocks an allocation can take now (free + evictable).
  int num_free_blocks() const { return static_cast<int>(free_.size()) + lru_size_; }
  int num_evictable_blocks() const { return lru_size_; }
  // Blocks registered in the prefix cache, in use or evictable.
  int num_cached_blocks() const { return static_cast<int>(cache_.size()); }
  // Fraction of the capacity in use (0 when nothing is held).
  double usage() const;
  int64_t num_evictions() const { return evictions_; }

  // Appends `n` blocks with ref_count 1 to `out`. Throws
  // Error(kResourceExhausted) when n > num_free_blocks(); nothing changes then.
  void allocate(int n, std::vector<BlockId>& out);
  std::vector<BlockId> allocate(int n);

  // ref_count += 1; an evictable block leaves the LRU (a prefix-cache hit).
  void acquire(BlockId block);
  // ref_count -= 1; at 0 the block becomes evictable (cached) or free.
  void release(BlockId block);
  int ref_count(BlockId block) const;

  // The block cached under `hash`, if any (in use or evictable).
  std::optional<BlockId> lookup(const BlockHash& hash) const;
  // Registers an in-use full block under `hash`. Returns false (the block
  // stays uncached) if caching is off, the block is already cached, or the
  // hash already names another block (two requests computed the same block).
  bool register_cached(BlockId block, const BlockHash& hash);
  bool is_cached(BlockId block) const;
  std::optional<BlockHash> cached_hash(BlockId block) const;
  // Forgets every hash: evictable blocks become free, in-use ones uncached.
  void reset_prefix_cache();

  // Throws Error(kInternal) if the state is inconsistent (tests, debugging).
  void check_invariants() const;

 private:
  struct Meta {
    int32_t ref = 0;
    bool cached = false;
    bool in_lru = false;
    BlockId prev = -1;  // LRU neighbours
    BlockId next = -1;
    BlockHash hash;
  };

  void check_id(BlockId block) const;
  void lru_push_back(BlockId block);
  void lru_remove(BlockId block);
  BlockId take_one();

  bool caching_;
  std::vector<Meta> meta_;
  std::vector<BlockId> free_;  // a stack; initially pops 1, 2, 3, ...
  BlockId lru_head_ = -1;      // least recently released: evicted first
  BlockId lru_tail_ = -1;
  int lru_size_ = 0;
  int64_t evictions_ = 0;
  std::unordered_map<BlockHash, BlockId, BlockHashHasher> cache_;
};

}  // namespace tessera
