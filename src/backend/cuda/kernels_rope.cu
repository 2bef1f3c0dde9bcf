// Rotary embedding fused with the paged KV-cache write: one block per token
// rotates that token's q and k heads in place and stores the rotated k (and
// v) into the cache, so k is read once. cos/sin are computed once per token
// (full-precision sincosf: positions reach the tens of thousands of radians).
// Templates over the element type (bf16, fp16) of q, k, v and the cache.
#include "device_utils.cuh"
#include "kernels.h"
#include "launch.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 128;

template <typename T>
__device__ __forceinline__ T* cache_row(void* cache, int64_t slot, int block_size, int kv_heads,
                                        int head, int head_dim) {
  const int64_t block = slot / block_size, offset = slot % block_size;
  return static_cast<T*>(cache) + ((block * kv_heads + head) * block_size + offset) * head_dim;
}

// Rotates VEC pairs starting at pair i0 of one head, in place; when cache is
// given, also stores the rotated values there (same offsets).
//   neox: pair i is (i, i + half); interleaved: pair i is (2i, 2i + 1).
template <int VEC, bool NEOX, typename T>
__device__ __forceinline__ void rotate(T* head, T* cache, int i0, int half, const float* cs,
                                       const float* sn) {
  if constexpr (NEOX) {
    float x0[VEC], x1[VEC];
    load_vec<VEC>(head + i0, x0);
    load_vec<VEC>(head + half + i0, x1);
    float y0[VEC], y1[VEC];
#pragma unroll
    for (int p = 0; p < VEC; ++p) {
      y0[p] = x0[p] * cs[i0 + p] - x1[p] * sn[i0 + p];
      y1[p] = x1[p] * cs[i0 + p] + x0[p] * sn[i0 + p];
    }
    store_vec<VEC>(head + i0, y0);
    store_vec<VEC>(head + half + i0, y1);
    if (cache) {
      store_vec<VEC>(cache + i0, y0);
      store_vec<VEC>(cache + half + i0, y1);
    }
  } else {
    // 2*VEC consecutive elements; the scalar variant loads them one by one
    // (rows may be only 2-byte aligned).
    constexpr int N = VEC == 1 ? 1 : 2 * VEC;
    float x[2 * VEC];
    if constexpr (VEC == 1) {
      float a[1], b[1];
      load_vec<1>(head + 2 * i0, a);
      load_vec<1>(head + 2 * i0 + 1, b);
      x[0] = a[0];
      x[1] = b[0];
    } else {
      float v[N];
      load_vec<N>(head + 2 * i0, v);
#pragma unroll
      for (int e = 0; e < N; ++e) x[e] = v[e];
    }
    float y[2 * VEC];
#pragma unroll
    for (int p = 0; p < VEC; ++p) {
      y[2 * p] = x[2 * p] * cs[i0 + p] - x[2 * p + 1] * sn[i0 + p];
      y[2 * p + 1] = x[2 * p + 1] * cs[i0 + p] + x[2 * p] * sn[i0 + p];
    }
    if constexpr (VEC == 1) {
      const float a[1] = {y[0]}, b[1] = {y[1]};
      store_vec<1>(head + 2 * i0, a);
      store_vec<1>(head + 2 * i0 + 1, b);
      if (cache) {
        store_vec<1>(cache + 2 * i0, a);
        store_vec<1>(cache + 2 * i0 + 1, b);
      }
    } else {
      float v[N];
#pragma unroll
      for (int e = 0; e < N; ++e) v[e] = y[e];
      store_vec<N>(head + 2 * i0, v);
      if (cache) store_vec<N>(cache + 2 * i0, v);
    }
  }
}

// VEC: pairs per rotation step; CVEC: elements per copy step.
template <int VEC, int CVEC, bool NEOX, typename T>
__global__ void __launch_bounds__(kThreads) rope_kv_kernel(RopeKvArgs a, RopeFreqs f) {
  __shared__ float cs[kMaxRotaryPairs], sn[kMaxRotaryPairs];
  pdl_launch_dependents();
  pdl_wait();
  const int64_t t = blockIdx.x;
  const int D = a.head_dim, half = a.rotary_dim / 2;

  int64_t slot = -1;
  if (a.do_write) {
    slot = a.slots[t];
    if (slot >= a.num_slots) slot = -1;  // the backend checks on the host where it can
  }
  const bool write = slot >= 0;

  if (a.do_rope) {
    const float pos = float(a.positions[t]);
    for (int i = threadIdx.x; i < half; i += blockDim.x)
      sincosf(pos * f.inv_freq[i], &sn[i], &cs[i]);
    __syncthreads();
    const int steps = half / VEC;
    const int heads = a.q_heads + a.kv_heads;
    for (int item = threadIdx.x; item < heads * steps; item += blockDim.x) {
      const int h = item / steps, i0 = (item % steps) * VEC;
      T* head;
      T* cache = nullptr;
      if (h < a.q_heads) {
        head = static_cast<T*>(a.q) + t * a.q_stride + int64_t(h) * D;
      } else {
        const int kh = h - a.q_heads;
        head = static_cast<T*>(a.k) + t * a.k_stride + int64_t(kh) * D;
        if (write) cache = cache_row<T>(a.k_cache, slot, a.block_size, a.kv_heads, kh, D);
      }
      rotate<VEC, NEOX>(head, cache, i0, half, cs, sn);
    }
  }
  if (!write) return;

  // What the rotation did not store: k's unrotated dims and all of v.
  const int k_from = a.do_rope ? a.rotary_dim : 0;
  const int k_steps = (D - k_from) / CVEC, v_steps = D / CVEC;
  const int k_items = a.kv_heads * k_steps, items = k_items + a.kv_heads * v_steps;
  for (int item = threadIdx.x; item < items; item += blockDim.x) {
    const bool is_k = item < k_items;
    const int rel = is_k ? item : item - k_items;
    const int steps = is_k ? k_steps : v_steps;
    const int h = rel / steps, d = (is_k ? k_from : 0) + (rel % steps) * CVEC;
    const T* src = is_k ? static_cast<const T*>(a.k) + t * a.k_stride
                        : static_cast<const T*>(a.v) + t * a.v_stride;
    T* dst = cache_row<T>(is_k ? a.k_cache : a.v_cache, slot, a.block_size, a.kv_heads, h, D);
    float v[CVEC];
    load_vec<CVEC>(src + int64_t(h) * D + d, v);
    store_vec<CVEC>(dst + d, v);
  }
}

}  // namespace

cudaError_t launch_rope_kv(Elem elem, const RopeKvArgs& a, const RopeFreqs& f,
                           cudaStream_t stream) {
  if (a.num_tokens == 0) return cudaSuccess;
  const int half = a.rotary_dim / 2;
  // 16-byte steps need every row start and head start 16-byte aligned.
  bool vec = a.head_dim % 8 == 0 && a.rotary_dim % 16 == 0 &&
             aligned_to(16, uint64_t(a.q), uint64_t(a.k), uint64_t(a.q_stride) * 2,
                        uint64_t(a.k_stride) * 2);
  if (a.do_write)
    vec = vec && aligned_to(16, uint64_t(a.v), uint64_t(a.v_stride) * 2, uint64_t(a.k_cache),
                            uint64_t(a.v_cache));
  if (!a.do_rope && !a.do_write) return cudaSuccess;
  const dim3 grid(unsigned(a.num_tokens));
  return dispatch_elem(elem, [&](auto tag) {
    using T = decltype(tag);
    auto kernel =
        a.neox
            ? (vec && half % 8 == 0 ? rope_kv_kernel<8, 8, true, T> : rope_kv_kernel<1, 1, true, T>)
            : (vec ? rope_kv_kernel<4, 8, false, T> : rope_kv_kernel<1, 1, false, T>);
    return launch_pdl(kernel, grid, dim3(kThreads), 0, stream, a, f);
  });
}

}  // namespace tessera::cuda
