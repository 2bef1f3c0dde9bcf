// The ops a model's forward pass is written in. One implementation per device
// (cpu/, cuda/). Activations are float32 on the CPU (bf16 or fp16 on CUDA);
// weights are whatever the file holds on the CPU, the activation type on
// CUDA. Tensors passed in live on the backend's device.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tessera/core/tensor.h"

namespace tessera {

// Rotary embedding settings (HF `rope_scaling`).
struct RopeParams {
  enum class Scaling { kNone, kLinear, kLlama3 };
  enum class Style { kNeox, kInterleaved };  // halves (HF) vs adjacent pairs (GGUF llama)
  int head_dim = 0;
  int rotary_dim = 0;  // dims rotated, <= head_dim
  float theta = 10000.0f;
  Scaling scaling = Scaling::kNone;
  Style style = Style::kNeox;
  float factor = 1.0f;  // linear and llama3
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position = 8192;
};

// The flat ("nopad") batch as attention sees it. Pointers are on the
// backend's device. Sequence s owns query tokens [query_start[s],
// query_start[s+1]) whose positions are the last of its context_lens[s] KV
// entries; its KV lives in blocks block_tables[s * max_blocks_per_seq + i].
struct AttentionMeta {
  int num_seqs = 0;
  int num_tokens = 0;
  const int32_t* query_start = nullptr;   // [num_seqs + 1]
  const int32_t* context_lens = nullptr;  // [num_seqs]
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;
  const int32_t* slot_mapping = nullptr;  // [num_tokens] KV slot = block * block_size + offset
  const int32_t* positions = nullptr;     // [num_tokens]
};

// Paged KV storage of one layer: [num_blocks, num_kv_heads, block_size, head_dim]
// for K and for V.
struct KvLayer {
  Tensor k;
  Tensor v;
};

struct KvCacheShape {
  int num_layers = 0;
  int num_blocks = 0;
  int block_size = 16;
  int num_kv_heads = 0;
  int head_dim = 0;
  DType dtype = DType::kF32;
  size_t bytes_per_block() const;  // all layers, K and V
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // Element type of activations between ops (F32 on the CPU; BF16 or F16 on
  // CUDA, as constructed).
  virtual DType activation_dtype() const = 0;

  // Memory on the device.
  virtual Tensor alloc(DType dtype, std::vector<int64_t> shape) = 0;
  // A weight for use by this backend (CPU: the mapped tensor itself).
  virtual Tensor load_weight(const Tensor& host) = 0;
  virtual std::vector<KvLayer> alloc_kv_cache(const KvCacheShape& shape) = 0;
  // Copy int32 host data into a device buffer (CPU: plain copy).
  virtual void upload_i32(const int32_t* host, int64_t n, Tensor& dst) = 0;
  virtual void download_f32(const Tensor& src, float* host) = 0;
  // dst = src, `bytes` of this device's memory, in stream order (KV block
  // copies for copy-on-write).
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;

  // out[i, :] = table[ids[i], :] as float
  virtual void embedding(const Tensor& table, const Tensor& ids, Tensor& out) = 0;
  // out = x / rms(x) * weight, row by row
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;
  // residual += x; out = rms_norm(residual)
  virtual void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                            Tensor& out) = 0;
  // out[T, N] = x[T, K] · w[N, K]^T
  virtual void matmul(const Tensor& x, const Tensor& w, Tensor& out) = 0;
  // Rotates q [T, Hq*D] and k [T, Hkv*D] in place at `positions`.
  virtual void rope(Tensor& q, Tensor& k, const Tensor& positions, const RopeParams& p) = 0;
  // Stores k, v [T, Hkv*D] into the paged cache at slot_mapping.
  virtual void write_kv(const Tensor& k, const Tensor& v, const AttentionMeta& meta,
                        KvLayer& cache) = 0;
  // rope(q, k) then write_kv(k, v): q and k are rotated in place and the
  // rotated k lands in the cache. A backend may fuse the two into one pass.
  virtual void rope_write_kv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions,
                             const RopeParams& p, const AttentionMeta& meta, KvLayer& cache) {
    rope(q, k, positions, p);
    write_kv(k, v, meta, cache);
  }
  // Causal attention of q [T, Hq*D] over each sequence's cached K/V; out [T, Hq*D].
  virtual void paged_attention(const Tensor& q, const KvLayer& cache, const AttentionMeta& meta,
                               int num_heads, int num_kv_heads, float scale, Tensor& out) = 0;
  // out[T, F] = silu(gate) * up
  virtual void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out) = 0;
  // x += y
  virtual void add(Tensor& x, const Tensor& y) = 0;
  // out[i, :] = x[rows[i], :]
  virtual void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) = 0;
  // Blocks until queued work is done (no-op on the CPU).
  virtual void synchronize() = 0;
};

std::unique_ptr<Backend> make_cpu_backend();
// Activations, weights and the KV cache in `dtype` (kBF16 or kF16; other
// types: Error(kInvalidArgument)). Throws Error(kUnsupported) when built
// without CUDA or no GPU is present.
std::unique_ptr<Backend> make_cuda_backend(int device_index = 0, DType dtype = DType::kBF16);

}  // namespace tessera
