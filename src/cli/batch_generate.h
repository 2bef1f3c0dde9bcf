// Offline batch mode: every prompt of a JSONL file goes into the engine at
// once; continuous batching runs them together; results come out in input
// order.
#pragma once

#include <string>

#include "tessera/engine/engine.h"

namespace tessera::cli {

struct BatchOptions {
  std::string input;   // JSONL: {"prompt": "...", "max_tokens": 64, "temperature": 0, ...}
  std::string output;  // JSONL results; empty: stdout
  int default_max_tokens = 128;
  float default_temperature = 0.0f;
  bool progress = true;
};

int run_batch(const EngineConfig& config, const BatchOptions& options);

}  // namespace tessera::cli
