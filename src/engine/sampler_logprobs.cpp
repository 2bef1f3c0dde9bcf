// Partial top-k selection and log-probabilities (sampled tokens, prompts).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "sampler_kernels.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"
#include "tessera/engine/sampler.h"

namespace tessera {

void select_top_k(std::span<const float> values, int k, std::vector<int32_t>& out) {
  const int n = static_cast<int>(values.size());
  k = std::clamp(k, 0, n);
  out.clear();
  if (k == 0) return;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const auto key = [&](int32_t i) { return std::isnan(values[i]) ? kNegInf : values[i]; };
  // "a ranks before b": larger value, then lower id. A strict weak order.
  const auto better = [&](int32_t a, int32_t b) {
    const float va = key(a), vb = key(b);
    return va > vb || (va == vb && a < b);
  };
  if (k <= 512 && n > 8 * k) {
    // One pass with a heap of the k best so far; its front is the worst.
    out.reserve(k);
    for (int32_t i = 0; i < k; ++i) out.push_back(i);
    std::make_heap(out.begin(), out.end(), better);
    float worst = key(out.front());
    constexpr int kSkip = 64;  // blocks whose max cannot enter are skipped whole
    for (int32_t i = k; i < n; ++i) {
      if (i % kSkip == 0 && i + kSkip <= n &&
          sampler_kernels::max_value(values.data() + i, kSkip) <= worst) {
        i += kSkip - 1;
        continue;
      }
      if (key(i) <= worst) continue;  // equal values lose to the lower ids inside
      std::pop_heap(out.begin(), out.end(), better);
      out.back() = i;
      std::push_heap(out.begin(), out.end(), better);
      worst = key(out.front());
    }
    std::sort_heap(out.begin(), out.end(), better);
    return;
  }
  out.resize(n);
  std::iota(out.begin(), out.end(), 0);
  if (k < n) std::nth_element(out.begin(), out.begin() + k, out.end(), better);
  out.resize(k);
  std::sort(out.begin(), out.end(), better);
}

double logsumexp(std::span<const float> values) {
  return sampler_kernels::logsumexp(values.data(), static_cast<int>(values.size()));
}

void log_softmax(std::span<const float> logits, std::span<float> out) {
  if (out.size() != logits.size())
    fail(ErrorKind::kInternal, "log_softmax: {} outputs for {} logits", out.size(), logits.size());
  const double lse = logsumexp(logits);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(logits[i] - lse);
}

std::vector<LogprobEntry> top_logprobs(std::span<const float> logits, int k) {
  std::vector<int32_t> ids;
  select_top_k(logits, k, ids);
  const double lse = logsumexp(logits);
  std::vector<LogprobEntry> out;
  out.reserve(ids.size());
  for (int32_t id : ids) out.push_back({id, static_cast<float>(logits[id] - lse)});
  return out;
}

std::vector<PromptTokenLogprobs> prompt_logprobs(std::span<const float> logits_rows, int vocab,
                                                 std::span<const int32_t> next_tokens, int top_k) {
  const int64_t rows = static_cast<int64_t>(next_tokens.size());
  if (vocab <= 0 || static_cast<int64_t>(logits_rows.size()) != rows * vocab)
    fail(ErrorKind::kInternal, "prompt_logprobs: {} logits for {} rows of {}", logits_rows.size(),
         rows, vocab);
  for (int32_t token : next_tokens)
    if (token < 0 || token >= vocab)
      fail(ErrorKind::kInternal, "prompt_logprobs: token {} outside vocabulary {}", token, vocab);
  std::vector<PromptTokenLogprobs> out(rows);
  parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> ids;
    for (int64_t r = begin; r < end; ++r) {
      const std::span<const float> row = logits_rows.subspan(r * vocab, vocab);
      const int32_t token = next_tokens[r];
      const double lse = logsumexp(row);
      PromptTokenLogprobs& p = out[r];
      p.token = token;
      p.logprob = static_cast<float>(row[token] - lse);
      p.rank = 1 + sampler_kernels::count_greater(row.data(), vocab, row[token]);
      select_top_k(row, top_k, ids);
      p.top.reserve(ids.size());
      for (int32_t id : ids) p.top.push_back({id, static_cast<float>(row[id] - lse)});
    }
  });
  return out;
}

}  // namespace tessera
