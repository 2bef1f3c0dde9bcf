// Engine::create: model, tokenizer, backend and the KV-cache budget.
#include <unistd.h>

#include <algorithm>

#include "engine_impl.h"
#include "tessera/core/error.h"
#include "tessera/core/log.h"
#include "tessera/core/parallel.h"
#include "tessera/engine/load_tokenizer.h"

namespace tessera {
namespace {

int64_t physical_memory() {
  return int64_t(sysconf(_SC_PHYS_PAGES)) * int64_t(sysconf(_SC_PAGE_SIZE));
}

}  // namespace

std::unique_ptr<Engine> Engine::create(const EngineConfig& config) {
  if (config.threads > 0) set_num_threads(config.threads);
  if (config.block_size <= 0 || config.block_size > 256)
    fail(ErrorKind::kInvalidArgument, "--block-size must be in 1..256, got {}", config.block_size);
  if (config.max_num_seqs <= 0)
    fail(ErrorKind::kInvalidArgument, "--max-num-seqs must be positive");
  if (config.max_num_batched_tokens <= 0)
    fail(ErrorKind::kInvalidArgument, "--max-num-batched-tokens must be positive");

  auto source = WeightSource::open(config.model);
  std::unique_ptr<Backend> backend;
  if (config.device == "cpu")
    backend = make_cpu_backend();
  else if (config.device == "cuda")
    backend = make_cuda_backend(0);
  else
    fail(ErrorKind::kInvalidArgument, "unknown --device '{}' (cpu or cuda)", config.device);
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
  shape.dtype = backend->activation_dtype();
  const int64_t per_block = int64_t(shape.bytes_per_block());
  int64_t budget = config.kv_cache_memory;
  if (budget <= 0) {
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
