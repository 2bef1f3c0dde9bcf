#include "engine_flags.h"

#include <cctype>

#include "tessera/core/error.h"

namespace tessera::cli {

void add_engine_flags(CLI::App& app, EngineFlags& f) {
  auto& c = f.config;
  app.add_option("-m,--model", c.model, "Model: short name (smollm2-135m), .gguf file or HF folder")
      ->capture_default_str();
  app.add_option("--device", c.device, "cpu or cuda")->capture_default_str();
  app.add_option("--load-format", c.load_format,
                 "auto (the model's files) or dummy (random weights for the shapes of -m's "
                 "config.json; no tokenizer files needed)")
      ->check(CLI::IsMember({"auto", "dummy"}))
      ->capture_default_str();
  app.add_option("--dtype", c.dtype,
                 "Activation and weight type: auto (float32 on the CPU, bfloat16 on CUDA), "
                 "bfloat16 (bf16), float16 (half, fp16; CUDA only), float32 (float; CPU only)")
      ->capture_default_str();
  app.add_option("-t,--threads", c.threads, "CPU threads (0: all cores)")->capture_default_str();
  app.add_option("--max-num-seqs", c.max_num_seqs, "Most sequences in one step")
      ->capture_default_str();
  app.add_option("--max-num-batched-tokens", c.max_num_batched_tokens,
                 "Token budget of one step (prefill chunks + decodes)")
      ->capture_default_str();
  app.add_option("--max-model-len", c.max_model_len, "Context length (0: the model's)")
      ->capture_default_str();
  app.add_option("--block-size", c.block_size, "Tokens per KV-cache block")->capture_default_str();
  app.add_option("--kv-cache-memory", f.kv_cache_memory,
                 "KV-cache budget, e.g. 512M or 2G (default: two full contexts)");
  app.add_option("--cpu-activations", c.cpu_activations,
                 "CPU matmul activations: auto (default: int16 with AVX-512 VNNI, else "
                 "f32), f32 (exact), int16 (~1e-4 logits error, faster prompts and batches) "
                 "or int8 (fastest, ~1e-2)")
      ->check(CLI::IsMember({"auto", "f32", "int16", "int8"}));
  app.add_option("--kv-cache-dtype", c.kv_cache_dtype,
                 "KV-cache element type: auto (f32 on the CPU, --dtype's on CUDA), f32, f16, bf16")
      ->check(CLI::IsMember({"auto", "f32", "f16", "bf16", "float32", "float16", "bfloat16"}))
      ->capture_default_str();
  app.add_option("--gpu-memory-utilization", c.gpu_memory_utilization,
                 "Fraction of GPU memory to use (cuda)")
      ->capture_default_str();
  app.add_flag("--enable-prefix-caching,!--no-enable-prefix-caching,!--no-prefix-caching",
               f.config.enable_prefix_caching,
               "Share KV blocks between requests with the same prefix (default on)");
  app.add_flag("--enforce-eager", c.enforce_eager,
               "CUDA: run decode steps op by op instead of replaying CUDA graphs");
  app.add_flag_callback(
      "--async-scheduling", [&c] { c.async_scheduling = true; },
      "Queue the next decode step while the current one runs (default on CUDA)");
  app.add_flag_callback(
      "--no-async-scheduling", [&c] { c.async_scheduling = false; },
      "Schedule each step after the previous one's tokens are back");
  app.add_option("--max-waiting-requests", c.max_waiting_requests,
                 "Queue limit; beyond it requests are refused")
      ->capture_default_str();
}

int64_t parse_size(const std::string& text, const std::string& flag) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (...) {
    fail(ErrorKind::kInvalidArgument, "{}: '{}' is not a size (e.g. 512M, 2G)", flag, text);
  }
  std::string unit = text.substr(pos);
  for (auto& ch : unit) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  if (!unit.empty() && unit.back() == 'I') unit.pop_back();  // GiB == GB here
  double scale = 1;
  if (unit == "K")
    scale = 1024.0;
  else if (unit == "M")
    scale = 1024.0 * 1024;
  else if (unit == "G")
    scale = 1024.0 * 1024 * 1024;
  else if (!unit.empty())
    fail(ErrorKind::kInvalidArgument, "{}: unknown unit in '{}' (use K, M or G)", flag, text);
  if (value <= 0) fail(ErrorKind::kInvalidArgument, "{}: must be positive, got '{}'", flag, text);
  return int64_t(value * scale);
}

EngineConfig engine_config(const EngineFlags& f) {
  EngineConfig c = f.config;
  if (!f.kv_cache_memory.empty())
    c.kv_cache_memory = parse_size(f.kv_cache_memory, "--kv-cache-memory");
  return c;
}

}  // namespace tessera::cli
