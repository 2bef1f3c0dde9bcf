// Paged attention against a float64 reference: decode batches (split and
// unsplit), whole prompts, chunked prefill and mixed batches, GQA ratios
// 1/3/4/8/32, head_dim 64 and 128, block size 16, contexts 1..6k, shuffled
// block tables whose unused entries point nowhere; bf16 and fp16 q, KV cache
// and output.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "cuda_test_util.h"
#include "tessera/core/error.h"
#include "tessera/core/parallel.h"

namespace tessera::cuda_test {
namespace {

struct Heads {
  int q, kv, dim;
};
struct Seq {
  int ctx, q_len;
};

const std::vector<Heads>& head_configs() {
  static const std::vector<Heads> all = {{8, 8, 64},  {12, 4, 128}, {32, 8, 128},
                                         {32, 4, 64}, {16, 2, 128}, {32, 1, 128}};
  return all;
}

int cap(int ctx) { return quick() ? std::min(ctx, 300) : ctx; }

void run_case(DType dt, const Heads& hc, std::vector<Seq> seqs, float q_scale,
              int forced_partition = 0) {
  const uint32_t seed = fresh_seed();
  std::ostringstream desc;
  for (auto& s : seqs) {
    s.ctx = cap(s.ctx);
    s.q_len = std::min(s.q_len, s.ctx);
    desc << " " << s.ctx << "/" << s.q_len;
  }
  SCOPED_TRACE(testing::Message() << dtype_name(dt) << " Hq=" << hc.q << " Hkv=" << hc.kv
                                  << " D=" << hc.dim << " partition=" << forced_partition
                                  << " seqs(ctx/q):" << desc.str() << " seed " << seed);
  std::mt19937 rng(seed);
  const int S = int(seqs.size()), D = hc.dim, bs = 16, group = hc.q / hc.kv;
  std::vector<int32_t> query_start = {0}, ctx_lens;
  int max_blocks = 1, total_blocks = 0;
  for (const auto& s : seqs) {
    query_start.push_back(query_start.back() + s.q_len);
    ctx_lens.push_back(s.ctx);
    const int nb = (s.ctx + bs - 1) / bs;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
  }
  const int T = query_start.back();
  const int num_blocks = total_blocks + 5;
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  // Unused table entries hold a block id far outside the cache: reading one
  // faults (and compute-sanitizer names it).
  std::vector<int32_t> tables(size_t(S) * max_blocks, 1 << 28);
  int next = 0;
  for (int s = 0; s < S; ++s)
    for (int b = 0; b < (seqs[s].ctx + bs - 1) / bs; ++b)
      tables[size_t(s) * max_blocks + b] = perm[next++];

  KvCacheShape shape;
  shape.num_layers = 1;
  shape.num_blocks = num_blocks;
  shape.block_size = bs;
  shape.num_kv_heads = hc.kv;
  shape.head_dim = D;
  shape.dtype = dt;
  std::vector<KvLayer> cache = backend().alloc_kv_cache(shape);
  cuda::fill_uniform(backend(), cache[0].k, rng(), 1.0f);
  cuda::fill_uniform(backend(), cache[0].v, rng(), 1.0f);
  Tensor qkv = backend().alloc(dt, {T, int64_t(hc.q + 2 * hc.kv) * D});
  cuda::fill_uniform(backend(), qkv, rng(), q_scale);
  Tensor q = qkv.slice_cols(0, int64_t(hc.q) * D);
  Tensor out = backend().alloc(dt, {T, int64_t(hc.q) * D});
  poison(out);

  Tensor d_qs = upload_i32(query_start), d_ctx = upload_i32(ctx_lens), d_tab = upload_i32(tables);
  AttentionMeta meta;
  meta.num_seqs = S;
  meta.num_tokens = T;
  meta.query_start = d_qs.data_as<int32_t>();
  meta.context_lens = d_ctx.data_as<int32_t>();
  meta.block_tables = d_tab.data_as<int32_t>();
  meta.max_blocks_per_seq = max_blocks;
  const float scale = 1.0f / std::sqrt(float(D));
  backend().force_attention_partition(forced_partition);
  backend().paged_attention(q, cache[0], meta, hc.q, hc.kv, scale, out);
  backend().force_attention_partition(0);
  sync_and_check();

  const auto qh = download(q), kc = download(cache[0].k), vc = download(cache[0].v);
  const auto got = download(out);
  std::vector<double> ref(got.size());
  std::vector<int> seq_of(T);
  for (int s = 0; s < S; ++s)
    for (int t = query_start[s]; t < query_start[s + 1]; ++t) seq_of[t] = s;
  parallel_for(int64_t(T) * hc.q, 4, [&](int64_t b, int64_t e) {
    std::vector<double> sc;
    for (int64_t task = b; task < e; ++task) {
      const int t = int(task / hc.q), h = int(task % hc.q), s = seq_of[t], g = h / group;
      const int pos = seqs[s].ctx - (query_start[s + 1] - t);
      sc.assign(size_t(pos) + 1, 0.0);
      double mx = -1e300;
      auto row = [&](const std::vector<float>& c, int j) {
        const int blk = tables[size_t(s) * max_blocks + j / bs];
        return &c[((size_t(blk) * hc.kv + g) * bs + j % bs) * D];
      };
      for (int j = 0; j <= pos; ++j) {
        const float* kr = row(kc, j);
        double dot = 0;
        for (int d = 0; d < D; ++d)
          dot += double(qh[size_t(t) * hc.q * D + size_t(h) * D + d]) * kr[d];
        sc[j] = dot * scale;
        mx = std::max(mx, sc[j]);
      }
      double sum = 0;
      for (auto& x : sc) sum += (x = std::exp(x - mx));
      double* o = &ref[size_t(t) * hc.q * D + size_t(h) * D];
      for (int d = 0; d < D; ++d) o[d] = 0;
      for (int j = 0; j <= pos; ++j) {
        const float* vr = row(vc, j);
        for (int d = 0; d < D; ++d) o[d] += sc[j] / sum * vr[d];
      }
    }
  });
  EXPECT_EQ(count_nonfinite(got), 0u);
  EXPECT_LE(rel_l2(got, ref), tol(dt, 1e-2));
  // Per (token, head) too: one wrong row must not hide in a large batch.
  double worst = 0;
  int worst_t = -1;
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < hc.q; ++h) {
      const size_t off = size_t(t) * hc.q * D + size_t(h) * D;
      const std::vector<float> g_row(got.begin() + off, got.begin() + off + D);
      const std::vector<double> r_row(ref.begin() + off, ref.begin() + off + D);
      const double err = rel_l2(g_row, r_row);
      if (err > worst) worst = err, worst_t = t;
    }
  EXPECT_LE(worst, tol(dt, 3e-2)) << "worst row at token " << worst_t;
}

class CudaAttention : public testing::TestWithParam<DType> {};
INSTANTIATE_TEST_SUITE_P(, CudaAttention, kElemTypes, elem_name);

TEST_P(CudaAttention, DecodeBatch) {
  for (const auto& hc : head_configs()) {
    std::mt19937 rng(fresh_seed());
    std::vector<Seq> seqs = {{1, 1}, {16, 1}, {17, 1}, {2049, 1}, {100, 1}};
    for (int i = 0; i < 32; ++i) seqs.push_back({int(1 + rng() % 2100), 1});
    run_case(GetParam(), hc, seqs, 1.0f);
  }
}

TEST_P(CudaAttention, DecodeSplitsOverLongContexts) {
  for (const auto& hc : head_configs()) {
    run_case(GetParam(), hc, {{2500, 1}}, 3.0f);                         // automatic split
    run_case(GetParam(), hc, {{2500, 1}, {31, 1}, {640, 1}}, 3.0f, 96);  // forced splits
    run_case(GetParam(), hc, {{1000, 1}, {33, 1}}, 1.0f, 32);            // many short splits
    run_case(GetParam(), hc, {{6000, 1}, {900, 1}}, 2.0f, 32);  // more than 128 splits to merge
  }
}

TEST_P(CudaAttention, Prefill) {
  for (const auto& hc : head_configs()) {
    run_case(GetParam(), hc, {{300, 300}}, 2.0f);
    run_case(GetParam(), hc, {{77, 77}, {2, 2}, {129, 129}}, 4.0f);
  }
  run_case(GetParam(), {32, 8, 128}, {{1030, 1030}}, 2.0f);
}

TEST_P(CudaAttention, ChunkedPrefill) {
  for (const auto& hc : head_configs()) {
    run_case(GetParam(), hc, {{2100, 64}}, 2.0f);
    run_case(GetParam(), hc, {{513, 200}, {40, 39}, {17, 16}}, 2.0f);
  }
}

TEST_P(CudaAttention, MixedBatch) {
  for (const auto& hc : head_configs()) {
    std::mt19937 rng(fresh_seed());
    std::vector<Seq> seqs;
    for (int i = 0; i < 6; ++i) seqs.push_back({int(1 + rng() % 1500), 1});
    seqs.push_back({150, 150});
    seqs.push_back({900, 100});
    seqs.push_back({1, 1});
    seqs.push_back({2200, 1});
    seqs.push_back({64, 33});
    std::shuffle(seqs.begin(), seqs.end(), rng);
    run_case(GetParam(), hc, seqs, 2.0f);
    run_case(GetParam(), hc, seqs, 2.0f, 64);
  }
}

// q, the KV cache and the output share one element type.
TEST(CudaAttentionTypes, CacheOfAnotherTypeIsRefused) {
  KvCacheShape shape;
  shape.num_layers = 1;
  shape.num_blocks = 2;
  shape.block_size = 16;
  shape.num_kv_heads = 2;
  shape.head_dim = 64;
  shape.dtype = DType::kBF16;
  std::vector<KvLayer> cache = backend().alloc_kv_cache(shape);
  Tensor q = backend().alloc(DType::kF16, {1, 4 * 64}),
         out = backend().alloc(DType::kF16, {1, 4 * 64});
  Tensor d_qs = upload_i32({0, 1}), d_ctx = upload_i32({1}), d_tab = upload_i32({0});
  AttentionMeta meta;
  meta.num_seqs = 1;
  meta.num_tokens = 1;
  meta.query_start = d_qs.data_as<int32_t>();
  meta.context_lens = d_ctx.data_as<int32_t>();
  meta.block_tables = d_tab.data_as<int32_t>();
  meta.max_blocks_per_seq = 1;
  EXPECT_THROW(backend().paged_attention(q, cache[0], meta, 4, 2, 0.125f, out), Error);
}

}  // namespace
}  // namespace tessera::cuda_test
