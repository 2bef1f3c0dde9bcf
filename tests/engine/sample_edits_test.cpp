// The device sampler's processor edits must do exactly what the host
// Sampler's processors do: applying each row's edits to random logits on the
// host gives bit-identical results to Sampler::process_logits.
#include "../../src/engine/sample_edits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace tessera {
namespace {

struct Case {
  SamplingParams params;
  std::vector<int32_t> prompt, output;
};

std::vector<Case> random_cases(int vocab, std::mt19937& rng) {
  std::vector<Case> cases;
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  for (int c = 0; c < 40; ++c) {
    Case k;
    SamplingParams& p = k.params;
    if (c % 2 == 0) p.repetition_penalty = 1.0f + 0.1f * float(c % 7);
    if (c % 3 == 0) p.presence_penalty = 0.5f - 0.2f * float(c % 5);
    if (c % 5 == 0) p.frequency_penalty = -0.3f + 0.25f * float(c % 4);
    if (c % 4 == 1)
      for (int i = 0; i < 5; ++i) p.logit_bias[token(rng)] = float(i) * 3.5f - 7.0f;
    if (c % 6 == 2) {
      p.min_tokens = 10;
      p.stop_token_ids = {token(rng), token(rng)};
      p.ignore_eos = c % 12 == 2;
    }
    for (int i = 0; i < 1 + c * 5; ++i) k.prompt.push_back(token(rng));
    // Outputs repeat tokens so the counts go above one.
    for (int i = 0; i < c * 2; ++i) k.output.push_back(i % 3 ? token(rng) % 50 : token(rng));
    cases.push_back(std::move(k));
  }
  return cases;
}

TEST(SampleEdits, MatchHostProcessorsBitForBit) {
  const int vocab = 1000;
  const std::vector<int32_t> eos = {vocab - 1};
  Sampler sampler(vocab, eos);
  SampleEditBuilder builder(vocab, eos);
  std::mt19937 rng(1234);
  std::normal_distribution<float> logit(0.0f, 3.0f);
  std::vector<cuda::SampleEdit> edits;
  for (const Case& k : random_cases(vocab, rng)) {
    std::vector<float> raw(vocab);
    for (float& x : raw) x = logit(rng);
    raw[5] = -0.0f;
    SequenceTokens seq{k.prompt, k.output};
    std::vector<float> expected = raw;
    sampler.process_logits(expected, k.params, seq);

    edits.assign(3, cuda::SampleEdit{});  // entries of earlier rows stay untouched
    const int count = builder.append(k.params, seq, edits);
    ASSERT_EQ(int(edits.size()), 3 + count);
    std::vector<float> got = raw;
    for (int e = 3; e < int(edits.size()); ++e) {
      if (e > 3) {
        ASSERT_LT(edits[e - 1].token, edits[e].token);  // sorted, one per token
      }
      got[edits[e].token] = apply_sample_edit(raw[edits[e].token], edits[e], k.params);
    }
    for (int i = 0; i < vocab; ++i)
      ASSERT_TRUE(got[i] == expected[i] || (std::isnan(got[i]) && std::isnan(expected[i])))
          << "token " << i << ": " << got[i] << " vs " << expected[i];
  }
}

TEST(SampleEdits, NoProcessorsNoEdits) {
  SampleEditBuilder builder(100, {99});
  std::vector<cuda::SampleEdit> edits;
  std::vector<int32_t> prompt = {1, 2, 3}, output = {4, 4};
  SamplingParams p;
  p.min_tokens = 2;  // already reached
  EXPECT_EQ(builder.append(p, {prompt, output}, edits), 0);
  EXPECT_TRUE(edits.empty());
  p.min_tokens = 3;  // not yet: the end token is banned
  ASSERT_EQ(builder.append(p, {prompt, output}, edits), 1);
  EXPECT_EQ(edits[0].token, 99);
  EXPECT_EQ(edits[0].flags, uint32_t(cuda::SampleEdit::kBanned));
}

}  // namespace
}  // namespace tessera
