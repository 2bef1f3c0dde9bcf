#include "tessera/server/serve.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdlib>
#include <thread>

#include <CLI/CLI.hpp>

#include "tessera/core/error.h"
#include "tessera/core/log.h"

namespace tessera::server {

namespace {

std::chrono::milliseconds seconds_to_ms(double s) {
  return std::chrono::milliseconds(static_cast<int64_t>(s * 1000.0));
}

// "4G", "512M", "1048576" -> bytes.
int64_t parse_bytes(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    fail(ErrorKind::kInvalidArgument, "bad size '{}'", text);
  }
  std::string suffix = text.substr(used);
  double scale = 1;
  if (suffix == "K" || suffix == "KiB" || suffix == "k")
    scale = 1024.0;
  else if (suffix == "M" || suffix == "MiB")
    scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "GiB")
    scale = 1024.0 * 1024 * 1024;
  else if (!suffix.empty())
    fail(ErrorKind::kInvalidArgument, "bad size suffix in '{}'", text);
  if (value < 0) fail(ErrorKind::kInvalidArgument, "negative size '{}'", text);
  return static_cast<int64_t>(value * scale);
}

// Many concurrent clients need many descriptors: take what the hard limit allows.
void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

sigset_t shutdown_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void add_serve_flags(CLI::App& app, ServeOptions& o) {
  app.add_option("model_tag", o.model, "Model: short name, .gguf file or HF folder (same as -m)");
  app.add_option("-m,--model", o.model, "Model: short name, .gguf file or HF folder");
  app.add_option("--host", o.server.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", o.server.port, "Port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option_function<std::string>(
      "--api-key", [&o](const std::string& key) { o.api.api_keys = {key}; },
      "Require this key as 'Authorization: Bearer KEY' (default: $TESSERA_API_KEY)");
  app.add_option("--served-model-name", o.api.served_model_names,
                 "Model name(s) the API answers to; the first is reported");
  app.add_option("--device", o.device, "cpu or cuda")->capture_default_str();
  app.add_option("--load-format", o.load_format,
                 "auto (the model's files) or dummy (random weights for the shapes of -m's "
                 "config.json; no tokenizer files needed)")
      ->check(CLI::IsMember({"auto", "dummy"}))
      ->capture_default_str();
  app.add_option("--dtype", o.dtype,
                 "Activation and weight type: auto (float32 on the CPU, bfloat16 on CUDA), "
                 "bfloat16 (bf16), float16 (half, fp16; CUDA only), float32 (float; CPU only)")
      ->capture_default_str();
  app.add_flag("--enforce-eager", o.enforce_eager,
               "CUDA: run decode steps op by op instead of replaying CUDA graphs");
  app.add_flag_callback(
      "--async-scheduling", [&o] { o.async_scheduling = true; },
      "Queue the next decode step while the current one runs (default on CUDA)");
  app.add_flag_callback(
      "--no-async-scheduling", [&o] { o.async_scheduling = false; },
      "Schedule each step after the previous one's tokens are back");
  app.add_option("--threads", o.threads, "CPU threads for the model (0: all cores)");
  app.add_option("--max-num-seqs", o.max_num_seqs, "Most sequences in one batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-num-batched-tokens", o.max_num_batched_tokens, "Token budget per step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-model-len", o.max_model_len, "Context length (0: the model's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--block-size", o.block_size, "Tokens per KV-cache block")->capture_default_str();
  app.add_option_function<std::string>(
      "--kv-cache-memory", [&o](const std::string& s) { o.kv_cache_memory = parse_bytes(s); },
      "KV-cache size in bytes (suffixes K, M, G); 0: automatic");
  app.add_option("--kv-cache-dtype", o.kv_cache_dtype,
                 "KV-cache element type: auto (f32 on the CPU, --dtype's on CUDA), f32, f16, bf16")
      ->capture_default_str();
  app.add_option("--cpu-activations", o.cpu_activations,
                 "CPU matmul activations: auto (int16 with AVX-512 VNNI, else f32), f32, int16, "
                 "int8")
      ->check(CLI::IsMember({"auto", "f32", "int16", "int8"}))
      ->capture_default_str();
  app.add_option("--gpu-memory-utilization", o.gpu_memory_utilization,
                 "Fraction of GPU memory to use")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching,!--no-prefix-caching",
               o.enable_prefix_caching,
               "Share KV blocks between requests with the same prefix (default on)");
  app.add_option("--max-waiting-requests", o.max_waiting_requests,
                 "Waiting-queue limit; beyond it requests get 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option_function<uint64_t>(
      "--seed", [&o](const uint64_t& s) { o.seed = s; }, "Seed for requests without one");
  app.add_option("--chat-template", o.chat_template,
                 "Chat template (a file, or the template text) instead of the model's");
  app.add_option("--io-threads", o.server.io_threads, "HTTP io threads (0: automatic)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-connections", o.server.max_connections, "Most open connections")
      ->capture_default_str();
  app.add_option("--max-request-body-bytes", o.server.max_body_bytes,
                 "Larger request bodies get 413")
      ->capture_default_str();
  app.add_option("--max-request-header-bytes", o.server.max_header_bytes,
                 "Larger request headers get 431")
      ->capture_default_str();
  app.add_option_function<double>(
      "--timeout-keep-alive",
      [&o](const double& s) { o.server.keep_alive_timeout = seconds_to_ms(s); },
      "Seconds an idle keep-alive connection stays open (default 15)");
  app.add_option_function<double>(
      "--request-read-timeout", [&o](const double& s) { o.server.read_timeout = seconds_to_ms(s); },
      "Seconds allowed to send one request (default 30)");
  app.add_option_function<double>(
      "--write-timeout", [&o](const double& s) { o.server.write_timeout = seconds_to_ms(s); },
      "Seconds a client may stall reading a response before it is dropped (default 60)");
  app.add_option("--shutdown-timeout", o.shutdown_timeout_s,
                 "Seconds requests in flight may run on after SIGINT/SIGTERM")
      ->capture_default_str();
  app.add_flag("--enable-log-requests", o.api.log_requests, "Log every request");
  app.add_flag("--disable-log-requests")
      ->description("Accepted for vLLM compatibility (the default)");
}

void finish_serve_options(ServeOptions& o) {
  if (o.api.api_keys.empty())
    if (const char* key = std::getenv("TESSERA_API_KEY"); key && *key) o.api.api_keys = {key};
  if (o.server.io_threads == 0)
    o.server.io_threads = std::thread::hardware_concurrency() >= 8 ? 4 : 2;
  o.api.io_threads = o.server.io_threads;
}

ShutdownSignals::ShutdownSignals() {
  sigset_t set = shutdown_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ShutdownSignals::~ShutdownSignals() {
  sigset_t set = shutdown_set();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int ShutdownSignals::wait() {
  sigset_t set = shutdown_set();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

int run_server(const ServeOptions& options, ServingBackend& backend, ShutdownSignals& signals) {
  raise_file_limit();
  ApiRouter router(options.api, backend);
  HttpServer server(options.server, router);
  server.start();
  spdlog::info("serving model '{}' (max_model_len {}) with {} io threads", router.model_name(),
               backend.max_model_len(), options.server.io_threads);
  spdlog::info("listening on http://{}:{}", options.server.host, server.port());
  int sig = signals.wait();
  spdlog::info("{} received: shutting down (requests in flight get up to {} s)",
               sig == SIGINT ? "SIGINT" : "SIGTERM", options.shutdown_timeout_s);
  router.set_draining(true);
  server.shutdown(seconds_to_ms(options.shutdown_timeout_s));
  backend.shutdown();
  spdlog::info("stopped");
  return 0;
}

}  // namespace tessera::server
