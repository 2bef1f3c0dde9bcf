// DeviceSampler: pinned staging for jobs, edits and results, device copies
// of them, one kernel launch and one synchronization per call.
#include <cstring>

#include "cuda_backend.h"
#include "cuda_check.h"
#include "sampling_kernels.h"
#include "tessera/backend/cuda_sampling.h"

namespace tessera::cuda {

namespace {

// Page-locked host memory (async copies from and to it overlap nothing else
// but need no staging copy by the driver).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (data_) cudaFreeHost(data_);
  }
  // Valid only while no async copy uses the buffer.
  void* reserve(size_t bytes) {
    if (bytes > bytes_) {
      if (data_) TESSERA_CUDA_CHECK(cudaFreeHost(data_));
      data_ = nullptr;
      bytes_ = std::max<size_t>(bytes, 2 * bytes_);
      TESSERA_CUDA_CHECK(cudaMallocHost(&data_, bytes_));
    }
    return data_;
  }
  void* data() const { return data_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// A device buffer of at least `bytes`, reallocated (doubling) when short.
void* device_buffer(CudaBackend& b, Tensor& t, size_t bytes) {
  const int64_t words = int64_t((bytes + 3) / 4);
  if (!t.defined() || t.numel() < words)
    t = b.alloc(DType::kI32, {std::max<int64_t>(words, t.defined() ? 2 * t.numel() : 1024)});
  return t.data();
}

}  // namespace

struct DeviceSampler::Impl {
  CudaBackend* backend = nullptr;
  int vocab = 0;
  PinnedBuffer h_jobs, h_edits, h_tokens, h_logprobs;
  Tensor d_jobs, d_edits, d_tokens, d_logprobs;
  size_t num_jobs = 0;
};

DeviceSampler::DeviceSampler(Backend& backend, int vocab_size) : impl_(std::make_unique<Impl>()) {
  auto* b = dynamic_cast<CudaBackend*>(&backend);
  if (!b) fail(ErrorKind::kInvalidArgument, "the device sampler needs a CUDA backend");
  if (vocab_size <= 0 || vocab_size > (1 << 21))
    fail(ErrorKind::kUnsupported, "device sampler: vocabulary of {} tokens", vocab_size);
  impl_->backend = b;
  impl_->vocab = vocab_size;
}

DeviceSampler::~DeviceSampler() = default;

void DeviceSampler::sample(const Tensor& logits, std::span<const SampleJob> jobs,
                           std::span<const SampleEdit> edits) {
  Impl& s = *impl_;
  CudaBackend& b = *s.backend;
  cudaStream_t stream = b.stream();
  s.num_jobs = jobs.size();
  if (jobs.empty()) return;
  if (logits.device() != Device::kCUDA || logits.dtype() != DType::kF32 ||
      logits.cols() != s.vocab || logits.row_stride() % 4 != 0)
    fail(ErrorKind::kInternal, "device sampler: logits must be F32 [rows, {}] on the GPU", s.vocab);
  bool any_logprobs = false;
  for (const SampleJob& j : jobs) {
    if (j.row < 0 || j.row >= logits.rows() || j.edit_begin < 0 || j.edit_count < 0 ||
        size_t(j.edit_begin) + size_t(j.edit_count) > edits.size())
      fail(ErrorKind::kInternal, "device sampler: job for row {} outside the batch", j.row);
    any_logprobs = any_logprobs || j.num_logprobs >= 0;
  }
  const size_t job_bytes = jobs.size_bytes(), edit_bytes = edits.size_bytes();
  std::memcpy(s.h_jobs.reserve(job_bytes), jobs.data(), job_bytes);
  void* d_jobs = device_buffer(b, s.d_jobs, job_bytes);
  TESSERA_CUDA_CHECK(
      cudaMemcpyAsync(d_jobs, s.h_jobs.data(), job_bytes, cudaMemcpyHostToDevice, stream));
  void* d_edits = device_buffer(b, s.d_edits, std::max<size_t>(edit_bytes, sizeof(SampleEdit)));
  if (edit_bytes > 0) {
    std::memcpy(s.h_edits.reserve(edit_bytes), edits.data(), edit_bytes);
    TESSERA_CUDA_CHECK(
        cudaMemcpyAsync(d_edits, s.h_edits.data(), edit_bytes, cudaMemcpyHostToDevice, stream));
  }
  const size_t token_bytes = jobs.size() * sizeof(int32_t);
  const size_t logprob_bytes = jobs.size() * sizeof(SampleLogprobs);
  SampleArgs a;
  a.logits = logits.data_as<float>();
  a.row_stride = logits.row_stride() / 4;
  a.vocab = s.vocab;
  a.jobs = static_cast<const SampleJob*>(d_jobs);
  a.num_jobs = int(jobs.size());
  a.edits = static_cast<const SampleEdit*>(d_edits);
  a.tokens = static_cast<int32_t*>(device_buffer(b, s.d_tokens, token_bytes));
  a.logprobs = static_cast<SampleLogprobs*>(device_buffer(b, s.d_logprobs, logprob_bytes));
  const cudaError_t err = launch_sample(a, stream);
  if (err != cudaSuccess) fail_cuda(err, "launch_sample", __FILE__, __LINE__);
  TESSERA_CUDA_CHECK(cudaMemcpyAsync(s.h_tokens.reserve(token_bytes), a.tokens, token_bytes,
                                     cudaMemcpyDeviceToHost, stream));
  if (any_logprobs)
    TESSERA_CUDA_CHECK(cudaMemcpyAsync(s.h_logprobs.reserve(logprob_bytes), a.logprobs,
                                       logprob_bytes, cudaMemcpyDeviceToHost, stream));
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream));
}

std::span<const int32_t> DeviceSampler::tokens() const {
  return {static_cast<const int32_t*>(impl_->h_tokens.data()), impl_->num_jobs};
}

std::span<const SampleLogprobs> DeviceSampler::logprobs() const {
  if (!impl_->h_logprobs.data()) return {};
  return {static_cast<const SampleLogprobs*>(impl_->h_logprobs.data()), impl_->num_jobs};
}

}  // namespace tessera::cuda
