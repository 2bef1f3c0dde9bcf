// The engine: takes requests from any thread, runs them through the model
// with continuous batching on its own loop thread, and streams results back
// per request. HTTP handlers, the CLI and the offline batch runner all use
// only this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tessera/engine/sampler.h"
#include "tessera/engine/sampling_params.h"
#include "tessera/model/model_config.h"

namespace tessera {

namespace tokenizer {
class Tokenizer;
}

enum class FinishReason { kStop, kLength, kAbort };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "abort"

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<LogprobEntry> top;  // the `logprobs` most likely tokens, best first
};

// News from one of a request's n sequences since its previous output.
struct SequenceOutput {
  int index = 0;
  std::vector<int32_t> token_ids;      // new tokens
  std::string text;                    // new text (whole UTF-8 characters, stop strings held back)
  std::vector<TokenLogprob> logprobs;  // one per new token when requested
  std::optional<FinishReason> finish_reason;
  std::string stop_reason;  // the stop string that matched, if any
  double cumulative_logprob = 0.0;
};

struct RequestOutput {
  std::string request_id;
  std::vector<SequenceOutput> outputs;  // sequences with news (all of them in the last one)
  bool finished = false;                // no more outputs follow
  int num_prompt_tokens = 0;
  int num_cached_prompt_tokens = 0;  // served from the prefix cache
  int num_generated_tokens = 0;      // total over all sequences so far
  // Set in the first output when prompt_logprobs was asked for: entry i is
  // the logprob of prompt token i given tokens < i (none for i = 0).
  std::vector<std::optional<TokenLogprob>> prompt_logprobs;
};

// Appends a later output of the same request onto `into` (text, tokens and
// logprobs per sequence; the latest counters and finish state): how a
// non-streaming consumer builds the whole result.
void merge_output(RequestOutput& into, RequestOutput&& next);

struct GenerateRequest {
  std::string request_id;  // empty: the engine assigns one
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
};

// The consumer side of one request's output stream. Thread-safe.
class RequestHandle {
 public:
  virtual ~RequestHandle() = default;
  virtual const std::string& id() const = 0;
  // Blocks until there is output; nullopt once the stream has ended.
  virtual std::optional<RequestOutput> next() = 0;
  virtual std::optional<RequestOutput> next_for(std::chrono::milliseconds timeout) = 0;
  // Non-blocking; nullopt when nothing is pending (check finished()).
  virtual std::optional<RequestOutput> try_next() = 0;
  virtual bool finished() const = 0;
  // Called on the engine thread whenever output is pushed (keep it short:
  // post to an event loop). Set before the first output can arrive.
  virtual void on_ready(std::function<void()> callback) = 0;
  // Stops the request; its KV blocks return at the next step.
  virtual void abort() = 0;
};

struct EngineConfig {
  std::string model = "smollm2-135m";  // short name, .gguf path or HF folder
  std::string device = "cpu";          // "cpu" or "cuda"
  // "auto": weights from the model's files; "dummy": random weights for the
  // shapes of its config.json (benchmarks; see WeightSource::open_dummy).
  std::string load_format = "auto";
  // Activation type (vLLM's --dtype): "auto" (float32 on the CPU, bfloat16
  // on CUDA), "bfloat16"/"bf16", "float16"/"half"/"fp16", "float32"/"float".
  // On CUDA the weights and the KV cache (--kv-cache-dtype auto) take it
  // too; the CPU computes in float32 only (see resolve_dtype).
  std::string dtype = "auto";
  int threads = 0;  // CPU threads (0: all cores)
  // CPU matmul activations: "f32" (default, exact to ~1e-6 against
  // transformers) or "int8" (faster prompts and batches, ~1e-2 logits
  // error; see docs/cpu.md). Empty: TESSERA_CPU_ACTIVATIONS or f32.
  std::string cpu_activations;
  int max_num_seqs = 64;
  int max_num_batched_tokens = 512;
  int max_model_len = 0;  // 0: the model's context length
  int block_size = 16;
  // KV-cache bytes. 0: on the CPU two full contexts (at most a quarter of
  // the RAM); on CUDA what a profile step leaves of gpu_memory_utilization
  // times the device's memory (see engine_factory.cpp).
  int64_t kv_cache_memory = 0;
  // KV-cache element type: auto (F32 on the CPU, the --dtype type on CUDA),
  // f32, f16, bf16. f16 halves the CPU cache's memory and the bytes
  // attention reads; on CUDA an explicit type must match --dtype.
  std::string kv_cache_dtype = "auto";
  double gpu_memory_utilization = 0.9;
  bool enable_prefix_caching = true;
  // CUDA: run every step op by op (no CUDA graphs for decode steps).
  bool enforce_eager = false;
  // Async scheduling: while a decode step runs, the next one is scheduled
  // and queued, its input tokens read on the device from the sampler's
  // output, so the GPU does not wait for the host between steps (see
  // docs/architecture.md). Unset: on with CUDA device sampling, off on the
  // CPU (whose steps run synchronously, so there is nothing to overlap).
  std::optional<bool> async_scheduling;
  int max_waiting_requests = 1024;
  std::optional<uint64_t> seed;  // seeds of unseeded requests; unset: from the OS
};

// The activation type `config` asks for (--dtype on --device): F32 on the
// CPU; BF16 (auto) or F16 on CUDA. Error(kInvalidArgument) for an unknown
// name or device, and for a type the device does not compute in (16-bit on
// the CPU, float32 on CUDA).
DType resolve_dtype(const EngineConfig& config);

struct EngineStats {
  int num_running = 0;
  int num_waiting = 0;
  double kv_cache_usage = 0.0;  // fraction of blocks in use
  int kv_cache_blocks = 0;
  int64_t prefix_cache_queries = 0;  // prompt tokens looked up
  int64_t prefix_cache_hits = 0;     // of those, found cached
  int64_t num_preemptions = 0;
  int64_t prompt_tokens = 0;  // computed (cache hits excluded)
  int64_t generation_tokens = 0;
  int64_t requests_finished = 0;
  int64_t steps = 0;
  int64_t chained_steps = 0;  // queued before the previous step's tokens were back
};

class Engine {
 public:
  // Loads the model and tokenizer and starts the loop thread.
  static std::unique_ptr<Engine> create(const EngineConfig& config);
  virtual ~Engine() = default;

  // Validates (Error kInvalidArgument: bad parameters, prompt too long;
  // kResourceExhausted: waiting queue full) and queues the request.
  virtual std::shared_ptr<RequestHandle> submit(GenerateRequest request) = 0;
  virtual void abort(const std::string& request_id) = 0;

  virtual EngineStats stats() const = 0;
  virtual const tokenizer::Tokenizer& tokenizer() const = 0;
  virtual const ModelConfig& model_config() const = 0;
  virtual const std::string& model_name() const = 0;
  virtual int max_model_len() const = 0;
  // The weights' most common element type ("Q4_1", "BF16", ...).
  virtual std::string weights_dtype() const = 0;
  // Bytes of weights one decode step reads, as loaded on the device (for
  // bandwidth rooflines).
  virtual size_t weight_bytes() const = 0;
  // Stops taking requests, aborts what is left, joins the loop thread.
  virtual void shutdown() = 0;
};

}  // namespace tessera
