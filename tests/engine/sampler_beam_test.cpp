#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "tessera/engine/sampler.h"

namespace tessera {
namespace {

// Brute force: every (beam, token) pair, fully sorted.
std::vector<BeamCandidate> brute_force(const std::vector<float>& rows, int vocab,
                                       const std::vector<double>& cum, int width) {
  std::vector<BeamCandidate> all;
  for (int b = 0; b < static_cast<int>(cum.size()); ++b)
    for (int t = 0; t < vocab; ++t) all.push_back({b, t, cum[b] + rows[b * vocab + t]});
  std::sort(all.begin(), all.end(), [](const BeamCandidate& a, const BeamCandidate& x) {
    return std::make_tuple(-a.cum_logprob, a.beam, a.token) <
           std::make_tuple(-x.cum_logprob, x.beam, x.token);
  });
  all.resize(std::min<size_t>(all.size(), 2 * width));
  return all;
}

TEST(BeamSearch, TopCandidatesMatchBruteForce) {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 500; ++trial) {
    const int vocab = std::uniform_int_distribution<int>(1, 7)(rng);
    const int beams = std::uniform_int_distribution<int>(1, 4)(rng);
    const int width = std::uniform_int_distribution<int>(1, 5)(rng);
    std::vector<float> logits(beams * vocab), rows(beams * vocab);
    for (float& x : logits)  // coarse values: ties across beams and tokens
      x = static_cast<float>(std::uniform_int_distribution<int>(-4, 4)(rng)) * 0.5f;
    for (int b = 0; b < beams; ++b)
      log_softmax(std::span(logits).subspan(b * vocab, vocab),
                  std::span(rows).subspan(b * vocab, vocab));
    std::vector<double> cum(beams);
    for (double& c : cum) c = std::uniform_int_distribution<int>(-6, 0)(rng) * 0.5;
    EXPECT_EQ(top_beam_candidates(rows, vocab, cum, width), brute_force(rows, vocab, cum, width))
        << "trial " << trial;
  }
}

TEST(BeamSearch, LengthPenaltyScoreFollowsHf) {
  EXPECT_DOUBLE_EQ(beam_score(-6.0, 3, 1.0), -2.0);
  EXPECT_DOUBLE_EQ(beam_score(-6.0, 4, 0.0), -6.0);
  EXPECT_DOUBLE_EQ(beam_score(-6.0, 4, 2.0), -6.0 / 16.0);
  EXPECT_NEAR(beam_score(-5.0, 7, 0.6), -5.0 / std::pow(7.0, 0.6), 1e-12);
  // A longer hypothesis with a worse sum can win once lengths count.
  EXPECT_GT(beam_score(-9.0, 10, 1.0), beam_score(-4.0, 3, 1.0));
}

}  // namespace
}  // namespace tessera
