// The CPU elementwise kernels of every kernel family this CPU runs, against
// float64: the vector exp (softmax, SiLU) over the float range, SiLU * up,
// and RMS norm; each element's result is the same whatever the row count,
// and RMS norm is bit-identical across families. The F16 conversion of the
// KV cache against the scalar one.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../../src/backend/cpu/ops_vec.h"
#include "../../src/backend/cpu/quant_internal.h"
#include "isa_scope.h"
#include "tessera/backend/backend.h"
#include "tessera/backend/quant.h"
#include "tessera/core/half.h"

namespace tessera {
namespace {

class CpuVecMath : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    scope_ = std::make_unique<IsaScope>(GetParam());
    if (!scope_->ok()) GTEST_SKIP() << "hardware: " << GetParam() << " not on this CPU";
  }
  cpu::detail::RowOps ops() const { return cpu::detail::row_ops(cpu::detail::kernel_family()); }
  std::unique_ptr<IsaScope> scope_;
};

double rel(double got, double want) { return std::abs(got - want) / std::abs(want); }

TEST_P(CpuVecMath, ExpMatchesFloat64) {
  // Every 2^-10 from -87 to 88.7 (where exp is a normal float), then random
  // points; row lengths that leave every tail size.
  std::vector<float> x;
  for (double v = -87.0; v <= 88.7; v += 1.0 / 1024) x.push_back(float(v));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> any(-87.0f, 88.7f);
  for (int i = 0; i < 100000; ++i) x.push_back(any(rng));
  for (float v : {0.0f, -0.0f, 1e-8f, -1e-8f, 88.72f, -87.3f}) x.push_back(v);
  std::vector<float> y(x.size());
  const auto exp_row = ops().exp;
  for (size_t i = 0, len = 1; i < x.size(); i += len, len = len % 37 + 1)
    exp_row(x.data() + i, y.data() + i, int64_t(std::min(len, x.size() - i)));
  double worst = 0;
  float at = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double e = rel(y[i], std::exp(double(x[i])));
    if (!(e <= worst)) worst = e, at = x[i];
  }
  std::printf("%s: exp worst relative error %.3g at x = %.9g\n", GetParam().c_str(), worst, at);
  EXPECT_LT(worst, 3.5e-7) << "at x = " << at;
  float one;
  exp_row(std::vector<float>{0.0f}.data(), &one, 1);
  EXPECT_EQ(one, 1.0f);
  // Beyond the float range: infinity above, a tiny positive value below.
  std::vector<float> big = {88.8f, 100.0f, std::numeric_limits<float>::infinity()};
  std::vector<float> small = {-88.0f, -100.0f, -1e30f};
  std::vector<float> out(3);
  exp_row(big.data(), out.data(), 3);
  for (float v : out) EXPECT_EQ(v, std::numeric_limits<float>::infinity());
  exp_row(small.data(), out.data(), 3);
  for (float v : out) EXPECT_TRUE(v >= 0.0f && v < 1.3e-38f) << v;
}

// Rows of every tail length and the default model's FFN width.
const int kCols[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 1536};

TEST_P(CpuVecMath, SiluMulMatchesFloat64AndIgnoresRowCount) {
  auto be = make_cpu_backend();
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  for (int n : kCols) {
    const int T = 5;
    Tensor g = Tensor::empty(DType::kF32, {T, n}), u = Tensor::empty(DType::kF32, {T, n});
    Tensor out = Tensor::empty(DType::kF32, {T, n});
    for (int64_t i = 0; i < g.numel(); ++i) {
      g.data_as<float>()[i] = nd(rng);
      u.data_as<float>()[i] = nd(rng);
    }
    g.data_as<float>()[0] = 95.0f;              // exp(-g) below the float range
    if (n > 1) g.data_as<float>()[1] = -95.0f;  // exp(-g) overflows: silu is -0
    be->silu_mul(g, u, out);
    for (int64_t i = 0; i < g.numel(); ++i) {
      const double gd = g.data_as<float>()[i],
                   want = gd / (1 + std::exp(-gd)) * u.data_as<float>()[i];
      const double got = out.data_as<float>()[i];
      EXPECT_LE(std::abs(got - want), 1e-6 * std::abs(want) + 1e-37) << "n " << n << " i " << i;
    }
    for (int r = 0; r < T; ++r) {  // each row alone: the same bits
      Tensor g1 = Tensor::empty(DType::kF32, {1, n}), u1 = Tensor::empty(DType::kF32, {1, n});
      Tensor o1 = Tensor::empty(DType::kF32, {1, n});
      std::memcpy(g1.data(), g.row_ptr(r), size_t(n) * 4);
      std::memcpy(u1.data(), u.row_ptr(r), size_t(n) * 4);
      be->silu_mul(g1, u1, o1);
      EXPECT_EQ(0, std::memcmp(o1.data(), out.row_ptr(r), size_t(n) * 4)) << "n " << n;
    }
  }
}

// The KV cache's F16 conversion: f32_to_fp16's bits for every value (round
// to nearest even, half subnormals, overflow to infinity), whatever the row
// length; a NaN stays a NaN.
TEST_P(CpuVecMath, ToFp16MatchesScalarConversion) {
  std::mt19937 rng(11);
  std::vector<float> x;
  for (int e = -30; e <= 17; ++e)  // every half exponent and beyond, both signs
    for (int i = 0; i < 64; ++i)
      x.push_back(std::ldexp(std::uniform_real_distribution<float>(1.0f, 2.0f)(rng), e) *
                  (i % 2 ? -1.0f : 1.0f));
  for (uint32_t h = 0; h < 0x7c00u; h += 37) {  // halfway between neighbouring halves
    const float lo = fp16_to_f32(uint16_t(h)), hi = fp16_to_f32(uint16_t(h + 1));
    x.push_back(lo + (hi - lo) / 2);
  }
  for (float v : {0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, 1e-8f, 2.98e-8f, 2.99e-8f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::denorm_min()})
    x.push_back(v);
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  for (int n : {1, 7, 8, 9, 15, 16, 17, 31, 64, int(x.size())}) {
    std::vector<uint16_t> got(size_t(n) + 1, 0xABCD);
    for (size_t start = 0; start + size_t(n) <= x.size(); start += size_t(n)) {
      ops().to_fp16(x.data() + start, got.data(), n);
      for (int i = 0; i < n; ++i) {
        const float v = x[start + size_t(i)];
        if (std::isnan(v)) {
          EXPECT_TRUE(std::isnan(fp16_to_f32(got[size_t(i)])));
          continue;
        }
        ASSERT_EQ(got[size_t(i)], f32_to_fp16(v)) << "value " << v << " n " << n;
      }
      ASSERT_EQ(got[size_t(n)], 0xABCD) << "wrote past the row, n " << n;
    }
  }
}

// RMS norm against float64, and the same bits as the portable kernels.
TEST_P(CpuVecMath, RmsNormMatchesFloat64AndPortable) {
  auto be = make_cpu_backend();
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int n : kCols) {
    const int T = 3;
    Tensor x = Tensor::empty(DType::kF32, {T, n}), w = Tensor::empty(DType::kF32, {n});
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = nd(rng) * 3;
    for (int64_t i = 0; i < n; ++i) w.data_as<float>()[i] = nd(rng);
    Tensor out = Tensor::empty(DType::kF32, {T, n}), ref = Tensor::empty(DType::kF32, {T, n});
    be->rms_norm(x, w, 1e-5f, out);
    {
      IsaScope portable("portable");
      be->rms_norm(x, w, 1e-5f, ref);
    }
    EXPECT_EQ(0, std::memcmp(out.data(), ref.data(), size_t(out.numel()) * 4)) << "n " << n;
    for (int t = 0; t < T; ++t) {
      const float* xr = x.data_as<float>() + t * n;
      double ss = 0;
      for (int i = 0; i < n; ++i) ss += double(xr[i]) * xr[i];
      const double inv = 1 / std::sqrt(ss / n + 1e-5);
      for (int i = 0; i < n; ++i) {
        const double want = xr[i] * inv * w.data_as<float>()[i];
        EXPECT_LE(std::abs(out.data_as<float>()[t * n + i] - want), 4e-7 * std::abs(want) + 1e-30);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, CpuVecMath,
                         ::testing::Values("portable", "avx2", "avx512-vnni", "amx"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string isa = info.param;
                           std::replace(isa.begin(), isa.end(), '-', '_');
                           return isa;
                         });

}  // namespace
}  // namespace tessera
