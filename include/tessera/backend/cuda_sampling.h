// Token sampling on the GPU: one kernel samples every requested row of a
// step's device logits and only the chosen ids (and, for rows that ask, the
// log-probabilities) come back to the host. Same semantics as the host
// Sampler (tessera/engine/sampler.h, docs/sampling.md): processors (logit
// bias, min_tokens, repetition then presence/frequency penalties), then
// temperature, top-k, top-p, min-p and one draw from the request's Philox
// stream (seed, stream, counter). Defined only in builds with CUDA.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "tessera/backend/backend.h"
#include "tessera/backend/cuda_sampling_types.h"

namespace tessera::cuda {

// Samples rows of f32 logits on a CUDA backend's stream. Keeps pinned host
// buffers and device buffers between calls (grown on demand).
class DeviceSampler {
 public:
  DeviceSampler(Backend& backend, int vocab_size);
  ~DeviceSampler();
  DeviceSampler(const DeviceSampler&) = delete;
  DeviceSampler& operator=(const DeviceSampler&) = delete;

  // Queues the upload of jobs and edits, one kernel over `logits` (F32
  // [rows, vocab_size] on the backend's device, rows contiguous) and the
  // download of the results, then waits for them (one synchronization).
  void sample(const Tensor& logits, std::span<const SampleJob> jobs,
              std::span<const SampleEdit> edits);

  // Results of the last sample(), indexed like its jobs. logprobs() entries
  // are filled for the jobs with num_logprobs >= 0.
  std::span<const int32_t> tokens() const;
  std::span<const SampleLogprobs> logprobs() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::cuda
