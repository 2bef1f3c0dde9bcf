// out = x · w^T through cuBLASLt and through the small-M GEMV kernel, bf16
// and fp16 inputs, 16-bit and f32 outputs, contiguous and strided
// (column-view) outputs, odd sizes.
#include <cmath>

#include "cuda_test_util.h"
#include "tessera/core/error.h"

namespace tessera::cuda_test {
namespace {

struct MatmulCase {
  int64_t m, n, k;
  bool out_f32;  // else out in the inputs' type
  bool strided_out;
};

class CudaMatmul : public testing::TestWithParam<DType> {};
INSTANTIATE_TEST_SUITE_P(, CudaMatmul, kElemTypes, elem_name);

void run_case(const MatmulCase& c, DType dt, bool gemv) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(testing::Message() << "M=" << c.m << " N=" << c.n << " K=" << c.k
                                  << (c.out_f32 ? " f32 out" : "")
                                  << (c.strided_out ? " strided" : "") << (gemv ? " gemv" : "")
                                  << " seed " << seed);
  std::mt19937 rng(seed);
  const auto x_h = random_values(size_t(c.m * c.k), rng, dt);
  const auto w_h = random_values(size_t(c.n * c.k), rng, dt, 0.2f);
  Tensor x = upload(x_h, {c.m, c.k}, dt);
  Tensor w = upload(w_h, {c.n, c.k}, dt);
  const int64_t pad = c.strided_out ? 24 : 0;
  Tensor parent = backend().alloc(c.out_f32 ? DType::kF32 : dt, {c.m, c.n + 2 * pad});
  poison(parent);
  Tensor out = c.strided_out ? parent.slice_cols(pad, pad + c.n) : parent;
  backend().set_use_gemv(gemv);
  backend().matmul(x, w, out);
  backend().set_use_gemv(true);
  const auto all = download(parent);

  std::vector<double> ref(size_t(c.m * c.n));
  std::vector<float> got(ref.size());
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      double s = 0;
      for (int64_t q = 0; q < c.k; ++q) s += double(x_h[i * c.k + q]) * w_h[j * c.k + q];
      ref[i * c.n + j] = s;
      got[i * c.n + j] = all[i * (c.n + 2 * pad) + pad + j];
    }
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < pad; ++j) {
      ASSERT_TRUE(std::isnan(all[i * (c.n + 2 * pad) + j])) << "wrote left of the view";
      ASSERT_TRUE(std::isnan(all[i * (c.n + 2 * pad) + pad + c.n + j])) << "wrote right of it";
    }
  EXPECT_EQ(count_nonfinite(got), 0u);
  // f32 output: the products of 16-bit inputs are exact in fp32, only the
  // accumulation order differs; a 16-bit output adds one rounding.
  EXPECT_LE(rel_l2(got, ref), c.out_f32 ? 1e-4 : tol(dt, 1e-2));
}

TEST_P(CudaMatmul, CublasLtShapes) {
  const std::vector<MatmulCase> cases = {
      {1, 576, 576, false, false}, {3, 77, 136, false, false},     {5, 129, 72, true, false},
      {33, 250, 96, false, true},  {128, 512, 512, false, false},  {300, 1536, 576, false, true},
      {17, 1000, 264, true, true}, {9, 49152, 64, true, false},    {64, 384, 1000, false, false},
      {2, 33, 7, false, false},    {129, 1000, 4096, false, false}};
  for (const auto& c : cases) run_case(c, GetParam(), /*gemv=*/false);
}

TEST_P(CudaMatmul, GemvShapes) {
  std::vector<MatmulCase> cases;
  for (int64_t m = 1; m <= 8; ++m) cases.push_back({m, 1000, 4096, false, false});
  cases.push_back({1, 4097, 576, true, true});
  cases.push_back({3, 33, 14336, false, true});
  cases.push_back({8, 49152, 64, true, false});
  cases.push_back({2, 7, 8, false, false});
  for (const auto& c : cases) run_case(c, GetParam(), /*gemv=*/true);
}

// A strided input (a column view of a wider activation buffer).
TEST_P(CudaMatmul, StridedInput) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const DType dt = GetParam();
  for (bool gemv : {false, true}) {
    const int64_t m = gemv ? 4 : 40, n = 300, k = 256, width = 3 * k;
    const auto x_h = random_values(size_t(m * width), rng, dt);
    const auto w_h = random_values(size_t(n * k), rng, dt, 0.2f);
    Tensor parent = upload(x_h, {m, width}, dt);
    Tensor x = parent.slice_cols(k, 2 * k);
    Tensor w = upload(w_h, {n, k}, dt);
    Tensor out = backend().alloc(DType::kF32, {m, n});
    poison(out);
    backend().set_use_gemv(gemv);
    backend().matmul(x, w, out);
    backend().set_use_gemv(true);
    std::vector<double> ref(size_t(m * n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t q = 0; q < k; ++q) s += double(x_h[i * width + k + q]) * w_h[j * k + q];
        ref[i * n + j] = s;
      }
    EXPECT_LE(rel_l2(download(out), ref), 1e-4) << (gemv ? "gemv" : "cublaslt");
  }
}

// The operands of one matmul share their element type.
TEST(CudaMatmulTypes, MixedInputTypesAreRefused) {
  Tensor x = backend().alloc(DType::kF16, {2, 64}), w = backend().alloc(DType::kBF16, {8, 64});
  Tensor out = backend().alloc(DType::kF32, {2, 8});
  EXPECT_THROW(backend().matmul(x, w, out), Error);
  Tensor out16 = backend().alloc(DType::kBF16, {2, 8});
  Tensor w16 = backend().alloc(DType::kF16, {8, 64});
  EXPECT_THROW(backend().matmul(x, w16, out16), Error);
}

}  // namespace
}  // namespace tessera::cuda_test
