#include "tessera/kv/kv_cache_manager.h"

#include <algorithm>
#include <limits>
#include <unordered_set>
#include <utility>

#include "tessera/core/error.h"

namespace tessera {

int blocks_for_memory(uint64_t budget_bytes, uint64_t bytes_per_block) {
  if (bytes_per_block == 0) fail(ErrorKind::kInvalidArgument, "KV block size in bytes is 0");
  const uint64_t n = budget_bytes / bytes_per_block;
  return static_cast<int>(std::min<uint64_t>(n, std::numeric_limits<int>::max()));
}

KvCacheManager::KvCacheManager(const KvCacheConfig& config)
    : block_size_(config.block_size),
      pool_(config.num_blocks, config.enable_prefix_caching),
      hasher_(config.hash_seed ? *config.hash_seed : BlockHasher::random_seed()) {
  if (block_size_ < 1)
    fail(ErrorKind::kInvalidArgument, "KV block size must be >= 1, got {}", block_size_);
}

const KvCacheManager::Sequence& KvCacheManager::get(RequestId id) const {
  auto it = requests_.find(id);
  if (it == requests_.end()) fail(ErrorKind::kInternal, "KV cache: unknown request {}", id);
  return it->second;
}

KvCacheManager::Sequence& KvCacheManager::get(RequestId id) {
  return const_cast<Sequence&>(std::as_const(*this).get(id));
}

PrefixHit KvCacheManager::find_cached_prefix(std::span<const int32_t> tokens,
                                             std::string_view extra_key) const {
  PrefixHit hit;
  hit.extra_key = std::string(extra_key);
  if (!prefix_caching() || tokens.empty()) return hit;
  hit.num_query_tokens = static_cast<int>(tokens.size());
  // Only blocks that end before the last token: its logits must be computed.
  const size_t max_blocks = (tokens.size() - 1) / block_size_;
  BlockHash parent = kRootBlockHash;
  for (size_t i = 0; i < max_blocks; ++i) {
    const BlockHash h =
        hasher_.hash(parent, tokens.subspan(i * block_size_, block_size_), extra_key);
    const auto block = pool_.lookup(h);
    if (!block) break;
    hit.blocks.push_back(*block);
    hit.hashes.push_back(h);
    parent = h;
  }
  hit.num_tokens = static_cast<int>(hit.blocks.size()) * block_size_;
  return hit;
}

bool KvCacheManager::needs_copy_on_write(const Sequence& seq, int num_new_tokens) const {
  if (num_new_tokens <= 0 || seq.num_computed % block_size_ == 0) return false;
  const size_t index = seq.num_computed / block_size_;
  return index < seq.blocks.size() && pool_.ref_count(seq.blocks[index]) > 1;
}

int KvCacheManager::num_blocks_needed(RequestId id, int num_new_tokens) const {
  auto it = requests_.find(id);
  if (it == requests_.end()) return blocks_to_cover(num_new_tokens);
  const Sequence& seq = it->second;
  const int grow =
      blocks_to_cover(seq.num_computed + num_new_tokens) - static_cast<int>(seq.blocks.size());
  return std::max(0, grow) + (needs_copy_on_write(seq, num_new_tokens) ? 1 : 0);
}

bool KvCacheManager::allocate_slots(RequestId id, int num_new_tokens, const PrefixHit* hit) {
  if (num_new_tokens < 0)
    fail(ErrorKind::kInternal, "allocate_slots: negative token count {}", num_new_tokens);
  auto it = requests_.find(id);
  if (it == requests_.end()) {
    Sequence seq;
    if (hit) {
      if (hit->blocks.size() != hit->hashes.size() ||
          hit->num_tokens != static_cast<int>(hit->blocks.size()) * block_size_)
        fail(ErrorKind::kInternal, "allocate_slots: malformed prefix hit");
      // Hit blocks that are evictable count as free now but stop being free
      // once taken, so they are not available for the new blocks.
      int reclaimed = 0;
      for (size_t i = 0; i < hit->blocks.size(); ++i) {
        if (pool_.lookup(hit->hashes[i]) != hit->blocks[i]) return false;  // evicted since
        if (pool_.ref_count(hit->blocks[i]) == 0) ++reclaimed;
      }
      const int needed =
          blocks_to_cover(hit->num_tokens + num_new_tokens) - static_cast<int>(hit->blocks.size());
      if (needed > pool_.num_free_blocks() - reclaimed) return false;
      for (BlockId b : hit->blocks) pool_.acquire(b);
      seq.blocks = hit->blocks;
      pool_.allocate(needed, seq.blocks);
      seq.num_computed = hit->num_tokens;
      if (prefix_caching()) seq.hashes = hit->hashes;
      seq.extra_key = hit->extra_key;
      query_tokens_ += hit->num_query_tokens;
      hit_tokens_ += hit->num_tokens;
    } else {
      const int needed = blocks_to_cover(num_new_tokens);
      if (needed > pool_.num_free_blocks()) return false;
      pool_.allocate(needed, seq.blocks);
    }
    seq.num_reserved = seq.num_computed + num_new_tokens;
    requests_.emplace(id, std::move(seq));
    return true;
  }
  if (hit) fail(ErrorKind::kInternal, "allocate_slots: prefix hit for running request {}", id);
  Sequence& seq = it->second;
  const bool copy = needs_copy_on_write(seq, num_new_tokens);
  if (num_blocks_needed(id, num_new_tokens) > pool_.num_free_blocks()) return false;
  if (copy) {
    const size_t index = seq.num_computed / block_size_;
    const BlockId shared = seq.blocks[index];
    const BlockId own = pool_.allocate(1).front();
    pending_copies_.push_back({shared, own});
    seq.blocks[index] = own;
    pool_.release(shared);
  }
  const int grow =
      blocks_to_cover(seq.num_computed + num_new_tokens) - static_cast<int>(seq.blocks.size());
  if (grow > 0) pool_.allocate(grow, seq.blocks);
  seq.num_reserved = std::max(seq.num_reserved, seq.num_computed + num_new_tokens);
  return true;
}

std::vector<BlockCopy> KvCacheManager::take_block_copies() {
  std::vector<BlockCopy> out;
  out.swap(pending_copies_);
  return out;
}

void KvCacheManager::commit_tokens(RequestId id, std::span<const int32_t> tokens) {
  Sequence& seq = get(id);
  const int n = static_cast<int>(tokens.size());
  if (seq.num_computed + n > seq.num_reserved)
    fail(ErrorKind::kInternal, "commit_tokens: request {} commits {} tokens, {} allocated", id, n,
         seq.num_reserved - seq.num_computed);
  if (prefix_caching()) {
    for (int32_t t : tokens) {
      seq.tail.push_back(t);
      if (static_cast<int>(seq.tail.size()) < block_size_) continue;
      const BlockHash parent = seq.hashes.empty() ? kRootBlockHash : seq.hashes.back();
      const BlockHash h = hasher_.hash(parent, seq.tail, seq.extra_key);
      pool_.register_cached(seq.blocks[seq.hashes.size()], h);
      seq.hashes.push_back(h);
      seq.tail.clear();
    }
  }
  seq.num_computed += n;
}

void KvCacheManager::free(RequestId id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  const std::vector<BlockId>& blocks = it->second.blocks;
  // A queued copy into a block of this request is moot now.
  std::erase_if(pending_copies_, [&](const BlockCopy& c) {
    return std::find(blocks.begin(), blocks.end(), c.dst) != blocks.end();
  });
  for (auto b = blocks.rbegin(); b != blocks.rend(); ++b) pool_.release(*b);
  requests_.erase(it);
}

void KvCacheManager::fork(RequestId parent, RequestId child) {
  const Sequence& from = get(parent);
  if (requests_.contains(child))
    fail(ErrorKind::kInternal, "fork: request {} already exists", child);
  if (from.num_reserved != from.num_computed)
    fail(ErrorKind::kInternal, "fork: request {} has uncommitted slots", parent);
  Sequence seq = from;
  seq.blocks.resize(blocks_to_cover(from.num_computed));
  for (BlockId b : seq.blocks) pool_.acquire(b);
  requests_.emplace(child, std::move(seq));
}

std::span<const BlockId> KvCacheManager::block_table(RequestId id) const { return get(id).blocks; }

int KvCacheManager::num_computed_tokens(RequestId id) const { return get(id).num_computed; }

int KvCacheManager::num_allocated_tokens(RequestId id) const {
  return static_cast<int>(get(id).blocks.size()) * block_size_;
}

int64_t KvCacheManager::slot(RequestId id, int position) const {
  const Sequence& seq = get(id);
  if (position < 0 || position >= static_cast<int>(seq.blocks.size()) * block_size_)
    fail(ErrorKind::kInternal, "slot: position {} outside request {}'s {} allocated tokens",
         position, id, seq.blocks.size() * block_size_);
  return static_cast<int64_t>(seq.blocks[position / block_size_]) * block_size_ +
         position % block_size_;
}

void KvCacheManager::slot_mapping(RequestId id, int first_position, int count, int32_t* out) const {
  for (int i = 0; i < count; ++i) out[i] = static_cast<int32_t>(slot(id, first_position + i));
}

KvCacheStats KvCacheManager::stats() const {
  KvCacheStats s;
  s.num_blocks = pool_.capacity();
  s.num_free = pool_.num_free_blocks();
  s.num_cached = pool_.num_cached_blocks();
  s.num_evictable = pool_.num_evictable_blocks();
  s.usage = pool_.usage();
  s.prefix_query_tokens = query_tokens_;
  s.prefix_hit_tokens = hit_tokens_;
  s.evictions = pool_.num_evictions();
  return s;
}

void KvCacheManager::check_invariants() const {
  pool_.check_invariants();
  auto check = [](bool ok, const char* what, RequestId id) {
    if (!ok) fail(ErrorKind::kInternal, "KV cache invariant broken: {} (request {})", what, id);
  };
  std::vector<int> refs(pool_.num_blocks(), 0);
  for (const auto& [id, seq] : requests_) {
    check(seq.num_computed >= 0 && seq.num_computed <= seq.num_reserved, "computed <= reserved",
          id);
    check(static_cast<int>(seq.blocks.size()) == blocks_to_cover(seq.num_reserved),
          "table covers the reserved tokens", id);
    std::unordered_set<BlockId> distinct;
    for (BlockId b : seq.blocks) {
      check(b > kNullBlock && b < pool_.num_blocks(), "block id in range", id);
      check(distinct.insert(b).second, "no block twice in a table", id);
      ++refs[b];
    }
    if (prefix_caching()) {
      check(static_cast<int>(seq.hashes.size()) == seq.num_computed / block_size_,
            "one hash per full computed block", id);
      check(static_cast<int>(seq.tail.size()) == seq.num_computed % block_size_,
            "tail holds the partial block's tokens", id);
      for (size_t i = 0; i < seq.hashes.size(); ++i) {
        const auto h = pool_.cached_hash(seq.blocks[i]);
        check(!h || *h == seq.hashes[i], "cached block carries the request's hash", id);
      }
    }
  }
  for (BlockId b = 1; b < pool_.num_blocks(); ++b)
    if (pool_.ref_count(b) != refs[b])
      fail(ErrorKind::kInternal, "KV cache invariant broken: block {} ref_count {} but {} users", b,
           pool_.ref_count(b), refs[b]);
  for (const BlockCopy& c : pending_copies_)
    check(pool_.ref_count(c.dst) > 0, "copy target is in use", 0);
}

}  // namespace tessera
