// `tessera bench throughput`: offline throughput of the engine, like
// TensorRT-LLM's benchmark: N random-token prompts of I tokens, each asked
// for exactly O tokens (EOS ignored), all submitted at once; or the prompts
// of a JSONL dataset. Prints requests/s, output tokens/s and total tokens/s,
// beside a single request's figures from the same run. --grid runs the
// ISL/OSL grid 128/128, 128/2048, 2048/128, 1000/1000 on one engine;
// --repeat R keeps the fastest of R runs of each row. On
// CUDA each row also shows its distance to the roofline, from ceilings
// measured in the same run (bench_roofline.h).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
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

struct Flags {
  EngineFlags engine;
  int num_prompts = 64;
  int input_len = 128;
  int output_len = 128;
  std::string dataset;
  uint64_t seed = 0;
  bool no_single = false;
  bool grid = false;
  int repeat = 1;
};

// The grid of TensorRT-LLM's and vLLM's published throughput tables.
constexpr std::pair<int, int> kGrid[] = {{128, 128}, {128, 2048}, {2048, 128}, {1000, 1000}};

struct Workload {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int> output_lens;
};

// Random ids from the ordinary (non-special) part of the vocabulary;
// `num_prompts` of them and two more (see below).
Workload random_workload(const Engine& e, int num_prompts, int input_len, int output_len,
                         uint64_t seed) {
  const tokenizer::Tokenizer& tok = e.tokenizer();
  std::vector<int32_t> ordinary;
  for (int32_t id = 0; id < int32_t(tok.vocab_size()); ++id)
    if (!tok.is_special(id)) ordinary.push_back(id);
  std::mt19937_64 rng(seed);
  Workload w;
  // Two more than asked for: one warms up, one runs alone; neither shares a
  // prefix with the measured batch.
  for (int i = 0; i < num_prompts + 2; ++i) {
    std::vector<int32_t> p(static_cast<size_t>(input_len));
    for (auto& id : p) id = ordinary[rng() % ordinary.size()];
    w.prompts.push_back(std::move(p));
    w.output_lens.push_back(output_len);
  }
  return w;
}

// {"prompt": "...", "output_len": 128} per line ("max_tokens" also accepted).
Workload dataset_workload(const Engine& e, const Flags& f) {
  std::ifstream in(f.dataset);
  if (!in) fail(ErrorKind::kNotFound, "cannot open {}", f.dataset);
  Workload w;
  std::string line;
  for (int n = 1; std::getline(in, line) && int(w.prompts.size()) < f.num_prompts; ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& ex) {
      fail(ErrorKind::kInvalidArgument, "{} line {}: {}", f.dataset, n, ex.what());
    }
    if (!j.contains("prompt") || !j["prompt"].is_string())
      fail(ErrorKind::kInvalidArgument, "{} line {}: needs a string 'prompt'", f.dataset, n);
    w.prompts.push_back(e.tokenizer().encode(j["prompt"].get<std::string>(), true));
    w.output_lens.push_back(j.value("output_len", j.value("max_tokens", f.output_len)));
  }
  if (w.prompts.empty()) fail(ErrorKind::kInvalidArgument, "{} has no prompts", f.dataset);
  return w;
}

ThroughputFigures run_workload(Engine& e, const Workload& w, size_t first, size_t count) {
  std::vector<std::shared_ptr<RequestHandle>> handles;
  const int64_t steps0 = e.stats().steps;
  const auto t0 = std::chrono::steady_clock::now();
  int64_t prompt_tokens = 0, output_tokens = 0;
  for (size_t i = first; i < first + count; ++i) {
    GenerateRequest r;
    r.prompt_ids = w.prompts[i];
    r.params.max_tokens = w.output_lens[i];
    r.params.temperature = 0;
    r.params.ignore_eos = true;
    prompt_tokens += int64_t(r.prompt_ids.size());
    handles.push_back(e.submit(std::move(r)));
  }
  for (auto& h : handles) {
    int64_t generated = 0;
    while (auto o = h->next()) generated = o->num_generated_tokens;
    output_tokens += generated;
  }
  ThroughputFigures fig;
  fig.requests = int64_t(count);
  fig.prompt_tokens = prompt_tokens;
  fig.output_tokens = output_tokens;
  fig.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fig.steps = e.stats().steps - steps0;
  return fig;
}

// A grid point computes about num_prompts x 256 tokens (prompt + output),
// whatever its lengths, so that every point takes a comparable time.
int grid_prompts(int num_prompts, int input_len, int output_len) {
  return std::max(8, int(int64_t(num_prompts) * 256 / (input_len + output_len)));
}

int run(const Flags& f) {
  EngineConfig config = engine_config(f.engine);
  int most_prompts = f.num_prompts;
  if (f.grid)
    for (auto [in, out] : kGrid)
      most_prompts = std::max(most_prompts, grid_prompts(f.num_prompts, in, out));
  config.max_waiting_requests = std::max(config.max_waiting_requests, most_prompts + 1);
  std::optional<Ceilings> ceil;
  if (config.device == "cuda") ceil = measure_ceilings(config.device, resolve_dtype(config));
  auto engine = Engine::create(config);
  std::vector<std::pair<std::string, ThroughputFigures>> rows;
  std::string workload;
  if (f.grid) {
    workload = "random prompts, ISL/OSL grid (about num-prompts x 256 tokens per point)";
    bool warm = false;
    for (auto [in, out] : kGrid) {
      const int n = grid_prompts(f.num_prompts, in, out);
      const Workload w = random_workload(*engine, n, in, out, f.seed + uint64_t(in) * 7 + out);
      if (!warm) run_workload(*engine, w, size_t(n), 1);
      warm = true;
      rows.emplace_back(fmt::format("{}/{}, {} requests", in, out, n),
                        run_workload(*engine, w, 0, size_t(n)));
    }
  } else if (!f.dataset.empty()) {
    const Workload w = dataset_workload(*engine, f);
    workload = fmt::format("dataset {}", f.dataset);
    const size_t n = w.prompts.size();
    run_workload(*engine, w, 0, 1);  // pages in weights, sizes buffers
    if (!f.no_single) rows.emplace_back("1 request", run_workload(*engine, w, 0, 1));
    rows.emplace_back(fmt::format("{} requests", n), run_workload(*engine, w, 0, n));
  } else {
    // --repeat R: R batches of fresh prompts (no prefix-cache hits between
    // them), the single request run before each; each row keeps its fastest
    // run, since other work on a shared machine only ever slows a run down.
    const size_t n = size_t(f.num_prompts), R = size_t(f.repeat);
    const Workload w =
        random_workload(*engine, int(n * R + R - 1), f.input_len, f.output_len, f.seed);
    workload = fmt::format("random prompts, {} in / {} out", f.input_len, f.output_len);
    if (R > 1) workload += fmt::format("; best of {} runs", R);
    // The workload's last prompts: the warm-up, then the R singles.
    const size_t singles = w.prompts.size() - R;
    run_workload(*engine, w, singles - 1, 1);  // pages in weights, sizes buffers
    std::optional<ThroughputFigures> single, batch;
    auto keep_best = [](std::optional<ThroughputFigures>& best, const ThroughputFigures& f) {
      if (!best || f.seconds < best->seconds) best = f;
    };
    for (size_t r = 0; r < R; ++r) {
      if (!f.no_single) keep_best(single, run_workload(*engine, w, singles + r, 1));
      keep_best(batch, run_workload(*engine, w, r * n, n));
    }
    if (single) rows.emplace_back("1 request", *single);
    rows.emplace_back(fmt::format("{} requests", n), *batch);
  }
  const EngineStats stats = engine->stats();
  std::optional<RooflineInputs> roof;
  if (ceil) {
    const ModelConfig& mc = engine->model_config();
    roof = RooflineInputs{ceil->device,
                          ceil->copy_bytes_per_s,
                          ceil->gemm_flops_per_s,
                          double(engine->weight_bytes()),
                          double(layer_params(mc)),
                          double(head_params(mc))};
  }
  print_throughput_table(config, workload, rows, stats, roof);
  return 0;
}

const bool registered = register_bench_command({
    "throughput",
    "Offline throughput: many requests at once through continuous batching",
    [](CLI::App& app) -> std::function<int()> {
      auto f = std::make_shared<Flags>();
      add_engine_flags(app, f->engine);
      app.add_option("--num-prompts", f->num_prompts, "Requests")->capture_default_str();
      app.add_option("--input-len", f->input_len, "Prompt tokens (random prompts)")
          ->capture_default_str();
      app.add_option("--output-len", f->output_len, "Tokens generated per request")
          ->capture_default_str();
      app.add_option("--dataset", f->dataset, "JSONL file of {\"prompt\", \"output_len\"}");
      app.add_option("--seed", f->seed, "Seed of the random prompts")->capture_default_str();
      app.add_flag("--no-single", f->no_single, "Skip the single-request row");
      app.add_option("--repeat", f->repeat,
                     "Run the single request and the batch this many times (fresh random "
                     "prompts each time) and report each row's fastest run")
          ->capture_default_str();
      app.add_flag("--grid", f->grid,
                   "Run the ISL/OSL grid 128/128, 128/2048, 2048/128, 1000/1000 (random prompts; "
                   "each point computes about --num-prompts x 256 prompt + output tokens)");
      return [f] {
        if (f->num_prompts <= 0 || f->input_len <= 0 || f->output_len <= 0)
          fail(ErrorKind::kInvalidArgument,
               "--num-prompts, --input-len and --output-len must be positive");
        if (f->grid && !f->dataset.empty())
          fail(ErrorKind::kInvalidArgument, "--grid runs random prompts; drop --dataset");
        if (f->repeat < 1) fail(ErrorKind::kInvalidArgument, "--repeat must be at least 1");
        if (f->repeat > 1 && (f->grid || !f->dataset.empty()))
          fail(ErrorKind::kInvalidArgument,
               "--repeat takes random prompts without --grid (a dataset's prompts would hit "
               "the prefix cache the second time)");
        return run(*f);
      };
    },
});

}  // namespace
}  // namespace tessera::cli
