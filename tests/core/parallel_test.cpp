// parallel_for on the thread pool: every index exactly once, chunk bounds
// on multiples of the grain, nested calls run inline, exceptions reach the
// caller after all blocks are done, and calls from several threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tessera/core/parallel.h"

namespace tessera {
namespace {

class Threads : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = num_threads();
    set_num_threads(4);  // more threads than CI's cores: blocks get interleaved
  }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

TEST_F(Threads, CoversEveryIndexOnceOnGrainBoundaries) {
  for (int64_t n : {1, 7, 64, 1000, 100003})
    for (int64_t grain : {1, 3, 16}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_for(n, grain, [&](int64_t b, int64_t e) {
        EXPECT_EQ(b % grain, 0);
        EXPECT_TRUE(e == n || e % grain == 0);
        for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << n << " " << i;
    }
}

TEST_F(Threads, NestedCallsRunInline) {
  std::atomic<int64_t> sum{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      parallel_for(100, 1, [&](int64_t b2, int64_t e2) { sum += (e2 - b2) * (i + 1); });
  });
  EXPECT_EQ(sum.load(), 100 * 36);
}

TEST_F(Threads, AnExceptionReachesTheCallerAfterEveryBlock) {
  std::atomic<int> blocks{0};
  EXPECT_THROW(parallel_for(64, 1,
                            [&](int64_t b, int64_t) {
                              ++blocks;
                              if (b == 0) throw std::runtime_error("block 0");
                            }),
               std::runtime_error);
  const int after = blocks.load();
  EXPECT_GT(after, 0);
  // The pool still works, and no block of the failed call runs later.
  std::atomic<int64_t> n{0};
  parallel_for(1000, 1, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 1000);
  EXPECT_EQ(blocks.load(), after);
}

TEST_F(Threads, CallsFromSeveralThreadsAllComplete) {
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep)
        parallel_for(257, 2, [&](int64_t b, int64_t e) { total += e - b; });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 200 * 257);
}

// Back-to-back calls of different sizes with many threads: when a call
// returns, every block of it has run exactly once and none of the next call
// has run early. (A worker that saw the end of one call could once read the
// next call's size before the call was published, run one of its blocks and
// count it for that call, which then returned a block short.)
TEST_F(Threads, EachCallReturnsOnlyAfterAllItsBlocks) {
  set_num_threads(16);
  std::vector<std::atomic<int>> hits(64);
  for (int call = 0; call < 20000; ++call) {
    const int64_t n = 2 + (call * 7) % 61;  // sizes change from call to call
    for (int64_t i = 0; i < n; ++i) hits[size_t(i)].store(0, std::memory_order_relaxed);
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1, std::memory_order_relaxed);
    });
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(hits[size_t(i)].load(), 1) << "call " << call << " of " << n << ", index " << i;
  }
}

}  // namespace
}  // namespace tessera
