// `tessera bench latency`: one request at a time, like vLLM's
// benchmark_latency: time to first token for an --input-len prompt and the
// decode time per token after it (batch 1), each beside its roofline from
// ceilings measured in the same run (see bench_roofline.h): decode against
// weight bytes / copy bandwidth, prefill against 2 * params * tokens / GEMM
// rate. Random token prompts; no tokenizer files needed (--load-format dummy).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "bench_command.h"
#include "bench_report.h"
#include "bench_roofline.h"
#include "engine_flags.h"
#include "tessera/core/error.h"
#include "tessera/engine/engine.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  EngineFlags engine;
  int input_len = 2048;
  int output_len = 128;
  int iters = 3;
  uint64_t seed = 0;
  bool batched_tokens_given = false;
};

struct Timing {
  double ttft_s = 0;
  double decode_s_per_token = 0;
  int generated = 0;
};

std::vector<int32_t> random_prompt(const Engine& e, int len, std::mt19937_64& rng) {
  const tokenizer::Tokenizer& tok = e.tokenizer();
  std::vector<int32_t> p(static_cast<size_t>(len));
  for (auto& id : p) {
    do id = int32_t(rng() % tok.vocab_size());
    while (tok.is_special(id));
  }
  return p;
}

Timing time_one(Engine& e, std::vector<int32_t> prompt, int output_len) {
  GenerateRequest r;
  r.prompt_ids = std::move(prompt);
  r.params.max_tokens = output_len;
  r.params.temperature = 0;
  r.params.ignore_eos = true;
  const auto t0 = Clock::now();
  auto h = e.submit(std::move(r));
  Clock::time_point first{}, last{};
  int generated = 0, at_first = 0;
  while (auto o = h->next()) {
    if (o->num_generated_tokens > generated) {
      last = Clock::now();
      if (generated == 0) {
        first = last;
        at_first = o->num_generated_tokens;
      }
      generated = o->num_generated_tokens;
    }
  }
  Timing t;
  t.generated = generated;
  t.ttft_s = std::chrono::duration<double>(first - t0).count();
  if (generated > at_first)
    t.decode_s_per_token =
        std::chrono::duration<double>(last - first).count() / double(generated - at_first);
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int run(const Flags& f) {
  EngineConfig config = engine_config(f.engine);
  // The whole prompt in one step (TTFT of an unchunked prefill), unless the
  // user asked for a budget; no prefix cache, so repeats recompute.
  if (!f.batched_tokens_given)
    config.max_num_batched_tokens = std::max(config.max_num_batched_tokens, f.input_len);
  config.enable_prefix_caching = false;
  const DType dtype = resolve_dtype(config);  // a bad --dtype fails before the ceilings run
  const Ceilings ceil = measure_ceilings(config.device, dtype);
  auto engine = Engine::create(config);
  const ModelConfig& mc = engine->model_config();
  std::mt19937_64 rng(f.seed);

  time_one(*engine, random_prompt(*engine, f.input_len, rng), 4);  // warm-up
  std::vector<double> ttft, decode;
  for (int i = 0; i < f.iters; ++i) {
    const Timing t = time_one(*engine, random_prompt(*engine, f.input_len, rng), f.output_len);
    ttft.push_back(t.ttft_s);
    if (t.decode_s_per_token > 0) decode.push_back(t.decode_s_per_token);
  }
  const double ttft_s = median(ttft), decode_s = median(decode);

  const double weight_bytes = double(engine->weight_bytes());
  const double decode_floor = weight_bytes / ceil.copy_bytes_per_s;
  const double prefill_flops =
      2.0 * (double(layer_params(mc)) * f.input_len + double(head_params(mc)));
  const double prefill_floor = prefill_flops / ceil.gemm_flops_per_s;

  std::printf(
      "tessera bench latency: %s on %s, %s activations (%s weights in the files, %.2f GB "
      "loaded)\n",
      mc.name.c_str(), config.device.c_str(), std::string(dtype_name(dtype)).c_str(),
      engine->weights_dtype().c_str(), weight_bytes / 1e9);
  std::printf("device: %s; date %s\n", ceil.device.c_str(), today().c_str());
  std::printf(
      "ceilings (this run): copy %.0f GB/s (bytes read + written), GEMM %.1f TFLOP/s (%s)\n",
      ceil.copy_bytes_per_s / 1e9, ceil.gemm_flops_per_s / 1e12, ceil.gemm_shape.c_str());
  std::printf("batch 1, %d prompt tokens, %d output tokens, median of %d runs\n\n", f.input_len,
              f.output_len, f.iters);
  std::printf("| figure | measured | roofline | of roofline | achieved |\n");
  std::printf("|--------|---------:|---------:|------------:|---------:|\n");
  std::printf("| time to first token (%d tokens) | %.2f ms | %.2f ms | %.1f%% | %.1f TFLOP/s |\n",
              f.input_len, ttft_s * 1e3, prefill_floor * 1e3, 100.0 * prefill_floor / ttft_s,
              prefill_flops / ttft_s / 1e12);
  if (decode_s > 0)
    std::printf("| decode, per token | %.3f ms | %.3f ms | %.1f%% | %.0f GB/s, %.1f tok/s |\n",
                decode_s * 1e3, decode_floor * 1e3, 100.0 * decode_floor / decode_s,
                weight_bytes / decode_s / 1e9, 1.0 / decode_s);
  std::printf(
      "\nroofline: decode = weight bytes / copy bandwidth (KV reads left out); prefill = "
      "2 x %.2fB layer params x tokens / GEMM rate (attention flops left out)\n",
      double(layer_params(mc)) / 1e9);
  return 0;
}

const bool registered = register_bench_command({
    "latency",
    "Batch-1 latency: time to first token and decode time per token, against the roofline",
    [](CLI::App& app) -> std::function<int()> {
      auto f = std::make_shared<Flags>();
      add_engine_flags(app, f->engine);
      app.add_option("--input-len", f->input_len, "Prompt tokens (random)")->capture_default_str();
      app.add_option("--output-len", f->output_len, "Tokens generated per run")
          ->capture_default_str();
      app.add_option("--num-iters", f->iters, "Timed runs (the median is reported)")
          ->capture_default_str();
      app.add_option("--seed", f->seed, "Seed of the random prompts")->capture_default_str();
      return [f, &app] {
        if (f->input_len <= 0 || f->output_len <= 1 || f->iters <= 0)
          fail(ErrorKind::kInvalidArgument,
               "--input-len and --num-iters must be positive, --output-len at least 2");
        f->batched_tokens_given = app.count("--max-num-batched-tokens") > 0;
        return run(*f);
      };
    },
});

}  // namespace
}  // namespace tessera::cli
