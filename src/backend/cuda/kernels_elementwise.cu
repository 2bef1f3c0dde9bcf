// Row gathers (embedding, gather_rows), RMSNorm with the fused residual add,
// SiLU·mul, add, and random fills. Memory-bound: each picks 16-byte accesses
// when every row start is 16-byte aligned, and 2-byte ones otherwise. The kernels a decode step
// uses (gathers, norms, SiLU·mul, add) are launched with PDL (launch.cuh) and wait for their inputs
// first thing. Norms, SiLU·mul and add are templates over the element type (bf16, fp16) and
// compute in float; gathers copy bytes.
#include <algorithm>

#include "device_utils.cuh"
#include "kernels.h"
#include "launch.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 256;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- gather -----------------------------------------------------------------

template <typename Unit>
__global__ void gather_rows_kernel(const char* __restrict__ src, int64_t src_rows,
                                   size_t src_stride, const int32_t* __restrict__ idx,
                                   int64_t units_per_row, char* __restrict__ dst,
                                   size_t dst_stride) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t i = blockIdx.x;
  const int64_t r = idx[i];
  Unit* out = reinterpret_cast<Unit*>(dst + i * dst_stride);
  const bool inside = r >= 0 && r < src_rows;
  const Unit* in = reinterpret_cast<const Unit*>(src + (inside ? r : 0) * src_stride);
  for (int64_t u = int64_t(blockIdx.y) * blockDim.x + threadIdx.x; u < units_per_row;
       u += int64_t(gridDim.y) * blockDim.x) {
    Unit v{};
    if (inside) v = in[u];
    out[u] = v;
  }
}

template <typename Unit>
cudaError_t gather_as(const void* src, int64_t src_rows, size_t src_stride, const int32_t* idx,
                      int64_t n, size_t row_bytes, void* dst, size_t dst_stride,
                      cudaStream_t stream) {
  const int64_t units = int64_t(row_bytes / sizeof(Unit));
  const int threads = units >= kThreads ? kThreads : int((units + 31) / 32 * 32);
  const int64_t col_blocks = ceil_div(units, threads * 4);
  const dim3 grid(unsigned(n), unsigned(col_blocks < 65535 ? col_blocks : 65535));
  return launch_pdl(gather_rows_kernel<Unit>, grid, dim3(threads), 0, stream,
                    static_cast<const char*>(src), src_rows, src_stride, idx, units,
                    static_cast<char*>(dst), dst_stride);
}

// ---- RMSNorm ----------------------------------------------------------------

template <typename T>
__device__ __forceinline__ float weight_at(const void* w, bool f32, int i) {
  return f32 ? static_cast<const float*>(w)[i]
             : ElemTraits<T>::to_float(static_cast<const T*>(w)[i]);
}

// One block per row, two passes over the row (the second one hits L1/L2).
template <int VEC, typename T>
__global__ void rms_norm_kernel(NormArgs a) {
  __shared__ float scratch[32];
  pdl_launch_dependents();
  pdl_wait();
  const int64_t row = blockIdx.x;
  const int chunks = a.cols / VEC;
  T* res = a.add ? static_cast<T*>(a.residual) + row * a.residual_stride : nullptr;
  const T* x = static_cast<const T*>(a.x) + row * a.x_stride;
  T* out = static_cast<T*>(a.out) + row * a.out_stride;
  // The normalized input: the updated residual, or x itself.
  const T* src = a.add ? res : x;

  float ss = 0.0f;
  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    float v[VEC];
    load_vec<VEC>(x + c * VEC, v);
    if (a.add) {
      float r[VEC];
      load_vec<VEC>(res + c * VEC, r);
#pragma unroll
      for (int i = 0; i < VEC; ++i) v[i] = r[i] + v[i];
      store_vec<VEC>(res + c * VEC, v);
      // The norm sees the residual as stored (rounded to T).
      load_vec<VEC>(res + c * VEC, v);
    }
#pragma unroll
    for (int i = 0; i < VEC; ++i) ss += v[i] * v[i];
  }
  ss = block_sum(ss, scratch);
  const float inv = rsqrtf(ss / float(a.cols) + a.eps);

  for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
    float v[VEC];
    load_vec<VEC>(src + c * VEC, v);
#pragma unroll
    for (int i = 0; i < VEC; ++i)
      v[i] = v[i] * inv * weight_at<T>(a.weight, a.weight_f32, c * VEC + i);
    store_vec<VEC>(out + c * VEC, v);
  }
}

// ---- SiLU·mul, add ------------------------------------------------------------

// One thread per VEC elements of the [rows, cols] view.
template <int VEC, typename T>
__global__ void silu_mul_kernel(const T* __restrict__ gate, int64_t gate_stride,
                                const T* __restrict__ up, int64_t up_stride, T* __restrict__ out,
                                int64_t out_stride, int64_t rows, int64_t chunks_per_row) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * chunks_per_row) return;
  const int64_t r = i / chunks_per_row, c = (i % chunks_per_row) * VEC;
  float g[VEC], u[VEC];
  load_vec<VEC>(gate + r * gate_stride + c, g);
  load_vec<VEC>(up + r * up_stride + c, u);
#pragma unroll
  for (int k = 0; k < VEC; ++k) g[k] = g[k] / (1.0f + __expf(-g[k])) * u[k];
  store_vec<VEC>(out + r * out_stride + c, g);
}

template <int VEC, typename T>
__global__ void add_kernel(T* x, int64_t x_stride, const T* __restrict__ y, int64_t y_stride,
                           int64_t rows, int64_t chunks_per_row) {
  pdl_launch_dependents();
  pdl_wait();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * chunks_per_row) return;
  const int64_t r = i / chunks_per_row, c = (i % chunks_per_row) * VEC;
  float a[VEC], b[VEC];
  load_vec<VEC>(x + r * x_stride + c, a);
  load_vec<VEC>(y + r * y_stride + c, b);
#pragma unroll
  for (int k = 0; k < VEC; ++k) a[k] += b[k];
  store_vec<VEC>(x + r * x_stride + c, a);
}

// ---- random fill ------------------------------------------------------------

__device__ __forceinline__ uint64_t mix64(uint64_t z) {  // splitmix64 finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__global__ void fill_uniform_kernel(void* data, int64_t n, Elem elem, uint64_t seed, float scale) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t h = mix64(seed * 0x9e3779b97f4a7c15ull + uint64_t(i));
    const float u = float(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
    const float v = (2.0f * u - 1.0f) * scale;
    if (elem == Elem::kF32)
      static_cast<float*>(data)[i] = v;
    else if (elem == Elem::kF16)
      static_cast<fp16*>(data)[i] = __float2half_rn(v);
    else
      static_cast<bf16*>(data)[i] = __float2bfloat16_rn(v);
  }
}

// ---- copy ---------------------------------------------------------------------

// 16-byte pieces, four loads in flight per thread before the stores.
__global__ void copy_kernel(uint4* __restrict__ dst, const uint4* __restrict__ src, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = __ldcs(src + i), b = __ldcs(src + i + stride), c = __ldcs(src + i + 2 * stride),
                d = __ldcs(src + i + 3 * stride);
    __stcs(dst + i, a);
    __stcs(dst + i + stride, b);
    __stcs(dst + i + 2 * stride, c);
    __stcs(dst + i + 3 * stride, d);
  }
  for (; i < n; i += stride) dst[i] = src[i];
}

__global__ void copy_bytes_kernel(char* dst, const char* src, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

}  // namespace

cudaError_t launch_copy(void* dst, const void* src, size_t bytes, int sm_count,
                        cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (aligned_to(16, uint64_t(dst), uint64_t(src), bytes)) {
    const int64_t n = int64_t(bytes / 16);
    const int64_t blocks = std::min<int64_t>(ceil_div(n, kThreads), int64_t(sm_count) * 8);
    copy_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(static_cast<uint4*>(dst),
                                                           static_cast<const uint4*>(src), n);
  } else {
    const int64_t blocks = std::min<int64_t>(ceil_div(int64_t(bytes), kThreads), 65535);
    copy_bytes_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(
        static_cast<char*>(dst), static_cast<const char*>(src), int64_t(bytes));
  }
  return cudaGetLastError();
}

cudaError_t launch_gather_rows(const void* src, int64_t src_rows, size_t src_stride,
                               const int32_t* idx, int64_t n, size_t row_bytes, void* dst,
                               size_t dst_stride, cudaStream_t stream) {
  if (n == 0 || row_bytes == 0) return cudaSuccess;
  const uint64_t s = uint64_t(src), d = uint64_t(dst);
  if (aligned_to(16, s, d, src_stride, dst_stride, row_bytes))
    return gather_as<uint4>(src, src_rows, src_stride, idx, n, row_bytes, dst, dst_stride, stream);
  if (aligned_to(4, s, d, src_stride, dst_stride, row_bytes))
    return gather_as<uint32_t>(src, src_rows, src_stride, idx, n, row_bytes, dst, dst_stride,
                               stream);
  if (aligned_to(2, s, d, src_stride, dst_stride, row_bytes))
    return gather_as<uint16_t>(src, src_rows, src_stride, idx, n, row_bytes, dst, dst_stride,
                               stream);
  return gather_as<uint8_t>(src, src_rows, src_stride, idx, n, row_bytes, dst, dst_stride, stream);
}

cudaError_t launch_rms_norm(Elem elem, const NormArgs& a, cudaStream_t stream) {
  if (a.rows == 0) return cudaSuccess;
  const bool vec =
      a.cols % 8 == 0 &&
      aligned_to(16, uint64_t(a.x), uint64_t(a.out), uint64_t(a.x_stride) * 2,
                 uint64_t(a.out_stride) * 2) &&
      (!a.add || aligned_to(16, uint64_t(a.residual), uint64_t(a.residual_stride) * 2));
  const int chunks = vec ? a.cols / 8 : a.cols;
  int threads = chunks >= 1024 ? 1024 : (chunks + 31) / 32 * 32;
  if (threads > 256 && chunks < 4 * threads) threads = 256;
  return dispatch_elem(elem, [&](auto tag) {
    using T = decltype(tag);
    return launch_pdl(vec ? rms_norm_kernel<8, T> : rms_norm_kernel<1, T>, dim3(unsigned(a.rows)),
                      dim3(unsigned(threads)), 0, stream, a);
  });
}

cudaError_t launch_silu_mul(Elem elem, const void* gate, int64_t gate_stride, const void* up,
                            int64_t up_stride, void* out, int64_t out_stride, int64_t rows,
                            int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  const bool vec = cols % 8 == 0 && aligned_to(16, uint64_t(gate), uint64_t(up), uint64_t(out),
                                               uint64_t(gate_stride) * 2, uint64_t(up_stride) * 2,
                                               uint64_t(out_stride) * 2);
  const int64_t chunks = vec ? cols / 8 : cols;
  const unsigned blocks = unsigned(ceil_div(rows * chunks, kThreads));
  return dispatch_elem(elem, [&](auto tag) {
    using T = decltype(tag);
    auto g = static_cast<const T*>(gate);
    auto u = static_cast<const T*>(up);
    auto o = static_cast<T*>(out);
    return launch_pdl(vec ? silu_mul_kernel<8, T> : silu_mul_kernel<1, T>, dim3(blocks),
                      dim3(kThreads), 0, stream, g, gate_stride, u, up_stride, o, out_stride, rows,
                      chunks);
  });
}

cudaError_t launch_add(Elem elem, void* x, int64_t x_stride, const void* y, int64_t y_stride,
                       int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  const bool vec = cols % 8 == 0 && aligned_to(16, uint64_t(x), uint64_t(y), uint64_t(x_stride) * 2,
                                               uint64_t(y_stride) * 2);
  const int64_t chunks = vec ? cols / 8 : cols;
  const unsigned blocks = unsigned(ceil_div(rows * chunks, kThreads));
  return dispatch_elem(elem, [&](auto tag) {
    using T = decltype(tag);
    auto xp = static_cast<T*>(x);
    auto yp = static_cast<const T*>(y);
    return launch_pdl(vec ? add_kernel<8, T> : add_kernel<1, T>, dim3(blocks), dim3(kThreads), 0,
                      stream, xp, x_stride, yp, y_stride, rows, chunks);
  });
}

cudaError_t launch_fill_uniform(void* data, int64_t n, Elem elem, uint64_t seed, float scale,
                                cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const int64_t blocks = ceil_div(n, kThreads);
  fill_uniform_kernel<<<unsigned(blocks < 65536 ? blocks : 65536), kThreads, 0, stream>>>(
      data, n, elem, seed, scale);
  return cudaGetLastError();
}

}  // namespace tessera::cuda
