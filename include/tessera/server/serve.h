// `tessera serve`: its flags (named as in `vllm serve` where vLLM has
// them) and the blocking run loop that serves until SIGINT/SIGTERM. The
// engine side comes in as a ServingBackend, so the same code serves the
// real engine (src/cli/cmd_serve.cpp) and the test fake
// (tests/server/fake_server_main/).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tessera/server/api.h"
#include "tessera/server/backend.h"
#include "tessera/server/http_server.h"

namespace CLI {
class App;
}

namespace tessera::server {

struct ServeOptions {
  // Engine (mapped onto EngineConfig by the CLI).
  std::string model;
  std::string device = "cpu";
  std::string load_format = "auto";      // or "dummy": random weights for -m's config.json
  std::string dtype = "auto";            // --dtype: the engine checks it (resolve_dtype)
  bool enforce_eager = false;            // CUDA: no graphs for decode steps
  std::optional<bool> async_scheduling;  // unset: the engine's default
  int threads = 0;
  int max_num_seqs = 64;
  int max_num_batched_tokens = 512;
  int max_model_len = 0;
  int block_size = 16;
  int64_t kv_cache_memory = 0;
  std::string kv_cache_dtype = "auto";
  std::string cpu_activations = "auto";
  double gpu_memory_utilization = 0.9;
  bool enable_prefix_caching = true;
  int max_waiting_requests = 1024;
  std::optional<uint64_t> seed;
  std::string chat_template;  // a file, or inline Jinja text

  ServerConfig server;
  ApiConfig api;
  double shutdown_timeout_s = 30.0;
};

// Adds every flag to `app`, writing into `options`.
void add_serve_flags(CLI::App& app, ServeOptions& options);
// After parsing: TESSERA_API_KEY when --api-key was not given, checks.
void finish_serve_options(ServeOptions& options);

// SIGINT/SIGTERM are blocked from construction on in the calling thread
// and every thread started after it (construct it before the engine so its
// threads inherit the mask); wait() returns the signal when one arrives.
class ShutdownSignals {
 public:
  ShutdownSignals();
  ~ShutdownSignals();
  int wait();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;
};

// Serves `backend` until a shutdown signal, then drains: stops accepting,
// lets requests in flight finish for up to shutdown_timeout_s, aborts the
// rest, and shuts the backend down. Returns the exit code (0).
int run_server(const ServeOptions& options, ServingBackend& backend, ShutdownSignals& signals);

}  // namespace tessera::server
