// The device sampler's kernel: one CTA per job (row to sample), several
// passes over the row, each one coalesced read of the vocabulary.
//
// - Processors are applied on the fly: a bitmap in shared memory marks the
//   tokens with an edit; those look their entry up (binary search over the
//   job's sorted edits) and apply bias, ban, repetition, presence and
//   frequency in the host's order and rounding. The logits stay unmodified,
//   so rows shared by several jobs (n > 1 forks) and raw logprobs need no copy.
// - Truncation is a set {key > cut} ∪ {key == cut, id <= id_max} over an
//   order-preserving 32-bit key of the processed logit, found by radix
//   selection (3 passes of 11/11/10 bits): top-k by count, top-p by mass.
// - Masses are fixed point (2^40 = the best token's weight) in 64-bit
//   integers, so every sum is exact and the chosen token depends only on the
//   row, the job and its draw, never on thread timing or the batch.
// - The draw is the inverse CDF in id order over the kept tokens (the host's
//   dense order): per-segment sums, then a scan inside the chosen segment.
#include <cuda_runtime.h>

#include <climits>
#include <cstdint>

#include "sampling_kernels.h"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 2048;  // histogram bins (also the segment scratch)
constexpr int kMaxSegments = 1024;
constexpr float kFixedOne = 1099511627776.0f;  // 2^40
using u64 = unsigned long long;

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }

// Order-preserving key of a float without NaN and -0.
__device__ __forceinline__ uint32_t key_of(float v) {
  const uint32_t b = __float_as_uint(v);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float value_of(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

struct Shared {
  u64 hist[kBins];
  u64 seg[kMaxSegments];
  u64 red[kWarps];
  u64 bcast[4];
  double dred[kWarps];
  double dbcast;
  int top_count;
  int top_ids[kMaxDeviceLogprobsKernel];
  float top_vals[kMaxDeviceLogprobsKernel];
};

// One row of one job: raw values (NaN as -inf, -0 as +0) and processed ones.
struct Row {
  const float* x;
  int vocab;
  const SampleEdit* edits;
  int num_edits;
  const uint32_t* marked;  // bitmap in shared memory (when num_edits > 0)
  float rep, presence, frequency;

  __device__ float raw(int i) const {
    const float v = x[i];
    return v != v ? neg_inf() : v + 0.0f;
  }
  __device__ float processed(int i) const {
    float v = raw(i);
    if (num_edits > 0 && ((marked[i >> 5] >> (i & 31)) & 1u)) v = edit(i, v);
    return v + 0.0f;
  }
  __device__ float edit(int i, float v) const {
    int lo = 0, hi = num_edits - 1;
    while (lo < hi) {
      const int mid = (lo + hi) >> 1;
      if (edits[mid].token < i)
        lo = mid + 1;
      else
        hi = mid;
    }
    const SampleEdit e = edits[lo];
    v = __fadd_rn(v, e.bias);
    if (e.flags & SampleEdit::kBanned) v = neg_inf();
    if (e.flags & SampleEdit::kRepeated) v = v > 0.0f ? __fdiv_rn(v, rep) : __fmul_rn(v, rep);
    if (e.count > 0) v = __fsub_rn(v, __fadd_rn(__fmul_rn(float(e.count), frequency), presence));
    return v;
  }
};

// Block-wide reductions, deterministic (fixed assignment, fixed order).
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T* scratch, T* slot) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    T r = scratch[0];
    for (int w = 1; w < kWarps; ++w) r = op(r, scratch[w]);
    *slot = r;
  }
  __syncthreads();
  return *slot;
}
struct Max64 {
  __device__ u64 operator()(u64 a, u64 b) const { return a > b ? a : b; }
};
struct Sum64 {
  __device__ u64 operator()(u64 a, u64 b) const { return a + b; }
};
struct SumD {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// Warp 0: the first position p (in descending bin order when `descending`)
// where the running sum of a[] reaches `need`. Writes the bin and the sum
// before it to out[0], out[1]. When the total falls short: the last bin.
__device__ void warp_find(const u64* a, int n, u64 need, bool descending, u64* out) {
  const int lane = threadIdx.x & 31;
  const int per = (n + 31) / 32;
  u64 mine = 0;
  for (int j = 0; j < per; ++j) {
    const int p = lane * per + j;
    if (p < n) mine += a[descending ? n - 1 - p : p];
  }
  u64 incl = mine;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const u64 t = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += t;
  }
  const unsigned hit = __ballot_sync(0xffffffffu, incl >= need);
  const int owner = hit ? __ffs(hit) - 1 : 31;
  if (lane == owner) {
    u64 cum = incl - mine;
    int found = -1;
    for (int j = 0; j < per; ++j) {
      const int p = lane * per + j;
      if (p >= n) break;
      const int b = descending ? n - 1 - p : p;
      found = b;
      if (cum + a[b] >= need) break;
      cum += a[b];
    }
    if (found < 0) found = descending ? 0 : n - 1;
    out[0] = u64(found);
    out[1] = cum;
  }
}

struct Selected {
  uint32_t key;  // the cut
  u64 above;     // weight with a larger key
  u64 at;        // weight at the cut
};

// Radix selection over 32-bit keys: the largest key K such that the weight
// of {key >= K} reaches `need`. f(i, key, weight) says whether element i
// takes part.
template <class F>
__device__ Selected radix_select(int n, const F& f, u64 need, Shared& sh) {
  uint32_t prefix = 0;
  u64 above = 0, at = 0;
#pragma unroll 1
  for (int p = 0; p < 3; ++p) {
    for (int b = threadIdx.x; b < kBins; b += kThreads) sh.hist[b] = 0;
    __syncthreads();
    const int bits = p == 2 ? 10 : 11, shift = p == 0 ? 21 : (p == 1 ? 10 : 0);
    const int high = shift + bits;
    const uint32_t mask = (1u << bits) - 1;
    for (int i = threadIdx.x; i < n; i += kThreads) {
      uint32_t k;
      u64 w;
      if (!f(i, k, w) || w == 0) continue;
      if (high < 32 && (k >> high) != prefix) continue;
      atomicAdd(&sh.hist[(k >> shift) & mask], w);
    }
    __syncthreads();
    if (threadIdx.x < 32) warp_find(sh.hist, 1 << bits, need - above, true, sh.bcast);
    __syncthreads();
    const uint32_t bin = uint32_t(sh.bcast[0]);
    prefix = (prefix << bits) | bin;
    above += sh.bcast[1];
    at = sh.hist[bin];
    __syncthreads();
  }
  return {prefix, above, at};
}

// The `need`-th lowest id among elements with key == `key` that f admits.
template <class F>
__device__ int nth_tie_id(int n, const F& admitted_key, uint32_t key, u64 need, Shared& sh) {
  const Selected s = radix_select(
      n,
      [&](int i, uint32_t& k, u64& w) {
        uint32_t own;
        if (!admitted_key(i, own) || own != key) return false;
        k = ~uint32_t(i);  // larger key = lower id
        w = 1;
        return true;
      },
      need, sh);
  return int(~s.key);
}

__device__ double philox_uniform(uint64_t seed, uint64_t stream, uint64_t counter, u64* bits53) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = uint32_t(stream),
           c3 = uint32_t(stream >> 32);
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const u64 p0 = u64(0xD2511F53u) * c0, p1 = u64(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n1 = uint32_t(p1);
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1, n3 = uint32_t(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
  }
  *bits53 = ((u64(c0) << 32) | c1) >> 11;
  return double(*bits53) * 0x1.0p-53;
}

__global__ void __launch_bounds__(kThreads) sample_kernel(SampleArgs a) {
  extern __shared__ uint32_t marked[];
  __shared__ Shared sh;
  const SampleJob job = a.jobs[blockIdx.x];
  const int V = a.vocab, tid = threadIdx.x;
  Row row{a.logits + int64_t(job.row) * a.row_stride,
          V,
          a.edits + job.edit_begin,
          job.edit_count,
          marked,
          job.repetition_penalty,
          job.presence_penalty,
          job.frequency_penalty};
  if (job.edit_count > 0) {
    for (int w = tid; w < (V + 31) / 32; w += kThreads) marked[w] = 0;
    __syncthreads();
    for (int e = tid; e < job.edit_count; e += kThreads) {
      const int t = row.edits[e].token;
      if (t >= 0 && t < V) atomicOr(&marked[t >> 5], 1u << (t & 31));
    }
    __syncthreads();
  }

  // Pass 1: the processed maximum and its lowest id (the greedy answer).
  u64 best = 0;
  for (int i = tid; i < V; i += kThreads) {
    const u64 packed = (u64(key_of(row.processed(i))) << 32) | u64(0xffffffffu - uint32_t(i));
    best = packed > best ? packed : best;
  }
  best = block_reduce(best, Max64{}, sh.red, &sh.bcast[2]);
  const uint32_t max_key = uint32_t(best >> 32);
  int token = int(0xffffffffu - uint32_t(best & 0xffffffffu));
  const float m = value_of(max_key);
  u64 bits53 = 0;
  philox_uniform(job.seed, job.stream, job.counter, &bits53);

  if (m == neg_inf()) {
    // Every token suppressed: the raw argmax (0 when that is -inf too), as the host.
    u64 raw_best = 0;
    for (int i = tid; i < V; i += kThreads) {
      const u64 packed = (u64(key_of(row.raw(i))) << 32) | u64(0xffffffffu - uint32_t(i));
      raw_best = packed > raw_best ? packed : raw_best;
    }
    raw_best = block_reduce(raw_best, Max64{}, sh.red, &sh.bcast[2]);
    token = value_of(uint32_t(raw_best >> 32)) == neg_inf()
                ? 0
                : int(0xffffffffu - uint32_t(raw_best & 0xffffffffu));
  } else if (!job.greedy) {
    const float inv_t = 1.0f / job.temperature;
    const auto weight_of = [&](float v) {
      const float w = expf((v - m) * inv_t);
      return u64(w * kFixedOne);
    };
    uint32_t cut_key = 0;
    int cut_id = INT_MAX;
    const auto kept = [&](uint32_t k, int i) {
      return k > cut_key || (k == cut_key && i <= cut_id);
    };
    if (job.top_k > 0 && job.top_k < V) {
      const Selected s = radix_select(
          V,
          [&](int i, uint32_t& k, u64& w) {
            k = key_of(row.processed(i));
            w = 1;
            return true;
          },
          u64(job.top_k), sh);
      cut_key = s.key;
      const u64 ties = u64(job.top_k) - s.above;
      if (s.at > ties)
        cut_id = nth_tie_id(
            V,
            [&](int i, uint32_t& k) {
              k = key_of(row.processed(i));
              return true;
            },
            s.key, ties, sh);
    }
    if (job.top_p < 1.0f) {
      u64 total = 0;
      for (int i = tid; i < V; i += kThreads) {
        const float v = row.processed(i);
        if (kept(key_of(v), i)) total += weight_of(v);
      }
      total = block_reduce(total, Sum64{}, sh.red, &sh.bcast[2]);
      u64 target = u64(ceil(double(job.top_p) * double(total)));
      target = target < 1 ? 1 : (target > total ? total : target);
      const auto admitted = [&](int i, uint32_t& k) {
        k = key_of(row.processed(i));
        return kept(k, i);
      };
      const Selected s = radix_select(
          V,
          [&](int i, uint32_t& k, u64& w) {
            if (!admitted(i, k)) return false;
            w = weight_of(value_of(k));
            return true;
          },
          target, sh);
      const u64 each = weight_of(value_of(s.key));  // ties share one weight
      const u64 need = each > 0 ? (target - s.above + each - 1) / each : 1;
      const u64 count = each > 0 ? s.at / each : 0;
      const int previous_id = s.key == cut_key ? cut_id : INT_MAX;
      cut_id = need < count ? nth_tie_id(V, admitted, s.key, need, sh) : previous_id;
      cut_key = s.key;
    }
    // Final weights (min-p on top), summed per segment of ids.
    const int seg_len = ((V + kMaxSegments - 1) / kMaxSegments + 31) / 32 * 32 < 256
                            ? 256
                            : ((V + kMaxSegments - 1) / kMaxSegments + 31) / 32 * 32;
    const int segments = (V + seg_len - 1) / seg_len;
    const float min_p = job.min_p;
    const auto final_weight = [&](int i) -> u64 {
      const float v = row.processed(i);
      if (!kept(key_of(v), i)) return 0;
      const float w = expf((v - m) * inv_t);
      if (w < min_p) return 0;
      return u64(w * kFixedOne);
    };
    const int warp = tid >> 5, lane = tid & 31;
    for (int s = warp; s < segments; s += kWarps) {
      u64 sum = 0;
      const int end = min(V, (s + 1) * seg_len);
      for (int i = s * seg_len + lane; i < end; i += 32) sum += final_weight(i);
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
      if (lane == 0) sh.seg[s] = sum;
    }
    __syncthreads();
    if (tid == 0) {
      u64 total = 0;
      for (int s = 0; s < segments; ++s) total += sh.seg[s];
      // floor(u * total) exactly: u = bits53 / 2^53.
      sh.bcast[3] = __umul64hi(bits53 << 11, total);
    }
    __syncthreads();
    const u64 need = sh.bcast[3] + 1;  // first cumulative weight > u * total
    if (tid < 32) warp_find(sh.seg, segments, need, false, sh.bcast);
    __syncthreads();
    const int seg = int(sh.bcast[0]);
    const u64 before = sh.bcast[1];
    const int start = seg * seg_len, len = min(seg_len, V - start);
    __syncthreads();
    for (int j = tid; j < len; j += kThreads) sh.hist[j] = final_weight(start + j);
    __syncthreads();
    if (tid < 32) warp_find(sh.hist, len, need - before, false, sh.bcast);
    __syncthreads();
    token = start + int(sh.bcast[0]);
  }
  if (tid == 0) a.tokens[blockIdx.x] = token;
  if (job.num_logprobs < 0) return;

  // Log-probabilities of the raw logits.
  __syncthreads();
  u64 raw_max = 0;
  for (int i = tid; i < V; i += kThreads) {
    const u64 k = key_of(row.raw(i));
    raw_max = k > raw_max ? k : raw_max;
  }
  const float rm = value_of(uint32_t(block_reduce(raw_max, Max64{}, sh.red, &sh.bcast[2])));
  double lse = rm;
  if (rm != neg_inf() && rm != __int_as_float(0x7f800000)) {
    float part = 0.0f;
    for (int i = tid; i < V; i += kThreads) part += expf(row.raw(i) - rm);
    const double total = block_reduce(double(part), SumD{}, sh.dred, &sh.dbcast);
    lse = double(rm) + log(total);
  }
  const float chosen = row.raw(token);
  int greater = 0;
  for (int i = tid; i < V; i += kThreads) greater += row.raw(i) > chosen ? 1 : 0;
  const u64 rank = block_reduce(u64(greater), Sum64{}, sh.red, &sh.bcast[2]);
  const int n = min(min(job.num_logprobs, kMaxDeviceLogprobsKernel), V);
  if (n > 0) {
    const auto raw_key = [&](int i, uint32_t& k) {
      k = key_of(row.raw(i));
      return true;
    };
    const Selected s = radix_select(
        V,
        [&](int i, uint32_t& k, u64& w) {
          k = key_of(row.raw(i));
          w = 1;
          return true;
        },
        u64(n), sh);
    const u64 ties = u64(n) - s.above;
    const int id_max = s.at > ties ? nth_tie_id(V, raw_key, s.key, ties, sh) : INT_MAX;
    if (tid == 0) sh.top_count = 0;
    __syncthreads();
    for (int i = tid; i < V; i += kThreads) {
      const float v = row.raw(i);
      const uint32_t k = key_of(v);
      if (k > s.key || (k == s.key && i <= id_max)) {
        const int slot = atomicAdd(&sh.top_count, 1);
        if (slot < kMaxDeviceLogprobsKernel) {
          sh.top_ids[slot] = i;
          sh.top_vals[slot] = v;
        }
      }
    }
    __syncthreads();
  }
  if (tid == 0) {
    SampleLogprobs& out = a.logprobs[blockIdx.x];
    out.logprob = float(double(chosen) - lse);
    out.rank = int(rank) + 1;
    const int count = n > 0 ? min(sh.top_count, n) : 0;
    // Insertion sort: larger value first, then lower id.
    for (int i = 1; i < count; ++i) {
      const int id = sh.top_ids[i];
      const float v = sh.top_vals[i];
      int j = i - 1;
      while (j >= 0 && (sh.top_vals[j] < v || (sh.top_vals[j] == v && sh.top_ids[j] > id))) {
        sh.top_ids[j + 1] = sh.top_ids[j];
        sh.top_vals[j + 1] = sh.top_vals[j];
        --j;
      }
      sh.top_ids[j + 1] = id;
      sh.top_vals[j + 1] = v;
    }
    out.num_top = count;
    for (int i = 0; i < count; ++i) {
      out.top_ids[i] = sh.top_ids[i];
      out.top_logprobs[i] = float(double(sh.top_vals[i]) - lse);
    }
  }
}

}  // namespace

cudaError_t launch_sample(const SampleArgs& a, cudaStream_t stream) {
  if (a.num_jobs == 0) return cudaSuccess;
  if (a.vocab <= 0 || a.vocab > kBins * kMaxSegments) return cudaErrorInvalidValue;
  const size_t bitmap = size_t((a.vocab + 31) / 32) * 4;
  static size_t raised = 0;  // dynamic shared memory limit set so far
  if (bitmap > 16 * 1024 && bitmap > raised) {
    const cudaError_t err = cudaFuncSetAttribute(
        sample_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bitmap));
    if (err != cudaSuccess) return err;
    raised = bitmap;
  }
  sample_kernel<<<unsigned(a.num_jobs), kThreads, bitmap, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace tessera::cuda
