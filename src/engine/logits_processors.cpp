// The processors that run on the logits before temperature and truncation.
#include <algorithm>
#include <cmath>
#include <limits>

#include "sampler_kernels.h"
#include "tessera/core/error.h"
#include "tessera/engine/sampler.h"

namespace tessera {

void Sampler::process_logits(std::span<float> logits, const SamplingParams& params,
                             const SequenceTokens& seq) {
  if (static_cast<int>(logits.size()) != vocab_)
    fail(ErrorKind::kInternal, "process_logits: row of {} logits, vocabulary {}", logits.size(),
         vocab_);
  sampler_kernels::copy_without_nan(logits.data(), logits.data(), vocab_);
  apply_processors(logits, params, seq);
}

// `logits` has vocab_ entries, none NaN.
void Sampler::apply_processors(std::span<float> logits, const SamplingParams& params,
                               const SequenceTokens& seq) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int vocab = vocab_;
  const auto in_vocab = [&](int32_t t) { return t >= 0 && t < vocab; };

  for (const auto& [token, bias] : params.logit_bias)
    if (in_vocab(token)) logits[token] += bias;

  if (seq.num_output() < params.min_tokens) {
    for (int32_t t : params.stop_token_ids)
      if (in_vocab(t)) logits[t] = kNegInf;
    if (!params.ignore_eos)
      for (int32_t t : eos_)
        if (in_vocab(t)) logits[t] = kNegInf;
  }

  // Repetition penalty (CTRL / HF): every distinct token of prompt + output
  // once; dividing a positive logit and multiplying a negative one both make
  // the token less likely for r > 1.
  if (params.repetition_penalty != 1.0f) {
    if (++generation_ == 0) {  // wrapped: old marks would look current
      std::fill(stamp_.begin(), stamp_.end(), 0u);
      generation_ = 1;
    }
    const float r = params.repetition_penalty;
    for (std::span<const int32_t> part : {seq.prompt, seq.output}) {
      for (int32_t t : part) {
        if (!in_vocab(t) || stamp_[t] == generation_) continue;
        stamp_[t] = generation_;
        logits[t] = logits[t] > 0.0f ? logits[t] / r : logits[t] * r;
      }
    }
  }

  // Presence and frequency penalties (OpenAI): generated tokens only,
  // logit -= count * frequency + (count > 0) * presence.
  if (params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f) {
    for (int32_t t : seq.output)
      if (in_vocab(t)) ++counts_[t];
    for (int32_t t : seq.output) {
      if (!in_vocab(t) || counts_[t] == 0) continue;
      logits[t] -=
          static_cast<float>(counts_[t]) * params.frequency_penalty + params.presence_penalty;
      counts_[t] = 0;  // applied once per distinct token; leaves counts_ zeroed
    }
  }
}

}  // namespace tessera
