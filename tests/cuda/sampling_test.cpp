// The device sampler against the host Sampler and a float64 reference:
// greedy and logprobs exactly as the host, seeded draws the same as the host
// for the dense path, independent of the batch, never outside the top-k /
// top-p / min-p support, and distributed like the reference probabilities.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "../../src/engine/sample_edits.h"
#include "cuda/sampling_kernels.h"
#include "cuda_test_util.h"
#include "tessera/backend/cuda_sampling.h"
#include "tessera/engine/sampler.h"

namespace tessera::cuda_test {
namespace {

using cuda::SampleEdit;
using cuda::SampleJob;
using cuda::SampleLogprobs;

template <class T>
std::shared_ptr<void> to_device(const std::vector<T>& v) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, std::max<size_t>(v.size() * sizeof(T), 16)), cudaSuccess);
  if (!v.empty()) {
    EXPECT_EQ(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

struct Results {
  std::vector<int32_t> tokens;
  std::vector<SampleLogprobs> logprobs;
};

// Runs the kernel directly, outputs poisoned (all ones: token -1, NaN logprobs).
Results run_kernel(const std::vector<float>& logits, int vocab, const std::vector<SampleJob>& jobs,
                   const std::vector<SampleEdit>& edits) {
  auto d_logits = to_device(logits);
  auto d_jobs = to_device(jobs);
  auto d_edits = to_device(edits);
  auto d_tokens = to_device(std::vector<int32_t>(jobs.size()));
  auto d_lp = to_device(std::vector<SampleLogprobs>(jobs.size()));
  cudaMemset(d_tokens.get(), 0xff, jobs.size() * 4);
  cudaMemset(d_lp.get(), 0xff, jobs.size() * sizeof(SampleLogprobs));
  cuda::SampleArgs a;
  a.logits = static_cast<const float*>(d_logits.get());
  a.row_stride = vocab;
  a.vocab = vocab;
  a.jobs = static_cast<const SampleJob*>(d_jobs.get());
  a.num_jobs = int(jobs.size());
  a.edits = static_cast<const SampleEdit*>(d_edits.get());
  a.tokens = static_cast<int32_t*>(d_tokens.get());
  a.logprobs = static_cast<SampleLogprobs*>(d_lp.get());
  EXPECT_EQ(cuda::launch_sample(a, backend().stream()), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(backend().stream()), cudaSuccess);
  Results r{std::vector<int32_t>(jobs.size()), std::vector<SampleLogprobs>(jobs.size())};
  cudaMemcpy(r.tokens.data(), d_tokens.get(), jobs.size() * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(r.logprobs.data(), d_lp.get(), jobs.size() * sizeof(SampleLogprobs),
             cudaMemcpyDeviceToHost);
  for (int32_t t : r.tokens) EXPECT_TRUE(t >= 0 && t < vocab) << "token " << t;
  return r;
}

std::vector<float> random_logits(int rows, int vocab, std::mt19937& rng, float scale = 3.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(size_t(rows) * vocab);
  for (float& x : v) {
    do x = d(rng);
    while (x == 0.0f);
  }
  return v;
}

SampleJob job_for(const SamplingParams& p, int row, uint64_t seed, uint64_t counter) {
  SampleJob j;
  j.row = row;
  j.greedy = p.greedy();
  j.top_k = p.top_k;
  j.temperature = p.temperature;
  j.top_p = p.top_p;
  j.min_p = p.min_p;
  j.repetition_penalty = p.repetition_penalty;
  j.presence_penalty = p.presence_penalty;
  j.frequency_penalty = p.frequency_penalty;
  j.num_logprobs = p.logprobs ? *p.logprobs : -1;
  j.seed = seed;
  j.counter = counter;
  return j;
}

// Greedy picks exactly the host's token (processors, ties, all suppressed),
// and logprobs match the host's.
TEST(CudaSampling, GreedyAndLogprobsMatchHost) {
  for (int vocab : {128256, 1003}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE("seed " + std::to_string(seed) + " vocab " + std::to_string(vocab));
    std::mt19937 rng(seed);
    const int rows = 48;
    std::vector<float> logits = random_logits(rows, vocab, rng);
    std::uniform_int_distribution<int> tok(0, vocab - 1);
    // Ties at the maximum on some rows (the lowest id must win).
    for (int r = 0; r < rows; r += 3) {
      float* row = logits.data() + size_t(r) * vocab;
      const float m = *std::max_element(row, row + vocab) + 1.0f;
      const int a = tok(rng), b = tok(rng);
      row[std::max(a, b)] = m;
      row[std::min(a, b)] = m;
    }
    // Row 1: every token -inf or NaN but two, which min_tokens bans.
    float* all_out = logits.data() + size_t(vocab);
    for (int i = 0; i < vocab; ++i)
      all_out[i] =
          i % 2 ? std::numeric_limits<float>::quiet_NaN() : -std::numeric_limits<float>::infinity();
    all_out[vocab - 2] = 1.5f;
    all_out[7] = 1.5f;

    Sampler host(vocab, {vocab - 2});
    SampleEditBuilder builder(vocab, {vocab - 2});
    std::vector<SampleJob> jobs;
    std::vector<SampleEdit> edits;
    std::vector<SamplingParams> params(rows);
    std::vector<std::vector<int32_t>> prompts(rows), outputs(rows);
    for (int r = 0; r < rows; ++r) {
      SamplingParams& p = params[r];
      p.temperature = 0.0f;
      if (r % 4 == 1) p.repetition_penalty = 1.3f;
      if (r % 4 == 2) p.presence_penalty = 0.7f, p.frequency_penalty = 0.4f;
      if (r % 5 == 3) p.logit_bias = {{tok(rng), 30.0f}, {tok(rng), -100.0f}};
      if (r % 2 == 0) p.logprobs = r % 3 == 0 ? 0 : 1 + r % cuda::kMaxDeviceLogprobs;
      if (r == 1) p.min_tokens = 5, p.stop_token_ids = {7};
      for (int i = 0; i < 200; ++i) prompts[r].push_back(tok(rng));
      for (int i = 0; i < 30; ++i) outputs[r].push_back(i % 2 ? tok(rng) : tok(rng) % 20);
      if (r == 1) outputs[r].resize(2);
      SampleJob j = job_for(p, r, 1, 0);
      j.edit_begin = int(edits.size());
      j.edit_count = builder.append(p, {prompts[r], outputs[r]}, edits);
      jobs.push_back(j);
    }
    const Results got = run_kernel(logits, vocab, jobs, edits);
    for (int r = 0; r < rows; ++r) {
      SCOPED_TRACE("row " + std::to_string(r));
      RequestRng rr(1);
      const SampledToken want = host.sample(std::span(logits.data() + size_t(r) * vocab, vocab),
                                            params[r], {prompts[r], outputs[r]}, rr);
      ASSERT_EQ(got.tokens[r], want.token);
      if (!params[r].logprobs) continue;
      const SampleLogprobs& lp = got.logprobs[r];
      if (r != 1) {
        EXPECT_NEAR(lp.logprob, want.logprob, 1e-4);
      }
      EXPECT_EQ(lp.rank, want.rank);
      ASSERT_EQ(lp.num_top, int(want.top_logprobs.size()));
      for (int i = 0; i < lp.num_top; ++i) {
        EXPECT_EQ(lp.top_ids[i], want.top_logprobs[i].token);
        if (r != 1) {
          EXPECT_NEAR(lp.top_logprobs[i], want.top_logprobs[i].logprob, 1e-4);
        }
      }
    }
  }
}

// Seeded draws in the dense path (no top-k) use the host's draw and order:
// the same tokens but for rounding at a boundary.
TEST(CudaSampling, SeededDrawsMatchHostDensePath) {
  const int vocab = 32000, rows = 16, draws = 256;
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<float> logits = random_logits(rows, vocab, rng, 2.0f);
  Sampler host(vocab, {});
  std::vector<SampleJob> jobs;
  std::vector<SamplingParams> params;
  for (int k = 0; k < draws; ++k) {
    SamplingParams p;
    p.temperature = 0.6f + 0.1f * float(k % 6);
    p.top_p = k % 3 == 0 ? 1.0f : 0.8f;
    p.min_p = k % 4 == 0 ? 0.05f : 0.0f;
    params.push_back(p);
    SampleJob j = job_for(p, k % rows, 1000 + uint64_t(k), uint64_t(k * 7));
    j.stream = uint64_t(k % 3);
    jobs.push_back(j);
  }
  const Results got = run_kernel(logits, vocab, jobs, {});
  int same = 0;
  for (int k = 0; k < draws; ++k) {
    RequestRng rr(1000 + uint64_t(k), uint64_t(k % 3));
    rr.set_counter(uint64_t(k * 7));
    const SampledToken want =
        host.sample(std::span(logits.data() + size_t(k % rows) * vocab, vocab), params[k], {}, rr);
    same += got.tokens[k] == want.token;
  }
  EXPECT_GE(same, draws * 97 / 100) << same << " of " << draws;
}

// A job's token depends on its row, parameters and draw only: the same job
// among other jobs, at another position, gives the same token.
TEST(CudaSampling, TokensIndependentOfTheBatch) {
  const int vocab = 50000, rows = 8;
  std::mt19937 rng(fresh_seed());
  const std::vector<float> logits = random_logits(rows, vocab, rng);
  SamplingParams p;
  p.temperature = 1.1f;
  p.top_k = 400;
  p.top_p = 0.9f;
  std::vector<SampleJob> alone, crowd;
  for (int k = 0; k < 32; ++k) alone.push_back(job_for(p, k % rows, 77, uint64_t(k)));
  for (int k = 0; k < 32; ++k) {
    SamplingParams other = p;
    other.top_k = 0;
    other.temperature = 0.3f;
    crowd.push_back(job_for(other, (k * 3) % rows, 5, uint64_t(k)));
    crowd.push_back(alone[size_t(31 - k)]);
  }
  const Results a = run_kernel(logits, vocab, alone, {});
  const Results b = run_kernel(logits, vocab, crowd, {});
  for (int k = 0; k < 32; ++k) EXPECT_EQ(a.tokens[size_t(31 - k)], b.tokens[size_t(2 * k + 1)]);
}

// The float64 reference distribution: processed logits (no processors here)
// sorted best first (ties: lower id), top-k prefix, top-p prefix, min-p.
// Returns probabilities, and `allowed` with a little slack at each boundary.
std::vector<double> reference_probs(const float* x, int vocab, const SamplingParams& p,
                                    std::vector<bool>* allowed) {
  std::vector<int> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return x[a] > x[b]; });
  const double m = x[order[0]];
  std::vector<double> w(vocab);
  for (int i = 0; i < vocab; ++i) w[i] = std::exp((double(x[i]) - m) / p.temperature);
  int keep = p.top_k > 0 && p.top_k < vocab ? p.top_k : vocab;
  int keep_loose = keep;
  if (p.top_p < 1.0f) {
    double total = 0, cum = 0;
    for (int j = 0; j < keep; ++j) total += w[order[j]];
    int j = 0, loose = 0;
    while (j < keep && cum < p.top_p * total * (1 - 1e-6)) cum += w[order[j++]];
    loose = j;
    while (loose < keep && cum < p.top_p * total * (1 + 1e-6)) cum += w[order[loose++]];
    keep_loose = std::max(loose, 1);
    // the strict prefix
    cum = 0;
    j = 0;
    while (j < keep && cum < p.top_p * total) cum += w[order[j++]];
    keep = std::max(j, 1);
  }
  std::vector<double> probs(vocab, 0.0);
  if (allowed) allowed->assign(vocab, false);
  double total = 0;
  for (int j = 0; j < keep_loose; ++j) {
    const int t = order[j];
    if (w[t] < p.min_p * (1 - 1e-5)) continue;
    if (allowed) (*allowed)[t] = true;
    if (j < keep && w[t] >= p.min_p) {
      probs[t] = w[t];
      total += w[t];
    }
  }
  for (double& q : probs) q /= total;
  return probs;
}

TEST(CudaSampling, TruncationSupportNeverViolated) {
  const int vocab = 4099, rows = 16, draws = 2000;
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  std::vector<float> logits = random_logits(rows, vocab, rng);
  // Coarse values on half the rows: many ties, at every cut.
  for (size_t i = 0; i < logits.size() / 2; ++i) logits[i] = std::round(logits[i] * 2.0f) / 2.0f;
  std::uniform_int_distribution<int> k_dist(1, 300);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<SampleJob> jobs;
  std::vector<SamplingParams> params;
  for (int k = 0; k < draws; ++k) {
    SamplingParams p;
    p.temperature = 0.2f + 1.5f * unit(rng);
    p.top_k = k % 3 == 0 ? 0 : k_dist(rng);
    p.top_p = k % 2 ? 0.2f + 0.8f * unit(rng) : 1.0f;
    p.min_p = k % 5 == 0 ? 0.2f * unit(rng) : 0.0f;
    params.push_back(p);
    jobs.push_back(job_for(p, k % rows, uint64_t(seed) + uint64_t(k), 3));
  }
  const Results got = run_kernel(logits, vocab, jobs, {});
  for (int k = 0; k < draws; ++k) {
    std::vector<bool> allowed;
    reference_probs(logits.data() + size_t(k % rows) * vocab, vocab, params[k], &allowed);
    ASSERT_TRUE(allowed[size_t(got.tokens[k])])
        << "draw " << k << " token " << got.tokens[k] << " top_k " << params[k].top_k << " top_p "
        << params[k].top_p << " min_p " << params[k].min_p;
  }
}

// Many seeded draws from one row follow the reference probabilities
// (chi-square over the support, pooled tail).
TEST(CudaSampling, DrawsFollowTheDistribution) {
  const int vocab = 64, draws = 60000;
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<float> logits = random_logits(1, vocab, rng, 1.5f);
  std::vector<SamplingParams> cases(3);
  cases[0].temperature = 1.3f;
  cases[1].temperature = 0.8f, cases[1].top_k = 20, cases[1].top_p = 0.9f;
  cases[2].temperature = 1.0f, cases[2].top_p = 0.95f, cases[2].min_p = 0.02f;
  for (const SamplingParams& p : cases) {
    std::vector<SampleJob> jobs;
    for (int k = 0; k < draws; ++k) jobs.push_back(job_for(p, 0, seed, uint64_t(k)));
    const Results got = run_kernel(logits, vocab, jobs, {});
    std::vector<bool> allowed;
    const std::vector<double> probs = reference_probs(logits.data(), vocab, p, &allowed);
    std::vector<double> count(vocab, 0.0);
    for (int32_t t : got.tokens) {
      ASSERT_TRUE(allowed[size_t(t)]) << t;
      count[size_t(t)] += 1;
    }
    double chi2 = 0, tail_expected = 0, tail_seen = 0;
    int df = -1;
    for (int t = 0; t < vocab; ++t) {
      const double e = probs[t] * draws;
      if (e < 5) {
        tail_expected += e;
        tail_seen += count[t];
        continue;
      }
      chi2 += (count[t] - e) * (count[t] - e) / e;
      ++df;
    }
    if (tail_expected >= 5) {
      chi2 += (tail_seen - tail_expected) * (tail_seen - tail_expected) / tail_expected;
      ++df;
    }
    // Mean df, sd sqrt(2 df): 6 sd is far beyond chance, well below a bias.
    EXPECT_LT(chi2, df + 6 * std::sqrt(2.0 * df)) << "df " << df << " T " << p.temperature;
  }
}

// Through DeviceSampler (pinned staging, one sync), a row shared by several
// jobs, with edits.
TEST(CudaSampling, DeviceSamplerEndToEnd) {
  const int vocab = 2000;
  std::mt19937 rng(fresh_seed());
  const std::vector<float> host_logits = random_logits(3, vocab, rng);
  Tensor logits = upload(host_logits, {3, vocab}, DType::kF32);
  cuda::DeviceSampler sampler(backend(), vocab);
  Sampler host(vocab, {});
  SampleEditBuilder builder(vocab, {});
  SamplingParams p;
  p.temperature = 0.0f;
  p.repetition_penalty = 2.0f;
  p.logprobs = 3;
  std::vector<int32_t> prompt = {1, 2, 3};
  std::vector<SampleJob> jobs;
  std::vector<SampleEdit> edits;
  for (int k = 0; k < 6; ++k) {
    SampleJob j = job_for(p, k % 3, 9, 0);
    j.edit_begin = int(edits.size());
    j.edit_count = builder.append(p, {prompt, {}}, edits);
    jobs.push_back(j);
  }
  for (int round = 0; round < 2; ++round) {  // buffers reused
    sampler.sample(logits, jobs, edits);
    ASSERT_EQ(sampler.tokens().size(), jobs.size());
    for (int k = 0; k < 6; ++k) {
      RequestRng rr(9);
      const SampledToken want = host.sample(
          std::span(host_logits.data() + size_t(k % 3) * vocab, vocab), p, {prompt, {}}, rr);
      EXPECT_EQ(sampler.tokens()[k], want.token);
      EXPECT_EQ(sampler.logprobs()[k].rank, want.rank);
      EXPECT_EQ(sampler.logprobs()[k].num_top, 3);
    }
  }
}

}  // namespace
}  // namespace tessera::cuda_test
