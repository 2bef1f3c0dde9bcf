// Sampler against numpy references (scripts/gen_sampling_reference.py):
// processed logits and final distributions compared exactly, and 100k draws
// per case checked with a chi-square test.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <vector>

#include "tessera/core/error.h"
#include "tessera/engine/sampler.h"

namespace tessera {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Case {
  std::string name;
  std::vector<float> logits, processed, probs, raw_logprobs;
  SamplingParams params;
  std::vector<int32_t> prompt, output, eos;
};

std::vector<float> floats(const nlohmann::json& j) {
  std::vector<float> v;
  for (const auto& x : j) v.push_back(x.is_null() ? kNegInf : x.get<float>());
  return v;
}

std::vector<Case> load_cases() {
  std::ifstream in(std::string(TESSERA_SOURCE_DIR) + "/tests/data/sampling_reference.json");
  const auto doc = nlohmann::json::parse(in);
  std::vector<Case> cases;
  for (const auto& c : doc["cases"]) {
    Case k;
    k.name = c["name"];
    k.logits = floats(c["logits"]);
    k.probs = floats(c["probs"]);
    if (c.contains("processed")) k.processed = floats(c["processed"]);
    if (c.contains("raw_logprobs")) k.raw_logprobs = floats(c["raw_logprobs"]);
    k.prompt = c["prompt"].get<std::vector<int32_t>>();
    k.output = c["output"].get<std::vector<int32_t>>();
    k.eos = c["eos"].get<std::vector<int32_t>>();
    const auto& p = c["params"];
    SamplingParams& s = k.params;
    s.temperature = p.value("temperature", 1.0f);
    s.top_k = p.value("top_k", 0);
    s.top_p = p.value("top_p", 1.0f);
    s.min_p = p.value("min_p", 0.0f);
    s.repetition_penalty = p.value("repetition_penalty", 1.0f);
    s.presence_penalty = p.value("presence_penalty", 0.0f);
    s.frequency_penalty = p.value("frequency_penalty", 0.0f);
    s.min_tokens = p.value("min_tokens", 0);
    s.ignore_eos = p.value("ignore_eos", false);
    s.stop_token_ids = p.value("stop_token_ids", std::vector<int32_t>{});
    if (p.contains("logit_bias"))
      for (const auto& [id, bias] : p["logit_bias"].items()) s.logit_bias[std::stoi(id)] = bias;
    s.validate();
    cases.push_back(std::move(k));
  }
  return cases;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = load_cases();
  return all;
}

// Upper critical value of chi-square(df) at p ~ 1e-6 (Wilson-Hilferty).
double chi2_critical(int df) {
  const double z = 4.753, a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

// Chi-square of observed counts against `probs`. Bins with expected counts
// under 5 are pooled; a draw where probs is 0 counts as a failure.
struct ChiSquare {
  double stat = 0.0;
  int df = 0;
  int impossible = 0;
};
ChiSquare chi_square(const std::vector<int>& counts, const std::vector<float>& probs, int draws) {
  ChiSquare r;
  double pooled_expected = 0.0, pooled_observed = 0.0;
  int bins = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    const double expected = static_cast<double>(probs[i]) * draws;
    if (probs[i] == 0.0f) {
      r.impossible += counts[i];
      continue;
    }
    if (expected < 5.0) {
      pooled_expected += expected;
      pooled_observed += counts[i];
      continue;
    }
    r.stat += (counts[i] - expected) * (counts[i] - expected) / expected;
    ++bins;
  }
  if (pooled_expected > 0.0) {
    r.stat +=
        (pooled_observed - pooled_expected) * (pooled_observed - pooled_expected) / pooled_expected;
    ++bins;
  }
  r.df = std::max(1, bins - 1);
  return r;
}

SequenceTokens history(const Case& c) { return {c.prompt, c.output}; }

TEST(Sampler, ProcessorsMatchReference) {
  for (const Case& c : cases()) {
    if (c.processed.empty()) continue;
    Sampler sampler(static_cast<int>(c.logits.size()), c.eos);
    std::vector<float> x = c.logits;
    sampler.process_logits(x, c.params, history(c));
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isinf(c.processed[i]))
        EXPECT_EQ(x[i], kNegInf) << c.name << " token " << i;
      else
        EXPECT_NEAR(x[i], c.processed[i], 1e-5 * (1 + std::abs(c.processed[i])))
            << c.name << " token " << i;
    }
  }
}

TEST(Sampler, ProbabilitiesMatchReference) {
  for (const Case& c : cases()) {
    Sampler sampler(static_cast<int>(c.logits.size()), c.eos);
    std::vector<float> probs(c.logits.size());
    sampler.probabilities(c.logits, c.params, history(c), probs);
    for (size_t i = 0; i < probs.size(); ++i) {
      if (c.probs[i] == 0.0f)
        EXPECT_EQ(probs[i], 0.0f) << c.name << " token " << i;
      else
        EXPECT_NEAR(probs[i], c.probs[i], 2e-6 + 1e-5 * c.probs[i]) << c.name << " token " << i;
    }
  }
}

TEST(Sampler, DrawsFollowTheReferenceDistribution) {
  for (const Case& c : cases()) {
    // Wide rows (several blocks of the dense draw) cost more per draw.
    const int kDraws = c.logits.size() > 64 ? 30000 : 100000;
    Sampler sampler(static_cast<int>(c.logits.size()), c.eos);
    RequestRng rng(0xC0FFEE + c.name.size());
    std::vector<int> counts(c.logits.size(), 0);
    for (int i = 0; i < kDraws; ++i)
      ++counts.at(sampler.sample(c.logits, c.params, history(c), rng).token);
    const ChiSquare chi = chi_square(counts, c.probs, kDraws);
    EXPECT_EQ(chi.impossible, 0) << c.name << ": drew a truncated token";
    EXPECT_LT(chi.stat, chi2_critical(chi.df)) << c.name << " df " << chi.df;
    EXPECT_EQ(rng.counter(), static_cast<uint64_t>(kDraws)) << "one draw per token";
    RecordProperty(c.name, std::to_string(chi.stat) + " df " + std::to_string(chi.df));
  }
}

// Independent top-p: full sort by (logit desc, id asc), double precision.
std::vector<bool> reference_top_p(const std::vector<float>& logits, double top_p, double t,
                                  double* margin) {
  const int n = static_cast<int>(logits.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  const double max = logits[order[0]];
  double total = 0.0;
  for (float x : logits) total += std::exp((x - max) / t);
  std::vector<bool> keep(n, false);
  double cum = 0.0;
  *margin = 1.0;
  for (int id : order) {
    *margin = std::min(*margin, std::abs(cum / total - top_p));
    if (cum / total >= top_p) break;
    keep[id] = true;
    cum += std::exp((logits[id] - max) / t);
  }
  return keep;
}

TEST(Sampler, TopPMatchesFullSortOnRandomRows) {
  std::mt19937 gen(77);
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int n = std::uniform_int_distribution<int>(1, 6000)(gen);
    std::vector<float> logits(n);
    std::normal_distribution<float> normal(0.0f, trial % 2 ? 1.0f : 4.0f);
    for (float& x : logits) x = normal(gen);
    if (trial % 3 == 0)  // coarse values: long runs of exact ties
      for (float& x : logits) x = std::round(x * 4.0f) / 4.0f;
    SamplingParams p;
    p.top_p = std::uniform_real_distribution<float>(0.01f, 0.999f)(gen);
    p.temperature = std::uniform_real_distribution<float>(0.3f, 2.0f)(gen);
    double margin = 0.0;
    const auto keep = reference_top_p(logits, p.top_p, p.temperature, &margin);
    if (margin < 1e-5) continue;  // too close to call in float
    Sampler sampler(n, {});
    std::vector<float> probs(n);
    sampler.probabilities(logits, p, {}, probs);
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(probs[i] > 0.0f, keep[i]) << "trial " << trial << " token " << i;
    ++checked;
  }
  EXPECT_GT(checked, 250);
}

TEST(Sampler, ChiSquareTestHasPower) {
  // The same draws judged against a slightly different temperature must fail,
  // so passing above means something.
  const Case* t1 = nullptr;
  const Case* t_other = nullptr;
  for (const Case& c : cases()) {
    if (c.name == "temperature_1") t1 = &c;
    if (c.name == "repetition_penalty") t_other = &c;  // a few logits changed
  }
  ASSERT_TRUE(t1 && t_other);
  Sampler sampler(static_cast<int>(t1->logits.size()), t1->eos);
  RequestRng rng(7);
  std::vector<int> counts(t1->logits.size(), 0);
  for (int i = 0; i < 100000; ++i) ++counts[sampler.sample(t1->logits, t1->params, {}, rng).token];
  const ChiSquare wrong = chi_square(counts, t_other->probs, 100000);
  EXPECT_GT(wrong.stat, 10 * chi2_critical(wrong.df));
}

TEST(Sampler, LogprobsAreRawLogSoftmax) {
  for (const Case& c : cases()) {
    if (c.raw_logprobs.empty()) continue;
    Sampler sampler(static_cast<int>(c.logits.size()), c.eos);
    SamplingParams p = c.params;
    p.logprobs = 3;
    RequestRng rng(11);
    const SampledToken t = sampler.sample(c.logits, p, history(c), rng);
    EXPECT_NEAR(t.logprob, c.raw_logprobs[t.token], 1e-5) << c.name;
    int rank = 1;
    for (float lp : c.raw_logprobs) rank += lp > c.raw_logprobs[t.token];
    EXPECT_EQ(t.rank, rank) << c.name;
    ASSERT_EQ(t.top_logprobs.size(), 3u);
    for (const LogprobEntry& e : t.top_logprobs) {
      EXPECT_NEAR(e.logprob, c.raw_logprobs[e.token], 1e-5) << c.name;
      int better = 0;  // exactly j entries beat the j-th one
      for (float lp : c.raw_logprobs) better += lp > c.raw_logprobs[e.token];
      EXPECT_LT(better, 3) << c.name;
    }
  }
}

TEST(Sampler, NoLogprobsUnlessAsked) {
  Sampler sampler(4, {});
  RequestRng rng(1);
  const std::vector<float> logits{0.0f, 1.0f, 2.0f, 3.0f};
  SamplingParams p;
  SampledToken t = sampler.sample(logits, p, {}, rng);
  EXPECT_EQ(t.rank, 0);
  EXPECT_TRUE(t.top_logprobs.empty());
  p.logprobs = 0;  // the sampled token's logprob only
  t = sampler.sample(logits, p, {}, rng);
  EXPECT_NE(t.rank, 0);
  EXPECT_TRUE(t.top_logprobs.empty());
}

TEST(Sampler, GreedyBreaksTiesToTheLowestId) {
  Sampler sampler(6, {});
  SamplingParams p;
  p.temperature = 0.0f;
  RequestRng rng(1);
  EXPECT_EQ(sampler.sample(std::vector<float>{1, 3, 0, 3, 2, 3}, p, {}, rng).token, 1);
  // Ties created by a penalty: token 4 (2.4 / 1.2 = 2.0) ties token 0 (2.0).
  p.repetition_penalty = 1.2f;
  const std::vector<int32_t> prompt{4};
  EXPECT_EQ(sampler.sample(std::vector<float>{2.0f, 1, 0, -1, 2.4f, 1}, p, {prompt, {}}, rng).token,
            0);
  // Greedy still takes its one draw.
  EXPECT_EQ(rng.counter(), 2u);
  // Top-k ties keep the lower ids too (k = 1 is greedy-like).
  SamplingParams k1;
  k1.top_k = 1;
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(sampler.sample(std::vector<float>{1, 3, 0, 3, 2, 3}, k1, {}, rng).token, 1);
}

TEST(Sampler, PenaltiesFollowTheHandFormulas) {
  Sampler sampler(5, {});
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  const std::vector<int32_t> prompt{0, 0, 1};
  const std::vector<int32_t> output{1, 2, 2, 2};
  std::vector<float> x{4.0f, -4.0f, 3.0f, 1.0f, -1.0f};
  sampler.process_logits(x, p, {prompt, output});
  EXPECT_FLOAT_EQ(x[0], 2.0f);                     // seen in prompt: 4 / 2
  EXPECT_FLOAT_EQ(x[1], -8.0f - 0.25f - 0.5f);     // -4 * 2, once in output
  EXPECT_FLOAT_EQ(x[2], 1.5f - 3 * 0.25f - 0.5f);  // 3 / 2, three times
  EXPECT_FLOAT_EQ(x[3], 1.0f);                     // unseen
  EXPECT_FLOAT_EQ(x[4], -1.0f);
}

TEST(Sampler, MinTokensSuppressesEosAndStopTokens) {
  Sampler sampler(4, {3});
  SamplingParams p;
  p.temperature = 0.0f;
  p.min_tokens = 2;
  p.stop_token_ids = {2};
  RequestRng rng(1);
  const std::vector<float> logits{0.0f, 1.0f, 5.0f, 9.0f};
  const std::vector<int32_t> one{1}, two{1, 1};
  EXPECT_EQ(sampler.sample(logits, p, {{}, one}, rng).token, 1);
  EXPECT_EQ(sampler.sample(logits, p, {{}, two}, rng).token, 3);
  p.ignore_eos = true;
  EXPECT_EQ(sampler.sample(logits, p, {{}, one}, rng).token, 3);
}

TEST(Sampler, EverythingSuppressedFallsBackToRawArgmax) {
  Sampler sampler(3, {0, 1, 2});
  SamplingParams p;
  p.min_tokens = 1;
  RequestRng rng(1);
  const std::vector<float> logits{0.0f, 2.0f, 1.0f};
  EXPECT_EQ(sampler.sample(logits, p, {}, rng).token, 1);
}

TEST(Sampler, NanLogitsAreNeverSampled) {
  Sampler sampler(4, {});
  RequestRng rng(3);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> logits{nan, 0.0f, nan, 0.5f};
  SamplingParams p;
  for (int i = 0; i < 200; ++i) {
    const int32_t t = sampler.sample(logits, p, {}, rng).token;
    EXPECT_TRUE(t == 1 || t == 3);
  }
}

TEST(Sampler, RejectsRowsOfTheWrongSize) {
  Sampler sampler(4, {});
  RequestRng rng(1);
  EXPECT_THROW(sampler.sample(std::vector<float>(3), SamplingParams{}, {}, rng), Error);
  EXPECT_THROW(Sampler(0, {}), Error);
}

// ---- Random numbers

TEST(Philox, MatchesRandom123KnownAnswers) {
  using W = std::array<uint32_t, 4>;
  EXPECT_EQ(philox4x32({0, 0, 0, 0}, {0, 0}), (W{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (W{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (W{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(RequestRng, UniformsLookUniform) {
  RequestRng rng(123);
  constexpr int kDraws = 200000, kBins = 50;
  std::vector<int> counts(kBins, 0);
  double sum = 0.0;
  for (int i = 0; i < kDraws; ++i) {
    const double u = rng.next_uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    ++counts[static_cast<int>(u * kBins)];
  }
  EXPECT_NEAR(sum / kDraws, 0.5, 0.005);
  const ChiSquare chi = chi_square(counts, std::vector<float>(kBins, 1.0f / kBins), kDraws);
  EXPECT_LT(chi.stat, chi2_critical(chi.df));
}

TEST(RequestRng, SeededRequestsIgnoreTheirBatch) {
  // A seeded request samples the same tokens alone and in a busy batch.
  constexpr int kVocab = 50, kSteps = 200;
  auto logits_at = [](int step) {
    std::vector<float> v(kVocab);
    for (int i = 0; i < kVocab; ++i) v[i] = std::sin(0.37f * i + 0.11f * step);
    return v;
  };
  SamplingParams p;
  p.seed = 42;
  p.top_p = 0.9f;
  auto run = [&](bool busy) {
    Sampler sampler(kVocab, {});
    RequestRng rng = RequestRng::for_request(p);
    std::vector<RequestRng> others;
    for (int i = 0; i < 3; ++i) others.push_back(RequestRng::for_request(SamplingParams{}));
    std::vector<int32_t> tokens;
    for (int step = 0; step < kSteps; ++step) {
      if (busy)
        for (auto& o : others) sampler.sample(logits_at(step + 1), SamplingParams{}, {}, o);
      tokens.push_back(sampler.sample(logits_at(step), p, {}, rng).token);
    }
    return tokens;
  };
  const auto alone = run(false);
  EXPECT_EQ(run(true), alone);
  // A different stream (child 1 of n) or seed gives a different sequence.
  Sampler sampler(kVocab, {});
  RequestRng child = RequestRng::for_request(p, 1);
  int same = 0;
  for (int step = 0; step < kSteps; ++step)
    same += sampler.sample(logits_at(step), p, {}, child).token == alone[step];
  EXPECT_LT(same, kSteps / 2);
}

TEST(RequestRng, UnseededRequestsGetDistinctSeeds) {
  const SamplingParams p;
  EXPECT_NE(RequestRng::for_request(p).seed(), RequestRng::for_request(p).seed());
  SeedGenerator a(5), b(5);
  EXPECT_EQ(RequestRng::for_request(p, 0, &a).seed(), RequestRng::for_request(p, 0, &b).seed());
  EXPECT_NE(a.next(), RequestRng::for_request(p, 0, &a).seed());
}

}  // namespace
}  // namespace tessera
