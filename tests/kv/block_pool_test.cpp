#include <gtest/gtest.h>

#include <vector>

#include "tessera/core/error.h"
#include "tessera/kv/block_pool.h"

namespace tessera {
namespace {

BlockHash hash_n(uint64_t n) { return BlockHash{n, ~n}; }

TEST(BlockPool, NullBlockIsNeverHandedOut) {
  BlockPool pool(4, true);
  EXPECT_EQ(pool.capacity(), 3);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  EXPECT_EQ(pool.allocate(3), (std::vector<BlockId>{1, 2, 3}));
  EXPECT_EQ(pool.num_free_blocks(), 0);
  EXPECT_DOUBLE_EQ(pool.usage(), 1.0);
  EXPECT_THROW(pool.release(kNullBlock), Error);
  EXPECT_THROW(BlockPool(1, true), Error);
  pool.check_invariants();
}

TEST(BlockPool, AllocateBeyondFreeThrowsAndChangesNothing) {
  BlockPool pool(5, true);
  auto a = pool.allocate(2);
  try {
    pool.allocate(3);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kResourceExhausted);
  }
  EXPECT_EQ(pool.num_free_blocks(), 2);
  pool.check_invariants();
}

TEST(BlockPool, RefCountsAndRelease) {
  BlockPool pool(4, true);
  const BlockId b = pool.allocate(1).front();
  pool.acquire(b);
  EXPECT_EQ(pool.ref_count(b), 2);
  pool.release(b);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  pool.release(b);
  EXPECT_EQ(pool.ref_count(b), 0);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  // Ref counts never go negative: a release too many is an internal error.
  try {
    pool.release(b);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
  }
  EXPECT_THROW(pool.acquire(b), Error);  // free and uncached: nothing to reuse
  pool.check_invariants();
}

TEST(BlockPool, FreshBlocksBeforeEvictingCachedOnes) {
  BlockPool pool(6, true);         // blocks 1..5
  auto cached = pool.allocate(3);  // 1, 2, 3
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.register_cached(cached[i], hash_n(i)));
  // Released in the order 2, 1, 3: LRU head is 2.
  pool.release(2);
  pool.release(1);
  pool.release(3);
  EXPECT_EQ(pool.num_evictable_blocks(), 3);
  EXPECT_EQ(pool.num_cached_blocks(), 3);
  EXPECT_EQ(pool.num_free_blocks(), 5);
  pool.check_invariants();

  // Never-cached blocks 4 and 5 go first, and evict nothing.
  EXPECT_EQ(pool.allocate(2), (std::vector<BlockId>{4, 5}));
  EXPECT_EQ(pool.num_evictions(), 0);
  // Then cached ones, least recently released first, losing their hash.
  EXPECT_EQ(pool.allocate(2), (std::vector<BlockId>{2, 1}));
  EXPECT_EQ(pool.num_evictions(), 2);
  EXPECT_FALSE(pool.lookup(hash_n(1)).has_value());  // block 2's hash
  EXPECT_FALSE(pool.lookup(hash_n(0)).has_value());
  EXPECT_EQ(pool.lookup(hash_n(2)), BlockId{3});
  EXPECT_FALSE(pool.is_cached(2));
  pool.check_invariants();
}

TEST(BlockPool, HitTakesBlockOffTheLru) {
  BlockPool pool(4, true);
  auto blocks = pool.allocate(2);
  ASSERT_TRUE(pool.register_cached(blocks[0], hash_n(7)));
  ASSERT_TRUE(pool.register_cached(blocks[1], hash_n(8)));
  pool.release(blocks[0]);
  pool.release(blocks[1]);
  // A hit on the LRU head re-uses it; the next eviction takes the other.
  pool.acquire(*pool.lookup(hash_n(7)));
  EXPECT_EQ(pool.num_evictable_blocks(), 1);
  EXPECT_EQ(pool.allocate(2), (std::vector<BlockId>{3, blocks[1]}));
  EXPECT_EQ(pool.lookup(hash_n(7)), blocks[0]);
  pool.release(blocks[0]);  // back to the LRU tail, still cached
  EXPECT_EQ(pool.num_evictable_blocks(), 1);
  pool.check_invariants();
}

TEST(BlockPool, DuplicateHashStaysUncached) {
  BlockPool pool(4, true);
  auto blocks = pool.allocate(2);
  EXPECT_TRUE(pool.register_cached(blocks[0], hash_n(1)));
  EXPECT_FALSE(pool.register_cached(blocks[1], hash_n(1)));
  EXPECT_FALSE(pool.register_cached(blocks[0], hash_n(2)));  // already cached
  EXPECT_EQ(pool.lookup(hash_n(1)), blocks[0]);
  pool.release(blocks[1]);  // uncached: straight to the free list
  EXPECT_EQ(pool.num_evictable_blocks(), 0);
  pool.check_invariants();
}

TEST(BlockPool, CachingOffNeverRegisters) {
  BlockPool pool(4, false);
  auto blocks = pool.allocate(1);
  EXPECT_FALSE(pool.register_cached(blocks[0], hash_n(1)));
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  pool.release(blocks[0]);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  pool.check_invariants();
}

TEST(BlockPool, ResetPrefixCacheForgetsAllHashes) {
  BlockPool pool(5, true);
  auto blocks = pool.allocate(2);
  ASSERT_TRUE(pool.register_cached(blocks[0], hash_n(1)));
  ASSERT_TRUE(pool.register_cached(blocks[1], hash_n(2)));
  pool.release(blocks[0]);
  pool.reset_prefix_cache();
  EXPECT_EQ(pool.num_cached_blocks(), 0);
  EXPECT_EQ(pool.num_evictable_blocks(), 0);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  EXPECT_FALSE(pool.is_cached(blocks[1]));
  pool.release(blocks[1]);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  pool.check_invariants();
}

}  // namespace
}  // namespace tessera
