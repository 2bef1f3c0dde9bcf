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
// buffers and device buffers between calls (grown on demand), in two slots,
// so that one step's sampling can be queued while the previous step's
// results are still on their way (async scheduling).
class DeviceSampler {
 public:
  static constexpr int kSlots = 2;

  DeviceSampler(Backend& backend, int vocab_size);
  ~DeviceSampler();
  DeviceSampler(const DeviceSampler&) = delete;
  DeviceSampler& operator=(const DeviceSampler&) = delete;

  // Queues the upload of jobs and edits, one kernel over `logits` (F32
  // [rows, vocab_size] on the backend's device, rows contiguous) and the
  // download of the results; returns the slot that holds them (slots take
  // turns; launching into a slot first waits for its previous results).
  int launch(const Tensor& logits, std::span<const SampleJob> jobs,
             std::span<const SampleEdit> edits);
  // Blocks until the results of `slot` are on the host.
  void wait(int slot);
  // launch() then wait(); the results are then tokens() and logprobs().
  void sample(const Tensor& logits, std::span<const SampleJob> jobs,
              std::span<const SampleEdit> edits);

  // Results of a slot after wait(), indexed like its jobs. logprobs()
  // entries are filled for the jobs with num_logprobs >= 0. Without a slot:
  // the last launch's.
  std::span<const int32_t> tokens(int slot = -1) const;
  std::span<const SampleLogprobs> logprobs(int slot = -1) const;
  // The slot's chosen ids on the device ([jobs] int32), valid in stream
  // order until the slot is launched into again: a later step can read its
  // input tokens from there before the host has them.
  Tensor device_tokens(int slot) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::cuda
