// Host-side entry points of the CUDA kernels (the .cu files). Plain types
// only, so both nvcc and the host compiler read this header; the backend
// (cuda_backend.cpp) checks shapes and dtypes before calling these, and turns
// the returned cudaError_t into a tessera::Error. Strides are in elements.
// Activation, weight and cache pointers are of one 16-bit type, `elem`.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace tessera::cuda {

// Element type of a call's activations, weights and KV cache, passed beside
// the argument structs (the kernels take it as a template parameter, so the
// structs they receive stay as they were). kF32 only where a comment says
// so (fills).
enum class Elem : uint8_t { kBF16, kF16, kF32 };

// dst[i, :] = src[idx[i], :] (row_bytes bytes a row); rows whose index is
// outside [0, src_rows) become zeros.
cudaError_t launch_gather_rows(const void* src, int64_t src_rows, size_t src_stride_bytes,
                               const int32_t* idx, int64_t n, size_t row_bytes, void* dst,
                               size_t dst_stride_bytes, cudaStream_t stream);

// out = x / rms(x) * weight per row; with add, residual += x first (rounded
// to elem) and the norm reads the new residual. weight is elem or f32.
struct NormArgs {
  void* residual = nullptr;
  int64_t residual_stride = 0;
  const void* x = nullptr;
  int64_t x_stride = 0;
  const void* weight = nullptr;
  bool weight_f32 = false;
  void* out = nullptr;
  int64_t out_stride = 0;
  int64_t rows = 0;
  int cols = 0;
  float eps = 1e-5f;
  bool add = false;
};
cudaError_t launch_rms_norm(Elem elem, const NormArgs& a, cudaStream_t stream);

// out = silu(gate) * up
cudaError_t launch_silu_mul(Elem elem, const void* gate, int64_t gate_stride, const void* up,
                            int64_t up_stride, void* out, int64_t out_stride, int64_t rows,
                            int64_t cols, cudaStream_t stream);
// x += y
cudaError_t launch_add(Elem elem, void* x, int64_t x_stride, const void* y, int64_t y_stride,
                       int64_t rows, int64_t cols, cudaStream_t stream);
// dst = src (device memory, non-overlapping), by a copy kernel.
cudaError_t launch_copy(void* dst, const void* src, size_t bytes, int sm_count,
                        cudaStream_t stream);
// Uniform values in [-scale, scale) from a hash of (seed, index), rounded to
// elem (any of the three).
cudaError_t launch_fill_uniform(void* data, int64_t n, Elem elem, uint64_t seed, float scale,
                                cudaStream_t stream);

// Rotary embedding of q and k in place and/or the write of k, v into the
// paged cache [blocks, kv_heads, block_size, head_dim] at slots[t] (tokens
// with a negative slot are not written: padding).
constexpr int kMaxRotaryPairs = 128;
struct RopeFreqs {
  float inv_freq[kMaxRotaryPairs];
};
struct RopeKvArgs {
  void* q = nullptr;
  int64_t q_stride = 0;
  int q_heads = 0;
  void* k = nullptr;
  int64_t k_stride = 0;
  int kv_heads = 0;
  const void* v = nullptr;
  int64_t v_stride = 0;
  const int32_t* positions = nullptr;
  int head_dim = 0;
  int rotary_dim = 0;
  bool neox = true;
  bool do_rope = true;
  bool do_write = true;
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  const int32_t* slots = nullptr;
  int block_size = 16;
  int64_t num_slots = 0;
  int64_t num_tokens = 0;
};
cudaError_t launch_rope_kv(Elem elem, const RopeKvArgs& a, const RopeFreqs& freqs,
                           cudaStream_t stream);

// Paged attention over a flat batch (see AttentionMeta in backend.h).
struct AttentionArgs {
  const void* q = nullptr;
  int64_t q_stride = 0;
  void* out = nullptr;
  int64_t out_stride = 0;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int32_t* query_start = nullptr;
  const int32_t* context_lens = nullptr;
  const int32_t* block_tables = nullptr;
  int max_blocks_per_seq = 0;
  int num_seqs = 0;
  int num_tokens = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int block_size = 16;
  float scale = 1.0f;
};
// How one call is split into launches, decided on the host from what it
// knows without reading device memory: the token and sequence counts and an
// upper bound on context length (max_blocks_per_seq * block_size).
struct AttentionPlan {
  // Sequences with more than one query token: flash-attention tiles, one CTA
  // per (query tile, KV head). Skipped when every sequence has one token
  // (num_tokens == num_seqs: each sequence has at least one).
  bool run_prefill = false;
  int prefill_ctas = 0;  // upper bound on the number of query tiles
  // Sequences with one query token: one CTA per (sequence, KV head, head
  // chunk of 16 query heads, KV split of `partition` keys), then a combine.
  int head_chunks = 1;
  int num_splits = 1;
  int partition = 0;
  size_t workspace_bytes = 0;  // partial outputs of the splits
};
// force_partition > 0 fixes the split length (tests); otherwise the split
// count minimizes a model of the decode launch's time (waves of resident
// CTAs times tiles per CTA, plus the merge).
AttentionPlan plan_attention(const AttentionArgs& a, int sm_count, int decode_ctas_per_sm,
                             int force_partition = 0);
// Resident decode CTAs per SM (occupancy), for plan_attention.
int decode_ctas_per_sm(int head_dim, Elem elem);
cudaError_t launch_attention(Elem elem, const AttentionArgs& a, const AttentionPlan& plan,
                             void* workspace, cudaStream_t stream);
// Raises the shared-memory limit of the attention kernels (once per device).
cudaError_t prepare_attention_kernels();
// Why args are outside what the kernels handle, or nullptr.
const char* attention_unsupported(const AttentionArgs& a);

// out[M, N] = x[M, K] · w[N, K]^T for small M (memory-bound decode): one
// pass over w. Needs K % 8 == 0 and 16-byte aligned rows of x and w.
constexpr int kGemvMaxRows = 8;
bool gemv_supported(const void* x, int64_t x_stride, const void* w, int64_t w_stride, int M, int K);
// out is elem, or f32 with out_f32.
cudaError_t launch_gemv(Elem elem, const void* x, int64_t x_stride, const void* w, int64_t w_stride,
                        void* out, int64_t out_stride, bool out_f32, int M, int N, int K,
                        cudaStream_t stream);

}  // namespace tessera::cuda
