// cpu::matmul for every weight type on every kernel family this CPU runs:
// accuracy against float64 references built from the (separately verified)
// reference dequantizer, agreement between ISAs, batch invariance (bit-exact
// across T, row neighbours and thread counts), odd shapes, strides.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../src/backend/cpu/quant_internal.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

constexpr uint32_t kPoison = 0x7fc0dead;  // a NaN no kernel produces

const std::vector<DType> kAllTypes = {DType::kF32,  DType::kF16,  DType::kBF16,
                                      DType::kQ4_0, DType::kQ4_1, DType::kQ8_0,
                                      DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Selects a kernel family with quantized activations (8-bit, or 16-bit for
// the 32-block types: what these tests cover; the float-activation kernels
// have their own suite) and restores the family, precision and thread count
// afterwards.
class IsaScope {
 public:
  explicit IsaScope(const std::string& isa,
                    cpu::ActivationPrecision precision = cpu::ActivationPrecision::kInt8)
      : saved_isa_(cpu::kernel_isa()) {
    ok_ = cpu::set_kernel_isa(isa);
    cpu::set_activation_precision(precision);
  }
  ~IsaScope() {
    cpu::set_kernel_isa(saved_isa_);
    cpu::set_activation_precision(saved_precision_);
    set_num_threads(saved_threads_);
  }
  bool ok() const { return ok_; }

 private:
  std::string saved_isa_;
  cpu::ActivationPrecision saved_precision_ = cpu::activation_precision();
  int saved_threads_ = num_threads();
  bool ok_;
};

void put_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// Random weights that look like real ones: random quant bytes, realistic
// scales (Q4_1 mins near -8 d, k-quant mins well below the scale range).
Tensor make_weight(DType type, int64_t N, int64_t K, std::mt19937& rng) {
  Tensor w = Tensor::empty(type, {N, K});
  auto* p = static_cast<uint8_t*>(w.data());
  const size_t bytes = w.nbytes();
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> u(0.5f, 2.0f);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  auto sign = [&] { return byte(rng) & 1 ? 1.0f : -1.0f; };
  const int block_bytes = dtype_info(type).block_bytes;
  switch (type) {
    case DType::kF32:
      for (size_t i = 0; i < bytes / 4; ++i) {
        const float v = normal(rng);
        std::memcpy(p + 4 * i, &v, 4);
      }
      return w;
    case DType::kF16:
      for (size_t i = 0; i < bytes / 2; ++i) put_f16(p + 2 * i, normal(rng));
      return w;
    case DType::kBF16:
      for (size_t i = 0; i < bytes / 2; ++i) {
        const uint16_t b = f32_to_bf16(normal(rng));
        std::memcpy(p + 2 * i, &b, 2);
      }
      return w;
    default:
      break;
  }
  for (size_t i = 0; i < bytes; ++i) p[i] = uint8_t(byte(rng));
  for (size_t off = 0; off < bytes; off += block_bytes) {
    uint8_t* b = p + off;
    const float d = 0.01f * u(rng);
    switch (type) {
      case DType::kQ4_0:
      case DType::kQ8_0:
        put_f16(b, sign() * d);
        break;
      case DType::kQ4_1:
        put_f16(b, d);
        put_f16(b + 2, -d * (6.0f + 1.5f * u(rng)));
        break;
      case DType::kQ4_K:
      case DType::kQ5_K:
        put_f16(b, 0.1f * d);
        put_f16(b + 2, 0.02f * d * u(rng));
        break;
      case DType::kQ6_K:
        put_f16(b + 208, sign() * 0.05f * d);
        break;
      default:
        ADD_FAILURE() << "unhandled type";
    }
  }
  return w;
}

// Activations with occasional large outliers, never exactly zero; the
// stride padding holds NaN so reading past K would show.
std::vector<float> make_activations(int64_t T, int64_t K, int64_t stride, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(size_t(T * stride), std::bit_cast<float>(kPoison));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      float v = normal(rng) * (u(rng) < 0.03f ? 30.0f : 1.0f);
      if (v == 0.0f) v = 0.25f;
      x[size_t(t * stride + k)] = v;
    }
  return x;
}

// |w| per element with every term of the block formula made positive: a
// bound on the magnitudes the kernel adds up, for relative tolerances.
std::vector<float> abs_terms_row(DType type, const uint8_t* row, int64_t K) {
  const int bb = dtype_info(type).block_bytes, bs = dtype_info(type).block_size;
  std::vector<uint8_t> copy(row, row + (K / bs) * bb);
  for (int64_t b = 0; b < K / bs; ++b) {
    uint8_t* blk = copy.data() + b * bb;
    if (type == DType::kQ4_1) {
      blk[1] &= 0x7f;  // d >= 0, m >= 0: |d| q + |m|
      blk[3] &= 0x7f;
    } else if (type == DType::kQ4_K || type == DType::kQ5_K) {
      blk[1] &= 0x7f;  // d >= 0, dmin <= 0: |d| sc q + |dmin| m
      blk[3] |= 0x80;
    }
  }
  std::vector<float> out(static_cast<size_t>(K));
  cpu::dequantize_row(type, copy.data(), out.data(), K);
  for (float& v : out) v = std::fabs(v);
  return out;
}

struct Reference {
  std::vector<double> with_q8;  // dequantized W times the 8-bit activations
  std::vector<double> exact;    // dequantized W times the float activations
  std::vector<double> mag;      // sum |terms| * |xq|: scale for tolerances
  std::vector<double> act_err;  // sum |w| * |x - xq|: what 8-bit activations may cost
};

Reference reference(const std::vector<float>& x, int64_t T, int64_t x_stride, const Tensor& w) {
  const int64_t N = w.dim(0), K = w.dim(1);
  Reference r;
  r.with_q8.resize(T * N);
  r.exact.resize(T * N);
  r.mag.resize(T * N);
  r.act_err.resize(T * N);
  std::vector<float> xq(static_cast<size_t>(T * K));
  for (int64_t t = 0; t < T; ++t)
    cpu::activation_roundtrip(w.dtype(), &x[t * x_stride], &xq[t * K], K);
  std::vector<float> wd(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    const auto* row = static_cast<const uint8_t*>(w.row_ptr(n));
    cpu::dequantize_row(w.dtype(), row, wd.data(), K);
    const std::vector<float> wa = abs_terms_row(w.dtype(), row, K);
    for (int64_t t = 0; t < T; ++t) {
      double q8 = 0, ex = 0, mag = 0, err = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double xv = x[t * x_stride + k], qv = xq[t * K + k];
        q8 += double(wd[k]) * qv;
        ex += double(wd[k]) * xv;
        mag += double(wa[k]) * std::fabs(qv);
        err += std::fabs(double(wd[k])) * std::fabs(xv - qv);
      }
      r.with_q8[t * N + n] = q8;
      r.exact[t * N + n] = ex;
      r.mag[t * N + n] = mag;
      r.act_err[t * N + n] = err;
    }
  }
  return r;
}

std::vector<float> run(const std::vector<float>& x, int64_t T, int64_t x_stride, const Tensor& w,
                       int64_t out_stride) {
  std::vector<float> out(size_t(T * out_stride), std::bit_cast<float>(kPoison));
  cpu::matmul(x.data(), T, x_stride, w, out.data(), out_stride);
  return out;
}

void expect_bits_equal(const std::vector<float>& a, const std::vector<float>& b,
                       const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  size_t diffs = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i]) && diffs++ < 3)
      ADD_FAILURE() << what << ": element " << i << " " << a[i] << " vs " << b[i];
  EXPECT_EQ(diffs, 0u) << what;
}

struct Case {
  DType type;
  std::string isa;
  cpu::ActivationPrecision precision = cpu::ActivationPrecision::kInt8;
};
std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string s = std::string(dtype_name(info.param.type)) + "_" + info.param.isa;
  if (info.param.precision == cpu::ActivationPrecision::kInt16) s += "_int16";
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}
std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const char* isa : {"portable", "avx2", "avx512-vnni", "amx"}) {
    for (DType t : kAllTypes) cases.push_back({t, isa});
    for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ8_0})
      cases.push_back({t, isa, cpu::ActivationPrecision::kInt16});
  }
  return cases;
}

class QuantMatmul : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    scope_ = std::make_unique<IsaScope>(GetParam().isa, GetParam().precision);
    if (!scope_->ok()) GTEST_SKIP() << GetParam().isa << " not supported on this CPU";
  }
  int64_t block() const { return dtype_info(GetParam().type).block_size == 256 ? 256 : 32; }
  // Row lengths to try: one block, an odd number of blocks, a model-sized row;
  // float weights also get lengths that are no multiple of the 16 lanes.
  std::vector<int64_t> row_lengths() const {
    if (!is_quantized(GetParam().type)) return {7, 37, 576};
    const int64_t B = block();
    return {B, 3 * B, (B == 32 ? 18 : 6) * B};
  }
  std::unique_ptr<IsaScope> scope_;
};

// Accuracy on shapes with odd N, odd block counts, T from 1 to 9, strides.
TEST_P(QuantMatmul, MatchesFloat64Reference) {
  const DType type = GetParam().type;
  std::mt19937 rng(1234 + int(type));
  for (int64_t K : row_lengths()) {
    for (int64_t N : {1, 5, 13, 67}) {
      const int64_t T = 1 + (N + K) % 9;
      const int64_t x_stride = K + 3, out_stride = N + 2;
      SCOPED_TRACE("K=" + std::to_string(K) + " N=" + std::to_string(N) +
                   " T=" + std::to_string(T));
      const Tensor w = make_weight(type, N, K, rng);
      const std::vector<float> x = make_activations(T, K, x_stride, rng);
      const std::vector<float> out = run(x, T, x_stride, w, out_stride);
      const Reference ref = reference(x, T, x_stride, w);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t n = 0; n < N; ++n) {
          const size_t i = t * N + n;
          const double got = out[t * out_stride + n];
          ASSERT_TRUE(std::isfinite(got)) << "t=" << t << " n=" << n;
          const double tight = 1e-5 * ref.mag[i] + 1e-30;
          EXPECT_NEAR(got, ref.with_q8[i], tight) << "t=" << t << " n=" << n;
          EXPECT_NEAR(got, ref.exact[i], tight + 1.0001 * ref.act_err[i])
              << "t=" << t << " n=" << n;
        }
        for (int64_t n = N; n < out_stride; ++n)
          EXPECT_EQ(std::bit_cast<uint32_t>(out[t * out_stride + n]), kPoison) << "padding written";
      }
    }
  }
}

// Every kernel family follows the same per-element float order, so SIMD
// kernels agree with the portable ones bit for bit (small and batched T).
TEST_P(QuantMatmul, BitIdenticalToPortable) {
  const DType type = GetParam().type;
  std::mt19937 rng(99 + int(type));
  for (int64_t K : row_lengths()) {
    for (int64_t T : {1, 3, 11, 70}) {
      const int64_t N = 37;
      const Tensor w = make_weight(type, N, K, rng);
      const std::vector<float> x = make_activations(T, K, K, rng);
      const std::vector<float> simd = run(x, T, K, w, N);
      IsaScope portable("portable", GetParam().precision);
      expect_bits_equal(simd, run(x, T, K, w, N),
                        "K=" + std::to_string(K) + " T=" + std::to_string(T));
    }
  }
}

// out[t, n] does not depend on T, on the other rows, or on the thread count.
TEST_P(QuantMatmul, BatchInvariant) {
  const DType type = GetParam().type;
  std::mt19937 rng(7 + int(type));
  const int64_t K = 3 * block(), T = 512;
  for (int64_t N : {int64_t(67), int64_t(300)}) {
    SCOPED_TRACE("N=" + std::to_string(N));
    const Tensor w = make_weight(type, N, K, rng);
    const std::vector<float> x = make_activations(T, K, K, rng);
    set_num_threads(2);
    const std::vector<float> full = run(x, T, K, w, N);
    set_num_threads(1);
    expect_bits_equal(run(x, T, K, w, N), full, "T=512, 1 vs 2 threads");
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (int64_t t : {0, 1, 255, 511}) {
        const std::vector<float> xr(x.begin() + t * K, x.begin() + (t + 1) * K);
        const std::vector<float> one = run(xr, 1, K, w, N);
        expect_bits_equal(
            one, std::vector<float>(full.begin() + t * N, full.begin() + (t + 1) * N),
            "row " + std::to_string(t) + " alone, threads " + std::to_string(threads));
      }
      for (int64_t t0 : {0, 100, 475}) {
        const std::vector<float> xr(x.begin() + t0 * K, x.begin() + (t0 + 37) * K);
        expect_bits_equal(
            run(xr, 37, K, w, N),
            std::vector<float>(full.begin() + t0 * N, full.begin() + (t0 + 37) * N),
            "37 rows from " + std::to_string(t0) + ", threads " + std::to_string(threads));
      }
    }
    // A sub-range of weight rows (a view) gives the same columns.
    const Tensor part = w.slice_rows(5, 40);
    const std::vector<float> sub = run(x, 9, K, part, 35);
    for (int64_t t = 0; t < 9; ++t)
      for (int64_t n = 0; n < 35; ++n)
        EXPECT_EQ(std::bit_cast<uint32_t>(sub[t * 35 + n]),
                  std::bit_cast<uint32_t>(full[t * N + 5 + n]));
  }
}

// A row with inf/NaN gives non-finite outputs for that row only.
TEST_P(QuantMatmul, BadRowStaysInItsRow) {
  const DType type = GetParam().type;
  std::mt19937 rng(5);
  const int64_t K = 2 * block(), N = 9, T = 3;
  const Tensor w = make_weight(type, N, K, rng);
  std::vector<float> x = make_activations(T, K, K, rng);
  const std::vector<float> clean = run(x, T, K, w, N);
  x[K + 3] = INFINITY;
  const std::vector<float> out = run(x, T, K, w, N);
  for (int64_t n = 0; n < N; ++n) {
    EXPECT_EQ(out[n], clean[n]);
    EXPECT_FALSE(std::isfinite(out[N + n]));
    EXPECT_EQ(out[2 * N + n], clean[2 * N + n]);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypesAllIsas, QuantMatmul, testing::ValuesIn(all_cases()), case_name);

// With 16-bit and 8-bit activations, calls on prepared weights below AMX
// sizes run a kernel on the packed layout: the same bits as the row-major and
// batched kernels on unprepared weights, AMX (many rows) and the portable
// reference.
class QuantMatmulPacked : public testing::TestWithParam<cpu::ActivationPrecision> {};

TEST_P(QuantMatmulPacked, MatchesEveryOtherKernel) {
  const cpu::ActivationPrecision precision = GetParam();
  const int64_t K = 18 * 32, T = 40;
  for (DType type : {DType::kQ4_0, DType::kQ4_1, DType::kQ8_0}) {
    std::mt19937 rng(21 + int(type));
    for (int64_t N : {int64_t(16), int64_t(67)}) {
      const Tensor w = make_weight(type, N, K, rng);
      const Tensor packed = cpu::prepare_weight(w);
      ASSERT_TRUE(cpu::is_prepared(packed));
      const std::vector<float> x = make_activations(T, K, K, rng);
      std::vector<float> reference;
      {
        IsaScope portable("portable", precision);
        reference = run(x, T, K, w, N);
      }
      for (const std::string& isa : cpu::supported_kernel_isas()) {
        IsaScope scope(isa, precision);
        SCOPED_TRACE(std::string(dtype_name(type)) + " " + isa + " N=" + std::to_string(N));
        expect_bits_equal(run(x, T, K, packed, N), reference, "all rows, prepared");
        for (int64_t rows : {1, 2, 3, 4, 5, 15}) {
          const std::vector<float> head(x.begin(), x.begin() + rows * K);
          const std::vector<float> want(reference.begin(), reference.begin() + rows * N);
          expect_bits_equal(run(head, rows, K, packed, N), want,
                            std::to_string(rows) + " rows, prepared");
          expect_bits_equal(run(head, rows, K, w, N), want, std::to_string(rows) + " rows");
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Int16AndInt8, QuantMatmulPacked,
                         testing::Values(cpu::ActivationPrecision::kInt16,
                                         cpu::ActivationPrecision::kInt8),
                         [](const auto& info) {
                           return info.param == cpu::ActivationPrecision::kInt16 ? "int16" : "int8";
                         });

TEST(QuantMatmulApi, IsaSelection) {
  const std::vector<std::string> isas = cpu::supported_kernel_isas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), "portable");
  IsaScope scope("portable");
  EXPECT_TRUE(scope.ok());
  EXPECT_EQ(cpu::kernel_isa(), "portable");
  EXPECT_FALSE(cpu::set_kernel_isa("sse9"));
  EXPECT_EQ(cpu::kernel_isa(), "portable");
}

// TESSERA_KERNELS picks the family at first use (tests/python/
// test_dequant_fresh.py runs this with the variable set).
TEST(QuantMatmulApi, EnvironmentOverride) {
  const char* env = std::getenv("TESSERA_KERNELS");
  if (!env) GTEST_SKIP() << "TESSERA_KERNELS not set";
  EXPECT_EQ(cpu::kernel_isa(), env);
}

TEST(QuantMatmulApi, RejectsBadShapes) {
  std::mt19937 rng(1);
  const Tensor w = make_weight(DType::kQ4_0, 4, 64, rng);
  std::vector<float> x(64 * 2, 1.0f), out(8);
  EXPECT_THROW(cpu::matmul(x.data(), 2, 32, w, out.data(), 4), Error);  // x_stride < K
  EXPECT_THROW(cpu::matmul(x.data(), 2, 64, w, out.data(), 3), Error);  // out_stride < N
  EXPECT_NO_THROW(cpu::matmul(x.data(), 0, 64, w, out.data(), 4));
  const Tensor ints = Tensor::empty(DType::kI32, {4, 64});
  EXPECT_THROW(cpu::matmul(x.data(), 2, 64, ints, out.data(), 4), Error);  // no kernel
}

// The activation quantizer rounds to nearest: error at most half a step
// (amax/127 with 8 bits, amax/32639 with 16).
TEST(QuantMatmulApi, ActivationRoundtripError) {
  std::mt19937 rng(3);
  const std::vector<float> x = make_activations(1, 512, 512, rng);
  for (auto [precision, levels] : {std::pair{cpu::ActivationPrecision::kInt8, 127.0f},
                                   std::pair{cpu::ActivationPrecision::kInt16, 32639.0f}}) {
    IsaScope scope(cpu::kernel_isa(), precision);
    for (DType type : {DType::kQ8_0, DType::kQ4_K}) {
      if (precision == cpu::ActivationPrecision::kInt16 && type == DType::kQ4_K) continue;
      const int64_t bs = type == DType::kQ8_0 ? 32 : 256;
      std::vector<float> xq(512);
      cpu::activation_roundtrip(type, x.data(), xq.data(), 512);
      double worst = 0;
      for (int64_t b = 0; b < 512 / bs; ++b) {
        float amax = 0;
        for (int64_t k = b * bs; k < (b + 1) * bs; ++k) amax = std::max(amax, std::fabs(x[k]));
        for (int64_t k = b * bs; k < (b + 1) * bs; ++k) {
          const double err = std::fabs(x[k] - xq[k]) / amax;
          EXPECT_LE(err, 0.5 / levels * 1.0001) << k;
          worst = std::max(worst, err);
        }
      }
      EXPECT_GT(worst, 0.25 / levels) << "quantized at the expected step";
    }
  }
  // In 16-bit mode k-quant weights keep float activations.
  {
    IsaScope scope(cpu::kernel_isa(), cpu::ActivationPrecision::kInt16);
    std::vector<float> same(512);
    cpu::activation_roundtrip(DType::kQ4_K, x.data(), same.data(), 512);
    EXPECT_EQ(same, std::vector<float>(x.begin(), x.begin() + 512));
  }
  std::vector<float> same(512);
  cpu::activation_roundtrip(DType::kF16, x.data(), same.data(), 512);
  EXPECT_EQ(same, std::vector<float>(x.begin(), x.begin() + 512));
}

// The SIMD activation quantizers write the same bytes as the portable ones.
TEST(QuantMatmulApi, ActivationQuantizersAgree) {
  if (cpu::supported_kernel_isas().size() < 2) GTEST_SKIP() << "no AVX2";
  std::mt19937 rng(11);
  const int64_t K = 1536, T = 5;
  std::vector<float> x = make_activations(T, K, K, rng);
  x[3] = 0.0f;  // an all-zero block
  for (int64_t k = 32; k < 64; ++k) x[K + k] = 0.0f;
  using namespace cpu::detail;
  for (ActFormat f : {ActFormat::kB32, ActFormat::kB32Wide, ActFormat::kB256}) {
    const size_t stride = pad64(act_row_bytes(f, K));
    std::vector<uint8_t> a(stride * T, 0xAB), b(stride * T, 0xCD);
    if (f == ActFormat::kB32) {
      quantize_b32_portable(x.data(), K, 0, T, K, a.data(), stride);
      quantize_b32_avx2(x.data(), K, 0, T, K, b.data(), stride);
    } else if (f == ActFormat::kB32Wide) {
      quantize_b32_wide_portable(x.data(), K, 0, T, K, a.data(), stride);
      quantize_b32_wide_avx2(x.data(), K, 0, T, K, b.data(), stride);
    } else {
      quantize_b256_portable(x.data(), K, 0, T, K, a.data(), stride);
      quantize_b256_avx2(x.data(), K, 0, T, K, b.data(), stride);
    }
    const size_t used = act_row_bytes(f, K);
    for (int64_t t = 0; t < T; ++t)
      EXPECT_EQ(std::memcmp(a.data() + t * stride, b.data() + t * stride, used), 0) << "row " << t;
  }
}

}  // namespace
}  // namespace tessera
