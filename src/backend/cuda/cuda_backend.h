// The Backend on one NVIDIA GPU: activations, weights and KV cache in one
// 16-bit type chosen at construction (bf16 or fp16), one stream, memory from
// one caching allocator. The ops take either type (the operands of a call
// share one; tests drive both through one backend); the backend's type is
// what activation_dtype() reports and what load_weight converts to. Ops
// only queue work on the stream (no host synchronization) except
// upload_i32 (which may wait for its staging buffer) and download_f32 /
// synchronize.
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <optional>
#include <vector>

#include "cublaslt_gemm.h"
#include "device_allocator.h"
#include "kernels.h"
#include "tessera/backend/backend.h"
#include "tessera/backend/cuda.h"

namespace tessera::cuda {

class CudaBackend final : public Backend {
 public:
  // dtype: kBF16 or kF16 (Error kInvalidArgument otherwise).
  CudaBackend(int device, DType dtype);
  ~CudaBackend() override;

  Device device() const override { return Device::kCUDA; }
  DType activation_dtype() const override { return dtype_; }

  // Zero-filled, like the CPU backend's tensors.
  Tensor alloc(DType dtype, std::vector<int64_t> shape) override;
  Tensor load_weight(const Tensor& host) override;
  std::vector<KvLayer> alloc_kv_cache(const KvCacheShape& shape) override;
  void upload_i32(const int32_t* host, int64_t n, Tensor& dst) override;
  void download_f32(const Tensor& src, float* host) override;
  void copy(void* dst, const void* src, size_t bytes) override;

  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override;
  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override;
  void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                    Tensor& out) override;
  void matmul(const Tensor& x, const Tensor& w, Tensor& out) override;
  void rope(Tensor& q, Tensor& k, const Tensor& positions, const RopeParams& p) override;
  void write_kv(const Tensor& k, const Tensor& v, const AttentionMeta& meta,
                KvLayer& cache) override;
  void rope_write_kv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions,
                     const RopeParams& p, const AttentionMeta& meta, KvLayer& cache) override;
  void paged_attention(const Tensor& q, const KvLayer& cache, const AttentionMeta& meta,
                       int num_heads, int num_kv_heads, float scale, Tensor& out) override;
  void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out) override;
  void add(Tensor& x, const Tensor& y) override;
  void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) override;
  void synchronize() override;

  cudaStream_t stream() const { return stream_; }
  const DeviceInfo& info() const { return info_; }
  DeviceAllocator& allocator() { return *alloc_; }
  void fill_uniform(Tensor& t, uint64_t seed, float scale);

  // Tests and benchmarks: fix the decode split length (0: automatic), and
  // choose whether small-M matmuls use the GEMV kernel (default on; the
  // environment variable TESSERA_CUDA_GEMV=0 turns it off).
  void force_attention_partition(int keys) { forced_partition_ = keys; }
  void set_use_gemv(bool on) { use_gemv_ = on; }
  uint64_t workspace_epoch() const { return workspace_epoch_; }

 private:
  void rope_kv(Tensor* q, Tensor* k, const Tensor* v, const Tensor* positions, const RopeParams* p,
               const AttentionMeta* meta, KvLayer* cache);
  const RopeFreqs& freqs_for(const RopeParams& p);
  void* attention_workspace(size_t bytes);
  void check_launch(cudaError_t err, const char* what);

  int device_;
  DType dtype_;
  DeviceInfo info_;
  cudaStream_t stream_ = nullptr;
  std::shared_ptr<DeviceAllocator> alloc_;
  std::shared_ptr<void> gemm_workspace_;
  std::unique_ptr<LtGemm> gemm_;
  std::shared_ptr<void> attn_workspace_;
  size_t attn_workspace_bytes_ = 0;
  uint64_t workspace_epoch_ = 0;  // bumped when attn_workspace_ is replaced
  // Pinned ring for upload_i32, in segments; segment_done_[i] follows the
  // latest copy out of segment i. Entering a segment waits for its last
  // use, a whole ring ago, so the host rarely waits for the GPU there (it
  // must not, with async scheduling queueing a step ahead).
  static constexpr int kStagingSegments = 4;
  void* staging_ = nullptr;
  size_t segment_bytes_ = 0, staging_head_ = 0;
  int segment_ = 0;
  cudaEvent_t segment_done_[kStagingSegments] = {};
  std::vector<std::pair<RopeParams, RopeFreqs>> rope_cache_;
  int forced_partition_ = 0;
  int decode_ctas_per_sm_[2][2] = {};  // [fp16?][head_dim 64, 128]
  bool use_gemv_ = true;
};

}  // namespace tessera::cuda
