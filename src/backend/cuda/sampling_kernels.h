// Host entry point of the device sampler's kernel (sampling.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "tessera/backend/cuda_sampling_types.h"

namespace tessera::cuda {

inline constexpr int kMaxDeviceLogprobsKernel = kMaxDeviceLogprobs;

struct SampleArgs {
  const float* logits = nullptr;  // f32 rows
  int64_t row_stride = 0;         // elements
  int vocab = 0;
  const SampleJob* jobs = nullptr;
  int num_jobs = 0;
  const SampleEdit* edits = nullptr;
  int32_t* tokens = nullptr;           // [num_jobs]
  SampleLogprobs* logprobs = nullptr;  // [num_jobs], written for jobs with num_logprobs >= 0
};

// One CTA per job. vocab at most 2^21.
cudaError_t launch_sample(const SampleArgs& a, cudaStream_t stream);

}  // namespace tessera::cuda
