#include "tessera/tokenizer/bpe.h"

#include <map>
#include <random>

#include <gtest/gtest.h>

namespace tessera::tokenizer {
namespace {

// The textbook loop, written for clarity: merge the lowest-rank adjacent
// pair (leftmost on ties) until none has a rule.
std::vector<int32_t> naive_bpe(
    std::vector<int32_t> s, const std::map<std::pair<int32_t, int32_t>, MergeTable::Rule>& rules) {
  while (true) {
    int best = -1;
    int32_t best_rank = 0;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      auto it = rules.find({s[i], s[i + 1]});
      if (it != rules.end() && (best < 0 || it->second.rank < best_rank)) {
        best = static_cast<int>(i);
        best_rank = it->second.rank;
      }
    }
    if (best < 0) return s;
    s[best] = rules.at({s[best], s[best + 1]}).merged;
    s.erase(s.begin() + best + 1);
  }
}

TEST(MergeTable, LowestRankFirst) {
  // a=0 b=1 c=2; "bc"=3 (rank 0), "ab"=4 (rank 1): "abc" -> a + bc.
  MergeTable t;
  t.add(1, 2, 0, 3);
  t.add(0, 1, 1, 4);
  std::vector<int32_t> s{0, 1, 2};
  t.merge(s);
  EXPECT_EQ(s, (std::vector<int32_t>{0, 3}));
}

TEST(MergeTable, LeftmostAmongEqualRanks) {
  MergeTable t;
  t.add(0, 0, 0, 5);  // "aa"
  std::vector<int32_t> s{0, 0, 0};
  t.merge(s);
  EXPECT_EQ(s, (std::vector<int32_t>{5, 0}));
  std::vector<int32_t> four{0, 0, 0, 0};
  t.merge(four);
  EXPECT_EQ(four, (std::vector<int32_t>{5, 5}));
}

TEST(MergeTable, FirstRuleForAPairWins) {
  MergeTable t;
  t.add(0, 1, 0, 7);
  t.add(0, 1, 3, 8);
  ASSERT_NE(t.find(0, 1), nullptr);
  EXPECT_EQ(t.find(0, 1)->merged, 7);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.find(1, 0), nullptr);
}

TEST(MergeTable, NegativeSymbolsNeverMerge) {
  MergeTable t;
  t.add(0, 1, 0, 2);
  std::vector<int32_t> s{0, -5, 1, 0, 1};
  t.merge(s);
  EXPECT_EQ(s, (std::vector<int32_t>{0, -5, 1, 2}));
}

TEST(MergeTable, MatchesTheTextbookLoopOnRandomInputs) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    const int alphabet = 2 + static_cast<int>(rng() % 4);
    MergeTable table;
    std::map<std::pair<int32_t, int32_t>, MergeTable::Rule> rules;
    int32_t next_id = alphabet;
    for (int r = 0; r < 12; ++r) {
      const int32_t l = static_cast<int32_t>(rng() % next_id);
      const int32_t rr = static_cast<int32_t>(rng() % next_id);
      if (rules.count({l, rr})) continue;
      rules[{l, rr}] = {r, next_id};
      table.add(l, rr, r, next_id);
      ++next_id;
    }
    std::vector<int32_t> s(1 + rng() % 40);
    for (auto& x : s) x = static_cast<int32_t>(rng() % alphabet);
    std::vector<int32_t> fast = s;
    table.merge(fast);
    EXPECT_EQ(fast, naive_bpe(s, rules)) << "round " << round;
  }
}

TEST(MergeTable, LongInputStaysFast) {
  MergeTable t;
  t.add(0, 0, 0, 1);
  t.add(1, 1, 1, 2);
  t.add(2, 2, 2, 3);
  std::vector<int32_t> s(200000, 0);
  t.merge(s);
  EXPECT_EQ(s.size(), 25000u);
  for (int32_t x : s) EXPECT_EQ(x, 3);
}

}  // namespace
}  // namespace tessera::tokenizer
