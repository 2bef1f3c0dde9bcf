#include <gtest/gtest.h>

#include <numeric>
#include <unordered_set>
#include <vector>

#include "tessera/kv/block_hash.h"

namespace tessera {
namespace {

std::vector<int32_t> iota_tokens(int n, int32_t start) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(BlockHash, SameInputsSameHash) {
  BlockHasher a(42), b(42);
  const auto tokens = iota_tokens(16, 100);
  EXPECT_EQ(a.hash(kRootBlockHash, tokens, ""), b.hash(kRootBlockHash, tokens, ""));
  const BlockHash parent = a.hash(kRootBlockHash, tokens, "");
  EXPECT_EQ(a.hash(parent, tokens, "lora:1"), b.hash(parent, tokens, "lora:1"));
}

TEST(BlockHash, EveryInputChangesTheHash) {
  BlockHasher h(42);
  const auto tokens = iota_tokens(16, 100);
  const BlockHash base = h.hash(kRootBlockHash, tokens, "");
  const BlockHash parent = h.hash(kRootBlockHash, iota_tokens(16, 0), "");
  EXPECT_NE(h.hash(parent, tokens, ""), base);                        // different parent
  EXPECT_NE(h.hash(kRootBlockHash, tokens, "x"), base);               // extra key (LoRA, salt)
  EXPECT_NE(BlockHasher(43).hash(kRootBlockHash, tokens, ""), base);  // seed
  for (int i = 0; i < 16; ++i) {
    auto changed = tokens;
    changed[i] += 1;
    EXPECT_NE(h.hash(kRootBlockHash, changed, ""), base) << "token " << i;
  }
  // Both halves carry information.
  EXPECT_NE(base.lo, 0u);
  EXPECT_NE(base.hi, 0u);
}

TEST(BlockHash, ChainsOfDistinctPrefixesDoNotCollide) {
  BlockHasher h(7);
  std::unordered_set<BlockHash, BlockHashHasher> seen;
  // 200 chains x 50 blocks: distinct first blocks, then identical tokens.
  for (int chain = 0; chain < 200; ++chain) {
    BlockHash parent = kRootBlockHash;
    for (int block = 0; block < 50; ++block) {
      parent = h.hash(parent, iota_tokens(16, block == 0 ? 100000 + chain : block % 4), "");
      EXPECT_TRUE(seen.insert(parent).second);
    }
  }
}

TEST(BlockHash, RandomSeedsDiffer) {
  EXPECT_NE(BlockHasher::random_seed(), BlockHasher::random_seed());
}

}  // namespace
}  // namespace tessera
