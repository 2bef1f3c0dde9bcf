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

// One launch's buffers. Its pinned buffers are read (jobs, edits) and
// written (results) by copies in flight until `done` has passed.
struct Slot {
  PinnedBuffer h_jobs, h_edits, h_tokens, h_logprobs;
  Tensor d_jobs, d_edits, d_tokens, d_logprobs;
  cudaEvent_t done = nullptr;
  size_t num_jobs = 0;
  bool pending = false;
};

struct DeviceSampler::Impl {
  CudaBackend* backend = nullptr;
  int vocab = 0;
  Slot slots[kSlots];
  int next = 0, last = 0;

  ~Impl() {
    for (Slot& s : slots)
      if (s.done) {
        cudaEventSynchronize(s.done);
        cudaEventDestroy(s.done);
      }
  }
};

DeviceSampler::DeviceSampler(Backend& backend, int vocab_size) : impl_(std::make_unique<Impl>()) {
  auto* b = dynamic_cast<CudaBackend*>(&backend);
  if (!b) fail(ErrorKind::kInvalidArgument, "the device sampler needs a CUDA backend");
  if (vocab_size <= 0 || vocab_size > (1 << 21))
    fail(ErrorKind::kUnsupported, "device sampler: vocabulary of {} tokens", vocab_size);
  impl_->backend = b;
  impl_->vocab = vocab_size;
  for (Slot& s : impl_->slots)
    TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
}

DeviceSampler::~DeviceSampler() = default;

int DeviceSampler::launch(const Tensor& logits, std::span<const SampleJob> jobs,
                          std::span<const SampleEdit> edits) {
  Impl& impl = *impl_;
  CudaBackend& b = *impl.backend;
  cudaStream_t stream = b.stream();
  if (logits.device() != Device::kCUDA || logits.dtype() != DType::kF32 ||
      logits.cols() != impl.vocab || logits.row_stride() % 4 != 0)
    fail(ErrorKind::kInternal, "device sampler: logits must be F32 [rows, {}] on the GPU",
         impl.vocab);
  bool any_logprobs = false;
  for (const SampleJob& j : jobs) {
    if (j.row < 0 || j.row >= logits.rows() || j.edit_begin < 0 || j.edit_count < 0 ||
        size_t(j.edit_begin) + size_t(j.edit_count) > edits.size())
      fail(ErrorKind::kInternal, "device sampler: job for row {} outside the batch", j.row);
    any_logprobs = any_logprobs || j.num_logprobs >= 0;
  }
  const int slot = impl.next;
  impl.next = (impl.next + 1) % kSlots;
  impl.last = slot;
  wait(slot);  // its buffers may still be in use by the launch before last
  Slot& s = impl.slots[slot];
  s.num_jobs = jobs.size();
  if (jobs.empty()) return slot;
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
  a.vocab = impl.vocab;
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
  TESSERA_CUDA_CHECK(cudaEventRecord(s.done, stream));
  s.pending = true;
  return slot;
}

void DeviceSampler::wait(int slot) {
  Slot& s = impl_->slots[slot];
  if (!s.pending) return;
  s.pending = false;
  TESSERA_CUDA_CHECK(cudaEventSynchronize(s.done));
}

void DeviceSampler::sample(const Tensor& logits, std::span<const SampleJob> jobs,
                           std::span<const SampleEdit> edits) {
  wait(launch(logits, jobs, edits));
}

std::span<const int32_t> DeviceSampler::tokens(int slot) const {
  const Slot& s = impl_->slots[slot < 0 ? impl_->last : slot];
  return {static_cast<const int32_t*>(s.h_tokens.data()), s.num_jobs};
}

std::span<const SampleLogprobs> DeviceSampler::logprobs(int slot) const {
  const Slot& s = impl_->slots[slot < 0 ? impl_->last : slot];
  if (!s.h_logprobs.data()) return {};
  return {static_cast<const SampleLogprobs*>(s.h_logprobs.data()), s.num_jobs};
}

Tensor DeviceSampler::device_tokens(int slot) const {
  const Slot& s = impl_->slots[slot];
  if (s.num_jobs == 0) return {};
  return Tensor(s.d_tokens.data(), DType::kI32, {int64_t(s.num_jobs)}, Device::kCUDA);
}

}  // namespace tessera::cuda
