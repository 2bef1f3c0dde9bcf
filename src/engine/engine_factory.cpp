// Engine::create: model, tokenizer, backend and the KV-cache budget.
#include <unistd.h>

#include <algorithm>
#include <numeric>

#include "dtype_flags.h"
#include "engine_impl.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/core/log.h"
#include "tessera/core/parallel.h"
#include "tessera/engine/load_tokenizer.h"
#include "tessera/engine/model_runner.h"
#ifdef TESSERA_WITH_CUDA
#include "tessera/backend/cuda.h"
#endif

namespace tessera {
namespace {

int64_t physical_memory() {
  return int64_t(sysconf(_SC_PHYS_PAGES)) * int64_t(sysconf(_SC_PAGE_SIZE));
}

#ifdef TESSERA_WITH_CUDA
// The KV-cache budget on a GPU, as vLLM sizes it: run one worst-case step
// (max_num_batched_tokens tokens over max_num_seqs sequences, each wanting
// logits) with a throw-away cache, read the allocator's high-water mark, and
// give the KV cache what is left of gpu_memory_utilization x device memory
// after that peak and after what others hold (CUDA context, cuBLAS,
// other processes).
int64_t gpu_kv_budget(Model& model, Backend& backend, const EngineConfig& config,
                      KvCacheShape shape) {
  const int bs = shape.block_size;
  const int64_t T = config.max_num_batched_tokens;
  const int64_t S = std::min<int64_t>(config.max_num_seqs, T);
  const int64_t first_len = T - (S - 1);  // one long prefill, the others one token each
  const int64_t first_blocks = (first_len + bs - 1) / bs;
  shape.num_blocks = int(first_blocks + S - 1);
  std::vector<int32_t> tokens(size_t(first_len), 0);
  std::vector<int32_t> table(size_t(shape.num_blocks));
  std::iota(table.begin(), table.end(), 0);
  std::vector<ScheduledSeq> seqs(static_cast<size_t>(S));
  for (int64_t s = 0; s < S; ++s) {
    ScheduledSeq& q = seqs[size_t(s)];
    const int64_t len = s == 0 ? first_len : 1;
    q.tokens = std::span<const int32_t>(tokens.data(), size_t(len));
    q.num_new = int(len);
    q.block_table = s == 0 ? std::span<const int32_t>(table.data(), size_t(first_blocks))
                           : std::span<const int32_t>(&table[size_t(first_blocks + s - 1)], 1);
    q.want_logits = true;
  }
  const size_t profile_kv = shape.bytes_per_block() * size_t(shape.num_blocks);

  cuda::release_cached_memory(backend);
  cuda::reset_peak_memory(backend);
  const cuda::MemoryStats before = cuda::memory_stats(backend);
  {
    ModelRunner runner(model, shape);
    std::vector<int> first_row;
    runner.run(seqs, first_row);
    backend.synchronize();
  }
  cuda::MemoryStats after = cuda::memory_stats(backend);
  const size_t peak = after.peak_in_use > profile_kv ? after.peak_in_use - profile_kv : 0;
  cuda::release_cached_memory(backend);
  after = cuda::memory_stats(backend);
  const size_t held_by_us = after.in_use + after.cached;
  const size_t used = after.device_total - after.device_free;
  const size_t outside = used > held_by_us ? used - held_by_us : 0;
  const double allowed = config.gpu_memory_utilization * double(after.device_total);
  const int64_t budget = int64_t(allowed) - int64_t(outside) - int64_t(peak);
  spdlog::info(
      "GPU memory: {:.2f} GiB total x {:.2f}; weights {:.2f} GiB, profile step ({} tokens, {} "
      "seqs) peak {:.2f} GiB, outside tessera {:.2f} GiB -> KV cache {:.2f} GiB",
      double(after.device_total) / (1 << 30), config.gpu_memory_utilization,
      double(before.in_use) / (1 << 30), T, S, double(peak) / (1 << 30),
      double(outside) / (1 << 30), double(std::max<int64_t>(budget, 0)) / (1 << 30));
  if (budget <= 0)
    fail(ErrorKind::kResourceExhausted,
         "--gpu-memory-utilization {} leaves no room for the KV cache (the model and a step of "
         "{} tokens take {:.2f} GiB of {:.2f} GiB); raise it or lower --max-num-batched-tokens",
         config.gpu_memory_utilization, T, double(peak + outside) / (1 << 30),
         double(after.device_total) / (1 << 30));
  return budget;
}
#endif

}  // namespace

std::unique_ptr<Engine> Engine::create(const EngineConfig& config) {
  // Flag errors first, before anything is loaded.
  const DType dtype = resolve_dtype(config);
  const DType kv_dtype =
      kv_cache_dtype(config, config.device == "cuda" ? Device::kCUDA : Device::kCPU, dtype);
  if (config.threads > 0) set_num_threads(config.threads);
  if (config.cpu_activations == "auto")
    cpu::set_activation_precision(cpu::default_activation_precision());
  else if (config.cpu_activations == "int8")
    cpu::set_activation_precision(cpu::ActivationPrecision::kInt8);
  else if (config.cpu_activations == "int16")
    cpu::set_activation_precision(cpu::ActivationPrecision::kInt16);
  else if (config.cpu_activations == "f32")
    cpu::set_activation_precision(cpu::ActivationPrecision::kFloat);
  else if (!config.cpu_activations.empty())
    fail(ErrorKind::kInvalidArgument, "unknown --cpu-activations '{}' (auto, f32, int16 or int8)",
         config.cpu_activations);
  if (config.block_size <= 0 || config.block_size > 256)
    fail(ErrorKind::kInvalidArgument, "--block-size must be in 1..256, got {}", config.block_size);
  if (config.max_num_seqs <= 0)
    fail(ErrorKind::kInvalidArgument, "--max-num-seqs must be positive");
  if (config.max_num_batched_tokens <= 0)
    fail(ErrorKind::kInvalidArgument, "--max-num-batched-tokens must be positive");
  if (!(config.gpu_memory_utilization > 0 && config.gpu_memory_utilization <= 1))
    fail(ErrorKind::kInvalidArgument, "--gpu-memory-utilization must be in (0, 1], got {}",
         config.gpu_memory_utilization);

  std::unique_ptr<WeightSource> source;
  if (config.load_format == "auto")
    source = WeightSource::open(config.model);
  else if (config.load_format == "dummy")
    source = WeightSource::open_dummy(config.model);
  else
    fail(ErrorKind::kInvalidArgument, "unknown --load-format '{}' (auto or dummy)",
         config.load_format);
  std::unique_ptr<Backend> backend =
      config.device == "cuda" ? make_cuda_backend(0, dtype) : make_cpu_backend();
  auto model = Model::load(*source, *backend);
  tokenizer::Tokenizer tokenizer = load_tokenizer(*source);

  const ModelConfig& mc = model->config();
  const int64_t max_len = config.max_model_len > 0
                              ? std::min<int64_t>(config.max_model_len, mc.max_position)
                              : mc.max_position;
  KvCacheShape shape;
  shape.num_layers = mc.num_layers;
  shape.num_blocks = 1;
  shape.block_size = config.block_size;
  shape.num_kv_heads = mc.num_kv_heads;
  shape.head_dim = mc.head_dim;
  shape.dtype = kv_dtype;
  const int64_t per_block = int64_t(shape.bytes_per_block());
  int64_t budget = config.kv_cache_memory;
  if (budget <= 0 && backend->device() == Device::kCUDA) {
#ifdef TESSERA_WITH_CUDA
    budget = gpu_kv_budget(*model, *backend, config, shape);
#endif
  } else if (budget <= 0) {
    // Default: two full contexts, at most a quarter of the machine's memory.
    budget = std::min<int64_t>(2 * max_len * per_block / config.block_size, physical_memory() / 4);
  }
  const int blocks = int(std::min<int64_t>(budget / per_block, 1 << 30));
  if (int64_t(blocks) * config.block_size < std::min<int64_t>(max_len, 64))
    fail(ErrorKind::kInvalidArgument,
         "--kv-cache-memory {} bytes holds only {} tokens; give it at least {} bytes", budget,
         int64_t(blocks) * config.block_size, per_block * 4);
  spdlog::info(
      "model {}: {} layers, {:.1f} MB of weights; KV cache {} blocks x {} tokens ({:.1f} MB)",
      mc.name, mc.num_layers, double(model->weight_bytes()) / 1e6, blocks, config.block_size,
      double(blocks) * double(per_block) / 1e6);
  return std::make_unique<EngineImpl>(config, std::move(source), std::move(backend),
                                      std::move(model), std::move(tokenizer), blocks);
}

}  // namespace tessera
