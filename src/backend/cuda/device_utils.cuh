// Small device helpers shared by the kernels: bf16 vector loads and stores of
// 1..8 elements (one 2..16-byte access), warp and block reductions.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace tessera::cuda {

using bf16 = __nv_bfloat16;

template <int N>
struct VecOf;
template <>
struct VecOf<8> {
  using type = uint4;
};
template <>
struct VecOf<4> {
  using type = uint2;
};
template <>
struct VecOf<2> {
  using type = uint32_t;
};
template <>
struct VecOf<1> {
  using type = uint16_t;
};

// N consecutive bf16 at p (aligned to 2*N bytes) as floats.
template <int N>
__device__ __forceinline__ void load_bf16(const bf16* p, float (&f)[N]) {
  using V = typename VecOf<N>::type;
  const V v = *reinterpret_cast<const V*>(p);
  const bf16* e = reinterpret_cast<const bf16*>(&v);
#pragma unroll
  for (int i = 0; i < N; ++i) f[i] = __bfloat162float(e[i]);
}

template <int N>
__device__ __forceinline__ void store_bf16(bf16* p, const float (&f)[N]) {
  using V = typename VecOf<N>::type;
  V v;
  bf16* e = reinterpret_cast<bf16*>(&v);
#pragma unroll
  for (int i = 0; i < N; ++i) e[i] = __float2bfloat16_rn(f[i]);
  *reinterpret_cast<V*>(p) = v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = int(blockDim.x >> 5);
  float total = lane < warps ? scratch[lane] : 0.0f;
  return warp_sum(total);
}

// True when every address and stride in the list is a multiple of `bytes`.
__host__ __device__ inline bool aligned_to(uint64_t) { return true; }
template <typename... Rest>
__host__ __device__ inline bool aligned_to(uint64_t bytes, uint64_t v, Rest... rest) {
  return v % bytes == 0 && aligned_to(bytes, rest...);
}

}  // namespace tessera::cuda
