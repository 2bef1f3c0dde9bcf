// The processors of the host Sampler (logit bias, min_tokens, repetition,
// presence and frequency penalties) as a sparse list of per-token edits for
// the device sampler: one entry per token they touch, sorted by token.
// Private to src/engine.
#pragma once

#include <cstdint>
#include <vector>

#include "tessera/backend/cuda_sampling_types.h"
#include "tessera/engine/sampler.h"

namespace tessera {

class SampleEditBuilder {
 public:
  SampleEditBuilder(int vocab_size, std::vector<int32_t> eos_token_ids);

  // Appends the edits of one row to `out`; returns how many.
  int append(const SamplingParams& params, const SequenceTokens& seq,
             std::vector<cuda::SampleEdit>& out);

 private:
  cuda::SampleEdit& entry(int32_t token, std::vector<cuda::SampleEdit>& out, size_t first);

  int vocab_;
  std::vector<int32_t> eos_;
  std::vector<uint32_t> stamp_;  // generation_ where the token has an entry
  std::vector<int32_t> where_;   // its index in `out`
  uint32_t generation_ = 0;
};

// What the device does to one logit with its edit (tests compare this with
// Sampler::process_logits).
float apply_sample_edit(float logit, const cuda::SampleEdit& e, const SamplingParams& params);

}  // namespace tessera
