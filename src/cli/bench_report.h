// The tables `tessera bench` prints: the machine, the date, the engine
// settings, then one row per measurement.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/engine/engine.h"

namespace tessera::cli {

struct ThroughputFigures {
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  double seconds = 0;
  int64_t steps = 0;  // engine steps the run took
};

// What the roofline columns need: the ceilings measured in the same run and
// the model's size (see bench_roofline.h).
struct RooflineInputs {
  std::string device;
  double copy_bytes_per_s = 0;
  double gemm_flops_per_s = 0;
  double weight_bytes = 0;  // read by every step
  double layer_params = 0;  // multiplied by every token
  double head_params = 0;   // multiplied by every token that needs logits
};

std::string machine_description();  // CPU model and cores (and GPU when used)
std::string today();

void print_throughput_table(const EngineConfig& config, const std::string& workload,
                            const std::vector<std::pair<std::string, ThroughputFigures>>& rows,
                            const EngineStats& stats,
                            const std::optional<RooflineInputs>& roofline = std::nullopt);

}  // namespace tessera::cli
