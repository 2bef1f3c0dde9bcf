// The two CPU activation precisions side by side on SmolLM2-135M's shapes
// (as the model runs them: fused q/k/v and gate/up projections, Q4_1 layers,
// Q8_0 output head) with random weights: f32 (the default float-activation
// kernels over prepared weights) and int8 (8-bit activations). For each
// kernel family and thread count it prints per-shape time, GFLOP/s and
// weight GB/s at T=1 (decode), T=64 (a decode step of 64 sequences) and
// T=512 (prompt), then the whole-model
// matmul estimate: 30 layers of distinct weights (so decode streams ~96 MB
// from memory like the real model) plus the head, for one sequence and for a
// decode step of 64 sequences. All weights sit on 2 MiB
// pages (the packed f32 copies always do), so neither side pays TLB misses
// the other does not.
//
//   bench_matmul_f32act [--isa NAME] [--threads N] [--type Q4_0|...] [--reps N]
//                       [--precision f32|int8|both]
//
// The precisions take turns inside each timing round (same machine load).
//
// Timings are the best of several repeats: other work on the machine only
// ever slows a run down.
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
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

// Best wall time over `reps` rounds (at least min_total seconds in all) of
// fn under each activation precision, the precisions taking turns inside
// each round so that both see the same machine load; and the best process
// CPU time per thread: on a loaded machine a run that gets preempted loses
// wall time but no CPU time, so cpu approximates the wall time on an idle
// machine (it includes the threads' spin-waits, so it never flatters a badly
// balanced split).
struct Timing {
  double wall = 1e30, cpu = 1e30;
};
using Precision = tessera::cpu::ActivationPrecision;
template <typename Fn>
std::vector<Timing> best_times(const std::vector<Precision>& precisions, int reps, double min_total,
                               Fn&& fn) {
  std::vector<Timing> best(precisions.size());
  for (const Precision p : precisions) {  // warm-up (and first-use weight packing)
    tessera::cpu::set_activation_precision(p);
    fn();
  }
  double total = 0;
  for (int r = 0; r < reps || total < min_total; ++r) {
    for (size_t i = 0; i < precisions.size(); ++i) {
      tessera::cpu::set_activation_precision(precisions[i]);
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = process_cpu_seconds();
      fn();
      const double s = seconds_since(t0);
      best[i].wall = std::min(best[i].wall, s);
      best[i].cpu = std::min(best[i].cpu, (process_cpu_seconds() - c0) / tessera::num_threads());
      total += s;
    }
    if (r > 400) break;
  }
  return best;
}

const char* precision_name(Precision p) { return p == Precision::kFloat ? "f32" : "int8"; }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> isas = tessera::cpu::supported_kernel_isas();
  std::vector<int> thread_counts = {1, 2};
  DType layer_type = DType::kQ4_1, head_type = DType::kQ8_0;
  int reps = 5;
  std::vector<Precision> precisions = {Precision::kFloat, Precision::kInt8};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--isa") isas = {v};
    if (a == "--threads") thread_counts = {std::stoi(v)};
    if (a == "--reps") reps = std::stoi(v);
    if (a == "--precision" && v == "f32") precisions = {Precision::kFloat};
    if (a == "--precision" && v == "int8") precisions = {Precision::kInt8};
    if (a == "--type") {
      if (auto t = tessera::dtype_from_name(v)) layer_type = head_type = *t;
    }
  }

  print_matmul_header("tessera CPU matmul: float vs 8-bit activations", layer_type, head_type,
                      reps);

  std::mt19937 rng(42);
  // Distinct weights per layer, as in the model.
  std::vector<std::vector<Tensor>> layers(kLayers);
  for (auto& layer : layers)
    for (const Shape& s : kShapes)
      if (!s.head)
        layer.push_back(tessera::cpu::prepare_weight(random_weight(layer_type, s.N, s.K, rng)));
  const Tensor head =
      tessera::cpu::prepare_weight(random_weight(head_type, kShapes[4].N, kShapes[4].K, rng));

  const int64_t kPrompt = 512;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(size_t(kPrompt) * 1536);
  for (float& v : x) v = normal(rng);
  std::vector<float> out(size_t(kPrompt) * 49152);

  const size_t np = precisions.size();
  std::printf("%-12s %-3s %-8s %6s %6s %4s", "isa", "thr", "shape", "N", "K", "T");
  for (const Precision p : precisions)
    std::printf(" %9s_us %7s_cpu %6s_GF/s %5s_GB/s", precision_name(p), precision_name(p),
                precision_name(p), precision_name(p));
  std::printf("\n");
  for (const std::string& isa : isas) {
    if (!tessera::cpu::set_kernel_isa(isa)) continue;
    for (int threads : thread_counts) {
      tessera::set_num_threads(threads);
      std::vector<Timing> layer_time(np * 2, {0, 0}), head_time(np * 2, {0, 0});
      for (const int64_t T : {int64_t(1), int64_t(64), kPrompt}) {
        const int ti = T == 1 ? 0 : 1;  // the sums below: decode (T=1) and prompt
        for (size_t si = 0; si < std::size(kShapes); ++si) {
          const Shape& s = kShapes[si];
          // A prompt needs logits for its last token only; a 64-sequence
          // decode step for every row.
          if (s.head && T == kPrompt) continue;
          const Tensor& w = s.head ? head : layers[0][si];
          const int r = T == 1 ? reps * 20 : reps;
          const std::vector<Timing> t = best_times(precisions, r, T == 1 ? 0.05 : 0.2, [&] {
            tessera::cpu::matmul(x.data(), T, s.K, w, out.data(), s.N);
          });
          const double flops = 2.0 * double(T) * double(s.N) * double(s.K);
          std::printf("%-12s %-3d %-8s %6ld %6ld %4ld", isa.c_str(), threads, s.name, long(s.N),
                      long(s.K), long(T));
          for (size_t i = 0; i < np; ++i) {
            std::printf(" %12.1f %11.1f %12.1f %10.1f", t[i].wall * 1e6, t[i].cpu * 1e6,
                        flops / t[i].wall * 1e-9, double(w.nbytes()) / t[i].wall * 1e-9);
            if (T == 64) continue;
            Timing& sum = (s.head ? head_time : layer_time)[np * ti + i];
            sum.wall += t[i].wall;
            sum.cpu += t[i].cpu;
          }
          std::printf("\n");
        }
      }
      // Whole decode step, weights streamed from memory: 30 distinct layers + head.
      const std::vector<Timing> decode = best_times(precisions, std::max(3, reps), 0.5, [&] {
        for (const auto& layer : layers)
          for (size_t si = 0; si < layer.size(); ++si)
            tessera::cpu::matmul(x.data(), 1, kShapes[si].K, layer[si], out.data(), kShapes[si].N);
        tessera::cpu::matmul(x.data(), 1, 576, head, out.data(), 49152);
      });
      // A decode step of a 64-sequence batch: every layer and the head at T=64.
      constexpr int64_t kBatch = 64;
      const std::vector<Timing> batched = best_times(precisions, std::max(3, reps), 0.5, [&] {
        for (const auto& layer : layers)
          for (size_t si = 0; si < layer.size(); ++si)
            tessera::cpu::matmul(x.data(), kBatch, kShapes[si].K, layer[si], out.data(),
                                 kShapes[si].N);
        tessera::cpu::matmul(x.data(), kBatch, 576, head, out.data(), 49152);
      });
      double step_flops = 2.0 * kBatch * 576 * 49152;
      for (size_t si = 0; si < std::size(kShapes); ++si)
        if (!kShapes[si].head)
          step_flops += 2.0 * kLayers * kBatch * double(kShapes[si].N) * double(kShapes[si].K);
      for (size_t i = 0; i < np; ++i) {
        const char* act = precision_name(precisions[i]);
        std::printf(
            "%-12s %-3d %-4s => decode step of %ld sequences (30 layers + head at T=%ld): %.2f ms "
            "= "
            "%.0f tok/s, %.1f GFLOP/s\n",
            isa.c_str(), threads, act, long(kBatch), long(kBatch), batched[i].wall * 1e3,
            double(kBatch) / batched[i].wall, step_flops / batched[i].wall * 1e-9);
        const double prompt = kLayers * layer_time[np + i].wall + head_time[i].wall;
        const double prompt_cpu = kLayers * layer_time[np + i].cpu + head_time[i].cpu;
        std::printf(
            "%-12s %-3d %-4s => decode step (30 layers + head, streamed): %.2f ms = %.0f tok/s, "
            "cpu %.2f ms (sum of per-shape T=1: %.2f ms)\n",
            isa.c_str(), threads, act, decode[i].wall * 1e3, 1.0 / decode[i].wall,
            decode[i].cpu * 1e3, (kLayers * layer_time[i].wall + head_time[i].wall) * 1e3);
        std::printf(
            "%-12s %-3d %-4s => prompt T=512 (30 layers x T=512 + head for the last token): "
            "%.1f ms = %.0f tok/s, cpu %.1f ms = %.0f tok/s\n",
            isa.c_str(), threads, act, prompt * 1e3, double(kPrompt) / prompt, prompt_cpu * 1e3,
            double(kPrompt) / prompt_cpu);
      }
      std::printf("\n");
    }
  }
  return 0;
}
