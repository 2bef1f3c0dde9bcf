// The tables `tessera bench` prints: the machine, the date, the engine
// settings, then one row per measurement.
#pragma once

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
};

std::string machine_description();  // CPU model and cores (and GPU when used)
std::string today();

void print_throughput_table(const EngineConfig& config, const std::string& workload,
                            const std::vector<std::pair<std::string, ThroughputFigures>>& rows,
                            const EngineStats& stats);

}  // namespace tessera::cli
