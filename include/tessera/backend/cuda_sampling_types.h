// The plain data the device sampler exchanges with its kernel (no other
// includes, so nvcc and the host compiler both read it). See cuda_sampling.h.
#pragma once

#include <cstdint>

namespace tessera::cuda {

// Most top log-probabilities per row the device returns; requests asking
// for more are sampled on the host.
inline constexpr int kMaxDeviceLogprobs = 20;

// One row to sample. Plain data, copied to the device as is.
struct SampleJob {
  int32_t row = 0;     // logits row
  int32_t greedy = 0;  // argmax of the processed logits (lowest id on ties)
  int32_t top_k = 0;   // <= 0 or >= vocab: off
  float temperature = 1.0f;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t num_logprobs = -1;  // -1: none; else logprob, rank and this many top entries
  // The uniform draw: Philox-4x32-10 of counter (counter, stream), key seed,
  // as RequestRng::next_uniform().
  uint64_t seed = 0, stream = 0, counter = 0;
  // This row's processor entries: edits[edit_begin, edit_begin + edit_count),
  // sorted by token, one per token.
  int32_t edit_begin = 0, edit_count = 0;
};

// What the processors do to one token of one row (see Sampler::process_logits).
struct SampleEdit {
  enum : uint32_t { kBanned = 1, kRepeated = 2 };
  int32_t token = 0;
  float bias = 0.0f;   // logit_bias
  int32_t count = 0;   // occurrences in the output: presence / frequency penalties
  uint32_t flags = 0;  // kBanned: -inf (min_tokens); kRepeated: repetition penalty
};

// Log-probabilities of the raw logits (before processors and temperature).
struct SampleLogprobs {
  float logprob = 0.0f;  // of the chosen token
  int32_t rank = 0;      // 1-based rank of the chosen token
  int32_t num_top = 0;
  int32_t top_ids[kMaxDeviceLogprobs] = {};  // best first, ties: lower id first
  float top_logprobs[kMaxDeviceLogprobs] = {};
};

}  // namespace tessera::cuda
