// Embedding, gather_rows, RMSNorm (plain and with the residual add), SiLU·mul
// and add against float64 references, on odd and aligned sizes and on
// strided column views; each for bf16 and fp16 activations.
#include <cmath>

#include "cuda_test_util.h"

namespace tessera::cuda_test {
namespace {

class CudaElementwise : public testing::TestWithParam<DType> {};
INSTANTIATE_TEST_SUITE_P(, CudaElementwise, kElemTypes, elem_name);

TEST_P(CudaElementwise, EmbeddingCopiesRowsExactly) {
  const DType dt = GetParam();
  for (auto [vocab, dim, n] : {std::tuple{50, 576, 7}, {1000, 100, 33}, {17, 3, 5}}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(testing::Message() << "vocab " << vocab << " dim " << dim << " seed " << seed);
    std::mt19937 rng(seed);
    const auto table_h = random_values(size_t(vocab) * dim, rng, dt);
    Tensor table = upload(table_h, {vocab, dim}, dt);
    std::vector<int32_t> ids(n);
    for (auto& id : ids) id = int32_t(rng() % uint32_t(vocab));
    Tensor d_ids = upload_i32(ids);
    Tensor out = backend().alloc(dt, {n, dim});
    poison(out);
    backend().embedding(table, d_ids, out);
    const auto got = download(out);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < dim; ++j)
        ASSERT_EQ(got[size_t(i) * dim + j], table_h[size_t(ids[i]) * dim + j]) << i << "," << j;
  }
}

TEST_P(CudaElementwise, GatherRowsIntoStridedViews) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const DType dt = GetParam();
  for (auto [rows, cols, n, dtype] :
       {std::tuple{40, 576, 9, dt}, {13, 77, 13, dt}, {21, 1000, 4, DType::kF32}}) {
    const auto x_h = random_values(size_t(rows) * cols, rng, dt);
    Tensor x = upload(x_h, {rows, cols}, dtype);
    std::vector<int32_t> idx(n);
    for (auto& r : idx) r = int32_t(rng() % uint32_t(rows));
    Tensor d_idx = upload_i32(idx);
    // Output as a column view: the columns around it must stay untouched.
    Tensor parent = backend().alloc(dtype, {n, cols + 16});
    poison(parent);
    Tensor out = parent.slice_cols(8, 8 + cols);
    backend().gather_rows(x, d_idx, out);
    const auto got = download(parent);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < cols + 16; ++j) {
        const float v = got[size_t(i) * (cols + 16) + j];
        if (j < 8 || j >= 8 + cols)
          ASSERT_TRUE(std::isnan(v)) << "wrote outside the view at " << i << "," << j;
        else
          ASSERT_EQ(v, x_h[size_t(idx[i]) * cols + j - 8]) << i << "," << j;
      }
  }
}

std::vector<double> rms_norm_ref(const std::vector<float>& x, const std::vector<float>& w,
                                 int64_t rows, int64_t cols, double eps) {
  std::vector<double> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += double(x[r * cols + c]) * x[r * cols + c];
    const double inv = 1.0 / std::sqrt(ss / double(cols) + eps);
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = x[r * cols + c] * inv * w[c];
  }
  return out;
}

TEST_P(CudaElementwise, RmsNorm) {
  const DType dt = GetParam();
  for (auto [rows, cols, wdtype] : {std::tuple{1, 576, dt},
                                    {7, 4096, dt},
                                    {13, 100, DType::kF32},
                                    {64, 8192, dt},
                                    {3, 24576, DType::kF32},
                                    {5, 3, dt}}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(testing::Message() << rows << "x" << cols << " seed " << seed);
    std::mt19937 rng(seed);
    const auto x_h = random_values(size_t(rows) * cols, rng, dt, 3.0f);
    const auto w_h = random_values(size_t(cols), rng, dt);
    Tensor x = upload(x_h, {rows, cols}, dt);
    Tensor w = upload(w_h, {cols}, wdtype);
    Tensor out = backend().alloc(dt, {rows, cols});
    poison(out);
    backend().rms_norm(x, w, 1e-5f, out);
    const auto got = download(out);
    EXPECT_EQ(count_nonfinite(got), 0u);
    EXPECT_LE(rel_l2(got, rms_norm_ref(x_h, w_h, rows, cols, 1e-5)), tol(dt, 1e-2));
  }
}

TEST_P(CudaElementwise, AddRmsNormUpdatesResidual) {
  const DType dt = GetParam();
  for (auto [rows, cols] : {std::pair{1, 576}, {9, 4096}, {31, 1000}, {2, 30}}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(testing::Message() << rows << "x" << cols << " seed " << seed);
    std::mt19937 rng(seed);
    const auto res_h = random_values(size_t(rows) * cols, rng, dt, 2.0f);
    const auto x_h = random_values(size_t(rows) * cols, rng, dt, 2.0f);
    const auto w_h = random_values(size_t(cols), rng, dt);
    Tensor res = upload(res_h, {rows, cols}, dt);
    Tensor x = upload(x_h, {rows, cols}, dt);
    Tensor w = upload(w_h, {cols}, dt);
    Tensor out = backend().alloc(dt, {rows, cols});
    poison(out);
    backend().add_rms_norm(res, x, w, 1e-6f, out);
    // The residual stream is stored in the activation type: the reference
    // rounds the sum too.
    std::vector<float> sum(res_h.size());
    std::vector<double> sum_d(res_h.size());
    for (size_t i = 0; i < sum.size(); ++i) {
      sum[i] = round_to(res_h[i] + x_h[i], dt);
      sum_d[i] = double(res_h[i]) + x_h[i];
    }
    EXPECT_LE(rel_l2(download(res), sum_d), tol(dt, 4e-3));
    const auto got = download(out);
    EXPECT_EQ(count_nonfinite(got), 0u);
    EXPECT_LE(rel_l2(got, rms_norm_ref(sum, w_h, rows, cols, 1e-6)), tol(dt, 1e-2));
  }
}

TEST_P(CudaElementwise, SiluMulOnViewsOfOneBuffer) {
  const DType dt = GetParam();
  for (auto [rows, cols] : {std::pair{1, 1536}, {17, 14336 / 8}, {5, 99}, {128, 2048}}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(testing::Message() << rows << "x" << cols << " seed " << seed);
    std::mt19937 rng(seed);
    const auto gu_h = random_values(size_t(rows) * 2 * cols, rng, dt, 4.0f);
    Tensor gu = upload(gu_h, {rows, 2 * cols}, dt);
    Tensor gate = gu.slice_cols(0, cols), up = gu.slice_cols(cols, 2 * cols);
    Tensor out = backend().alloc(dt, {rows, cols});
    poison(out);
    backend().silu_mul(gate, up, out);
    std::vector<double> ref(size_t(rows) * cols);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const double g = gu_h[size_t(r) * 2 * cols + c], u = gu_h[size_t(r) * 2 * cols + cols + c];
        ref[size_t(r) * cols + c] = g / (1.0 + std::exp(-g)) * u;
      }
    const auto got = download(out);
    EXPECT_EQ(count_nonfinite(got), 0u);
    EXPECT_LE(rel_l2(got, ref), tol(dt, 1e-2));
  }
}

TEST_P(CudaElementwise, Add) {
  const DType dt = GetParam();
  for (auto [rows, cols] : {std::pair{3, 4096}, {11, 37}}) {
    const uint32_t seed = fresh_seed();
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    const auto x_h = random_values(size_t(rows) * cols, rng, dt);
    const auto y_h = random_values(x_h.size(), rng, dt);
    Tensor x = upload(x_h, {rows, cols}, dt), y = upload(y_h, {rows, cols}, dt);
    backend().add(x, y);
    std::vector<double> ref(x_h.size());
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = double(x_h[i]) + y_h[i];
    EXPECT_LE(rel_l2(download(x), ref), tol(dt, 4e-3));
  }
}

// fp16 keeps what bf16 keeps only up to ±65504: beyond, a store gives ±inf
// (as a cast to float16 does in transformers), while the float sums inside
// the norm do not overflow.
TEST(CudaElementwiseFp16, OverflowBecomesInfinityAndNormsSumInFloat) {
  const std::vector<float> big = {60000.0f, 30000.0f, -60000.0f, 1.0f};
  Tensor x = upload(big, {1, 4}, DType::kF16), y = upload(big, {1, 4}, DType::kF16);
  backend().add(x, y);
  const auto sum = download(x);
  EXPECT_EQ(sum[0], INFINITY);
  EXPECT_EQ(sum[1], 60000.0f);
  EXPECT_EQ(sum[2], -INFINITY);
  // sum of squares ~7.2e9, far beyond fp16, is taken in float.
  Tensor v = upload(big, {1, 4}, DType::kF16),
         w = upload({1.0f, 1.0f, 1.0f, 1.0f}, {4}, DType::kF16);
  Tensor out = backend().alloc(DType::kF16, {1, 4});
  backend().rms_norm(v, w, 1e-5f, out);
  const auto normed = download(out);
  const double rms = std::sqrt((60000.0 * 60000 * 2 + 30000.0 * 30000 + 1) / 4);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(normed[i], big[i] / rms, 2e-3) << i;
}

TEST_P(CudaElementwise, FillUniformIsDeterministicAndInRange) {
  const DType dt = GetParam();
  Tensor a = backend().alloc(dt, {1000, 333});
  Tensor b = backend().alloc(DType::kF32, {1000, 333});
  cuda::fill_uniform(backend(), a, 42, 0.5f);
  cuda::fill_uniform(backend(), b, 42, 0.5f);
  const auto va = download(a), vb = download(b);
  double sum = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    ASSERT_LE(std::fabs(vb[i]), 0.5f);
    ASSERT_EQ(va[i], round_to(vb[i], dt));
    sum += vb[i];
  }
  EXPECT_LT(std::fabs(sum / double(va.size())), 0.01);  // centred
}

}  // namespace
}  // namespace tessera::cuda_test
