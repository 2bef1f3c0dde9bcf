// What the CUDA backend offers beyond the Backend interface: its stream (for
// timing with events and for capturing CUDA graphs), its memory figures (for
// sizing the KV cache from a profile run), and device-side random fills (for
// benchmarks and dummy weights). Defined only in builds with CUDA (where
// TESSERA_WITH_CUDA is set). Every function but is_cuda_backend throws
// Error(kInvalidArgument) when given a backend that is not a CUDA one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tessera/backend/backend.h"

namespace tessera::cuda {

struct DeviceInfo {
  std::string name;
  int index = 0;
  int sm_count = 0;
  int cc_major = 0, cc_minor = 0;
  size_t total_memory = 0;
  size_t l2_bytes = 0;
};

struct MemoryStats {
  size_t in_use = 0;       // bytes handed out by the backend's allocator
  size_t cached = 0;       // freed bytes the allocator keeps for reuse
  size_t peak_in_use = 0;  // high-water mark of in_use since the last reset
  size_t device_free = 0;  // cudaMemGetInfo
  size_t device_total = 0;
};

bool is_cuda_backend(const Backend& backend);
DeviceInfo device_info(const Backend& backend);

// The cudaStream_t all of the backend's work is queued on. Capturing a graph
// on it records the ops called in between: every op is capturable once the
// buffers it needs exist (run the same shapes once before capturing, so that
// workspaces have grown), except upload_i32/download_f32, which touch host
// memory.
void* stream(Backend& backend);

MemoryStats memory_stats(const Backend& backend);
void reset_peak_memory(Backend& backend);
// Returns cached (freed) blocks to the device.
void release_cached_memory(Backend& backend);

// Whether matmuls of at most 8 rows use the GEMV kernel instead of cuBLASLt
// (default on; the environment variable TESSERA_CUDA_GEMV=0 turns it off).
// Benchmarks compare the two.
void set_gemv_enabled(Backend& backend, bool on);

// dst = src for `bytes` bytes of this backend's device memory (no overlap),
// by a copy kernel on the backend's stream (the bandwidth ceiling of the
// benchmarks; also usable for KV block copies).
void copy_device(Backend& backend, void* dst, const void* src, size_t bytes);

// The same by cudaMemcpyAsync (the copy engines) on the backend's stream:
// benchmarks take the better of the two as the bandwidth ceiling.
void memcpy_device(Backend& backend, void* dst, const void* src, size_t bytes);

// CUDA graphs. capture_graph records the work `record` queues on the
// backend's stream (nothing runs) and returns the instantiated graph; run
// the same ops once outside a capture first, so that nothing allocates
// while recording. When recording fails the capture is ended (the stream is
// usable again) and the error is thrown. launch_graph replays it on the
// stream.
std::shared_ptr<void> capture_graph(Backend& backend, const std::function<void()>& record);
void launch_graph(Backend& backend, const std::shared_ptr<void>& graph);
// Changes whenever the backend replaces a workspace that captured graphs
// point into (the attention split workspace grows): graphs captured under
// another value must not be replayed.
uint64_t workspace_epoch(const Backend& backend);

// Fills a BF16, F16 or F32 device tensor with uniform values in [-scale, scale)
// from a counter-based generator: the same (seed, element index) always gives
// the same value, on any GPU.
void fill_uniform(Backend& backend, Tensor& t, uint64_t seed, float scale);

}  // namespace tessera::cuda
