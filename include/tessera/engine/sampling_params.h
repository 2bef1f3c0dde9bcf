// Per-request generation settings (OpenAI / vLLM names and defaults). The
// HTTP layer fills them from the request body and calls validate(); the
// engine reads them for every step of the request. See docs/sampling.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera {

// Limits that depend on the model or the server configuration.
struct SamplingLimits {
  int vocab_size = 0;     // > 0: token ids must be below it
  int max_logprobs = 20;  // most `logprobs` / `prompt_logprobs` per token
};

struct SamplingParams {
  // Completions returned, and sequences generated to choose them from.
  int n = 1;
  std::optional<int> best_of;

  // Randomness. temperature < kGreedyTemperature means greedy (argmax).
  float temperature = 1.0f;
  int top_k = 0;  // 0 or -1: no limit
  float top_p = 1.0f;
  float min_p = 0.0f;
  std::optional<int64_t> seed;  // unset: a fresh random seed per request

  // Penalties and biases, applied to the logits before temperature.
  float repetition_penalty = 1.0f;      // > 0; 1 = off
  float presence_penalty = 0.0f;        // [-2, 2]
  float frequency_penalty = 0.0f;       // [-2, 2]
  std::map<int32_t, float> logit_bias;  // token id -> bias in [-100, 100]

  // Stopping (the engine and detokenizer act on these; the sampler only
  // keeps stop tokens out until min_tokens).
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  std::optional<int> max_tokens;  // unset: until the context is full
  int min_tokens = 0;
  bool ignore_eos = false;

  // Outputs.
  std::optional<int> logprobs;         // top logprobs per generated token
  std::optional<int> prompt_logprobs;  // top logprobs per prompt token
  bool skip_special_tokens = true;

  // Beam search (steps driven by the scheduler, helpers in sampler.h).
  bool use_beam_search = false;
  int beam_width = 0;  // 0: max(n, best_of)
  float length_penalty = 1.0f;

  static constexpr float kGreedyTemperature = 1e-5f;
  bool greedy() const { return temperature < kGreedyTemperature; }
  int effective_beam_width() const;

  // Throws Error(kInvalidArgument) naming the first bad parameter: the
  // message starts with its name, e.g. "top_p must be in (0, 1], got 1.5".
  void validate(const SamplingLimits& limits = {}) const;
};

}  // namespace tessera
