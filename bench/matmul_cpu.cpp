// CPU matmul benchmark on SmolLM2-135M's shapes (as the model runs them:
// fused q/k/v and gate/up projections, Q4_1 layers, Q8_0 output head) with
// random weights. For each kernel family and thread count it prints per-shape
// time, GFLOP/s and weight GB/s at T=1 (decode) and T=512 (prompt), then the
// whole-model matmul estimate: 30 layers of distinct weights (so decode
// streams ~96 MB from memory like the real model) plus the head.
//
//   bench_matmul_cpu [--isa NAME] [--threads N] [--type Q4_0|...] [--reps N]
//
// Timings are the best of several repeats: other work on the machine only
// ever slows a run down. When the machine is shared, wall time also counts
// time this process waited for a core, so single-thread rows also print the
// thread's CPU time (close to the uncontended wall time; memory stalls still
// count). With more threads, the CPU time of the others is only accounted at
// scheduler ticks, too coarse for these calls, so those rows show wall time
// only.
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "bench_weights.h"
#include "tessera/backend/quant.h"
#include "tessera/core/half.h"
#include "tessera/core/parallel.h"

namespace {

using tessera::DType;
using tessera::Tensor;

using namespace tessera::bench;  // kShapes, random_weight, timers

struct Timing {
  double wall = 1e30;  // best wall time
  double cpu = 1e30;   // best process CPU time / threads
};

// Best times of `reps` runs (at least min_total seconds in all) of fn.
template <typename Fn>
Timing best_time(int reps, double min_total, int threads, Fn&& fn) {
  fn();  // warm-up
  Timing best;
  double total = 0;
  for (int r = 0; r < reps || total < min_total; ++r) {
    const double c0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const double s = seconds_since(t0);
    best.wall = std::min(best.wall, s);
    best.cpu = threads == 1 ? std::min(best.cpu, process_cpu_seconds() - c0) : best.wall;
    total += s;
    if (r > 400) break;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> isas = tessera::cpu::supported_kernel_isas();
  std::vector<int> thread_counts = {1, 2};
  DType layer_type = DType::kQ4_1, head_type = DType::kQ8_0;
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--isa") isas = {v};
    if (a == "--threads") thread_counts = {std::stoi(v)};
    if (a == "--reps") reps = std::stoi(v);
    if (a == "--type") {
      if (auto t = tessera::dtype_from_name(v)) layer_type = head_type = *t;
    }
  }

  print_matmul_header("tessera CPU matmul benchmark", layer_type, head_type, reps);

  std::mt19937 rng(42);
  // Distinct weights per layer, as in the model; a second copy on 2 MiB pages.
  std::vector<std::vector<Tensor>> layers(kLayers), layers_huge(kLayers);
  for (int l = 0; l < kLayers; ++l)
    for (const Shape& s : kShapes)
      if (!s.head) {
        layers[l].push_back(random_weight(layer_type, s.N, s.K, rng, false));
        layers_huge[l].push_back(random_weight(layer_type, s.N, s.K, rng, true));
      }
  const Tensor head = random_weight(head_type, kShapes[4].N, kShapes[4].K, rng, false);
  const Tensor head_huge = random_weight(head_type, kShapes[4].N, kShapes[4].K, rng, true);

  const int64_t kPrompt = 512;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(size_t(kPrompt) * 1536);
  for (float& v : x) v = normal(rng);
  std::vector<float> out(size_t(kPrompt) * 49152);

  std::printf("%-12s %-3s %-8s %6s %6s %4s %10s %10s %9s %8s\n", "isa", "thr", "shape", "N", "K",
              "T", "wall_us", "cpu_us", "GFLOP/s", "GB/s");
  std::printf(
      "(GFLOP/s and GB/s of weight bytes from the smaller of wall_us and cpu_us;\n"
      " cpu_us only for 1 thread)\n");
  for (const std::string& isa : isas) {
    if (!tessera::cpu::set_kernel_isa(isa)) continue;
    for (int threads : thread_counts) {
      tessera::set_num_threads(threads);
      Timing layer_time[2], head_time[2];
      for (int i = 0; i < 2; ++i)
        layer_time[i].wall = layer_time[i].cpu = head_time[i].wall = head_time[i].cpu = 0;
      for (int ti = 0; ti < 2; ++ti) {
        const int64_t T = ti == 0 ? 1 : kPrompt;
        for (size_t si = 0; si < std::size(kShapes); ++si) {
          const Shape& s = kShapes[si];
          if (s.head && T > 1) continue;  // logits are needed for the last prompt token only
          const Tensor& w = s.head ? head : layers[0][si];
          const int r = T == 1 ? reps * 40 : reps;
          const Timing tm = best_time(r, T == 1 ? 0.05 : 0.2, threads, [&] {
            tessera::cpu::matmul(x.data(), T, s.K, w, out.data(), s.N);
          });
          const double t = std::min(tm.wall, tm.cpu);
          const double flops = 2.0 * double(T) * double(s.N) * double(s.K);
          std::printf("%-12s %-3d %-8s %6ld %6ld %4ld %10.1f %10.1f %9.1f %8.1f\n", isa.c_str(),
                      threads, s.name, long(s.N), long(s.K), long(T), tm.wall * 1e6, tm.cpu * 1e6,
                      flops / t * 1e-9, double(w.nbytes()) / t * 1e-9);
          Timing& sum = s.head ? head_time[ti] : layer_time[ti];
          sum.wall += tm.wall;
          sum.cpu += tm.cpu;
        }
      }
      // Whole decode step, weights streamed from memory: 30 distinct layers + head.
      auto decode_step = [&](const std::vector<std::vector<Tensor>>& ls, const Tensor& h) {
        return best_time(std::max(10, 3 * reps), 2.0, threads, [&] {
          for (const auto& layer : ls)
            for (size_t si = 0; si < layer.size(); ++si)
              tessera::cpu::matmul(x.data(), 1, kShapes[si].K, layer[si], out.data(),
                                   kShapes[si].N);
          tessera::cpu::matmul(x.data(), 1, 576, h, out.data(), 49152);
        });
      };
      const Timing decode = decode_step(layers, head);
      const Timing decode_huge = decode_step(layers_huge, head_huge);
      const double prompt_wall = kLayers * layer_time[1].wall + head_time[0].wall;
      const double prompt_cpu = kLayers * layer_time[1].cpu + head_time[0].cpu;
      std::printf(
          "%-12s %-3d => decode step, 30 distinct layers + head streamed from memory: wall %.2f ms "
          "(%.0f tok/s), cpu %.2f ms (%.0f tok/s); on 2 MiB pages: wall %.2f ms, cpu %.2f ms; "
          "per-shape sum %.2f ms\n",
          isa.c_str(), threads, decode.wall * 1e3, 1.0 / decode.wall, decode.cpu * 1e3,
          1.0 / decode.cpu, decode_huge.wall * 1e3, decode_huge.cpu * 1e3,
          (kLayers * layer_time[0].cpu + head_time[0].cpu) * 1e3);
      std::printf(
          "%-12s %-3d => prompt of 512 (30 layers at T=512 + head for the last token): wall %.1f "
          "ms "
          "(%.0f tok/s), cpu %.1f ms (%.0f tok/s)\n\n",
          isa.c_str(), threads, prompt_wall * 1e3, double(kPrompt) / prompt_wall, prompt_cpu * 1e3,
          double(kPrompt) / prompt_cpu);
    }
  }
  return 0;
}
