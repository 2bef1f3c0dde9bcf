// Per-request block tables on top of the BlockPool, with prefix caching and
// copy-on-write for forked sequences. Pure bookkeeping of block ids; the
// caller (scheduler + model runner) moves the data. Not thread-safe: it lives
// on the engine thread.
//
// One request's life, step by step (see docs/kv-cache.md):
//   hit = kv.find_cached_prefix(tokens, extra_key);          // first schedule
//   kv.allocate_slots(id, n, &hit)   -> false: not enough blocks, try later
//   kv.allocate_slots(id, n)         -> false: preempt someone (kv.free) / wait
//   copies = kv.take_block_copies(); // run on the device before the forward
//   ... forward writes KV at slots kv.slot(id, pos) for the n positions ...
//   kv.commit_tokens(id, fed_token_ids);  // those n tokens now hold KV
//   kv.fork(id, child);                   // n > 1 / beams: share the blocks
//   kv.free(id);                          // finished, aborted or preempted
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessera/kv/block_hash.h"
#include "tessera/kv/block_pool.h"

namespace tessera {

using RequestId = uint64_t;

struct KvCacheConfig {
  int num_blocks = 0;  // including the null block; see blocks_for_memory()
  int block_size = 16;
  bool enable_prefix_caching = true;  // false: --no-prefix-caching
  // Seed of the block hashes; unset: a random one per process.
  std::optional<uint64_t> hash_seed;
};

// Blocks that fit into `budget_bytes` (at least 0), for KvCacheConfig::num_blocks.
int blocks_for_memory(uint64_t budget_bytes, uint64_t bytes_per_block);

// Result of a prefix lookup: the leading full blocks of `tokens` whose KV is
// cached. Pass it to allocate_slots() right away (before other allocations);
// blocks evicted in between make allocate_slots() return false.
struct PrefixHit {
  int num_tokens = 0;        // KV already computed: a multiple of the block size
  int num_query_tokens = 0;  // tokens looked up (for the hit-rate counters)
  std::vector<BlockId> blocks;
  std::vector<BlockHash> hashes;
  std::string extra_key;
};

// Copy block `src` to block `dst` (all layers, K and V) before the forward.
struct BlockCopy {
  BlockId src;
  BlockId dst;
  friend bool operator==(const BlockCopy&, const BlockCopy&) = default;
};

struct KvCacheStats {
  int num_blocks = 0;               // usable blocks (the null block excluded)
  int num_free = 0;                 // allocatable now: free + evictable
  int num_cached = 0;               // registered in the prefix cache
  int num_evictable = 0;            // cached and unused
  double usage = 0.0;               // fraction of blocks in use
  int64_t prefix_query_tokens = 0;  // tokens looked up by admitted requests
  int64_t prefix_hit_tokens = 0;    // of those, found cached
  int64_t evictions = 0;
};

class KvCacheManager {
 public:
  explicit KvCacheManager(const KvCacheConfig& config);

  int block_size() const { return block_size_; }
  bool prefix_caching() const { return pool_.caching_enabled(); }
  const BlockPool& pool() const { return pool_; }
  const BlockHasher& hasher() const { return hasher_; }

  // Longest cached run of full blocks at the start of `tokens` (the prompt,
  // or prompt + outputs of a preempted request). Leaves at least the last
  // token uncomputed so the step still produces its logits. Changes nothing;
  // the hit counters move when allocate_slots() takes the hit. Empty with
  // prefix caching off.
  PrefixHit find_cached_prefix(std::span<const int32_t> tokens,
                               std::string_view extra_key = {}) const;

  // Makes room for `num_new_tokens` more tokens after the computed ones: the
  // block table then covers positions [0, num_computed + num_new_tokens).
  // A request seen for the first time starts here, taking `hit`'s blocks
  // (null: no hit, empty extra key). Writing into a shared partial last block
  // first moves the request to a fresh block and queues a BlockCopy.
  // Returns false, changing nothing, when the pool has too few blocks.
  bool allocate_slots(RequestId id, int num_new_tokens, const PrefixHit* hit = nullptr);

  // The copies queued by allocate_slots() since the last call.
  std::vector<BlockCopy> take_block_copies();

  // Marks the next tokens.size() allocated positions computed; `tokens` are
  // the ids fed at those positions. Blocks that become full are hashed and
  // offered to the prefix cache.
  void commit_tokens(RequestId id, std::span<const int32_t> tokens);

  // Releases all blocks of `id`, last block first, so cached blocks of a
  // sequence's tail are evicted before its head. Unknown ids are ignored.
  void free(RequestId id);

  // `child` (a new id) shares every block holding `parent`'s computed tokens.
  // Call it between commit_tokens() and the parent's next allocate_slots().
  // The first of them to write into a shared partial block gets its own copy.
  void fork(RequestId parent, RequestId child);

  bool has_request(RequestId id) const { return requests_.contains(id); }
  int num_requests() const { return static_cast<int>(requests_.size()); }
  std::span<const BlockId> block_table(RequestId id) const;
  int num_computed_tokens(RequestId id) const;
  // Positions the block table covers (a multiple of the block size).
  int num_allocated_tokens(RequestId id) const;
  // Blocks allocate_slots(id, num_new_tokens) would take from the pool (an
  // unknown id counts as a new request without a prefix hit).
  int num_blocks_needed(RequestId id, int num_new_tokens) const;
  // KV slot of `position`: block_table[pos / block_size] * block_size + pos % block_size.
  int64_t slot(RequestId id, int position) const;
  // out[i] = slot(id, first_position + i) for i < count.
  void slot_mapping(RequestId id, int first_position, int count, int32_t* out) const;

  KvCacheStats stats() const;
  // Drops every cached hash (after a weight reload, or on request).
  void reset_prefix_cache() { pool_.reset_prefix_cache(); }

  // Throws Error(kInternal) if tables, ref counts and hashes disagree.
  void check_invariants() const;

 private:
  struct Sequence {
    std::vector<BlockId> blocks;
    int num_computed = 0;
    int num_reserved = 0;           // computed + allocated for the coming step
    std::vector<BlockHash> hashes;  // of the full computed blocks (caching on)
    std::vector<int32_t> tail;      // tokens of the partial last block (caching on)
    std::string extra_key;
  };

  const Sequence& get(RequestId id) const;
  Sequence& get(RequestId id);
  bool needs_copy_on_write(const Sequence& seq, int num_new_tokens) const;
  int blocks_to_cover(int num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }

  int block_size_;
  BlockPool pool_;
  BlockHasher hasher_;
  std::unordered_map<RequestId, Sequence> requests_;
  std::vector<BlockCopy> pending_copies_;
  int64_t query_tokens_ = 0;
  int64_t hit_tokens_ = 0;
};

}  // namespace tessera
