#include "tessera/engine/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "sampler_kernels.h"
#include "tessera/core/error.h"

namespace tessera {

namespace k = sampler_kernels;

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Argmax, lowest id on ties; -1 if every value is -inf (or NaN).
int32_t argmax(const float* v, int n) {
  const float m = k::max_value(v, n);
  return m == kNegInf ? -1 : k::first_index_of(v, n, m);
}

// Positive floats order like their bit patterns; the top 12 bits (exponent
// and 3 mantissa bits) split (0, 1] into buckets an eighth of an octave wide.
constexpr int kBucketShift = 20;
constexpr int kNumBuckets = 1024;  // 1.0f is bucket 0x3F8
}  // namespace

Sampler::Sampler(int vocab_size, std::vector<int32_t> eos_token_ids)
    : vocab_(vocab_size), eos_(std::move(eos_token_ids)) {
  if (vocab_ <= 0) fail(ErrorKind::kInvalidArgument, "sampler: vocabulary size {}", vocab_);
  work_.resize(vocab_);
  index_.reserve(vocab_);
  weights_.reserve(vocab_);
  block_sums_.resize((vocab_ + k::kBlock - 1) / k::kBlock);
  buckets_.resize(vocab_);
  histogram_.resize(5 * kNumBuckets);
  stamp_.assign(vocab_, 0u);
  counts_.assign(vocab_, 0);
}

bool Sampler::prepare(std::span<const float> logits, const SamplingParams& params,
                      const SequenceTokens& seq) {
  if (static_cast<int>(logits.size()) != vocab_)
    fail(ErrorKind::kInternal, "sampler: row of {} logits, vocabulary {}", logits.size(), vocab_);
  k::copy_without_nan(logits.data(), work_.data(), vocab_);
  apply_processors(work_, params, seq);
  max_ = k::max_value(work_.data(), vocab_);
  return max_ > kNegInf;
}

// Keeps the smallest set of best tokens whose weight reaches top_p of the
// total, zeroing the rest of work_. A radix select on the float bits: one
// histogram over all tokens finds the bucket where the cut falls, a second
// one splits that bucket, and only the tokens of the final sub-bucket get
// sorted. O(vocab), whatever the size of the nucleus.
void Sampler::top_p_dense(float top_p, double total) {
  const double target = static_cast<double>(top_p) * total;
  float* w = work_.data();
  k::float_buckets(w, vocab_, kBucketShift, buckets_.data());
  // Four interleaved histograms keep consecutive adds independent.
  double* hist = histogram_.data();
  std::fill(histogram_.begin(), histogram_.end(), 0.0);
  int i = 0;
  for (; i + 4 <= vocab_; i += 4)
    for (int lane = 0; lane < 4; ++lane)
      hist[lane * kNumBuckets + buckets_[i + lane]] += w[i + lane];
  for (; i < vocab_; ++i) hist[buckets_[i]] += w[i];
  double above = 0.0;  // mass of the tokens certainly kept
  int cut = -1;
  for (int b = kNumBuckets - 1; b >= 0; --b) {
    const double mass =
        hist[b] + hist[kNumBuckets + b] + hist[2 * kNumBuckets + b] + hist[3 * kNumBuckets + b];
    if (above + mass >= target) {
      cut = b;
      break;
    }
    above += mass;
  }
  if (cut < 0) return;  // rounding left the total just short of target: keep all
  k::zero_below_bucket(w, buckets_.data(), vocab_, static_cast<uint16_t>(cut));
  index_.clear();
  for (int j = 0; j < vocab_; ++j)
    if (buckets_[j] == cut && w[j] > 0.0f) index_.push_back(j);

  // Second level: the next 10 bits of the tokens in the cut bucket.
  constexpr int kSubShift = kBucketShift - 10, kSubBuckets = 1 << 10;
  const auto sub_of = [&](int32_t t) {
    return static_cast<int>((std::bit_cast<uint32_t>(w[t]) >> kSubShift) & (kSubBuckets - 1));
  };
  if (index_.size() > 64) {
    double* sub = hist + 4 * kNumBuckets;
    std::fill(sub, sub + kSubBuckets, 0.0);
    for (int32_t t : index_) sub[sub_of(t)] += w[t];
    int sub_cut = 0;
    for (int b = kSubBuckets - 1; b >= 0; --b) {
      if (above + sub[b] >= target) {
        sub_cut = b;
        break;
      }
      above += sub[b];
    }
    size_t kept = 0;
    for (int32_t t : index_) {
      const int b = sub_of(t);
      if (b < sub_cut)
        w[t] = 0.0f;
      else if (b == sub_cut)
        index_[kept++] = t;
    }
    index_.resize(kept);
  }
  std::sort(index_.begin(), index_.end(),
            [&](int32_t a, int32_t b) { return w[a] > w[b] || (w[a] == w[b] && a < b); });
  size_t keep = 0;
  while (keep < index_.size() && above < target) above += w[index_[keep++]];
  for (size_t j = keep; j < index_.size(); ++j) w[index_[j]] = 0.0f;
}

// Turns the processed logits in work_ into the weights exp((x - max) / T) of
// the tokens that survive top-k, top-p and min-p. The best token has weight
// exactly 1 and always survives.
Sampler::Candidates Sampler::truncate(const SamplingParams& params) {
  Candidates c;
  const float inv_t = 1.0f / params.temperature;
  if (params.top_k > 0 && params.top_k < vocab_) {
    select_top_k(work_, params.top_k, index_);
    c.dense = false;
    c.count = params.top_k;
    weights_.resize(c.count);
    for (int j = 0; j < c.count; ++j) weights_[j] = k::fast_exp((work_[index_[j]] - max_) * inv_t);
    // The list is best first: top-p and min-p keep a prefix of it.
    if (params.top_p < 1.0f) {
      const double target = static_cast<double>(params.top_p) *
                            std::accumulate(weights_.begin(), weights_.end(), 0.0);
      double cum = 0.0;
      int j = 0;
      while (j < c.count && cum < target) cum += weights_[j++];
      c.count = std::max(j, 1);
    }
    if (params.min_p > 0.0f) {
      int j = 0;
      while (j < c.count && weights_[j] >= params.min_p) ++j;
      c.count = std::max(j, 1);
    }
    c.total = std::accumulate(weights_.begin(), weights_.begin() + c.count, 0.0);
    return c;
  }
  const double total = k::exp_weights(work_.data(), work_.data(), vocab_, max_, inv_t);
  if (params.top_p < 1.0f) top_p_dense(params.top_p, total);
  if (params.min_p > 0.0f) k::zero_below(work_.data(), vocab_, params.min_p);
  c.total = k::block_sums(work_.data(), vocab_, block_sums_.data());
  return c;
}

// Inverse CDF: the first candidate whose cumulative weight exceeds u * total.
// Rounding can leave the scan just short; the last positive weight wins then.
int32_t Sampler::draw(const Candidates& c, double u) const {
  const double target = u * c.total;
  double cum = 0.0;
  int32_t last = -1;
  if (!c.dense) {
    for (int j = 0; j < c.count; ++j) {
      if (weights_[j] <= 0.0f) continue;
      last = index_[j];
      cum += weights_[j];
      if (cum > target) break;
    }
    return last;
  }
  const int blocks = static_cast<int>(block_sums_.size());
  int b = 0;
  while (b < blocks - 1 && (block_sums_[b] <= 0.0 || cum + block_sums_[b] <= target))
    cum += block_sums_[b++];
  for (; b < blocks; ++b) {
    const int end = std::min(vocab_, (b + 1) * k::kBlock);
    for (int i = b * k::kBlock; i < end; ++i) {
      if (work_[i] <= 0.0f) continue;
      last = i;
      cum += work_[i];
      if (cum > target) return last;
    }
  }
  return last;
}

SampledToken Sampler::sample(std::span<const float> logits, const SamplingParams& params,
                             const SequenceTokens& seq, RequestRng& rng) {
  const double u = rng.next_uniform();
  SampledToken out;
  if (!prepare(logits, params, seq))
    out.token = std::max(argmax(logits.data(), vocab_), 0);  // all suppressed: raw argmax
  else if (params.greedy())
    out.token = k::first_index_of(work_.data(), vocab_, max_);
  else
    out.token = draw(truncate(params), u);
  if (params.logprobs) {
    const double lse = k::logsumexp(logits.data(), vocab_);
    const float x = logits[out.token];
    out.logprob = static_cast<float>(x - lse);
    out.rank = 1 + k::count_greater(logits.data(), vocab_, x);
    if (*params.logprobs > 0) {
      select_top_k(logits, *params.logprobs, index_);
      for (int32_t id : index_)
        out.top_logprobs.push_back({id, static_cast<float>(logits[id] - lse)});
    }
  }
  return out;
}

void Sampler::probabilities(std::span<const float> logits, const SamplingParams& params,
                            const SequenceTokens& seq, std::span<float> probs) {
  if (static_cast<int>(probs.size()) != vocab_)
    fail(ErrorKind::kInternal, "sampler: {} probabilities for vocabulary {}", probs.size(), vocab_);
  std::fill(probs.begin(), probs.end(), 0.0f);
  if (!prepare(logits, params, seq)) {
    probs[std::max(argmax(logits.data(), vocab_), 0)] = 1.0f;
    return;
  }
  if (params.greedy()) {
    probs[k::first_index_of(work_.data(), vocab_, max_)] = 1.0f;
    return;
  }
  const Candidates c = truncate(params);
  if (c.dense) {
    for (int i = 0; i < vocab_; ++i) probs[i] = static_cast<float>(work_[i] / c.total);
  } else {
    for (int j = 0; j < c.count; ++j) probs[index_[j]] = static_cast<float>(weights_[j] / c.total);
  }
}

}  // namespace tessera
