#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "tessera/core/error.h"
#include "tessera/engine/sampler.h"

namespace tessera {
namespace {

// Reference: full sort by (value desc, id asc).
std::vector<int32_t> full_sort_top(const std::vector<float>& v, int k) {
  std::vector<int32_t> ids(v.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return v[a] > v[b]; });
  ids.resize(std::min<size_t>(k, ids.size()));
  return ids;
}

std::vector<double> reference_log_softmax(const std::vector<float>& v) {
  double m = -INFINITY;
  for (float x : v) m = std::max(m, static_cast<double>(x));
  double s = 0.0;
  for (float x : v) s += std::exp(x - m);
  std::vector<double> out;
  for (float x : v) out.push_back(x - m - std::log(s));
  return out;
}

TEST(SelectTopK, MatchesFullSortIncludingTies) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = std::uniform_int_distribution<int>(1, 3000)(rng);
    const int k = std::uniform_int_distribution<int>(0, trial % 3 == 0 ? n + 2 : 40)(rng);
    std::vector<float> v(n);
    // Few distinct values, so ties are everywhere.
    for (float& x : v) x = static_cast<float>(std::uniform_int_distribution<int>(-20, 20)(rng));
    if (trial % 7 == 0) v[0] = -INFINITY;
    std::vector<int32_t> got;
    select_top_k(v, k, got);
    EXPECT_EQ(got, full_sort_top(v, k)) << "n " << n << " k " << k;
  }
}

TEST(Logprobs, LogSoftmaxAndTopLogprobs) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(1000);
  for (float& x : logits) x = normal(rng);
  const auto ref = reference_log_softmax(logits);
  std::vector<float> out(logits.size());
  log_softmax(logits, out);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], 1e-5);
  EXPECT_NEAR(logsumexp(logits), logits[0] - ref[0], 1e-5);
  const auto top = top_logprobs(logits, 5);
  const auto ids = full_sort_top(logits, 5);
  ASSERT_EQ(top.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(top[i].token, ids[i]);
    EXPECT_NEAR(top[i].logprob, ref[ids[i]], 1e-5);
  }
  EXPECT_EQ(logsumexp(std::vector<float>{}), -INFINITY);
}

TEST(PromptLogprobs, ScoresEachNextToken) {
  constexpr int kVocab = 300, kRows = 37;
  std::mt19937 rng(21);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> rows(kVocab * kRows);
  for (float& x : rows) x = normal(rng);
  std::vector<int32_t> next(kRows);
  for (auto& t : next) t = std::uniform_int_distribution<int>(0, kVocab - 1)(rng);
  const auto got = prompt_logprobs(rows, kVocab, next, 4);
  ASSERT_EQ(got.size(), static_cast<size_t>(kRows));
  for (int r = 0; r < kRows; ++r) {
    const std::vector<float> row(rows.begin() + r * kVocab, rows.begin() + (r + 1) * kVocab);
    const auto ref = reference_log_softmax(row);
    EXPECT_EQ(got[r].token, next[r]);
    EXPECT_NEAR(got[r].logprob, ref[next[r]], 1e-5);
    int rank = 1;
    for (double lp : ref) rank += lp > ref[next[r]];
    EXPECT_EQ(got[r].rank, rank);
    const auto ids = full_sort_top(row, 4);
    ASSERT_EQ(got[r].top.size(), 4u);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(got[r].top[i].token, ids[i]);
      EXPECT_NEAR(got[r].top[i].logprob, ref[ids[i]], 1e-5);
    }
  }
  EXPECT_THROW(prompt_logprobs(rows, kVocab, std::vector<int32_t>(kRows, kVocab), 1), Error);
  EXPECT_THROW(prompt_logprobs(rows, kVocab, std::vector<int32_t>(3, 0), 1), Error);
}

}  // namespace
}  // namespace tessera
