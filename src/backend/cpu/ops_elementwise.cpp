#include <cmath>
#include <cstring>

#include "ops_kernels.h"
#include "ops_vec.h"
#include "ops_vec_math.h"
#include "quant_internal.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"

namespace tessera::cpu {
namespace {

void exp_row(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_fast(x[i]);
}

void silu_mul_row(const float* g, const float* u, float* o, int64_t n) {
  for (int64_t i = 0; i < n; ++i) o[i] = (g[i] * (1.0f / (1.0f + exp_fast(-g[i])))) * u[i];
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void add_row(float* x, const float* y,
                                                                          int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void to_fp16_row(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

}  // namespace

detail::RowOps detail::row_ops(int family) {
  if (family >= 2) return row_ops_avx512();
  if (family == 1) return row_ops_avx2();
  return {exp_row, silu_mul_row, to_fp16_row};
}

void embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  TESSERA_CHECK(out.dtype() == DType::kF32 && out.cols() == table.cols());
  TESSERA_CHECK(out.rows() == ids.numel() && ids.dtype() == DType::kI32);
  const int64_t vocab = table.rows();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    const int64_t id = ids.data_as<int32_t>()[i];
    if (id < 0 || id >= vocab)
      fail(ErrorKind::kInvalidArgument, "token id {} is outside the vocabulary (0..{})", id,
           vocab - 1);
    dequantize_row(table.dtype(), table.row_ptr(id), static_cast<float*>(out.row_ptr(i)),
                   table.cols());
  }
}

void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out) {
  TESSERA_CHECK(gate.cols() == up.cols() && out.cols() == gate.cols());
  TESSERA_CHECK(gate.rows() == up.rows() && out.rows() == gate.rows());
  const auto silu_mul_row = detail::row_ops(detail::kernel_family()).silu_mul;
  parallel_for(gate.rows(), 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      silu_mul_row(static_cast<const float*>(gate.row_ptr(r)),
                   static_cast<const float*>(up.row_ptr(r)), static_cast<float*>(out.row_ptr(r)),
                   gate.cols());
  });
}

void add(Tensor& x, const Tensor& y) {
  TESSERA_CHECK(x.rows() == y.rows() && x.cols() == y.cols());
  for (int64_t r = 0; r < x.rows(); ++r)
    add_row(static_cast<float*>(x.row_ptr(r)), static_cast<const float*>(y.row_ptr(r)), x.cols());
}

void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) {
  TESSERA_CHECK(out.cols() == x.cols() && out.rows() == rows.numel());
  const size_t bytes = row_bytes(x.dtype(), x.cols());
  for (int64_t i = 0; i < rows.numel(); ++i) {
    const int64_t r = rows.data_as<int32_t>()[i];
    TESSERA_CHECK(r >= 0 && r < x.rows());
    std::memcpy(out.row_ptr(i), x.row_ptr(r), bytes);
  }
}

}  // namespace tessera::cpu
