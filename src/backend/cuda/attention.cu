// Paged attention over a flat batch with 16-bit tensor-core MMAs (bf16 or
// fp16 q, KV cache and output: mma.sync m16n8k16, fp32 accumulation) and an
// online softmax. Every kernel is a template over the element type T; P is
// rounded to T before the P·V MMA, as in other flash-attention kernels.
//
// One kernel template serves both kinds of sequence:
//  - prefill (query length > 1; whole prompts, chunks, mixed batches): 4 warps
//    own 64 rows, a row being one (query token, query head) pair of the KV
//    head's group, so K/V tiles are read once for every query head sharing
//    them (GQA). Tiles walk the keys up to the tile's last position, causal.
//  - decode (query length 1): one warp owns the group's query heads (16 rows
//    per head chunk) and one split of the keys; splits run in parallel CTAs
//    and a second kernel merges their partial softmaxes (flash-decoding).
// K/V tiles stream through shared memory with cp.async (multi-stage), rows
// swizzled in 16-byte chunks so ldmatrix reads are free of bank conflicts.
#include <algorithm>
#include <cfloat>

#include "device_utils.cuh"
#include "kernels.h"
#include "launch.cuh"

namespace tessera::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;

struct Params {
  AttentionArgs a;
  int group;        // query heads per KV head
  int partition;    // decode: keys per split
  int max_splits;   // decode: stride of the partial buffers
  float* part_o;    // [num_seqs, num_heads, max_splits, head_dim]
  float* part_lse;  // [num_seqs, num_heads, max_splits] (log2 domain)
};

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; with valid == false the destination is zeroed
// and nothing is read.
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2,
                                            uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t addr, uint32_t& r0, uint32_t& r1,
                                                  uint32_t& r2, uint32_t& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
}

// Two floats as one register of packed T (the MMA's A fragment layout).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  const typename ElemTraits<T>::Pair v = ElemTraits<T>::from_float2(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// Element offset of (row, 16-byte chunk) in a tile of rows of D elements: the
// chunk index is XOR-ed with the row's low 3 bits so that 8 rows read at the
// same logical chunk hit 8 different bank groups.
template <int D>
__device__ __forceinline__ int swizzle(int row, int chunk) {
  return row * D + ((chunk ^ (row & 7)) << 3);
}

// Which (token, query head) a tile row is, and the last key it may see.
struct RowInfo {
  bool valid;
  int token;
  int head;
  int qpos;  // keys 0..qpos are visible; -1 when the row is padding
};

template <int D, int WARPS, int BLOCK_N, int STAGES, bool DECODE, typename T>
__global__ void __launch_bounds__(WARPS * 32) attention_kernel(Params p) {
  pdl_launch_dependents();
  pdl_wait();
  constexpr int ROWS = 16 * WARPS;
  constexpr int CHUNKS = D / 8;
  constexpr int THREADS = WARPS * 32;
  const AttentionArgs& a = p.a;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int group = p.group;

  // ---- which work this CTA owns ----
  int seq, kvh, first_token = 0, head_base, tokens_in_tile = 1;
  int kv_begin, kv_end, split = 0, num_splits_seq = 1;
  int q0, ctx, q_len;
  if constexpr (DECODE) {
    const int head_chunks = (group + 15) / 16;
    seq = blockIdx.x;
    kvh = blockIdx.y / head_chunks;
    head_base = (blockIdx.y % head_chunks) * 16;
    q0 = a.query_start[seq];
    q_len = a.query_start[seq + 1] - q0;
    if (q_len != 1) return;  // the prefill launch owns it
    ctx = a.context_lens[seq];
    split = blockIdx.z;
    kv_begin = split * p.partition;
    if (kv_begin >= ctx) return;
    kv_end = min(ctx, kv_begin + p.partition);
    num_splits_seq = (ctx + p.partition - 1) / p.partition;
    first_token = q0;
  } else {
    // Slot blockIdx.x -> (sequence, query tile), counting tiles of sequences
    // with more than one query token. Every warp scans, 32 sequences a step.
    const int tq = ROWS / group;  // query tokens per tile
    const int slot = blockIdx.x;
    int base = 0;
    seq = -1;
    int tile = 0, tiles_of_seq = 0;
    for (int s0 = 0; s0 < a.num_seqs && seq < 0; s0 += 32) {
      const int s = s0 + lane;
      int tiles = 0;
      if (s < a.num_seqs) {
        const int ql = a.query_start[s + 1] - a.query_start[s];
        tiles = ql > 1 ? (ql + tq - 1) / tq : 0;
      }
      int incl = tiles;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += v;
      }
      const int total = __shfl_sync(0xffffffffu, incl, 31);
      if (slot < base + total) {
        const unsigned hit = __ballot_sync(0xffffffffu, base + incl > slot);
        const int l = __ffs(hit) - 1;
        seq = s0 + l;
        tile = slot - (base + __shfl_sync(0xffffffffu, incl - tiles, l));
        tiles_of_seq = __shfl_sync(0xffffffffu, tiles, l);
      }
      base += total;
    }
    if (seq < 0) return;
    kvh = blockIdx.y;
    head_base = 0;
    q0 = a.query_start[seq];
    q_len = a.query_start[seq + 1] - q0;
    ctx = a.context_lens[seq];
    // Longest tiles first: the last tile of a sequence sees the most keys.
    tile = tiles_of_seq - 1 - tile;
    first_token = q0 + tile * tq;
    tokens_in_tile = min(tq, q0 + q_len - first_token);
    kv_begin = 0;
    // Position of the tile's last token, plus one.
    kv_end = min(ctx, ctx - q_len + (first_token + tokens_in_tile - q0));
  }
  const int32_t* table = a.block_tables + int64_t(seq) * a.max_blocks_per_seq;

  auto row_info = [&](int r) {
    RowInfo info;
    int tok, hig;
    if constexpr (DECODE) {
      tok = 0;
      hig = head_base + r;
    } else {
      tok = r / group;
      hig = r - tok * group;
    }
    info.valid = tok < tokens_in_tile && hig < group;
    info.token = first_token + tok;
    info.head = kvh * group + hig;
    info.qpos = info.valid ? ctx - q_len + (info.token - q0) : -1;
    return info;
  };

  // ---- shared memory ----
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sK = sQ + ROWS * D;
  T* sV = sK + STAGES * BLOCK_N * D;

  const T* q_ptr = static_cast<const T*>(a.q);
  const T* k_cache = static_cast<const T*>(a.k_cache);
  const T* v_cache = static_cast<const T*>(a.v_cache);

  // Q tile: zero rows for padding.
  for (int c = tid; c < ROWS * CHUNKS; c += THREADS) {
    const int r = c / CHUNKS, ch = c % CHUNKS;
    const RowInfo info = row_info(r);
    const T* src = info.valid
                       ? q_ptr + int64_t(info.token) * a.q_stride + int64_t(info.head) * D + ch * 8
                       : q_ptr;
    cp_async_16(smem_addr(sQ + swizzle<D>(r, ch)), src, info.valid);
  }

  const int n_tiles = (kv_end - kv_begin + BLOCK_N - 1) / BLOCK_N;
  // The earliest position among the tile's query tokens.
  const int min_qpos = ctx - q_len + (first_token - q0);
  // A tile's keys live in up to BLOCK_N / block_size pages. Each lane looks
  // up the cache offset of one key per 32 (one independent table load per
  // lane); the copy loop then takes offsets from lanes by shuffle instead of
  // a dependent table load per 16-byte chunk.
  static_assert((BLOCK_N == 32 || BLOCK_N == 64) && (BLOCK_N * CHUNKS) % THREADS == 0 &&
                32 % CHUNKS == 0);
  // Row (of D elements) of key j in the cache, or -1 past the range. Rows
  // fit 32 bits: a cache tensor holds fewer than 2^31 rows.
  auto key_row = [&](int j) -> int {
    if (j >= kv_end) return -1;
    const int page = j / a.block_size;
    return (table[page] * a.num_kv_heads + kvh) * a.block_size + (j - page * a.block_size);
  };
  auto load_kv = [&](int stage, int tile_idx) {
    const int j0 = kv_begin + tile_idx * BLOCK_N;
    const int row_lo = key_row(j0 + lane);
    const int row_hi = BLOCK_N == 64 ? key_row(j0 + 32 + lane) : -1;
    T* dk = sK + stage * BLOCK_N * D;
    T* dv = sV + stage * BLOCK_N * D;
#pragma unroll
    for (int i = 0; i < BLOCK_N * CHUNKS / THREADS; ++i) {
      const int c = i * THREADS + tid;
      const int key = c / CHUNKS, ch = c % CHUNKS;
      // A warp's chunks here cover 32 / CHUNKS consecutive keys starting at
      // a multiple of that, so key / 32 is the same across the warp.
      const int row = __shfl_sync(0xffffffffu, key < 32 ? row_lo : row_hi, key % 32);
      const bool valid = row >= 0;
      const int64_t src = valid ? int64_t(row) * D + ch * 8 : 0;
      const int so = swizzle<D>(key, ch);
      cp_async_16(smem_addr(dk + so), k_cache + src, valid);
      cp_async_16(smem_addr(dv + so), v_cache + src, valid);
    }
  };

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < n_tiles) load_kv(s, s);
    cp_async_commit();  // the Q tile rides in group 0
  }

  // This thread's two rows of its warp's 16: g and g + 8.
  const int g = lane >> 2, t4 = lane & 3;
  const int row_lo = warp * 16 + g, row_hi = row_lo + 8;
  const RowInfo info_lo = row_info(DECODE ? g : row_lo);
  const RowInfo info_hi = row_info(DECODE ? g + 8 : row_hi);
  const int warp_row0 = DECODE ? 0 : warp * 16;

  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.0f, l_hi = 0.0f;
  uint32_t qf[D / 16][4];
  const float scale = a.scale * kLog2e;

  for (int it = 0; it < n_tiles; ++it) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    {
      const int next = it + STAGES - 1;
      if (next < n_tiles) load_kv(next % STAGES, next);
      cp_async_commit();
    }
    if (it == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        const int mi = lane >> 3;
        const int r = warp_row0 + (lane & 7) + (mi & 1) * 8;
        const int ch = kk * 2 + (mi >> 1);
        ldmatrix_x4(smem_addr(sQ + swizzle<D>(r, ch)), qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3]);
      }
    }
    const T* tk = sK + (it % STAGES) * BLOCK_N * D;
    const T* tv = sV + (it % STAGES) * BLOCK_N * D;
    const int j0 = kv_begin + it * BLOCK_N;
    // Tiles wholly visible to every row skip the mask (padding rows then
    // compute on zeros, and are never written).
    const bool need_mask = j0 + BLOCK_N > kv_end || j0 + BLOCK_N - 1 > min_qpos;

    // S = Q K^T for this warp's 16 rows and BLOCK_N keys.
    float s[BLOCK_N / 8][4];
#pragma unroll
    for (int nb = 0; nb < BLOCK_N / 8; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int nb = 0; nb < BLOCK_N / 8; nb += 2) {
        const int mi = lane >> 3;
        const int key = nb * 8 + (lane & 7) + (mi >> 1) * 8;
        const int ch = kk * 2 + (mi & 1);
        uint32_t b0, b1, b2, b3;
        ldmatrix_x4(smem_addr(tk + swizzle<D>(key, ch)), b0, b1, b2, b3);
        ElemTraits<T>::mma(s[nb], qf[kk], b0, b1);
        ElemTraits<T>::mma(s[nb + 1], qf[kk], b2, b3);
      }
    }

    // Scale, mask (causal, end of range, padding rows), online softmax.
    float mx_lo = -INFINITY, mx_hi = -INFINITY;
#pragma unroll
    for (int nb = 0; nb < BLOCK_N / 8; ++nb) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int j = j0 + nb * 8 + 2 * t4 + (e & 1);
        const int qpos = e < 2 ? info_lo.qpos : info_hi.qpos;
        float v = s[nb][e] * scale;
        if (need_mask && (j >= kv_end || j > qpos)) v = -INFINITY;
        s[nb][e] = v;
      }
      mx_lo = fmaxf(mx_lo, fmaxf(s[nb][0], s[nb][1]));
      mx_hi = fmaxf(mx_hi, fmaxf(s[nb][2], s[nb][3]));
    }
#pragma unroll
    for (int off = 1; off < 4; off <<= 1) {
      mx_lo = fmaxf(mx_lo, __shfl_xor_sync(0xffffffffu, mx_lo, off));
      mx_hi = fmaxf(mx_hi, __shfl_xor_sync(0xffffffffu, mx_hi, off));
    }
    const float new_lo = fmaxf(m_lo, mx_lo), new_hi = fmaxf(m_hi, mx_hi);
    // A row that has seen no visible key yet keeps everything at zero.
    const float ref_lo = new_lo == -INFINITY ? 0.0f : new_lo;
    const float ref_hi = new_hi == -INFINITY ? 0.0f : new_hi;
    const float alpha_lo = exp2f(m_lo - ref_lo), alpha_hi = exp2f(m_hi - ref_hi);
    m_lo = new_lo;
    m_hi = new_hi;
    float sum_lo = 0.0f, sum_hi = 0.0f;
#pragma unroll
    for (int nb = 0; nb < BLOCK_N / 8; ++nb) {
      s[nb][0] = exp2f(s[nb][0] - ref_lo);
      s[nb][1] = exp2f(s[nb][1] - ref_lo);
      s[nb][2] = exp2f(s[nb][2] - ref_hi);
      s[nb][3] = exp2f(s[nb][3] - ref_hi);
      sum_lo += s[nb][0] + s[nb][1];
      sum_hi += s[nb][2] + s[nb][3];
    }
    l_lo = l_lo * alpha_lo + sum_lo;
    l_hi = l_hi * alpha_hi + sum_hi;
#pragma unroll
    for (int nd = 0; nd < D / 8; ++nd) {
      o[nd][0] *= alpha_lo;
      o[nd][1] *= alpha_lo;
      o[nd][2] *= alpha_hi;
      o[nd][3] *= alpha_hi;
    }

    // O += P V, P taken from the score accumulators as T A fragments.
#pragma unroll
    for (int ks = 0; ks < BLOCK_N / 16; ++ks) {
      uint32_t pa[4];
      pa[0] = pack2<T>(s[2 * ks][0], s[2 * ks][1]);
      pa[1] = pack2<T>(s[2 * ks][2], s[2 * ks][3]);
      pa[2] = pack2<T>(s[2 * ks + 1][0], s[2 * ks + 1][1]);
      pa[3] = pack2<T>(s[2 * ks + 1][2], s[2 * ks + 1][3]);
#pragma unroll
      for (int nd = 0; nd < D / 8; nd += 2) {
        const int mi = lane >> 3;
        const int key = ks * 16 + (lane & 7) + (mi & 1) * 8;
        const int ch = nd + (mi >> 1);
        uint32_t b0, b1, b2, b3;
        ldmatrix_x4_trans(smem_addr(tv + swizzle<D>(key, ch)), b0, b1, b2, b3);
        ElemTraits<T>::mma(o[nd], pa, b0, b1);
        ElemTraits<T>::mma(o[nd + 1], pa, b2, b3);
      }
    }
  }
  cp_async_wait<0>();

  // ---- epilogue ----
#pragma unroll
  for (int off = 1; off < 4; off <<= 1) {
    l_lo += __shfl_xor_sync(0xffffffffu, l_lo, off);
    l_hi += __shfl_xor_sync(0xffffffffu, l_hi, off);
  }
  const bool partial = DECODE && num_splits_seq > 1;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const RowInfo& info = half == 0 ? info_lo : info_hi;
    const float l = half == 0 ? l_lo : l_hi;
    const float m = half == 0 ? m_lo : m_hi;
    if (!info.valid || !(l > 0.0f)) continue;
    const float inv = 1.0f / l;
    if (partial) {
      const int64_t idx = (int64_t(seq) * a.num_heads + info.head) * p.max_splits + split;
      float* dst = p.part_o + idx * D;
#pragma unroll
      for (int nd = 0; nd < D / 8; ++nd) {
        const float2 v = make_float2(o[nd][2 * half] * inv, o[nd][2 * half + 1] * inv);
        *reinterpret_cast<float2*>(dst + nd * 8 + 2 * t4) = v;
      }
      if (t4 == 0) p.part_lse[idx] = m + log2f(l);
    } else {
      T* dst = static_cast<T*>(a.out) + int64_t(info.token) * a.out_stride + int64_t(info.head) * D;
#pragma unroll
      for (int nd = 0; nd < D / 8; ++nd)
        *reinterpret_cast<uint32_t*>(dst + nd * 8 + 2 * t4) =
            pack2<T>(o[nd][2 * half] * inv, o[nd][2 * half + 1] * inv);
    }
  }
}

// Merges the splits of decode sequences that had more than one: one block
// of 128 threads per (sequence, query head). The split weights are computed
// once into shared memory; each warp then sums a quarter of the splits'
// partial outputs (D / 32 dims per lane, several loads in flight), and the
// warps' sums are added in shared memory.
constexpr int kMaxSplits = 256;
constexpr int kCombineWarps = 4;

template <int D, typename T>
__global__ void __launch_bounds__(kCombineWarps * 32) combine_splits_kernel(Params p) {
  constexpr int VEC = D / 32;
  __shared__ float s_w[kMaxSplits];
  __shared__ float s_red[32];
  __shared__ float s_acc[kCombineWarps][D];
  pdl_launch_dependents();
  pdl_wait();
  const AttentionArgs& a = p.a;
  const int seq = blockIdx.x, head = blockIdx.y;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int q0 = a.query_start[seq];
  if (a.query_start[seq + 1] - q0 != 1) return;
  const int ctx = a.context_lens[seq];
  const int n = (ctx + p.partition - 1) / p.partition;
  if (n <= 1) return;
  const int64_t base = (int64_t(seq) * a.num_heads + head) * p.max_splits;

  float mx = -INFINITY;
  for (int s = tid; s < n; s += blockDim.x) {
    const float v = p.part_lse[base + s];
    s_w[s] = v;
    mx = fmaxf(mx, v);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if (lane == 0) s_red[warp] = mx;
  __syncthreads();
  mx = s_red[0];
#pragma unroll
  for (int w = 1; w < kCombineWarps; ++w) mx = fmaxf(mx, s_red[w]);
  float wsum = 0.0f;
  for (int s = tid; s < n; s += blockDim.x) {
    const float w = exp2f(s_w[s] - mx);
    s_w[s] = w;
    wsum += w;
  }
  wsum = block_sum(wsum, s_red);  // its barriers also publish s_w

  float acc[VEC];
#pragma unroll
  for (int i = 0; i < VEC; ++i) acc[i] = 0.0f;
#pragma unroll 4
  for (int s = warp; s < n; s += kCombineWarps) {
    const float* src = p.part_o + (base + s) * D + lane * VEC;
    float v[VEC];
    if constexpr (VEC == 4) {
      const float4 f = *reinterpret_cast<const float4*>(src);
      v[0] = f.x, v[1] = f.y, v[2] = f.z, v[3] = f.w;
    } else {
      const float2 f = *reinterpret_cast<const float2*>(src);
      v[0] = f.x, v[1] = f.y;
    }
#pragma unroll
    for (int i = 0; i < VEC; ++i) acc[i] = fmaf(s_w[s], v[i], acc[i]);
  }
#pragma unroll
  for (int i = 0; i < VEC; ++i) s_acc[warp][lane * VEC + i] = acc[i];
  __syncthreads();
  if (warp != 0) return;
  T* dst = static_cast<T*>(a.out) + int64_t(q0) * a.out_stride + int64_t(head) * D;
  const float inv = 1.0f / wsum;
#pragma unroll
  for (int i = 0; i < VEC; ++i) {
    float t = 0.0f;
#pragma unroll
    for (int w = 0; w < kCombineWarps; ++w) t += s_acc[w][lane * VEC + i];
    dst[lane * VEC + i] = ElemTraits<T>::from_float(t * inv);
  }
}

// ---- configurations ----

constexpr int kPrefillWarps = 4, kPrefillBlockN = 64, kPrefillStages = 2;
constexpr int kDecodeWarps = 1, kDecodeBlockN = 32, kDecodeStages = 2;

template <int D, int WARPS, int BLOCK_N, int STAGES>
constexpr size_t smem_bytes() {
  return size_t(16 * WARPS * D + 2 * STAGES * BLOCK_N * D) * sizeof(uint16_t);
}

template <int D, typename T>
cudaError_t set_smem_limits() {
  cudaError_t err = cudaFuncSetAttribute(
      attention_kernel<D, kPrefillWarps, kPrefillBlockN, kPrefillStages, false, T>,
      cudaFuncAttributeMaxDynamicSharedMemorySize,
      int(smem_bytes<D, kPrefillWarps, kPrefillBlockN, kPrefillStages>()));
  if (err != cudaSuccess) return err;
  return cudaFuncSetAttribute(
      attention_kernel<D, kDecodeWarps, kDecodeBlockN, kDecodeStages, true, T>,
      cudaFuncAttributeMaxDynamicSharedMemorySize,
      int(smem_bytes<D, kDecodeWarps, kDecodeBlockN, kDecodeStages>()));
}

template <int D, typename T>
cudaError_t launch_for_dim(const Params& p, const AttentionPlan& plan, cudaStream_t stream) {
  const AttentionArgs& a = p.a;
  if (plan.run_prefill) {
    const dim3 grid(unsigned(plan.prefill_ctas), unsigned(a.num_kv_heads));
    const cudaError_t err =
        launch_pdl(attention_kernel<D, kPrefillWarps, kPrefillBlockN, kPrefillStages, false, T>,
                   grid, dim3(kPrefillWarps * 32),
                   smem_bytes<D, kPrefillWarps, kPrefillBlockN, kPrefillStages>(), stream, p);
    if (err != cudaSuccess) return err;
  }
  const dim3 grid(unsigned(a.num_seqs), unsigned(a.num_kv_heads * plan.head_chunks),
                  unsigned(plan.num_splits));
  const cudaError_t err =
      launch_pdl(attention_kernel<D, kDecodeWarps, kDecodeBlockN, kDecodeStages, true, T>, grid,
                 dim3(kDecodeWarps * 32),
                 smem_bytes<D, kDecodeWarps, kDecodeBlockN, kDecodeStages>(), stream, p);
  if (err != cudaSuccess || plan.num_splits == 1) return err;
  return launch_pdl(combine_splits_kernel<D, T>, dim3(unsigned(a.num_seqs), unsigned(a.num_heads)),
                    dim3(kCombineWarps * 32), 0, stream, p);
}

template <int D, typename T>
int decode_occupancy() {
  int n = 0;
  const cudaError_t err = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &n, attention_kernel<D, kDecodeWarps, kDecodeBlockN, kDecodeStages, true, T>,
      kDecodeWarps * 32, smem_bytes<D, kDecodeWarps, kDecodeBlockN, kDecodeStages>());
  return err == cudaSuccess && n > 0 ? n : 1;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

const char* attention_unsupported(const AttentionArgs& a) {
  if (a.head_dim != 64 && a.head_dim != 128) return "head_dim must be 64 or 128";
  if (a.num_kv_heads <= 0 || a.num_heads % a.num_kv_heads != 0)
    return "num_heads must be a multiple of num_kv_heads";
  if (a.num_heads / a.num_kv_heads > 16 * kPrefillWarps)
    return "more than 64 query heads per KV head";
  if (a.block_size <= 0) return "block_size must be positive";
  if (!aligned_to(16, uint64_t(a.q), uint64_t(a.q_stride) * 2, uint64_t(a.k_cache),
                  uint64_t(a.v_cache)))
    return "q rows and the KV cache must be 16-byte aligned";
  if (!aligned_to(4, uint64_t(a.out), uint64_t(a.out_stride) * 2))
    return "output rows must be 4-byte aligned";
  return nullptr;
}

AttentionPlan plan_attention(const AttentionArgs& a, int sm_count, int decode_ctas_per_sm,
                             int force_partition) {
  AttentionPlan plan;
  const int group = a.num_heads / a.num_kv_heads;
  if (a.num_tokens > a.num_seqs) {
    plan.run_prefill = true;
    const int tq = 16 * kPrefillWarps / group;
    // Sum over sequences of ceil(q_len / tq), q_len >= 2, is at most
    // num_tokens / tq + (number of such sequences) <= ... + num_tokens / 2.
    const int64_t prefill_seqs = std::min<int64_t>(a.num_seqs, a.num_tokens / 2);
    plan.prefill_ctas = int(ceil_div(a.num_tokens, tq) + prefill_seqs);
  }
  plan.head_chunks = int(ceil_div(group, 16));
  const int64_t max_ctx = std::max<int64_t>(int64_t(a.max_blocks_per_seq) * a.block_size, 1);
  int64_t splits = 1;
  if (force_partition > 0) {
    splits = ceil_div(max_ctx, ceil_div(force_partition, kDecodeBlockN) * kDecodeBlockN);
  } else {
    // Model the decode launch: waves of resident CTAs, each as long as its
    // tiles plus a fixed start-up (about three tiles' worth), plus the merge
    // (about four) when split. Splits shorter than two tiles never pay.
    const int64_t ctas = int64_t(a.num_seqs) * a.num_kv_heads * plan.head_chunks;
    const int64_t capacity = std::max<int64_t>(1, int64_t(sm_count) * decode_ctas_per_sm);
    const int64_t max_splits = std::clamp<int64_t>(max_ctx / (2 * kDecodeBlockN), 1, kMaxSplits);
    double best = 1e300;
    for (int64_t s = 1; s <= max_splits; ++s) {
      const int64_t tiles = ceil_div(ceil_div(max_ctx, s), kDecodeBlockN);
      const double cost =
          double(ceil_div(ctas * s, capacity)) * double(tiles + 3) + (s > 1 ? 4 : 0);
      if (cost < best) best = cost, splits = s;
    }
  }
  splits = std::min<int64_t>(splits, kMaxSplits);
  plan.partition = int(ceil_div(ceil_div(max_ctx, splits), kDecodeBlockN) * kDecodeBlockN);
  plan.num_splits = int(ceil_div(max_ctx, plan.partition));
  if (plan.num_splits > 1)
    plan.workspace_bytes = size_t(a.num_seqs) * a.num_heads * plan.num_splits *
                           (size_t(a.head_dim) + 1) * sizeof(float);
  return plan;
}

int decode_ctas_per_sm(int head_dim, Elem elem) {
  return dispatch_elem(elem, [&](auto tag) {
    using T = decltype(tag);
    return head_dim == 64    ? decode_occupancy<64, T>()
           : head_dim == 128 ? decode_occupancy<128, T>()
                             : 1;
  });
}

cudaError_t prepare_attention_kernels() {
  for (cudaError_t err : {set_smem_limits<64, bf16>(), set_smem_limits<128, bf16>(),
                          set_smem_limits<64, fp16>(), set_smem_limits<128, fp16>()})
    if (err != cudaSuccess) return err;
  return cudaSuccess;
}

cudaError_t launch_attention(Elem elem, const AttentionArgs& a, const AttentionPlan& plan,
                             void* workspace, cudaStream_t stream) {
  if (a.num_tokens == 0 || a.num_seqs == 0) return cudaSuccess;
  Params p;
  p.a = a;
  p.group = a.num_heads / a.num_kv_heads;
  p.partition = plan.partition;
  p.max_splits = plan.num_splits;
  p.part_o = static_cast<float*>(workspace);
  p.part_lse = p.part_o + size_t(a.num_seqs) * a.num_heads * plan.num_splits * a.head_dim;
  return dispatch_elem(elem, [&](auto tag) {
    using T = decltype(tag);
    if (a.head_dim == 64) return launch_for_dim<64, T>(p, plan, stream);
    if (a.head_dim == 128) return launch_for_dim<128, T>(p, plan, stream);
    return cudaErrorInvalidValue;
  });
}

}  // namespace tessera::cuda
