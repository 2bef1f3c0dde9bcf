// cpu::matmul in ActivationPrecision::kFloat for every weight type on every
// kernel family this CPU runs: accuracy against a float64 reference over the
// reference dequantizer (itself checked against gguf) and the exact float
// activations; bit-exact batch invariance (T, neighbouring rows, thread
// counts), prepared vs unprepared weights, and agreement between ISAs.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "../../src/backend/cpu/f32act_internal.h"
#include "tessera/backend/quant.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"

namespace tessera {
namespace {

constexpr uint32_t kPoison = 0x7fc0beef;  // a NaN no kernel produces

const std::vector<DType> kTypes = {DType::kF32,  DType::kF16,  DType::kBF16,
                                   DType::kQ4_0, DType::kQ4_1, DType::kQ8_0,
                                   DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// Puts precision, kernel family and thread count back as they were.
class Scope {
 public:
  explicit Scope(const std::string& isa)
      : isa_(cpu::kernel_isa()), threads_(num_threads()), precision_(cpu::activation_precision()) {
    ok_ = cpu::set_kernel_isa(isa);
    cpu::set_activation_precision(cpu::ActivationPrecision::kFloat);
  }
  ~Scope() {
    cpu::set_kernel_isa(isa_);
    set_num_threads(threads_);
    cpu::set_activation_precision(precision_);
  }
  bool ok() const { return ok_; }

 private:
  std::string isa_;
  int threads_;
  cpu::ActivationPrecision precision_;
  bool ok_ = false;
};

void put_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_fp16(v);
  std::memcpy(p, &h, 2);
}

// Random weights shaped like real ones: random quantized bytes, scales of
// both signs, Q4_1 mins near -8 d, k-quant mins smaller than the scales.
Tensor make_weight(DType type, int64_t N, int64_t K, std::mt19937& rng) {
  Tensor w = Tensor::empty(type, {N, K});
  auto* p = static_cast<uint8_t*>(w.data());
  const size_t bytes = w.nbytes();
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> u(0.5f, 2.0f);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  auto sign = [&] { return byte(rng) & 1 ? 1.0f : -1.0f; };
  if (!is_quantized(type)) {
    for (int64_t i = 0; i < N * K; ++i) {
      const float v = normal(rng);
      if (type == DType::kF32) std::memcpy(p + 4 * i, &v, 4);
      if (type == DType::kF16) put_f16(p + 2 * i, v);
      if (type == DType::kBF16) {
        const uint16_t b = f32_to_bf16(v);
        std::memcpy(p + 2 * i, &b, 2);
      }
    }
    return w;
  }
  for (size_t i = 0; i < bytes; ++i) p[i] = uint8_t(byte(rng));
  for (size_t off = 0; off < bytes; off += size_t(dtype_info(type).block_bytes)) {
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
        break;
    }
  }
  return w;
}

// Never exactly zero, with a few large outliers like real hidden states;
// the stride padding holds NaN so reading past K would show.
std::vector<float> make_x(int64_t T, int64_t K, int64_t stride, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(size_t(T * stride), std::bit_cast<float>(kPoison));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      float v = normal(rng) * (u(rng) < 0.03f ? 30.0f : 1.0f);
      if (v == 0.0f) v = 0.5f;
      x[size_t(t * stride + k)] = v;
    }
  return x;
}

// Dequantized row with every term made non-negative (|d| q + |m|, ...): the
// magnitudes the kernel adds up, for a rounding bound per element.
std::vector<float> abs_row(DType type, const uint8_t* row, int64_t K) {
  const int bb = dtype_info(type).block_bytes, bs = dtype_info(type).block_size;
  std::vector<uint8_t> copy(row, row + row_bytes(type, K));
  for (int64_t b = 0; is_quantized(type) && b < K / bs; ++b) {
    uint8_t* blk = copy.data() + b * bb;
    if (type == DType::kQ4_1) {
      blk[1] &= 0x7f;
      blk[3] &= 0x7f;
    } else if (type == DType::kQ4_K || type == DType::kQ5_K) {
      blk[1] &= 0x7f;
      blk[3] |= 0x80;
    }
  }
  std::vector<float> out(static_cast<size_t>(K));
  cpu::dequantize_row(type, copy.data(), out.data(), K);
  for (float& v : out) v = std::fabs(v);
  return out;
}

struct Reference {
  std::vector<double> exact, mag;
};

Reference reference(const std::vector<float>& x, int64_t T, int64_t x_stride, const Tensor& w) {
  const int64_t N = w.dim(0), K = w.dim(1);
  Reference r{std::vector<double>(size_t(T * N)), std::vector<double>(size_t(T * N))};
  std::vector<float> wd(static_cast<size_t>(K));
  for (int64_t n = 0; n < N; ++n) {
    const auto* row = static_cast<const uint8_t*>(w.row_ptr(n));
    cpu::dequantize_row(w.dtype(), row, wd.data(), K);
    const std::vector<float> wa = abs_row(w.dtype(), row, K);
    for (int64_t t = 0; t < T; ++t) {
      double ex = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double xv = x[size_t(t * x_stride + k)];
        ex += double(wd[k]) * xv;
        mag += double(wa[k]) * std::fabs(xv);
      }
      r.exact[size_t(t * N + n)] = ex;
      r.mag[size_t(t * N + n)] = mag;
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

// Rows [t0, t0 + T) of a [*, stride] output, first N columns.
std::vector<float> rows_of(const std::vector<float>& out, int64_t t0, int64_t T, int64_t N,
                           int64_t stride) {
  std::vector<float> r;
  for (int64_t t = t0; t < t0 + T; ++t)
    r.insert(r.end(), out.begin() + t * stride, out.begin() + t * stride + N);
  return r;
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

int64_t block_of(DType t) { return dtype_info(t).block_size; }

// Two K per type: a single block and several (odd counts; float types get
// lengths that are no multiple of anything).
std::vector<int64_t> test_ks(DType t) {
  if (!is_quantized(t)) return {37, 583};
  if (block_of(t) == 256) return {256, 768};
  return {32, 608};
}

using Param = std::tuple<DType, std::string>;

class F32ActMatmul : public ::testing::TestWithParam<Param> {
 protected:
  DType type() const { return std::get<0>(GetParam()); }
  const std::string& isa() const { return std::get<1>(GetParam()); }
};

TEST_P(F32ActMatmul, MatchesFloat64Reference) {
  Scope scope(isa());
  if (!scope.ok()) GTEST_SKIP() << isa() << " not supported here";
  std::mt19937 rng(1234 + int(type()));
  double worst_rel_l2 = 0, worst_mag = 0;
  for (int64_t K : test_ks(type()))
    for (int64_t N : {1, 17, 37}) {
      const Tensor w = make_weight(type(), N, K, rng);
      const Tensor prepared = cpu::prepare_weight(w);
      ASSERT_TRUE(cpu::is_prepared(prepared));
      for (int64_t T : {1, 2, 3, 4, 5, 6, 7, 8, 9, 35, 37, 512, 600}) {
        if (T >= 512 && N != 37) continue;
        const int64_t x_stride = K + 3, out_stride = N + 5;
        const std::vector<float> x = make_x(T, K, x_stride, rng);
        const Reference ref = reference(x, T, x_stride, w);
        for (const Tensor* wt : {&w, &prepared}) {
          const std::vector<float> out = run(x, T, x_stride, *wt, out_stride);
          double err2 = 0, ref2 = 0;
          for (int64_t t = 0; t < T; ++t) {
            for (int64_t n = 0; n < N; ++n) {
              const size_t i = size_t(t * N + n);
              const float got = out[size_t(t * out_stride + n)];
              const double e = std::fabs(double(got) - ref.exact[i]);
              ASSERT_TRUE(std::isfinite(got)) << "t=" << t << " n=" << n << " N=" << N;
              EXPECT_LE(e, 1e-5 * ref.mag[i])
                  << "t=" << t << " n=" << n << " N=" << N << " K=" << K << " T=" << T;
              worst_mag = std::max(worst_mag, e / ref.mag[i]);
              err2 += e * e;
              ref2 += ref.exact[i] * ref.exact[i];
            }
            for (int64_t n = N; n < out_stride; ++n)  // padding untouched
              ASSERT_EQ(std::bit_cast<uint32_t>(out[size_t(t * out_stride + n)]), kPoison);
          }
          if (N * T >= 16) {
            const double rel = std::sqrt(err2 / ref2);
            EXPECT_LE(rel, 1e-5) << "N=" << N << " K=" << K << " T=" << T;
            worst_rel_l2 = std::max(worst_rel_l2, rel);
          }
        }
      }
    }
  RecordProperty("worst_rel_l2", std::to_string(worst_rel_l2));
  std::printf("[ %s %s ] worst relative L2 error %.2e, worst |err|/sum|terms| %.2e\n",
              std::string(dtype_name(type())).c_str(), isa().c_str(), worst_rel_l2, worst_mag);
}

TEST_P(F32ActMatmul, BatchAndThreadInvariant) {
  Scope scope(isa());
  if (!scope.ok()) GTEST_SKIP() << isa() << " not supported here";
  std::mt19937 rng(99 + int(type()));
  const int64_t K = test_ks(type())[1], N = 83, T = 600;  // two passes of tokens
  const Tensor w = cpu::prepare_weight(make_weight(type(), N, K, rng));
  const std::vector<float> x = make_x(T, K, K, rng);
  set_num_threads(2);
  const std::vector<float> full = rows_of(run(x, T, K, w, N), 0, T, N, N);
  // Alone, in small batches at odd offsets, with other thread counts.
  for (int64_t t : {int64_t(0), int64_t(1), int64_t(200), T - 1}) {
    const std::vector<float> xs(x.begin() + t * K, x.begin() + (t + 1) * K);
    expect_bits_equal(run(xs, 1, K, w, N), rows_of(full, t, 1, N, N),
                      "T=1 row " + std::to_string(t));
  }
  for (int64_t t0 : {int64_t(3), int64_t(100), int64_t(500)})
    for (int64_t n : {int64_t(2), int64_t(3), int64_t(5), int64_t(9), int64_t(35), int64_t(37)}) {
      const std::vector<float> xs(x.begin() + t0 * K, x.begin() + (t0 + n) * K);
      expect_bits_equal(run(xs, n, K, w, N), rows_of(full, t0, n, N, N),
                        "T=" + std::to_string(n) + " at " + std::to_string(t0));
    }
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    expect_bits_equal(run(x, T, K, w, N), full, "threads=" + std::to_string(threads));
    const std::vector<float> x1(x.begin() + 7 * K, x.begin() + 8 * K);
    expect_bits_equal(run(x1, 1, K, w, N), rows_of(full, 7, 1, N, N),
                      "T=1 threads=" + std::to_string(threads));
  }
  set_num_threads(2);
  // The weight's rows inside a larger matrix (rows of other groups around it).
  const Tensor big = make_weight(type(), N + 40, K, rng);
  std::memcpy(static_cast<uint8_t*>(big.data()) + 21 * big.row_stride(), w.data(), w.nbytes());
  const std::vector<float> sub = run(x, T, K, cpu::prepare_weight(big), N + 40);
  std::vector<float> sub_rows;
  for (int64_t t = 0; t < T; ++t)
    sub_rows.insert(sub_rows.end(), sub.begin() + t * (N + 40) + 21,
                    sub.begin() + t * (N + 40) + 21 + N);
  expect_bits_equal(sub_rows, full, "rows 21.. of a larger weight");
  // Unprepared weights are packed per call: same bits.
  Tensor plain = Tensor::empty(type(), {N, K});
  std::memcpy(plain.data(), w.data(), w.nbytes());
  expect_bits_equal(run(x, T, K, plain, N), full, "unprepared");
}

// The SIMD kernels against the portable one (so not instantiated for it).
class F32ActMatmulSimd : public F32ActMatmul {};

TEST_P(F32ActMatmulSimd, BitIdenticalToPortable) {
  std::mt19937 rng(7 + int(type()));
  const int64_t K = test_ks(type())[1], N = 45;
  const Tensor w = cpu::prepare_weight(make_weight(type(), N, K, rng));
  for (int64_t T : {1, 3, 13}) {
    const std::vector<float> x = make_x(T, K, K, rng);
    std::vector<float> simd, portable;
    {
      Scope scope(isa());
      if (!scope.ok()) GTEST_SKIP() << isa() << " not supported here";
      simd = run(x, T, K, w, N);
    }
    {
      Scope scope("portable");
      portable = run(x, T, K, w, N);
    }
    expect_bits_equal(simd, portable, "T=" + std::to_string(T));
  }
}

std::vector<Param> params(bool with_portable) {
  std::vector<Param> v;
  for (DType t : kTypes)
    for (const char* isa : {"portable", "avx2", "avx512-vnni"})
      if (with_portable || std::string(isa) != "portable") v.emplace_back(t, isa);
  return v;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  std::string isa = std::get<1>(info.param);
  for (char& c : isa)
    if (c == '-') c = '_';
  return std::string(dtype_name(std::get<0>(info.param))) + "_" + isa;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, F32ActMatmul, ::testing::ValuesIn(params(true)), param_name);
INSTANTIATE_TEST_SUITE_P(AllTypes, F32ActMatmulSimd, ::testing::ValuesIn(params(false)),
                         param_name);

TEST(F32ActApi, PrepareWeightKeepsTheTensor) {
  std::mt19937 rng(5);
  const Tensor w = make_weight(DType::kQ4_1, 40, 64, rng);
  const Tensor p = cpu::prepare_weight(w);
  EXPECT_EQ(p.data(), w.data());
  EXPECT_EQ(p.dtype(), w.dtype());
  EXPECT_EQ(p.shape(), w.shape());
  EXPECT_TRUE(cpu::is_prepared(p));
  EXPECT_FALSE(cpu::is_prepared(w));
  EXPECT_EQ(cpu::prepare_weight(p).owner(), p.owner());  // idempotent
  // A row slice of a prepared weight is a different matrix: packed per call.
  EXPECT_FALSE(cpu::is_prepared(p.slice_rows(3, 20)));
  // Tensors matmul cannot use come back as they are.
  const Tensor norm = Tensor::empty(DType::kF32, {64});
  EXPECT_EQ(cpu::prepare_weight(norm).owner(), norm.owner());
  const Tensor ints = Tensor::empty(DType::kI32, {4, 4});
  EXPECT_FALSE(cpu::is_prepared(cpu::prepare_weight(ints)));
}

TEST(F32ActApi, SliceOfPreparedWeightMatchesFreshWeight) {
  Scope scope(cpu::kernel_isa());
  std::mt19937 rng(6);
  const int64_t K = 96, T = 5;
  const Tensor p = cpu::prepare_weight(make_weight(DType::kQ8_0, 50, K, rng));
  const std::vector<float> x = make_x(T, K, K, rng);
  const std::vector<float> all = run(x, T, K, p, 50);
  const std::vector<float> part = run(x, T, K, p.slice_rows(10, 30), 20);
  std::vector<float> expect;
  for (int64_t t = 0; t < T; ++t)
    expect.insert(expect.end(), all.begin() + t * 50 + 10, all.begin() + t * 50 + 30);
  expect_bits_equal(part, expect, "slice_rows(10, 30)");
}

TEST(F32ActApi, PrecisionSwitch) {
  Scope scope(cpu::kernel_isa());
  std::mt19937 rng(8);
  const int64_t K = 256, N = 32, T = 4;
  const Tensor w = cpu::prepare_weight(make_weight(DType::kQ4_K, N, K, rng));
  const std::vector<float> x = make_x(T, K, K, rng);
  const Reference ref = reference(x, T, K, w);
  const std::vector<float> f32 = run(x, T, K, w, N);
  cpu::set_activation_precision(cpu::ActivationPrecision::kInt8);
  EXPECT_EQ(cpu::activation_precision(), cpu::ActivationPrecision::kInt8);
  const std::vector<float> int8 = run(x, T, K, w, N);
  cpu::set_activation_precision(cpu::ActivationPrecision::kFloat);
  expect_bits_equal(run(x, T, K, w, N), f32, "back to kFloat");
  double e_f32 = 0, e_int8 = 0;
  for (size_t i = 0; i < f32.size(); ++i) {
    e_f32 = std::max(e_f32, std::fabs(f32[i] - ref.exact[i]) / ref.mag[i]);
    e_int8 = std::max(e_int8, std::fabs(int8[i] - ref.exact[i]) / ref.mag[i]);
  }
  EXPECT_LT(e_f32, 1e-6);
  EXPECT_GT(e_int8, 1e-4);  // 8-bit activations are visibly coarser
}

TEST(F32ActApi, PackedBuffersDoNotOverlap) {
  using cpu::detail::f32act::PackedBuffer;
  std::mt19937 rng(9);
  std::vector<std::unique_ptr<PackedBuffer>> live;
  std::vector<size_t> sizes;
  for (int round = 0; round < 200; ++round) {
    if (!live.empty() && rng() % 3 == 0) {  // free a random one
      const size_t i = rng() % live.size();
      live.erase(live.begin() + long(i));
      sizes.erase(sizes.begin() + long(i));
      continue;
    }
    const size_t bytes = rng() % 4 == 0 ? size_t(9) << 20 : 1 + rng() % (3 << 20);
    live.push_back(std::make_unique<PackedBuffer>(bytes));
    sizes.push_back(bytes);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(live.back()->data()) % 64, 0u);
    std::memset(live.back()->data(), round & 0xff, bytes);  // must be writable
  }
  for (size_t i = 0; i < live.size(); ++i)
    for (size_t j = i + 1; j < live.size(); ++j) {
      const uint8_t *a = live[i]->data(), *b = live[j]->data();
      EXPECT_TRUE(a + sizes[i] <= b || b + sizes[j] <= a) << i << " overlaps " << j;
    }
}

}  // namespace
}  // namespace tessera
