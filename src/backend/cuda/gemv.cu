// out[M, N] = x[M, K] · w[N, K]^T for M <= 8 tokens: decode-sized products,
// bound by reading w once. A block of 128 threads owns R rows of w and
// splits K among its threads, each streaming 16-byte pieces of the R rows
// (UNROLL pieces per row in flight, marked evict-first so the weights do not
// push the activations out of L2) and keeping M × R partial dot products in
// registers; a warp then a block reduction finishes them. Splitting K inside
// the block keeps every thread's chain of dependent loads short. Launched
// with PDL (launch.cuh), a block issues its first weight loads before it
// waits for the kernel that wrote x, so the weight stream goes on across
// kernel boundaries. x, w and a 16-bit out share one element type (bf16 or
// fp16); the kernel is instantiated for each.
#include "device_utils.cuh"
#include "kernels.h"
#include "launch.cuh"

namespace tessera::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kUnroll = 4;

// Rows per block: more rows keep more bytes in flight per thread; fewer
// leave registers for the M × R accumulators of larger M.
template <int M>
__host__ __device__ constexpr int rows_per_block() {
  return M <= 2 ? 4 : 2;
}

// Dot product of 8 packed elements of type T (16 bytes each side).
template <typename T>
__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
  using Pair = typename ElemTraits<T>::Pair;
  const Pair* x = reinterpret_cast<const Pair*>(&a);
  const Pair* y = reinterpret_cast<const Pair*>(&b);
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 u = ElemTraits<T>::to_float2(x[i]), v = ElemTraits<T>::to_float2(y[i]);
    s = fmaf(u.x, v.x, s);
    s = fmaf(u.y, v.y, s);
  }
  return s;
}

template <int M, int R, typename T>
__device__ __forceinline__ void accumulate(const T* __restrict__ x, int64_t x_stride,
                                           const uint4 (&wv)[R], int c, float (&acc)[M][R]) {
#pragma unroll
  for (int m = 0; m < M; ++m) {
    const uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + m * x_stride) + c);
#pragma unroll
    for (int r = 0; r < R; ++r) acc[m][r] += dot8<T>(xv, wv[r]);
  }
}

template <int R>
__device__ __forceinline__ void load_rows(const uint4* const (&rows)[R], int c,
                                          uint4 (&wv)[kUnroll][R]) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u)
#pragma unroll
    for (int r = 0; r < R; ++r) wv[u][r] = __ldcs(rows[r] + c + kThreads * u);
}

template <int M, typename T>
__global__ void __launch_bounds__(kThreads)
    gemv_kernel(const T* __restrict__ x, int64_t x_stride, const T* __restrict__ w,
                int64_t w_stride, void* out, int64_t out_stride, bool out_f32, int N, int K) {
  constexpr int R = rows_per_block<M>();
  __shared__ float partial[kThreads / 32][M * R];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t n0 = int64_t(blockIdx.x) * R;
  const int chunks = K / 8;
  const uint4* rows[R];
#pragma unroll
  for (int r = 0; r < R; ++r)  // rows past N re-read the last one; their sums are dropped
    rows[r] = reinterpret_cast<const uint4*>(w + (n0 + r < N ? n0 + r : N - 1) * w_stride);

  float acc[M][R];
#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int r = 0; r < R; ++r) acc[m][r] = 0.0f;

  pdl_launch_dependents();
  // The weights depend on no earlier kernel: start streaming them, then wait
  // for x.
  int c = tid;
  uint4 wv[kUnroll][R];
  bool full = c + kThreads * (kUnroll - 1) < chunks;
  if (full) load_rows<R>(rows, c, wv);
  pdl_wait();
  while (full) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) accumulate<M, R>(x, x_stride, wv[u], c + kThreads * u, acc);
    c += kThreads * kUnroll;
    full = c + kThreads * (kUnroll - 1) < chunks;
    if (full) load_rows<R>(rows, c, wv);
  }
  for (; c < chunks; c += kThreads) {
    uint4 wr[R];
#pragma unroll
    for (int r = 0; r < R; ++r) wr[r] = __ldcs(rows[r] + c);
    accumulate<M, R>(x, x_stride, wr, c, acc);
  }

#pragma unroll
  for (int m = 0; m < M; ++m)
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float v = warp_sum(acc[m][r]);
      if (lane == 0) partial[warp][m * R + r] = v;
    }
  __syncthreads();
  if (tid >= M * R) return;
  const int m = tid / R, r = tid % R;
  if (n0 + r >= N) return;
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < kThreads / 32; ++i) sum += partial[i][tid];
  const int64_t o = m * out_stride + n0 + r;
  if (out_f32)
    static_cast<float*>(out)[o] = sum;
  else
    static_cast<T*>(out)[o] = ElemTraits<T>::from_float(sum);
}

template <int M, typename T>
cudaError_t launch_m(const T* x, int64_t x_stride, const T* w, int64_t w_stride, void* out,
                     int64_t out_stride, bool out_f32, int N, int K, cudaStream_t stream) {
  constexpr int R = rows_per_block<M>();
  const unsigned blocks = unsigned((int64_t(N) + R - 1) / R);
  return launch_pdl(gemv_kernel<M, T>, dim3(blocks), dim3(kThreads), 0, stream, x, x_stride, w,
                    w_stride, out, out_stride, out_f32, N, K);
}

template <typename T>
cudaError_t launch_typed(const void* x_, int64_t x_stride, const void* w_, int64_t w_stride,
                         void* out, int64_t out_stride, bool out_f32, int M, int N, int K,
                         cudaStream_t stream) {
  auto x = static_cast<const T*>(x_);
  auto w = static_cast<const T*>(w_);
  switch (M) {
    case 1:
      return launch_m<1>(x, x_stride, w, w_stride, out, out_stride, out_f32, N, K, stream);
    case 2:
      return launch_m<2>(x, x_stride, w, w_stride, out, out_stride, out_f32, N, K, stream);
    case 3:
      return launch_m<3>(x, x_stride, w, w_stride, out, out_stride, out_f32, N, K, stream);
    case 4:
      return launch_m<4>(x, x_stride, w, w_stride, out, out_stride, out_f32, N, K, stream);
    case 5:
      return launch_m<5>(x, x_stride, w, w_stride, out, out_stride, out_f32, N, K, stream);
    case 6:
      return launch_m<6>(x, x_stride, w, w_stride, out, out_stride, out_f32, N, K, stream);
    case 7:
      return launch_m<7>(x, x_stride, w, w_stride, out, out_stride, out_f32, N, K, stream);
    case 8:
      return launch_m<8>(x, x_stride, w, w_stride, out, out_stride, out_f32, N, K, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

bool gemv_supported(const void* x, int64_t x_stride, const void* w, int64_t w_stride, int M,
                    int K) {
  return M >= 1 && M <= kGemvMaxRows && K % 8 == 0 &&
         aligned_to(16, uint64_t(x), uint64_t(w), uint64_t(x_stride) * 2, uint64_t(w_stride) * 2);
}

cudaError_t launch_gemv(Elem elem, const void* x, int64_t x_stride, const void* w, int64_t w_stride,
                        void* out, int64_t out_stride, bool out_f32, int M, int N, int K,
                        cudaStream_t stream) {
  if (N == 0) return cudaSuccess;
  return dispatch_elem(elem, [&](auto tag) {
    return launch_typed<decltype(tag)>(x, x_stride, w, w_stride, out, out_stride, out_f32, M, N, K,
                                       stream);
  });
}

}  // namespace tessera::cuda
