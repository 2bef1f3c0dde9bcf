#include <cmath>

#include "ops_kernels.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

// One row: out = x * rsqrt(mean(x^2) + eps) * w. The sum of squares runs
// in double in 8 partial sums (lane = i mod 8) and a fixed tree: 8 lanes
// vectorize on every ISA, and a float's square is exact in double, so fused
// or separate multiply-adds give the same bits on every ISA.
__attribute__((target_clones("avx512f", "avx2", "default"))) void norm_row(const float* x,
                                                                           const float* w,
                                                                           float eps, int64_t n,
                                                                           float* out) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(x[i + j]) * x[i + j];
  for (; i < n; ++i) acc[i & 7] += double(x[i]) * x[i];
  const double ss =
      ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
  const float inv = 1.0f / std::sqrt(float(ss / double(n)) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * inv) * w[i];
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void add_row(float* r, const float* x,
                                                                          int64_t n) {
  for (int64_t i = 0; i < n; ++i) r[i] += x[i];
}

void check_norm_args(const Tensor& x, const Tensor& weight, const Tensor& out) {
  TESSERA_CHECK(x.dtype() == DType::kF32 && out.dtype() == DType::kF32);
  TESSERA_CHECK(weight.dtype() == DType::kF32 && weight.numel() == x.cols());
  TESSERA_CHECK(out.rows() == x.rows() && out.cols() == x.cols());
}

}  // namespace

void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  check_norm_args(x, weight, out);
  const int64_t n = x.cols();
  parallel_for(x.rows(), 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      norm_row(static_cast<const float*>(x.row_ptr(r)), weight.data_as<float>(), eps, n,
               static_cast<float*>(out.row_ptr(r)));
  });
}

void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  check_norm_args(residual, weight, out);
  TESSERA_CHECK(x.rows() == residual.rows() && x.cols() == residual.cols());
  const int64_t n = x.cols();
  parallel_for(x.rows(), 8, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      auto* res = static_cast<float*>(residual.row_ptr(r));
      add_row(res, static_cast<const float*>(x.row_ptr(r)), n);
      norm_row(res, weight.data_as<float>(), eps, n, static_cast<float*>(out.row_ptr(r)));
    }
  });
}

}  // namespace tessera::cpu
