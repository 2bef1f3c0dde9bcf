#include "bench_report.h"

#include <fmt/format.h>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "tessera/backend/quant.h"
#include "tessera/core/parallel.h"

namespace tessera::cli {

std::string machine_description() {
  std::ifstream f("/proc/cpuinfo");
  std::string cpu = "unknown CPU";
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  return fmt::format("{}, {} threads", cpu, num_threads());
}

std::string today() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

void print_throughput_table(const EngineConfig& config, const std::string& workload,
                            const std::vector<std::pair<std::string, ThroughputFigures>>& rows,
                            const EngineStats& stats, const std::optional<RooflineInputs>& roof) {
  std::string precision = fmt::format("{} activations", dtype_name(resolve_dtype(config)));
  if (config.device == "cpu") {
    // The CPU computes in float32; what sets its speed is the matmul
    // precision (--cpu-activations) and the cache type.
    const cpu::ActivationPrecision p = cpu::activation_precision();
    precision = fmt::format("{} matmul activations, {} KV cache",
                            p == cpu::ActivationPrecision::kInt8    ? "int8"
                            : p == cpu::ActivationPrecision::kInt16 ? "int16"
                                                                    : "f32",
                            config.kv_cache_dtype == "auto" ? "f32" : config.kv_cache_dtype);
  }
  std::printf("tessera bench throughput: %s on %s, %s\n", config.model.c_str(),
              config.device.c_str(), precision.c_str());
  std::printf("machine: %s; date %s\n", machine_description().c_str(), today().c_str());
  if (roof)
    std::printf(
        "device: %s; ceilings (this run): copy %.0f GB/s (read + written), GEMM %.1f "
        "TFLOP/s\n",
        roof->device.c_str(), roof->copy_bytes_per_s / 1e9, roof->gemm_flops_per_s / 1e12);
  std::printf("workload: %s; max-num-seqs %d, max-num-batched-tokens %d, %d KV blocks\n\n",
              workload.c_str(), config.max_num_seqs, config.max_num_batched_tokens,
              stats.kv_cache_blocks);
  std::printf("| run | seconds | requests/s | output tok/s | total tok/s | vs first row |%s\n",
              roof ? " steps | GEMM use | weight-read use | of roofline |" : "");
  std::printf("|-----|--------:|-----------:|-------------:|------------:|-------------:|%s\n",
              roof ? "------:|---------:|----------------:|------------:|" : "");
  const double base = rows.empty() ? 0 : rows[0].second.output_tokens / rows[0].second.seconds;
  for (const auto& [name, f] : rows) {
    const double out_rate = double(f.output_tokens) / f.seconds;
    std::printf("| %s | %.2f | %.2f | %.1f | %.1f | %.2fx |", name.c_str(), f.seconds,
                double(f.requests) / f.seconds, out_rate,
                double(f.prompt_tokens + f.output_tokens) / f.seconds, out_rate / base);
    if (roof) {
      // The run cannot be faster than its matmul flops at the GEMM rate, nor
      // than reading the weights once per step at the copy bandwidth.
      const double flops = 2.0 * (roof->layer_params * double(f.prompt_tokens + f.output_tokens) +
                                  roof->head_params * double(f.output_tokens));
      const double flop_s = flops / roof->gemm_flops_per_s;
      const double byte_s = roof->weight_bytes * double(f.steps) / roof->copy_bytes_per_s;
      std::printf(" %lld | %.1f%% | %.1f%% | %.1f%% |", static_cast<long long>(f.steps),
                  100.0 * flop_s / f.seconds, 100.0 * byte_s / f.seconds,
                  100.0 * std::max(flop_s, byte_s) / f.seconds);
    }
    std::printf("\n");
  }
  if (roof)
    std::printf(
        "\nGEMM use = 2 x params x tokens / GEMM rate / time (attention flops left out); "
        "weight-read use = steps x weight bytes / copy bandwidth / time; roofline = the "
        "larger of the two\n");
  std::printf("\npreemptions %lld, prefix-cache hits %lld of %lld prompt tokens\n",
              static_cast<long long>(stats.num_preemptions),
              static_cast<long long>(stats.prefix_cache_hits),
              static_cast<long long>(stats.prefix_cache_queries));
}

}  // namespace tessera::cli
