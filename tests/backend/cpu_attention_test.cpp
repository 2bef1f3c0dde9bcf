// CPU paged attention against a float64 reference on random inputs, for
// every kernel family this CPU runs (portable, AVX2 and AVX-512 kernels
// differ)
// and every KV-cache type (the reference sees the values the cache holds),
// and bit-for-bit batch invariance: a query's output is the same alone,
// in a mixed prefill + decode batch, and whatever the block layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "isa_scope.h"
#include "tessera/backend/backend.h"
#include "tessera/backend/quant.h"
#include "tessera/core/half.h"

namespace tessera {
namespace {

struct Shape {
  int heads, kv_heads, head_dim;
};

// One sequence in a batch: its context and how many trailing tokens query.
struct Seq {
  int ctx, queries;
};

struct Case {
  Shape shape;
  int block_size = 16;
  std::vector<Seq> seqs;
  DType kv_type = DType::kF32;
};

// The value a cache of `type` holds for x.
float through(DType type, float x) {
  if (type == DType::kF16) return fp16_to_f32(f32_to_fp16(x));
  if (type == DType::kBF16) return bf16_to_f32(f32_to_bf16(x));
  return x;
}

void store(DType type, const float* src, int n, uint8_t* dst) {
  if (type == DType::kF32) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
    return;
  }
  auto* h = reinterpret_cast<uint16_t*>(dst);
  for (int i = 0; i < n; ++i)
    h[i] = type == DType::kF16 ? f32_to_fp16(src[i]) : f32_to_bf16(src[i]);
}

// Random K/V per sequence position (independent of the block layout), laid
// into a cache through per-sequence block tables from a shuffled pool.
struct Fixture {
  Case c;
  std::vector<std::vector<float>> k, v;  // [seq][pos * kv_heads * hd]
  std::vector<std::vector<float>> q;     // [seq][query * heads * hd]

  Fixture(Case cs, uint32_t seed) : c(std::move(cs)) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int kvw = c.shape.kv_heads * c.shape.head_dim, qw = c.shape.heads * c.shape.head_dim;
    for (const Seq& s : c.seqs) {
      k.emplace_back(size_t(s.ctx) * kvw);
      v.emplace_back(size_t(s.ctx) * kvw);
      q.emplace_back(size_t(s.queries) * qw);
      // The cache's type rounds K and V; the reference sees the same values.
      for (float& x : k.back()) x = through(c.kv_type, nd(rng));
      for (float& x : v.back()) x = through(c.kv_type, nd(rng));
      for (float& x : q.back()) x = nd(rng) * 0.7f;
    }
  }

  // Runs the batch of sequences `which` with a block layout from layout_seed;
  // returns the outputs, per chosen sequence, [query][heads * hd].
  std::vector<std::vector<float>> run(Backend& be, const std::vector<int>& which,
                                      uint32_t layout_seed) const {
    const int bs = c.block_size, hd = c.shape.head_dim, kvh = c.shape.kv_heads;
    const int qw = c.shape.heads * hd;
    int max_blocks = 0, total_blocks = 0, T = 0;
    for (int s : which) {
      const int nb = (c.seqs[s].ctx + bs - 1) / bs;
      max_blocks = std::max(max_blocks, nb);
      total_blocks += nb;
      T += c.seqs[s].queries;
    }
    std::vector<int32_t> pool(total_blocks + 3);
    std::iota(pool.begin(), pool.end(), 0);
    std::shuffle(pool.begin(), pool.end(), std::mt19937(layout_seed));
    KvLayer cache{Tensor::empty(c.kv_type, {int64_t(pool.size()), kvh, bs, hd}),
                  Tensor::empty(c.kv_type, {int64_t(pool.size()), kvh, bs, hd})};
    // Unused slots hold NaN: reading one would show in the output.
    std::fill_n(static_cast<uint8_t*>(cache.k.data()), cache.k.nbytes(), 0xFF);
    std::fill_n(static_cast<uint8_t*>(cache.v.data()), cache.v.nbytes(), 0xFF);
    const size_t elem = c.kv_type == DType::kF32 ? 4 : 2;
    std::vector<int32_t> tables(which.size() * max_blocks, 0), ctx_lens, qstart{0};
    Tensor q = Tensor::empty(DType::kF32, {T, qw});
    int used = 0, row = 0;
    for (size_t i = 0; i < which.size(); ++i) {
      const Seq& s = c.seqs[which[i]];
      const int nb = (s.ctx + bs - 1) / bs;
      for (int b = 0; b < nb; ++b) tables[i * max_blocks + b] = pool[used++];
      for (int pos = 0; pos < s.ctx; ++pos)
        for (int h = 0; h < kvh; ++h) {
          const size_t dst =
              ((size_t(tables[i * max_blocks + pos / bs]) * kvh + h) * bs + pos % bs) * hd;
          const size_t src = (size_t(pos) * kvh + h) * hd;
          store(c.kv_type, k[which[i]].data() + src, hd,
                static_cast<uint8_t*>(cache.k.data()) + dst * elem);
          store(c.kv_type, v[which[i]].data() + src, hd,
                static_cast<uint8_t*>(cache.v.data()) + dst * elem);
        }
      for (int r = 0; r < s.queries; ++r, ++row)
        std::copy_n(this->q[which[i]].data() + size_t(r) * qw, qw,
                    q.data_as<float>() + size_t(row) * qw);
      ctx_lens.push_back(s.ctx);
      qstart.push_back(row);
    }
    AttentionMeta meta;
    meta.num_seqs = int(which.size());
    meta.num_tokens = T;
    meta.query_start = qstart.data();
    meta.context_lens = ctx_lens.data();
    meta.block_tables = tables.data();
    meta.max_blocks_per_seq = max_blocks;
    Tensor out = Tensor::empty(DType::kF32, {T, qw});
    std::fill_n(out.data_as<float>(), out.numel(), NAN);
    be.paged_attention(q, cache, meta, c.shape.heads, kvh, 1.0f / std::sqrt(float(hd)), out);
    std::vector<std::vector<float>> result;
    row = 0;
    for (int s : which) {
      const int n = c.seqs[s].queries;
      result.emplace_back(out.data_as<float>() + size_t(row) * qw,
                          out.data_as<float>() + size_t(row + n) * qw);
      row += n;
    }
    return result;
  }

  // float64 causal attention for sequence s: [query][heads * hd].
  std::vector<double> reference(int s) const {
    const Seq& sq = c.seqs[s];
    const int hd = c.shape.head_dim, H = c.shape.heads, kvh = c.shape.kv_heads;
    const int group = H / kvh;
    std::vector<double> out(size_t(sq.queries) * H * hd, 0.0);
    for (int r = 0; r < sq.queries; ++r) {
      const int pos = sq.ctx - sq.queries + r;
      for (int h = 0; h < H; ++h) {
        const float* qv = q[s].data() + (size_t(r) * H + h) * hd;
        std::vector<double> sc(pos + 1);
        double mx = -INFINITY;
        for (int j = 0; j <= pos; ++j) {
          const float* kv = k[s].data() + (size_t(j) * kvh + h / group) * hd;
          double d = 0;
          for (int i = 0; i < hd; ++i) d += double(qv[i]) * kv[i];
          sc[j] = d / std::sqrt(double(hd));
          mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (double& x : sc) sum += (x = std::exp(x - mx));
        for (int j = 0; j <= pos; ++j) {
          const float* vv = v[s].data() + (size_t(j) * kvh + h / group) * hd;
          for (int i = 0; i < hd; ++i) out[(size_t(r) * H + h) * hd + i] += sc[j] / sum * vv[i];
        }
      }
    }
    return out;
  }
};

using Param = std::tuple<std::string, int, DType>;  // isa, shape index, KV type

const Shape kShapes[] = {{9, 3, 64}, {8, 2, 128}, {4, 4, 32}, {12, 2, 64}};

class CpuAttention : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    scope_ = std::make_unique<IsaScope>(std::get<0>(GetParam()));
    if (!scope_->ok())
      GTEST_SKIP() << "hardware: " << std::get<0>(GetParam()) << " not on this CPU";
  }
  Shape shape() const { return kShapes[std::get<1>(GetParam())]; }
  DType kv_type() const { return std::get<2>(GetParam()); }
  std::unique_ptr<IsaScope> scope_;
};

TEST_P(CpuAttention, MatchesFloat64Reference) {
  // A long prefill, a prefill chunk on top of a context, decodes of
  // different lengths (block boundaries, one key, not a multiple of 16).
  const Fixture f(
      Case{shape(), 16, {{70, 70}, {300, 37}, {1, 1}, {16, 1}, {17, 1}, {513, 1}}, kv_type()},
      11 + std::get<1>(GetParam()));
  auto be = make_cpu_backend();
  std::vector<int> all(f.c.seqs.size());
  std::iota(all.begin(), all.end(), 0);
  const auto out = f.run(*be, all, 1);
  for (size_t s = 0; s < all.size(); ++s) {
    const auto ref = f.reference(int(s));
    double err = 0, norm = 0, worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      ASSERT_TRUE(std::isfinite(out[s][i])) << "seq " << s << " element " << i;
      err += (out[s][i] - ref[i]) * (out[s][i] - ref[i]);
      norm += ref[i] * ref[i];
      worst = std::max(worst, std::abs(out[s][i] - ref[i]));
    }
    EXPECT_LT(std::sqrt(err / norm), 2e-6) << "seq " << s;
    EXPECT_LT(worst, 1e-5) << "seq " << s;
  }
}

TEST_P(CpuAttention, SameBitsAloneOrBatchedAnyBlockLayout) {
  const Fixture f(Case{shape(), 16, {{200, 40}, {33, 1}, {150, 150}, {90, 1}}, kv_type()}, 5);
  auto be = make_cpu_backend();
  const auto batched = f.run(*be, {0, 1, 2, 3}, 3);
  for (int s = 0; s < 4; ++s) {
    const auto alone = f.run(*be, {s}, 100 + s);
    ASSERT_EQ(alone[0].size(), batched[s].size());
    EXPECT_EQ(0, std::memcmp(alone[0].data(), batched[s].data(), alone[0].size() * sizeof(float)))
        << "seq " << s;
  }
  // A prompt's last query computed as a decode step of the same context.
  Fixture g(Case{shape(), 16, {{150, 150}, {150, 1}}, kv_type()}, 5);
  g.k[1] = g.k[0];
  g.v[1] = g.v[0];
  const size_t qw = g.q[1].size();
  std::copy_n(g.q[0].data() + 149 * qw, qw, g.q[1].data());
  const auto whole = g.run(*be, {0}, 7);
  const auto last = g.run(*be, {1}, 8);
  EXPECT_EQ(0, std::memcmp(whole[0].data() + 149 * qw, last[0].data(), qw * sizeof(float)));
}

std::vector<Param> params() {
  std::vector<Param> v;
  for (const char* isa : {"portable", "avx2", "avx512-vnni"})
    for (int s = 0; s < int(std::size(kShapes)); ++s)
      for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) v.emplace_back(isa, s, t);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Isas, CpuAttention, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           std::string isa = std::get<0>(info.param);
                           std::replace(isa.begin(), isa.end(), '-', '_');
                           const Shape s = kShapes[std::get<1>(info.param)];
                           return isa + "_h" + std::to_string(s.heads) + "_kv" +
                                  std::to_string(s.kv_heads) + "_d" + std::to_string(s.head_dim) +
                                  "_" + std::string(dtype_name(std::get<2>(info.param)));
                         });

}  // namespace
}  // namespace tessera
