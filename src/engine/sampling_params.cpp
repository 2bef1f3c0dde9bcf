#include "tessera/engine/sampling_params.h"

#include <algorithm>
#include <cmath>

#include "tessera/core/error.h"

namespace tessera {

int SamplingParams::effective_beam_width() const {
  return beam_width > 0 ? beam_width : std::max(n, best_of.value_or(n));
}

namespace {

// Comparisons written so that NaN fails them.
void require(bool ok, const char* name, const char* rule, double got) {
  if (!ok) fail(ErrorKind::kInvalidArgument, "{} must be {}, got {}", name, rule, got);
}

void require_token(int32_t id, const char* name, const SamplingLimits& limits) {
  if (id < 0 || (limits.vocab_size > 0 && id >= limits.vocab_size))
    fail(ErrorKind::kInvalidArgument, "{} holds token id {} outside the vocabulary [0, {})", name,
         id, limits.vocab_size);
}

}  // namespace

void SamplingParams::validate(const SamplingLimits& limits) const {
  require(n >= 1, "n", ">= 1", n);
  if (best_of) require(*best_of >= n, "best_of", ">= n", *best_of);
  require(temperature >= 0.0f && std::isfinite(temperature), "temperature", ">= 0", temperature);
  require(top_k >= -1, "top_k", "-1 or 0 (no limit) or >= 1", top_k);
  require(top_p > 0.0f && top_p <= 1.0f, "top_p", "in (0, 1]", top_p);
  require(min_p >= 0.0f && min_p <= 1.0f, "min_p", "in [0, 1]", min_p);
  require(repetition_penalty > 0.0f && std::isfinite(repetition_penalty), "repetition_penalty",
          "> 0", repetition_penalty);
  require(presence_penalty >= -2.0f && presence_penalty <= 2.0f, "presence_penalty", "in [-2, 2]",
          presence_penalty);
  require(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f, "frequency_penalty",
          "in [-2, 2]", frequency_penalty);
  for (const auto& [id, bias] : logit_bias) {
    require_token(id, "logit_bias", limits);
    require(bias >= -100.0f && bias <= 100.0f, "logit_bias", "in [-100, 100]", bias);
  }
  for (const std::string& s : stop)
    if (s.empty()) fail(ErrorKind::kInvalidArgument, "stop must not contain empty strings");
  for (int32_t id : stop_token_ids) require_token(id, "stop_token_ids", limits);
  if (max_tokens) require(*max_tokens >= 1, "max_tokens", ">= 1", *max_tokens);
  require(min_tokens >= 0, "min_tokens", ">= 0", min_tokens);
  if (max_tokens && min_tokens > *max_tokens)
    fail(ErrorKind::kInvalidArgument, "min_tokens must be <= max_tokens ({}), got {}", *max_tokens,
         min_tokens);
  if (logprobs)
    require(*logprobs >= 0 && *logprobs <= limits.max_logprobs, "logprobs",
            fmt::format("in [0, {}]", limits.max_logprobs).c_str(), *logprobs);
  if (prompt_logprobs)
    require(*prompt_logprobs >= 0 && *prompt_logprobs <= limits.max_logprobs, "prompt_logprobs",
            fmt::format("in [0, {}]", limits.max_logprobs).c_str(), *prompt_logprobs);
  require(std::isfinite(length_penalty), "length_penalty", "finite", length_penalty);
  if (use_beam_search) {
    require(beam_width >= 0, "beam_width", ">= 1", beam_width);
    require(n <= effective_beam_width(), "n", "<= beam_width", n);
    require(top_p == 1.0f, "top_p", "1 with beam search", top_p);
    require(top_k <= 0, "top_k", "-1 or 0 with beam search", top_k);
    require(min_p == 0.0f, "min_p", "0 with beam search", min_p);
  }
}

}  // namespace tessera
