// CPU paged attention per kernel family on SmolLM2-135M's shape (9 query
// heads, 3 KV heads, head_dim 64, blocks of 16), per layer: a decode step
// of 64 sequences at a context of 192 (the middle of a 128-in / 128-out
// run) and a 128-token prefill. Prints the best time per call of each
// family this CPU runs, for F32 and F16 caches, at the default thread count:
// once on one layer's cache (it stays in the last-level cache between
// calls) and once per layer of a model's 30 (each call reads its cache from
// memory, blocks shuffled as a running server leaves them), with the cache
// bytes that call reads per second.
//
//   bench_attention_cpu [--reps N]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "tessera/backend/backend.h"
#include "tessera/backend/quant.h"
#include "tessera/core/parallel.h"

using namespace tessera;

namespace {

constexpr int kHeads = 9, kKvHeads = 3, kHeadDim = 64, kBlock = 16;

constexpr int kModelLayers = 30;

struct Batch {
  int seqs, queries, ctx;  // every sequence: `queries` trailing tokens of `ctx`
  const char* name;
};

struct Timing {
  double seconds;  // per call (per layer)
  double bytes;    // of cache read per call
};

Timing best_seconds(Backend& be, const Batch& b, DType kv, int layers, int reps) {
  const int blocks_per_seq = (b.ctx + kBlock - 1) / kBlock, T = b.seqs * b.queries;
  const int64_t num_blocks = int64_t(b.seqs) * blocks_per_seq;
  // Small random values in whatever type the cache holds (their bytes as
  // 16-bit halves are finite too).
  std::mt19937 rng(1);
  KvCacheShape shape;  // allocated as the engine does
  shape.num_layers = layers;
  shape.num_blocks = int(num_blocks);
  shape.block_size = kBlock;
  shape.num_kv_heads = kKvHeads;
  shape.head_dim = kHeadDim;
  shape.dtype = kv;
  std::vector<KvLayer> caches = be.alloc_kv_cache(shape);
  for (KvLayer& layer : caches)
    for (Tensor* t : {&layer.k, &layer.v}) {
      auto* p = static_cast<uint16_t*>(t->data());
      for (size_t i = 0; i < t->nbytes() / 2; ++i) p[i] = uint16_t(0x3000 + rng() % 0x0800);
    }
  Tensor q = Tensor::empty(DType::kF32, {T, kHeads * kHeadDim});
  Tensor out = Tensor::empty(DType::kF32, {T, kHeads * kHeadDim});
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t i = 0; i < q.numel(); ++i) q.data_as<float>()[i] = nd(rng);
  std::vector<int32_t> tables(static_cast<size_t>(num_blocks));
  std::vector<int32_t> ctx(static_cast<size_t>(b.seqs), b.ctx), qstart;
  std::iota(tables.begin(), tables.end(), 0);
  if (layers > 1) std::shuffle(tables.begin(), tables.end(), rng);
  for (int s = 0; s <= b.seqs; ++s) qstart.push_back(s * b.queries);
  AttentionMeta meta;
  meta.num_seqs = b.seqs;
  meta.num_tokens = T;
  meta.query_start = qstart.data();
  meta.context_lens = ctx.data();
  meta.block_tables = tables.data();
  meta.max_blocks_per_seq = blocks_per_seq;
  const float scale = 1.0f / std::sqrt(float(kHeadDim));
  auto all_layers = [&] {
    for (const KvLayer& cache : caches)
      be.paged_attention(q, cache, meta, kHeads, kKvHeads, scale, out);
  };
  all_layers();  // warm-up
  double best = 1e30;
  for (int r = 0; r < (layers > 1 ? std::max(1, reps / 5) : reps); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    all_layers();
    best = std::min(best, bench::seconds_since(t0) / layers);
  }
  // Each sequence's keys and values come from memory once (a prompt's
  // queries share them through the caches).
  const double rows = double(b.seqs) * b.ctx * 2 * kKvHeads;
  return {best, rows * double(row_bytes(kv, kHeadDim))};
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 50;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--reps") reps = std::stoi(argv[i + 1]);
  std::printf("# tessera CPU paged attention, SmolLM2-135M shape, time per layer\n");
  std::printf("machine: %s, %d threads\ndate:    %s\nbest of %d calls\n\n",
              bench::cpu_name().c_str(), num_threads(), bench::today().c_str(), reps);
  const Batch batches[] = {{64, 1, 192, "decode 64 x ctx 192"}, {1, 128, 128, "prefill 128"}};
  auto be = make_cpu_backend();
  const std::string saved = cpu::kernel_isa();
  std::printf("%-12s %-20s %-4s %-6s %10s %8s\n", "isa", "batch", "kv", "cache", "us/call", "GB/s");
  for (const std::string& isa : cpu::supported_kernel_isas()) {
    cpu::set_kernel_isa(isa);
    for (const Batch& b : batches)
      for (DType kv : {DType::kF32, DType::kF16})
        for (int layers : {1, kModelLayers}) {
          const Timing t = best_seconds(*be, b, kv, layers, reps);
          std::printf("%-12s %-20s %-4s %-6s %10.1f %8.1f\n", isa.c_str(), b.name,
                      std::string(dtype_name(kv)).c_str(), layers > 1 ? "memory" : "warm",
                      t.seconds * 1e6, t.bytes / t.seconds / 1e9);
        }
  }
  cpu::set_kernel_isa(saved);
}
