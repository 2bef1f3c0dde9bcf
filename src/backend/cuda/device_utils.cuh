// Small device helpers shared by the kernels: the 16-bit element types
// (bf16 and fp16) behind one traits struct, vector loads and stores of 1..8
// elements (one 2..16-byte access), warp and block reductions, and the
// host-side dispatch from Elem to the element type.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels.h"

namespace tessera::cuda {

using bf16 = __nv_bfloat16;
using fp16 = __half;

// What a kernel needs to know about its element type T: conversions (round
// to nearest even), the packed pair type, and the tensor-core MMA of that
// type (m16n8k16, fp32 accumulation).
template <typename T>
struct ElemTraits;

template <>
struct ElemTraits<bf16> {
  using Pair = __nv_bfloat162;
  static __device__ __forceinline__ float to_float(bf16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ bf16 from_float(float x) { return __float2bfloat16_rn(x); }
  static __device__ __forceinline__ float2 to_float2(Pair v) { return __bfloat1622float2(v); }
  static __device__ __forceinline__ Pair from_float2(float lo, float hi) {
    return __floats2bfloat162_rn(lo, hi);
  }
  // d += a · b for a 16x16 (row) by 16x8 (col) tile.
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                             uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

template <>
struct ElemTraits<fp16> {
  using Pair = __half2;
  static __device__ __forceinline__ float to_float(fp16 x) { return __half2float(x); }
  // Beyond ±65504 this gives ±inf, as a cast to float16 does in PyTorch.
  static __device__ __forceinline__ fp16 from_float(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ float2 to_float2(Pair v) { return __half22float2(v); }
  static __device__ __forceinline__ Pair from_float2(float lo, float hi) {
    return __floats2half2_rn(lo, hi);
  }
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                             uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// Calls f(T{}) with T the element type `e` names (bf16 or fp16): the host
// side of a launch instantiates its kernels for both types this way.
template <typename F>
__host__ auto dispatch_elem(Elem e, F&& f) {
  if (e == Elem::kF16) return f(fp16{});
  return f(bf16{});
}

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

// N consecutive elements at p (aligned to 2*N bytes) as floats.
template <int N, typename T>
__device__ __forceinline__ void load_vec(const T* p, float (&f)[N]) {
  using V = typename VecOf<N>::type;
  const V v = *reinterpret_cast<const V*>(p);
  const T* e = reinterpret_cast<const T*>(&v);
#pragma unroll
  for (int i = 0; i < N; ++i) f[i] = ElemTraits<T>::to_float(e[i]);
}

template <int N, typename T>
__device__ __forceinline__ void store_vec(T* p, const float (&f)[N]) {
  using V = typename VecOf<N>::type;
  V v;
  T* e = reinterpret_cast<T*>(&v);
#pragma unroll
  for (int i = 0; i < N; ++i) e[i] = ElemTraits<T>::from_float(f[i]);
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
