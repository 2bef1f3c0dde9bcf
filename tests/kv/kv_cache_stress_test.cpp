// Randomized engine-like traffic against the KV cache manager, checked
// against a simulated device memory: every block holds the token ids that
// were "written" into its slots. A request's view of its computed positions
// must always read back its own tokens, whatever prefix hits, forks, copies
// and evictions happened. That catches a wrong hit, an in-use block handed
// out again, a missed copy-on-write or a write into a shared block.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "tessera/kv/kv_cache_manager.h"

namespace tessera {
namespace {

struct StressConfig {
  bool prefix_caching;
  uint32_t seed;
};

class KvCacheStress : public ::testing::TestWithParam<StressConfig> {};

constexpr int kBlockSize = 4;
constexpr int kNumBlocks = 48;

struct Sim {
  explicit Sim(bool caching, uint32_t seed) : kv(make_config(caching)), rng(seed) {
    memory.assign(kNumBlocks, std::vector<int32_t>(kBlockSize, -1));
    for (int p = 0; p < 6; ++p) {  // shared prompt prefixes of 0..24 tokens
      std::vector<int32_t> prefix(uniform(0, 24));
      for (auto& t : prefix) t = uniform(0, 9);
      prefixes.push_back(prefix);
    }
  }

  static KvCacheConfig make_config(bool caching) {
    KvCacheConfig c;
    c.num_blocks = kNumBlocks;
    c.block_size = kBlockSize;
    c.enable_prefix_caching = caching;
    c.hash_seed = 99;
    return c;
  }

  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

  // A request's known tokens; the first `computed` of them hold KV. There is
  // always at least one uncomputed token (the one the next step feeds).
  struct Req {
    std::vector<int32_t> tokens;
    std::string extra_key;
  };

  // Starts (or resumes) a request: prefix lookup, then its first chunk.
  void admit(RequestId id, Req req) {
    const PrefixHit hit = kv.find_cached_prefix(req.tokens, req.extra_key);
    ASSERT_LT(hit.num_tokens, static_cast<int>(req.tokens.size()));
    for (int p = 0; p < hit.num_tokens; ++p)  // the cache never lies
      ASSERT_EQ(memory[hit.blocks[p / kBlockSize]][p % kBlockSize], req.tokens[p]) << "pos " << p;
    const int n = uniform(1, static_cast<int>(req.tokens.size()) - hit.num_tokens);
    if (!kv.allocate_slots(id, n, &hit)) {
      ASSERT_FALSE(kv.has_request(id));
      waiting.emplace(id, std::move(req));
      return;
    }
    running.emplace(id, std::move(req));
    run_step({{id, n}});
  }

  // One forward pass over the scheduled (request, token count) pairs.
  void run_step(const std::vector<std::pair<RequestId, int>>& scheduled) {
    for (const BlockCopy& c : kv.take_block_copies()) {
      ++copies;
      ASSERT_EQ(kv.pool().ref_count(c.dst), 1);
      memory[c.dst] = memory[c.src];
    }
    for (auto [id, n] : scheduled) {
      Req& req = running.at(id);
      const int first = kv.num_computed_tokens(id);
      for (int p = first; p < first + n; ++p) {
        const BlockId b = kv.block_table(id)[p / kBlockSize];
        ASSERT_EQ(kv.pool().ref_count(b), 1) << "write into a shared block";
        ASSERT_FALSE(kv.pool().is_cached(b)) << "write into a cached block";
        memory[b][p % kBlockSize] = req.tokens[p];
      }
      kv.commit_tokens(id, std::span(req.tokens).subspan(first, n));
      if (kv.num_computed_tokens(id) == static_cast<int>(req.tokens.size()))
        req.tokens.push_back(uniform(0, 9));  // sampled
    }
  }

  void step() {
    std::vector<std::pair<RequestId, int>> scheduled;
    std::vector<RequestId> ids;
    for (auto& [id, req] : running) ids.push_back(id);
    std::shuffle(ids.begin(), ids.end(), rng);
    ids.resize(std::min<size_t>(ids.size(), uniform(1, 6)));
    for (RequestId id : ids) {
      const Req& req = running.at(id);
      const int left = static_cast<int>(req.tokens.size()) - kv.num_computed_tokens(id);
      const int n = uniform(1, left);
      if (kv.allocate_slots(id, n)) {
        scheduled.emplace_back(id, n);
      } else {  // preempt: recompute later
        kv.free(id);
        waiting.emplace(id, running.at(id));
        running.erase(id);
      }
    }
    run_step(scheduled);
  }

  void check_views() {
    kv.check_invariants();
    for (auto& [id, req] : running) {
      const int computed = kv.num_computed_tokens(id);
      ASSERT_LT(computed, static_cast<int>(req.tokens.size()));
      for (int p = 0; p < computed; ++p)
        ASSERT_EQ(memory[kv.block_table(id)[p / kBlockSize]][p % kBlockSize], req.tokens[p])
            << "request " << id << " pos " << p;
    }
  }

  RequestId pick(const std::map<RequestId, Req>& from) {
    auto it = from.begin();
    std::advance(it, uniform(0, static_cast<int>(from.size()) - 1));
    return it->first;
  }

  KvCacheManager kv;
  std::mt19937 rng;
  std::vector<std::vector<int32_t>> memory;
  std::vector<std::vector<int32_t>> prefixes;
  std::map<RequestId, Req> running, waiting;
  RequestId next_id = 1;
  int copies = 0;
};

TEST_P(KvCacheStress, RandomTrafficKeepsEveryViewIntact) {
  Sim sim(GetParam().prefix_caching, GetParam().seed);
  int forks = 0, preempted_resumes = 0;
  for (int op = 0; op < 4000; ++op) {
    const int kind = sim.uniform(0, 99);
    if (kind < 20 && sim.running.size() < 12) {  // new request
      Sim::Req req;
      req.tokens = sim.prefixes[sim.uniform(0, 5)];
      for (int i = sim.uniform(1, 12); i > 0; --i) req.tokens.push_back(sim.uniform(0, 9));
      if (sim.uniform(0, 9) == 0) req.extra_key = "lora";
      sim.admit(sim.next_id++, std::move(req));
    } else if (kind < 30 && !sim.waiting.empty()) {  // resume a preempted one
      const RequestId id = sim.pick(sim.waiting);
      Sim::Req req = sim.waiting.at(id);
      sim.waiting.erase(id);
      sim.admit(id, std::move(req));
      ++preempted_resumes;
    } else if (kind < 40 && !sim.running.empty()) {  // finish or abort
      const RequestId id = sim.pick(sim.running);
      sim.kv.free(id);
      sim.running.erase(id);
    } else if (kind < 50 && !sim.running.empty() && sim.running.size() < 16) {  // n > 1
      const RequestId parent = sim.pick(sim.running);
      const RequestId child = sim.next_id++;
      Sim::Req req = sim.running.at(parent);
      const int computed = sim.kv.num_computed_tokens(parent);
      req.tokens.resize(computed);
      req.tokens.push_back(sim.uniform(0, 9));  // the child's own sample
      sim.kv.fork(parent, child);
      sim.running.emplace(child, std::move(req));
      ++forks;
    } else if (kind < 51) {
      sim.kv.reset_prefix_cache();
    } else if (!sim.running.empty()) {
      sim.step();
    }
    ASSERT_NO_FATAL_FAILURE(sim.check_views()) << "after op " << op;
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(forks, 50);
  EXPECT_GT(preempted_resumes, 20);
  EXPECT_GT(sim.copies, 20);
  const KvCacheStats stats = sim.kv.stats();
  std::printf("forks %d resumes %d copies %d hit tokens %lld / %lld evictions %lld\n", forks,
              preempted_resumes, sim.copies, static_cast<long long>(stats.prefix_hit_tokens),
              static_cast<long long>(stats.prefix_query_tokens),
              static_cast<long long>(stats.evictions));
  if (GetParam().prefix_caching) {
    EXPECT_GT(stats.prefix_hit_tokens, 0);
    EXPECT_GT(stats.evictions, 0);
  }
  // Everything freed: no leaks, every block allocatable again.
  for (auto& [id, req] : sim.running) sim.kv.free(id);
  sim.kv.check_invariants();
  EXPECT_EQ(sim.kv.num_requests(), 0);
  EXPECT_EQ(sim.kv.stats().num_free, kNumBlocks - 1);
  for (BlockId b = 1; b < kNumBlocks; ++b) EXPECT_EQ(sim.kv.pool().ref_count(b), 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, KvCacheStress,
                         ::testing::Values(StressConfig{true, 1}, StressConfig{true, 2},
                                           StressConfig{true, 3}, StressConfig{false, 4}),
                         [](const auto& info) {
                           return std::string(info.param.prefix_caching ? "cached" : "plain") +
                                  std::to_string(info.param.seed);
                         });

}  // namespace
}  // namespace tessera
