#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "tessera/core/error.h"
#include "tessera/kv/kv_cache_manager.h"

namespace tessera {
namespace {

std::vector<int32_t> tokens_from(int32_t start, int n) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

KvCacheConfig config(int num_blocks, bool caching = true) {
  KvCacheConfig c;
  c.num_blocks = num_blocks;
  c.block_size = 16;
  c.enable_prefix_caching = caching;
  c.hash_seed = 1234;
  return c;
}

// Runs a whole prompt as one prefill step: lookup, allocate, commit.
int prefill(KvCacheManager& kv, RequestId id, const std::vector<int32_t>& prompt) {
  PrefixHit hit = kv.find_cached_prefix(prompt);
  const int n = static_cast<int>(prompt.size()) - hit.num_tokens;
  EXPECT_TRUE(kv.allocate_slots(id, n, &hit));
  kv.commit_tokens(id, std::span(prompt).subspan(hit.num_tokens));
  return hit.num_tokens;
}

TEST(KvCacheManager, BlocksForMemory) {
  EXPECT_EQ(blocks_for_memory(1000, 300), 3);
  EXPECT_EQ(blocks_for_memory(10, 300), 0);
  EXPECT_THROW(blocks_for_memory(10, 0), Error);
}

TEST(KvCacheManager, SecondRequestReusesA256TokenPrefix) {
  KvCacheManager kv(config(64));
  const auto prefix = tokens_from(1000, 256);
  const auto a = concat(prefix, tokens_from(5000, 40));
  const auto b = concat(prefix, tokens_from(7000, 30));
  EXPECT_EQ(prefill(kv, 1, a), 0);
  EXPECT_EQ(kv.num_computed_tokens(1), 296);
  EXPECT_EQ(kv.block_table(1).size(), 19u);  // ceil(296 / 16)

  const PrefixHit hit = kv.find_cached_prefix(b);
  EXPECT_EQ(hit.num_tokens, 256);
  ASSERT_TRUE(kv.allocate_slots(2, static_cast<int>(b.size()) - 256, &hit));
  EXPECT_EQ(kv.num_computed_tokens(2), 256);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(kv.block_table(2)[i], kv.block_table(1)[i]);
    EXPECT_EQ(kv.pool().ref_count(kv.block_table(2)[i]), 2);
  }
  EXPECT_NE(kv.block_table(2)[16], kv.block_table(1)[16]);
  kv.commit_tokens(2, std::span(b).subspan(256));

  const KvCacheStats s = kv.stats();
  EXPECT_EQ(s.prefix_query_tokens, static_cast<int64_t>(a.size() + b.size()));
  EXPECT_EQ(s.prefix_hit_tokens, 256);
  EXPECT_EQ(s.num_cached, 18 + 1);  // 18 full blocks of a, 1 more of b (17 full)
  kv.check_invariants();
  kv.free(1);
  kv.free(2);
  EXPECT_EQ(kv.stats().num_free, 63);
  kv.check_invariants();
}

TEST(KvCacheManager, LastPromptTokenIsNeverCached) {
  KvCacheManager kv(config(64));
  const auto prompt = tokens_from(1, 256);  // exactly 16 full blocks
  prefill(kv, 1, prompt);
  // The same prompt again: the last block must be recomputed for its logits.
  EXPECT_EQ(kv.find_cached_prefix(prompt).num_tokens, 240);
  // One more token: all 16 blocks hit.
  EXPECT_EQ(kv.find_cached_prefix(concat(prompt, {9})).num_tokens, 256);
  EXPECT_EQ(kv.find_cached_prefix(std::vector<int32_t>{}).num_tokens, 0);
}

TEST(KvCacheManager, ExtraKeySeparatesCaches) {
  KvCacheManager kv(config(64));
  const auto prompt = tokens_from(1, 100);
  PrefixHit hit = kv.find_cached_prefix(prompt, "lora:1");
  ASSERT_TRUE(kv.allocate_slots(1, 100, &hit));
  kv.commit_tokens(1, prompt);
  EXPECT_EQ(kv.find_cached_prefix(prompt, "lora:1").num_tokens, 96);
  EXPECT_EQ(kv.find_cached_prefix(prompt, "lora:2").num_tokens, 0);
  EXPECT_EQ(kv.find_cached_prefix(prompt).num_tokens, 0);
}

TEST(KvCacheManager, DecodeTokensFillAndCacheBlocks) {
  KvCacheManager kv(config(16));
  const auto prompt = tokens_from(1, 20);
  prefill(kv, 1, prompt);
  std::vector<int32_t> seq = prompt;
  for (int step = 0; step < 13; ++step) {  // 20 -> 33 tokens: block 2 fills at 32
    const int32_t fed = 500 + step;
    ASSERT_TRUE(kv.allocate_slots(1, 1));
    const int pos = kv.num_computed_tokens(1);
    EXPECT_EQ(kv.slot(1, pos), kv.block_table(1)[pos / 16] * 16 + pos % 16);
    kv.commit_tokens(1, std::vector<int32_t>{fed});
    seq.push_back(fed);
  }
  EXPECT_EQ(kv.num_computed_tokens(1), 33);
  EXPECT_EQ(kv.num_allocated_tokens(1), 48);
  EXPECT_EQ(kv.stats().num_cached, 2);
  // A preempted-and-resumed copy of the sequence finds both full blocks.
  EXPECT_EQ(kv.find_cached_prefix(seq).num_tokens, 32);
  std::vector<int32_t> slots(3);
  kv.slot_mapping(1, 15, 3, slots.data());
  EXPECT_EQ(slots[0], kv.block_table(1)[0] * 16 + 15);
  EXPECT_EQ(slots[1], kv.block_table(1)[1] * 16);
  EXPECT_THROW(kv.slot(1, 48), Error);
  kv.check_invariants();
}

TEST(KvCacheManager, AllocationFailureChangesNothing) {
  KvCacheManager kv(config(5));  // 4 usable blocks = 64 tokens
  EXPECT_FALSE(kv.allocate_slots(1, 65));
  EXPECT_FALSE(kv.has_request(1));
  ASSERT_TRUE(kv.allocate_slots(1, 50));
  kv.commit_tokens(1, tokens_from(0, 50));
  EXPECT_EQ(kv.num_blocks_needed(1, 20), 1);
  EXPECT_FALSE(kv.allocate_slots(1, 15));
  EXPECT_EQ(kv.num_allocated_tokens(1), 64);
  EXPECT_TRUE(kv.allocate_slots(1, 14));  // fits in the last block
  EXPECT_EQ(kv.stats().num_free, 0);
  EXPECT_FALSE(kv.allocate_slots(2, 1));
  EXPECT_THROW(kv.commit_tokens(1, tokens_from(0, 100)), Error);  // more than allocated
  kv.check_invariants();
}

TEST(KvCacheManager, EvictionUnderPressureTakesSequenceTailsFirst) {
  KvCacheManager kv(config(9));                 // 8 usable blocks
  const auto a = tokens_from(100, 16 * 6 + 1);  // 6 full blocks + 1 token
  prefill(kv, 1, a);
  kv.free(1);
  EXPECT_EQ(kv.stats().num_evictable, 6);
  EXPECT_EQ(kv.stats().num_free, 8);
  // b needs 5 blocks: 1 free-and-uncached (a's partial block), 1 never used,
  // then 3 evictions, which must take a's last three blocks.
  const auto b = tokens_from(9000, 16 * 5);
  prefill(kv, 2, b);
  EXPECT_EQ(kv.stats().evictions, 3);
  EXPECT_EQ(kv.find_cached_prefix(a).num_tokens, 48);  // a's first 3 blocks remain
  kv.free(2);
  kv.check_invariants();
}

TEST(KvCacheManager, StaleHitIsRefused) {
  KvCacheManager kv(config(5));  // 4 usable blocks
  const auto a = tokens_from(1, 33);
  prefill(kv, 1, a);
  kv.free(1);
  const PrefixHit hit = kv.find_cached_prefix(a);
  ASSERT_EQ(hit.num_tokens, 32);
  ASSERT_TRUE(kv.allocate_slots(2, 64));  // evicts a's blocks
  const KvCacheStats before = kv.stats();
  EXPECT_FALSE(kv.allocate_slots(3, 1, &hit));
  EXPECT_FALSE(kv.has_request(3));
  // Only admitted requests count towards the hit rate.
  EXPECT_EQ(kv.stats().prefix_query_tokens, before.prefix_query_tokens);
  EXPECT_EQ(kv.stats().prefix_hit_tokens, before.prefix_hit_tokens);
  kv.check_invariants();
}

TEST(KvCacheManager, HitBlocksAreNotCountedTwiceAsFree) {
  KvCacheManager kv(config(5));  // 4 usable blocks
  const auto a = tokens_from(1, 33);
  prefill(kv, 1, a);  // 3 blocks, 2 cached
  kv.free(1);
  const PrefixHit hit = kv.find_cached_prefix(a);
  ASSERT_EQ(hit.num_tokens, 32);
  // 4 free blocks, of which 2 are the hit: room for 2 more, not 4.
  EXPECT_EQ(kv.num_blocks_needed(2, 1), 1);
  EXPECT_FALSE(kv.allocate_slots(2, 33 + 16, &hit));
  ASSERT_TRUE(kv.allocate_slots(2, 32, &hit));
  EXPECT_EQ(kv.stats().num_free, 0);
  kv.check_invariants();
}

TEST(KvCacheManager, ForkSharesBlocksAndCopiesOnWrite) {
  KvCacheManager kv(config(16));
  const auto prompt = tokens_from(1, 20);  // blocks: [full][4 of 16]
  prefill(kv, 1, prompt);
  const auto parent_table =
      std::vector<BlockId>(kv.block_table(1).begin(), kv.block_table(1).end());
  kv.fork(1, 2);
  kv.fork(1, 3);
  EXPECT_EQ(kv.num_computed_tokens(3), 20);
  for (BlockId b : parent_table) EXPECT_EQ(kv.pool().ref_count(b), 3);
  EXPECT_THROW(kv.fork(1, 2), Error);

  // Child 2 writes position 20 into the shared partial block: it gets a copy.
  ASSERT_TRUE(kv.allocate_slots(2, 1));
  const auto copies = kv.take_block_copies();
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, parent_table[1]);
  EXPECT_EQ(copies[0].dst, kv.block_table(2)[1]);
  EXPECT_NE(kv.block_table(2)[1], parent_table[1]);
  EXPECT_EQ(kv.block_table(2)[0], parent_table[0]);  // full block stays shared
  EXPECT_EQ(kv.pool().ref_count(parent_table[1]), 2);
  EXPECT_TRUE(kv.take_block_copies().empty());
  // Child 3 copies too; then the parent owns the old block alone, no copy.
  ASSERT_TRUE(kv.allocate_slots(3, 1));
  EXPECT_EQ(kv.take_block_copies().size(), 1u);
  ASSERT_TRUE(kv.allocate_slots(1, 1));
  EXPECT_TRUE(kv.take_block_copies().empty());
  EXPECT_EQ(kv.block_table(1)[1], parent_table[1]);
  EXPECT_EQ(kv.pool().ref_count(parent_table[0]), 3);
  for (RequestId id : {1, 2, 3}) kv.commit_tokens(id, std::vector<int32_t>{int32_t(100 + id)});
  kv.check_invariants();
  for (RequestId id : {1, 2, 3}) kv.free(id);
  EXPECT_EQ(kv.stats().num_free, 15);
  kv.check_invariants();
}

TEST(KvCacheManager, ForkAtBlockBoundaryNeedsNoCopy) {
  KvCacheManager kv(config(16));
  prefill(kv, 1, tokens_from(1, 32));
  kv.fork(1, 2);
  ASSERT_TRUE(kv.allocate_slots(2, 1));
  EXPECT_TRUE(kv.take_block_copies().empty());
  EXPECT_EQ(kv.block_table(2).size(), 3u);
  ASSERT_TRUE(kv.allocate_slots(1, 1));
  EXPECT_NE(kv.block_table(1)[2], kv.block_table(2)[2]);
  // Fork with uncommitted slots is a caller bug.
  EXPECT_THROW(kv.fork(1, 3), Error);
  kv.check_invariants();
}

TEST(KvCacheManager, CopyIntoFreedRequestIsDropped) {
  KvCacheManager kv(config(16));
  prefill(kv, 1, tokens_from(1, 20));
  kv.fork(1, 2);
  ASSERT_TRUE(kv.allocate_slots(2, 1));
  kv.free(2);  // preempted in the same step
  EXPECT_TRUE(kv.take_block_copies().empty());
  kv.check_invariants();
}

TEST(KvCacheManager, PreemptAndResumeRecomputesOnlyTheUncachedTail) {
  KvCacheManager kv(config(32));
  auto seq = tokens_from(1, 40);
  prefill(kv, 1, seq);
  seq.push_back(2000);             // sampled from the prefill's last logits
  for (int i = 1; i <= 30; ++i) {  // each step feeds the last sampled token
    ASSERT_TRUE(kv.allocate_slots(1, 1));
    kv.commit_tokens(1, std::vector<int32_t>{seq.back()});
    seq.push_back(2000 + i);
  }
  ASSERT_EQ(kv.num_computed_tokens(1), 70);
  kv.free(1);  // preemption
  EXPECT_EQ(kv.stats().num_free, 31);
  EXPECT_EQ(kv.stats().num_evictable, 4);
  const PrefixHit hit = kv.find_cached_prefix(seq);
  EXPECT_EQ(hit.num_tokens, 64);
  ASSERT_TRUE(kv.allocate_slots(1, static_cast<int>(seq.size()) - 64, &hit));
  kv.commit_tokens(1, std::span(seq).subspan(64));
  EXPECT_EQ(kv.num_computed_tokens(1), 71);
  kv.check_invariants();
}

TEST(KvCacheManager, NoPrefixCachingMode) {
  KvCacheManager kv(config(32, false));
  const auto prompt = tokens_from(1, 100);
  EXPECT_EQ(prefill(kv, 1, prompt), 0);
  EXPECT_EQ(prefill(kv, 2, prompt), 0);
  EXPECT_EQ(kv.stats().num_cached, 0);
  EXPECT_EQ(kv.stats().prefix_query_tokens, 0);
  kv.free(1);
  kv.free(2);
  EXPECT_EQ(kv.stats().num_free, 31);
  EXPECT_EQ(kv.stats().num_evictable, 0);
  kv.check_invariants();
}

TEST(KvCacheManager, DuplicateBlocksFromConcurrentPrefillsStayConsistent) {
  KvCacheManager kv(config(32));
  const auto prompt = tokens_from(1, 40);
  // Both miss the cache (scheduled in the same step), then both commit.
  PrefixHit h1 = kv.find_cached_prefix(prompt), h2 = kv.find_cached_prefix(prompt);
  ASSERT_TRUE(kv.allocate_slots(1, 40, &h1));
  ASSERT_TRUE(kv.allocate_slots(2, 40, &h2));
  kv.commit_tokens(1, prompt);
  kv.commit_tokens(2, prompt);
  EXPECT_EQ(kv.stats().num_cached, 2);  // request 2's copies stay uncached
  kv.check_invariants();
  kv.free(1);
  kv.free(2);
  EXPECT_EQ(kv.stats().num_evictable, 2);
  kv.check_invariants();
}

TEST(KvCacheManager, ResetPrefixCache) {
  KvCacheManager kv(config(32));
  const auto prompt = tokens_from(1, 40);
  prefill(kv, 1, prompt);
  kv.reset_prefix_cache();
  EXPECT_EQ(kv.find_cached_prefix(prompt).num_tokens, 0);
  kv.check_invariants();
  kv.free(1);
  EXPECT_EQ(kv.stats().num_evictable, 0);
  kv.check_invariants();
}

}  // namespace
}  // namespace tessera
