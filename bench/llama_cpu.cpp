// Prompt processing and decode speed of a model on the CPU, at 1 and 2
// threads (or --threads a,b,...): one 512-token prefill step (pp512) and 128
// single-token decode steps (tg128), like llama-bench. Prints a table with
// the machine, the date, and each figure's ratio to a reference figure
// (default: llama.cpp on this model's Q4_1 file with 2 threads on the CI
// machine: 260 tok/s pp512, 100 tok/s tg128) and, for decode, to the
// bandwidth roofline (weight bytes per token over measured copy bandwidth).
//
//   bench_llama_cpu [model] [--threads 1,2] [--pp 512] [--tg 128]
#include <cstdio>
#include <numeric>
#include <sstream>

#include "bench_util.h"
#include "tessera/backend/quant.h"
#include "tessera/core/parallel.h"
#include "tessera/engine/model_runner.h"
#include "tessera/model/model.h"
#include "tessera/model/weight_source.h"

using namespace tessera;

namespace {

struct Figures {
  double pp = 0, tg = 0;
};

Figures measure(Model& model, int pp, int tg) {
  KvCacheShape shape;
  shape.num_layers = model.config().num_layers;
  shape.block_size = 16;
  shape.num_blocks = (pp + tg) / 16 + 2;
  shape.num_kv_heads = model.config().num_kv_heads;
  shape.head_dim = model.config().head_dim;
  ModelRunner runner(model, shape);
  std::vector<int32_t> table(size_t(shape.num_blocks));
  std::iota(table.begin(), table.end(), 0);
  std::vector<int32_t> tokens(size_t(pp + tg));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 7919) % 30000 + 100);
  std::vector<int> rows;
  auto run = [&](int computed, int n) {
    ScheduledSeq s;
    s.tokens = std::span(tokens).first(size_t(computed + n));
    s.num_computed = computed;
    s.num_new = n;
    s.block_table = table;
    s.want_logits = true;
    runner.run({&s, 1}, rows);
  };
  run(0, 16);  // warm-up: pages in the weights, sizes the workspace
  Figures f;
  double best_pp = 1e30;
  for (int rep = 0; rep < 2; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    run(0, pp);
    best_pp = std::min(best_pp, bench::seconds_since(t0));
  }
  f.pp = pp / best_pp;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < tg; ++i) run(pp + i, 1);
  f.tg = tg / bench::seconds_since(t0);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "smollm2-135m";
  std::vector<int> threads = {1, 2};
  int pp = 512, tg = 128;
  double ref_pp = 260, ref_tg = 100;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--threads") {
      threads.clear();
      std::stringstream ss(next());
      for (std::string t; std::getline(ss, t, ',');) threads.push_back(std::stoi(t));
    } else if (a == "--pp") {
      pp = std::stoi(next());
    } else if (a == "--tg") {
      tg = std::stoi(next());
    } else if (a == "--ref") {
      ref_pp = std::stod(next());
      ref_tg = std::stod(next());
    } else {
      model_name = a;
    }
  }
  auto source = WeightSource::open(model_name);
  auto backend = make_cpu_backend();
  auto model = Model::load(*source, *backend);
  const double bw = bench::copy_bandwidth();
  const double roofline_tg = bw / 2 / double(model->weight_bytes());  // copy counts read+write

  std::printf("tessera CPU bench: %s (%.1f MB weights), kernels %s\n", model->config().name.c_str(),
              double(model->weight_bytes()) / 1e6, cpu::kernel_isa().c_str());
  std::printf("machine: %s, %d cores; date %s; copy bandwidth %.1f GB/s\n",
              bench::cpu_name().c_str(), num_threads(), bench::today().c_str(), bw / 1e9);
  std::printf("reference: %.0f tok/s pp%d, %.0f tok/s tg%d (llama.cpp, Q4_1, 2 threads)\n\n",
              ref_pp, pp, ref_tg, tg);
  std::printf("| threads | pp%d tok/s | vs ref | tg%d tok/s | vs ref | vs roofline |\n", pp, tg);
  std::printf("|--------:|----------:|-------:|----------:|-------:|------------:|\n");
  for (int t : threads) {
    set_num_threads(t);
    const Figures f = measure(*model, pp, tg);
    std::printf("| %7d | %9.1f | %5.2fx | %9.1f | %5.2fx | %10.0f%% |\n", t, f.pp, f.pp / ref_pp,
                f.tg, f.tg / ref_tg, 100.0 * f.tg / roofline_tg);
    std::fflush(stdout);
  }
  return 0;
}
