#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "tessera/core/error.h"
#include "tessera/engine/sampling_params.h"

namespace tessera {
namespace {

// Expects validate() to reject `p` with a message that starts with `param`.
void expect_rejected(const SamplingParams& p, const std::string& param,
                     const SamplingLimits& limits = {}) {
  try {
    p.validate(limits);
    ADD_FAILURE() << "accepted a bad " << param;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()).rfind(param, 0), 0u) << e.what();
  }
}

SamplingParams with(const std::function<void(SamplingParams&)>& change) {
  SamplingParams p;
  change(p);
  return p;
}

TEST(SamplingParams, DefaultsAreValid) {
  SamplingParams p;
  EXPECT_NO_THROW(p.validate());
  EXPECT_EQ(p.n, 1);
  EXPECT_FLOAT_EQ(p.temperature, 1.0f);
  EXPECT_FLOAT_EQ(p.top_p, 1.0f);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_FALSE(p.greedy());
  EXPECT_TRUE(with([](auto& p) { p.temperature = 0.0f; }).greedy());
}

TEST(SamplingParams, AcceptsTheEdgesOfEachRange) {
  for (auto change : std::vector<std::function<void(SamplingParams&)>>{
           [](auto& p) { p.temperature = 0.0f; },
           [](auto& p) { p.temperature = 5.0f; },
           [](auto& p) { p.top_k = -1; },
           [](auto& p) { p.top_k = 1; },
           [](auto& p) { p.top_p = 1e-6f; },
           [](auto& p) { p.min_p = 1.0f; },
           [](auto& p) { p.presence_penalty = -2.0f; },
           [](auto& p) { p.frequency_penalty = 2.0f; },
           [](auto& p) { p.repetition_penalty = 0.01f; },
           [](auto& p) {
             p.logit_bias = {{5, -100.0f}, {6, 100.0f}};
           },
           [](auto& p) { p.max_tokens = 1; },
           [](auto& p) {
             p.min_tokens = 4;
             p.max_tokens = 4;
           },
           [](auto& p) { p.logprobs = 0; },
           [](auto& p) { p.logprobs = 20; },
           [](auto& p) { p.prompt_logprobs = 5; },
           [](auto& p) {
             p.n = 2;
             p.best_of = 3;
           },
           [](auto& p) {
             p.use_beam_search = true;
             p.n = 2;
             p.beam_width = 4;
             p.temperature = 0.0f;
           },
       }) {
    EXPECT_NO_THROW(with(change).validate(SamplingLimits{.vocab_size = 100}));
  }
}

TEST(SamplingParams, RejectsOutOfRangeValuesNamingTheParameter) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  expect_rejected(with([](auto& p) { p.n = 0; }), "n");
  expect_rejected(with([](auto& p) {
                    p.n = 3;
                    p.best_of = 2;
                  }),
                  "best_of");
  expect_rejected(with([](auto& p) { p.temperature = -0.1f; }), "temperature");
  expect_rejected(with([&](auto& p) { p.temperature = nan; }), "temperature");
  expect_rejected(with([](auto& p) { p.temperature = INFINITY; }), "temperature");
  expect_rejected(with([](auto& p) { p.top_k = -2; }), "top_k");
  expect_rejected(with([](auto& p) { p.top_p = 0.0f; }), "top_p");
  expect_rejected(with([](auto& p) { p.top_p = 1.5f; }), "top_p");
  expect_rejected(with([&](auto& p) { p.top_p = nan; }), "top_p");
  expect_rejected(with([](auto& p) { p.min_p = -0.1f; }), "min_p");
  expect_rejected(with([](auto& p) { p.min_p = 1.1f; }), "min_p");
  expect_rejected(with([](auto& p) { p.repetition_penalty = 0.0f; }), "repetition_penalty");
  expect_rejected(with([](auto& p) { p.presence_penalty = 2.5f; }), "presence_penalty");
  expect_rejected(with([](auto& p) { p.frequency_penalty = -2.1f; }), "frequency_penalty");
  expect_rejected(with([](auto& p) { p.logit_bias = {{1, 101.0f}}; }), "logit_bias");
  expect_rejected(with([](auto& p) { p.logit_bias = {{-1, 1.0f}}; }), "logit_bias");
  expect_rejected(with([](auto& p) {
                    p.logit_bias = {{100, 1.0f}};
                  }),
                  "logit_bias", SamplingLimits{.vocab_size = 100});
  expect_rejected(with([](auto& p) { p.stop = {"ok", ""}; }), "stop");
  expect_rejected(with([](auto& p) { p.stop_token_ids = {100}; }), "stop_token_ids",
                  SamplingLimits{.vocab_size = 100});
  expect_rejected(with([](auto& p) { p.max_tokens = 0; }), "max_tokens");
  expect_rejected(with([](auto& p) { p.min_tokens = -1; }), "min_tokens");
  expect_rejected(with([](auto& p) {
                    p.min_tokens = 5;
                    p.max_tokens = 4;
                  }),
                  "min_tokens");
  expect_rejected(with([](auto& p) { p.logprobs = -1; }), "logprobs");
  expect_rejected(with([](auto& p) { p.logprobs = 21; }), "logprobs");
  expect_rejected(with([](auto& p) { p.prompt_logprobs = 21; }), "prompt_logprobs");
  expect_rejected(with([](auto& p) { p.length_penalty = INFINITY; }), "length_penalty");
  expect_rejected(with([](auto& p) {
                    p.use_beam_search = true;
                    p.n = 3;
                    p.beam_width = 2;
                  }),
                  "n");
  expect_rejected(with([](auto& p) {
                    p.use_beam_search = true;
                    p.top_p = 0.5f;
                  }),
                  "top_p");
}

TEST(SamplingParams, MessagesCarryTheOffendingValue) {
  try {
    with([](auto& p) { p.top_p = 1.5f; }).validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "top_p must be in (0, 1], got 1.5");
  }
}

TEST(SamplingParams, MaxLogprobsComesFromTheLimits) {
  const auto p = with([](auto& p) { p.logprobs = 50; });
  expect_rejected(p, "logprobs");
  EXPECT_NO_THROW(p.validate(SamplingLimits{.max_logprobs = 64}));
}

TEST(SamplingParams, EffectiveBeamWidth) {
  EXPECT_EQ(with([](auto& p) { p.n = 3; }).effective_beam_width(), 3);
  EXPECT_EQ(with([](auto& p) { p.best_of = 5; }).effective_beam_width(), 5);
  EXPECT_EQ(with([](auto& p) { p.beam_width = 4; }).effective_beam_width(), 4);
}

}  // namespace
}  // namespace tessera
