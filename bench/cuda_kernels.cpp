// CUDA kernel benchmark. Measures the two ceilings first (device-to-device
// copy bandwidth, counting bytes read plus written; an 8192³ 16-bit GEMM),
// then times the backend's ops at Llama-3-8B shapes against them: GEMMs at
// M = 1, 16, 128, 2048 (cuBLASLt and, for M <= 8, the GEMV kernel), decode
// attention over batch sizes and context lengths (bound by reading the KV
// cache), prefill attention (bound by the tensor cores), and the fused
// elementwise kernels. Every time is the median of CUDA-graph replays
// timed with events, over inputs rotated to exceed the L2 cache, on random
// data, in one element type (--dtype: bf16, the default, or fp16) for
// activations, weights and the KV cache. Prints one table (last); --json
// FILE also writes the rows.
//   bench_cuda_kernels [--quick] [--dtype bf16|fp16] [--json FILE]
//                      [--filter gemm|decode|prefill|elementwise]
#include <cstdio>

#ifndef TESSERA_WITH_CUDA
int main() {
  std::puts("bench_cuda_kernels: this tessera was built without CUDA");
  return 0;
}
#else

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tessera/backend/backend.h"
#include "tessera/backend/cuda.h"
#include "tessera/core/error.h"

namespace tessera {
namespace {

#define BENCH_CHECK(call)                                                                          \
  do {                                                                                             \
    const cudaError_t e_ = (call);                                                                 \
    if (e_ != cudaSuccess)                                                                         \
      fail(ErrorKind::kInternal, "{} failed: {} ({}:{})", #call, cudaGetErrorString(e_), __FILE__, \
           __LINE__);                                                                              \
  } while (0)

struct Row {
  std::string kernel, shape;
  double us = 0;
  double tflops = 0;    // achieved, 0 when not meaningful
  double gbps = 0;      // achieved, 0 when not meaningful
  double roofline = 0;  // fraction of the roofline time
};

class Bench {
 public:
  Bench(bool quick, std::string filter, DType dtype)
      : quick_(quick),
        filter_(std::move(filter)),
        dtype_(dtype),
        backend_(make_cuda_backend(0, dtype)) {
    stream_ = static_cast<cudaStream_t>(cuda::stream(*backend_));
    info_ = cuda::device_info(*backend_);
    BENCH_CHECK(cudaEventCreate(&start_));
    BENCH_CHECK(cudaEventCreate(&stop_));
  }

  void run();
  void print(FILE* f) const;
  void write_json(const std::string& path) const;

 private:
  // Median milliseconds of one call of f(i), from replays of a graph of
  // `inner` calls (i = 0..inner-1 picks the rotated inputs).
  double time_ms(const std::function<void(int)>& f, int inner);
  Tensor random(DType dtype, std::vector<int64_t> shape, float scale = 1.0f) {
    Tensor t = backend_->alloc(dtype, std::move(shape));
    cuda::fill_uniform(*backend_, t, seed_++, scale);
    return t;
  }
  Tensor ints(const std::vector<int32_t>& v) {
    Tensor t = backend_->alloc(DType::kI32, {int64_t(v.size())});
    backend_->upload_i32(v.data(), int64_t(v.size()), t);
    return t;
  }
  // How many copies of a `bytes`-sized input keep the working set over 3x L2.
  int copies_for(double bytes) const {
    return std::clamp(int(std::ceil(3.0 * double(info_.l2_bytes) / bytes)), 1, 64);
  }
  void add(Row r) { rows_.push_back(std::move(r)); }
  const char* type_name() const { return dtype_ == DType::kF16 ? "fp16" : "bf16"; }

  void measure_ceilings();
  void bench_gemm();
  void bench_decode_attention();
  void bench_prefill_attention();
  void bench_elementwise();

  bool quick_;
  std::string filter_;  // run only the sections whose name contains it
  DType dtype_;         // of activations, weights and the KV cache
  std::unique_ptr<Backend> backend_;
  cudaStream_t stream_ = nullptr;
  cuda::DeviceInfo info_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  uint64_t seed_ = 1;
  double bw_ = 0;     // bytes/s
  double flops_ = 0;  // 16-bit GEMM flop/s
  std::vector<Row> rows_;
};

double Bench::time_ms(const std::function<void(int)>& f, int inner) {
  f(0);  // warm-up: algorithm choice, workspaces
  BENCH_CHECK(cudaStreamSynchronize(stream_));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  BENCH_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < inner; ++i) f(i);
  BENCH_CHECK(cudaStreamEndCapture(stream_, &graph));
  BENCH_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  BENCH_CHECK(cudaGraphLaunch(exec, stream_));
  BENCH_CHECK(cudaStreamSynchronize(stream_));
  const int reps = quick_ ? 5 : 15;
  std::vector<float> ms(reps);
  for (int r = 0; r < reps; ++r) {
    BENCH_CHECK(cudaEventRecord(start_, stream_));
    BENCH_CHECK(cudaGraphLaunch(exec, stream_));
    BENCH_CHECK(cudaEventRecord(stop_, stream_));
    BENCH_CHECK(cudaEventSynchronize(stop_));
    BENCH_CHECK(cudaEventElapsedTime(&ms[r], start_, stop_));
  }
  BENCH_CHECK(cudaGraphExecDestroy(exec));
  BENCH_CHECK(cudaGraphDestroy(graph));
  std::sort(ms.begin(), ms.end());
  return double(ms[reps / 2]) / inner;
}

void Bench::measure_ceilings() {
  // Bytes read plus bytes written, by cudaMemcpy and by a copy kernel; the
  // faster of the two is the bandwidth ceiling.
  const size_t bytes = size_t(1) << 30;
  Tensor a = random(dtype_, {int64_t(bytes / 2)});
  Tensor b = backend_->alloc(dtype_, {int64_t(bytes / 2)});
  std::vector<float> ms(10);
  for (float& m : ms) {
    BENCH_CHECK(cudaEventRecord(start_, stream_));
    BENCH_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, stream_));
    BENCH_CHECK(cudaEventRecord(stop_, stream_));
    BENCH_CHECK(cudaEventSynchronize(stop_));
    BENCH_CHECK(cudaEventElapsedTime(&m, start_, stop_));
  }
  std::sort(ms.begin(), ms.end());
  const double memcpy_bw = 2.0 * double(bytes) / (ms[ms.size() / 2] * 1e-3);
  add({"ceiling: cudaMemcpy D2D", "1 GiB", ms[ms.size() / 2] * 1e3, 0, memcpy_bw / 1e9, 0});
  const double kernel_ms =
      time_ms([&](int) { cuda::copy_device(*backend_, b.data(), a.data(), bytes); }, 2);
  const double kernel_bw = 2.0 * double(bytes) / (kernel_ms * 1e-3);
  add({"ceiling: copy kernel", "1 GiB", kernel_ms * 1e3, 0, kernel_bw / 1e9, 0});
  bw_ = std::max(memcpy_bw, kernel_bw);
  for (Row& r : rows_) r.roofline = r.gbps * 1e9 / bw_;

  const int64_t n = 8192;
  Tensor x = random(dtype_, {n, n}), w = random(dtype_, {n, n});
  Tensor out = backend_->alloc(dtype_, {n, n});
  const double gemm_ms = time_ms([&](int) { backend_->matmul(x, w, out); }, 3);
  flops_ = 2.0 * double(n) * n * n / (gemm_ms * 1e-3);
  add({std::string("ceiling: ") + type_name() + " GEMM", "8192^3", gemm_ms * 1e3, flops_ / 1e12, 0,
       1.0});
}

void Bench::bench_gemm() {
  struct Shape {
    const char* name;
    int64_t n, k;
    bool out_f32;
  };
  // Llama-3-8B: hidden 4096, 32 q / 8 kv heads of 128, MLP 14336, vocab 128256.
  const std::vector<Shape> shapes = {{"qkv", 6144, 4096, false},
                                     {"o_proj", 4096, 4096, false},
                                     {"gate_up", 28672, 4096, false},
                                     {"down", 4096, 14336, false},
                                     {"lm_head", 128256, 4096, true}};
  for (int64_t m : {1, 16, 128, 2048}) {
    double layer_us = 0, layer_bytes = 0;
    for (const Shape& s : shapes) {
      const double w_bytes = double(s.n) * s.k * 2;
      const int copies = copies_for(w_bytes);
      std::vector<Tensor> ws;
      for (int c = 0; c < copies; ++c) ws.push_back(random(dtype_, {s.n, s.k}, 0.05f));
      Tensor x = random(dtype_, {m, s.k});
      Tensor out = backend_->alloc(s.out_f32 ? DType::kF32 : dtype_, {m, s.n});
      const double flops = 2.0 * double(m) * s.n * s.k;
      const double bytes = w_bytes + double(m) * s.k * 2 + double(m) * s.n * (s.out_f32 ? 4 : 2);
      const double floor_s = std::max(flops / flops_, bytes / bw_);
      auto record = [&](const char* impl, bool gemv) {
        cuda::set_gemv_enabled(*backend_, gemv);
        const double ms =
            time_ms([&](int i) { backend_->matmul(x, ws[size_t(i) % ws.size()], out); }, copies);
        cuda::set_gemv_enabled(*backend_, true);
        const std::string shape = std::to_string(m) + "x" + std::to_string(s.n) + "x" +
                                  std::to_string(s.k) + (s.out_f32 ? " f32" : "");
        add({std::string("gemm ") + s.name + " " + impl, shape, ms * 1e3,
             flops / (ms * 1e-3) / 1e12, bytes / (ms * 1e-3) / 1e9, floor_s / (ms * 1e-3)});
        return ms;
      };
      double best = record("cublaslt", false);
      if (m <= 8) best = std::min(best, record("gemv", true));
      if (std::string(s.name) != "lm_head") {
        layer_us += best * 1e3;
        layer_bytes += bytes;
      }
    }
    // One transformer layer's four GEMMs at this M, best implementation each.
    const double layer_flops =
        2.0 * double(m) * (6144.0 * 4096 + 4096.0 * 4096 + 28672.0 * 4096 + 4096.0 * 14336);
    const double floor_s = std::max(layer_flops / flops_, layer_bytes / bw_);
    add({"gemm layer total (best)", "M=" + std::to_string(m), layer_us,
         layer_flops / (layer_us * 1e-6) / 1e12, layer_bytes / (layer_us * 1e-6) / 1e9,
         floor_s / (layer_us * 1e-6)});
  }
}

void Bench::bench_decode_attention() {
  const int hq = 32, hkv = 8, d = 128, bs = 16;
  std::vector<int> batches = {1, 8, 32, 128}, contexts = {512, 2048, 8192};
  // Quick runs (and profiling: the first launch is the first shape) start big.
  if (quick_) batches = {32, 1}, contexts = {4096, 512};
  for (int batch : batches)
    for (int ctx : contexts) {
      const int blocks_per_seq = (ctx + bs - 1) / bs;
      const double kv_bytes = double(batch) * ctx * hkv * d * 2 * 2;
      const int copies = copies_for(kv_bytes);
      KvCacheShape shape;
      shape.num_layers = copies;
      shape.num_blocks = batch * blocks_per_seq;
      shape.block_size = bs;
      shape.num_kv_heads = hkv;
      shape.head_dim = d;
      shape.dtype = dtype_;
      std::vector<KvLayer> cache = backend_->alloc_kv_cache(shape);
      for (auto& layer : cache) {
        cuda::fill_uniform(*backend_, layer.k, seed_++, 1.0f);
        cuda::fill_uniform(*backend_, layer.v, seed_++, 1.0f);
      }
      std::vector<int32_t> table(size_t(batch) * blocks_per_seq);
      std::iota(table.begin(), table.end(), 0);
      std::shuffle(table.begin(), table.end(), std::mt19937(7));
      std::vector<int32_t> qs(size_t(batch) + 1), lens(size_t(batch), ctx);
      std::iota(qs.begin(), qs.end(), 0);
      Tensor d_table = ints(table), d_qs = ints(qs), d_lens = ints(lens);
      Tensor q = random(dtype_, {batch, hq * d}), out = backend_->alloc(dtype_, {batch, hq * d});
      AttentionMeta meta;
      meta.num_seqs = batch;
      meta.num_tokens = batch;
      meta.query_start = d_qs.data_as<int32_t>();
      meta.context_lens = d_lens.data_as<int32_t>();
      meta.block_tables = d_table.data_as<int32_t>();
      meta.max_blocks_per_seq = blocks_per_seq;
      const double ms = time_ms(
          [&](int i) {
            backend_->paged_attention(q, cache[size_t(i) % cache.size()], meta, hq, hkv, 0.088f,
                                      out);
          },
          copies);
      add({"decode attention", "B=" + std::to_string(batch) + " ctx=" + std::to_string(ctx),
           ms * 1e3, 0, kv_bytes / (ms * 1e-3) / 1e9, kv_bytes / bw_ / (ms * 1e-3)});
    }
}

void Bench::bench_prefill_attention() {
  const int hq = 32, hkv = 8, d = 128, bs = 16;
  struct Case {
    int seqs, ctx, q_len;
  };
  for (const Case& c :
       {Case{1, 2048, 2048}, Case{4, 512, 512}, Case{1, 4096, 512}, Case{1, 8192, 8192}}) {
    if (quick_ && c.ctx > 4096) continue;
    const int blocks_per_seq = (c.ctx + bs - 1) / bs;
    KvCacheShape shape;
    shape.num_layers = 1;
    shape.num_blocks = c.seqs * blocks_per_seq;
    shape.block_size = bs;
    shape.num_kv_heads = hkv;
    shape.head_dim = d;
    shape.dtype = dtype_;
    std::vector<KvLayer> cache = backend_->alloc_kv_cache(shape);
    cuda::fill_uniform(*backend_, cache[0].k, seed_++, 1.0f);
    cuda::fill_uniform(*backend_, cache[0].v, seed_++, 1.0f);
    std::vector<int32_t> table(size_t(c.seqs) * blocks_per_seq);
    std::iota(table.begin(), table.end(), 0);
    std::vector<int32_t> qs = {0}, lens(size_t(c.seqs), c.ctx);
    for (int s = 0; s < c.seqs; ++s) qs.push_back(qs.back() + c.q_len);
    const int tokens = qs.back();
    Tensor d_table = ints(table), d_qs = ints(qs), d_lens = ints(lens);
    Tensor q = random(dtype_, {tokens, hq * d}), out = backend_->alloc(dtype_, {tokens, hq * d});
    AttentionMeta meta;
    meta.num_seqs = c.seqs;
    meta.num_tokens = tokens;
    meta.query_start = d_qs.data_as<int32_t>();
    meta.context_lens = d_lens.data_as<int32_t>();
    meta.block_tables = d_table.data_as<int32_t>();
    meta.max_blocks_per_seq = blocks_per_seq;
    const double ms = time_ms(
        [&](int) { backend_->paged_attention(q, cache[0], meta, hq, hkv, 0.088f, out); }, 2);
    // Causal: query i of a chunk sees (ctx - q_len + i + 1) keys; QK and PV
    // are 2 flops per multiply-add each.
    double pairs = 0;
    for (int i = 0; i < c.q_len; ++i) pairs += c.ctx - c.q_len + i + 1;
    const double flops = 4.0 * d * hq * pairs * c.seqs;
    add({"prefill attention",
         std::to_string(c.seqs) + "x ctx=" + std::to_string(c.ctx) +
             " q=" + std::to_string(c.q_len),
         ms * 1e3, flops / (ms * 1e-3) / 1e12, 0, flops / flops_ / (ms * 1e-3)});
  }
}

void Bench::bench_elementwise() {
  const int64_t hidden = 4096, ffn = 14336, hq = 32, hkv = 8, d = 128;
  for (int64_t t : {int64_t(1), int64_t(2048)}) {
    const std::string shape = "T=" + std::to_string(t);
    {
      Tensor res = random(dtype_, {t, hidden}), x = random(dtype_, {t, hidden});
      Tensor w = random(dtype_, {hidden}), out = backend_->alloc(dtype_, {t, hidden});
      const double ms = time_ms([&](int) { backend_->add_rms_norm(res, x, w, 1e-5f, out); }, 8);
      const double bytes = double(t) * hidden * 2 * 4;  // read res, x; write res, out
      add({"add_rms_norm", shape + " d=4096", ms * 1e3, 0, bytes / (ms * 1e-3) / 1e9,
           bytes / bw_ / (ms * 1e-3)});
    }
    {
      Tensor gu = random(dtype_, {t, 2 * ffn}, 3.0f);
      Tensor out = backend_->alloc(dtype_, {t, ffn});
      Tensor g = gu.slice_cols(0, ffn), u = gu.slice_cols(ffn, 2 * ffn);
      const double ms = time_ms([&](int) { backend_->silu_mul(g, u, out); }, 8);
      const double bytes = double(t) * ffn * 2 * 3;
      add({"silu_mul", shape + " F=14336", ms * 1e3, 0, bytes / (ms * 1e-3) / 1e9,
           bytes / bw_ / (ms * 1e-3)});
    }
    {
      const int64_t width = (hq + 2 * hkv) * d;
      Tensor qkv = random(dtype_, {t, width}, 2.0f);
      Tensor q = qkv.slice_cols(0, hq * d), k = qkv.slice_cols(hq * d, (hq + hkv) * d);
      Tensor v = qkv.slice_cols((hq + hkv) * d, width);
      const int bs = 16;
      KvCacheShape shape_kv;
      shape_kv.num_layers = 1;
      shape_kv.num_blocks = (t + bs - 1) / bs;
      shape_kv.block_size = bs;
      shape_kv.num_kv_heads = int(hkv);
      shape_kv.head_dim = int(d);
      shape_kv.dtype = dtype_;
      std::vector<KvLayer> cache = backend_->alloc_kv_cache(shape_kv);
      std::vector<int32_t> pos(static_cast<size_t>(t)), slots(static_cast<size_t>(t));
      std::iota(pos.begin(), pos.end(), 0);
      std::iota(slots.begin(), slots.end(), 0);
      Tensor d_pos = ints(pos), d_slots = ints(slots);
      AttentionMeta meta;
      meta.num_tokens = int(t);
      meta.slot_mapping = d_slots.data_as<int32_t>();
      meta.positions = d_pos.data_as<int32_t>();
      RopeParams p;
      p.head_dim = p.rotary_dim = int(d);
      p.theta = 500000.0f;
      p.scaling = RopeParams::Scaling::kLlama3;
      p.factor = 8.0f;
      const double ms =
          time_ms([&](int) { backend_->rope_write_kv(q, k, v, d_pos, p, meta, cache[0]); }, 8);
      // q, k read and written; v read; k, v written to the cache.
      const double bytes = double(t) * d * 2 * (2 * hq + 2 * hkv + hkv + 2 * hkv);
      add({"rope_write_kv", shape + " 32/8x128", ms * 1e3, 0, bytes / (ms * 1e-3) / 1e9,
           bytes / bw_ / (ms * 1e-3)});
    }
  }
}

void Bench::run() {
  measure_ceilings();
  auto want = [&](const char* section) {
    return filter_.empty() || std::string(section).find(filter_) != std::string::npos;
  };
  if (want("gemm")) bench_gemm();
  if (want("decode")) bench_decode_attention();
  if (want("prefill")) bench_prefill_attention();
  if (want("elementwise")) bench_elementwise();
}

void Bench::print(FILE* f) const {
  std::fprintf(f, "\n%s (%d SMs, %.0f MB L2), %s, %s\n", info_.name.c_str(), info_.sm_count,
               double(info_.l2_bytes) / 1e6, type_name(), quick_ ? "quick" : "full");
  std::fprintf(f, "ceilings: copy %.0f GB/s, %s GEMM %.0f TFLOP/s\n", bw_ / 1e9, type_name(),
               flops_ / 1e12);
  std::fprintf(f, "%-30s %-26s %10s %9s %9s %9s\n", "kernel", "shape", "time us", "TFLOP/s", "GB/s",
               "roofline");
  for (const Row& r : rows_) {
    std::fprintf(f, "%-30s %-26s %10.1f ", r.kernel.c_str(), r.shape.c_str(), r.us);
    if (r.tflops > 0)
      std::fprintf(f, "%9.1f ", r.tflops);
    else
      std::fprintf(f, "%9s ", "-");
    if (r.gbps > 0)
      std::fprintf(f, "%9.0f ", r.gbps);
    else
      std::fprintf(f, "%9s ", "-");
    std::fprintf(f, "%8.0f%%\n", r.roofline * 100);
  }
}

void Bench::write_json(const std::string& path) const {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) fail(ErrorKind::kNotFound, "cannot write {}", path);
  std::fprintf(
      f,
      "{\"device\": \"%s\", \"dtype\": \"%s\", \"copy_gbps\": %.1f, \"gemm_tflops\": %.1f, "
      "\"rows\": [\n",
      info_.name.c_str(), type_name(), bw_ / 1e9, flops_ / 1e12);
  for (size_t i = 0; i < rows_.size(); ++i) {
    const Row& r = rows_[i];
    std::fprintf(f,
                 "  {\"kernel\": \"%s\", \"shape\": \"%s\", \"us\": %.3f, \"tflops\": %.3f, "
                 "\"gbps\": %.1f, \"roofline\": %.4f}%s\n",
                 r.kernel.c_str(), r.shape.c_str(), r.us, r.tflops, r.gbps, r.roofline,
                 i + 1 < rows_.size() ? "," : "");
  }
  std::fprintf(f, "]}\n");
  std::fclose(f);
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  bool quick = false;
  std::string json, filter;
  tessera::DType dtype = tessera::DType::kBF16;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc)
      json = argv[++i];
    else if (std::strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
      filter = argv[++i];
    else if (std::strcmp(argv[i], "--dtype") == 0 && i + 1 < argc &&
             (std::strcmp(argv[i + 1], "bf16") == 0 || std::strcmp(argv[i + 1], "fp16") == 0))
      dtype = std::strcmp(argv[++i], "fp16") == 0 ? tessera::DType::kF16 : tessera::DType::kBF16;
    else {
      std::fprintf(stderr,
                   "usage: %s [--quick] [--dtype bf16|fp16] [--json FILE] [--filter SECTION]\n",
                   argv[0]);
      return 2;
    }
  }
  try {
    tessera::Bench bench(quick, filter, dtype);
    bench.run();
    if (!json.empty()) bench.write_json(json);
    bench.print(stdout);
  } catch (const tessera::Error& e) {
    std::fprintf(stderr, "bench_cuda_kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}

#endif  // TESSERA_WITH_CUDA
