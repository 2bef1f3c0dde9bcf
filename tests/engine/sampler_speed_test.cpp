// Time per sampled token on large vocabularies (printed, not asserted: the
// machines running the tests vary). Checks only that the paths run and agree
// with probabilities() on which tokens can be drawn.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "tessera/engine/sampler.h"

namespace tessera {
namespace {

TEST(SamplerSpeed, LargeVocabularies) {
  for (int vocab : {49152, 262144}) {
    std::mt19937 gen(1);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<float> flat(vocab), peaked(vocab);
    for (int i = 0; i < vocab; ++i) flat[i] = peaked[i] = normal(gen);
    for (int i = 0; i < 20; ++i) peaked[gen() % vocab] += 12.0f;  // a typical LM row
    Sampler sampler(vocab, {0});
    std::vector<float> probs(vocab);
    struct Named {
      const char* name;
      SamplingParams params;
    };
    std::vector<Named> configs(6);
    configs[0] = {"greedy", {}};
    configs[0].params.temperature = 0.0f;
    configs[1] = {"temperature 0.8", {}};
    configs[1].params.temperature = 0.8f;
    configs[2] = {"top_k 50", {}};
    configs[2].params.top_k = 50;
    configs[3] = {"top_p 0.9", {}};
    configs[3].params.top_p = 0.9f;
    configs[4] = {"min_p 0.05", {}};
    configs[4].params.min_p = 0.05f;
    configs[5] = {"penalties+logprobs 5", {}};
    configs[5].params.repetition_penalty = 1.1f;
    configs[5].params.frequency_penalty = 0.5f;
    configs[5].params.logprobs = 5;
    std::vector<int32_t> prompt(2000), output(500);
    for (auto& t : prompt) t = gen() % vocab;
    for (auto& t : output) t = gen() % vocab;
    for (const auto& [name, params] : configs) {
      for (const auto* row : {&peaked, &flat}) {
        RequestRng rng(5);
        // Best of several rounds: other processes on the machine only add time.
        double ms = 1e30;
        int32_t token = 0;
        for (int round = 0; round < 5; ++round) {
          constexpr int kIters = 4;
          const auto start = std::chrono::steady_clock::now();
          for (int i = 0; i < kIters; ++i)
            token = sampler.sample(*row, params, {prompt, output}, rng).token;
          const std::chrono::duration<double, std::milli> took =
              std::chrono::steady_clock::now() - start;
          ms = std::min(ms, took.count() / kIters);
        }
        std::printf("vocab %6d  %-22s %-6s %7.3f ms/token\n", vocab, name,
                    row == &peaked ? "peaked" : "flat", ms);
        sampler.probabilities(*row, params, {prompt, output}, probs);
        EXPECT_GT(probs.at(token), 0.0f) << name;
      }
    }
  }
}

}  // namespace
}  // namespace tessera
