#include "tessera/kv/block_pool.h"

#include "tessera/core/error.h"

namespace tessera {

BlockPool::BlockPool(int num_blocks, bool enable_caching) : caching_(enable_caching) {
  if (num_blocks < 2)
    fail(ErrorKind::kInvalidArgument, "KV cache needs at least 2 blocks (1 usable), got {}",
         num_blocks);
  meta_.resize(num_blocks);
  meta_[kNullBlock].ref = 1;  // permanently held, so it is never free
  free_.reserve(num_blocks - 1);
  for (BlockId b = num_blocks - 1; b >= 1; --b) free_.push_back(b);
}

double BlockPool::usage() const {
  return 1.0 - static_cast<double>(num_free_blocks()) / capacity();
}

void BlockPool::check_id(BlockId block) const {
  if (block <= kNullBlock || block >= num_blocks())
    fail(ErrorKind::kInternal, "block id {} out of range [1, {})", block, num_blocks());
}

void BlockPool::lru_push_back(BlockId block) {
  Meta& m = meta_[block];
  m.in_lru = true;
  m.prev = lru_tail_;
  m.next = -1;
  if (lru_tail_ >= 0)
    meta_[lru_tail_].next = block;
  else
    lru_head_ = block;
  lru_tail_ = block;
  ++lru_size_;
}

void BlockPool::lru_remove(BlockId block) {
  Meta& m = meta_[block];
  if (m.prev >= 0)
    meta_[m.prev].next = m.next;
  else
    lru_head_ = m.next;
  if (m.next >= 0)
    meta_[m.next].prev = m.prev;
  else
    lru_tail_ = m.prev;
  m.prev = m.next = -1;
  m.in_lru = false;
  --lru_size_;
}

BlockId BlockPool::take_one() {
  if (!free_.empty()) {
    const BlockId b = free_.back();
    free_.pop_back();
    return b;
  }
  const BlockId b = lru_head_;
  lru_remove(b);
  Meta& m = meta_[b];
  cache_.erase(m.hash);
  m.cached = false;
  m.hash = {};
  ++evictions_;
  return b;
}

void BlockPool::allocate(int n, std::vector<BlockId>& out) {
  if (n < 0 || n > num_free_blocks())
    fail(ErrorKind::kResourceExhausted, "KV cache: {} blocks requested, {} free", n,
         num_free_blocks());
  for (int i = 0; i < n; ++i) {
    const BlockId b = take_one();
    meta_[b].ref = 1;
    out.push_back(b);
  }
}

std::vector<BlockId> BlockPool::allocate(int n) {
  std::vector<BlockId> out;
  out.reserve(n > 0 ? n : 0);
  allocate(n, out);
  return out;
}

void BlockPool::acquire(BlockId block) {
  check_id(block);
  Meta& m = meta_[block];
  if (m.ref == 0) {
    if (!m.in_lru) fail(ErrorKind::kInternal, "acquire of free, uncached block {}", block);
    lru_remove(block);
  }
  ++m.ref;
}

void BlockPool::release(BlockId block) {
  check_id(block);
  Meta& m = meta_[block];
  if (m.ref <= 0) fail(ErrorKind::kInternal, "release of block {} with ref_count 0", block);
  if (--m.ref > 0) return;
  if (m.cached)
    lru_push_back(block);
  else
    free_.push_back(block);
}

int BlockPool::ref_count(BlockId block) const {
  check_id(block);
  return meta_[block].ref;
}

std::optional<BlockId> BlockPool::lookup(const BlockHash& hash) const {
  auto it = cache_.find(hash);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

bool BlockPool::register_cached(BlockId block, const BlockHash& hash) {
  check_id(block);
  Meta& m = meta_[block];
  if (m.ref <= 0) fail(ErrorKind::kInternal, "caching block {} that is not in use", block);
  if (!caching_ || m.cached) return false;
  if (!cache_.emplace(hash, block).second) return false;
  m.cached = true;
  m.hash = hash;
  return true;
}

bool BlockPool::is_cached(BlockId block) const {
  check_id(block);
  return meta_[block].cached;
}

std::optional<BlockHash> BlockPool::cached_hash(BlockId block) const {
  check_id(block);
  if (!meta_[block].cached) return std::nullopt;
  return meta_[block].hash;
}

void BlockPool::reset_prefix_cache() {
  while (lru_head_ >= 0) {
    const BlockId b = lru_head_;
    lru_remove(b);
    free_.push_back(b);
  }
  for (auto& [hash, block] : cache_) {
    meta_[block].cached = false;
    meta_[block].hash = {};
  }
  cache_.clear();
}

void BlockPool::check_invariants() const {
  auto check = [](bool ok, const char* what, BlockId b) {
    if (!ok) fail(ErrorKind::kInternal, "block pool invariant broken: {} (block {})", what, b);
  };
  check(meta_[kNullBlock].ref == 1 && !meta_[kNullBlock].cached, "null block untouched",
        kNullBlock);
  std::vector<int> seen(meta_.size(), 0);
  for (BlockId b : free_) {
    check(b > kNullBlock && b < num_blocks(), "free id in range", b);
    check(seen[b]++ == 0, "free list without duplicates", b);
    check(meta_[b].ref == 0 && !meta_[b].cached && !meta_[b].in_lru, "free block is plain", b);
  }
  int lru_count = 0;
  BlockId prev = -1;
  for (BlockId b = lru_head_; b >= 0; b = meta_[b].next) {
    check(++lru_count <= lru_size_, "LRU list length", b);
    check(seen[b]++ == 0, "LRU block also free", b);
    check(meta_[b].prev == prev, "LRU back links", b);
    check(meta_[b].ref == 0 && meta_[b].cached && meta_[b].in_lru, "LRU block is cached", b);
    prev = b;
  }
  check(lru_count == lru_size_ && lru_tail_ == prev, "LRU size and tail", prev);
  int cached = 0;
  for (BlockId b = 1; b < num_blocks(); ++b) {
    const Meta& m = meta_[b];
    check(m.ref >= 0, "ref_count never negative", b);
    if (m.ref > 0) check(seen[b] == 0 && !m.in_lru, "in-use block not listed free", b);
    if (m.ref == 0) check(seen[b] == 1, "unused block is free or evictable", b);
    if (m.cached) {
      ++cached;
      auto it = cache_.find(m.hash);
      check(it != cache_.end() && it->second == b, "cached block is in the map", b);
    }
  }
  check(cached == static_cast<int>(cache_.size()), "map holds only cached blocks", -1);
  check(caching_ || cache_.empty(), "no cache entries with caching off", -1);
}

}  // namespace tessera
