// Flags shared by every command that runs the engine (names as in vllm serve
// / llama.cpp where those exist).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "tessera/engine/engine.h"

namespace tessera::cli {

struct EngineFlags {
  EngineConfig config;
  std::string kv_cache_memory;  // "512M", "2G", bytes
};

void add_engine_flags(CLI::App& app, EngineFlags& flags);
// Applies what needs parsing (sizes) and returns the config.
EngineConfig engine_config(const EngineFlags& flags);
// "512M" -> bytes; Error(kInvalidArgument) naming `flag` when malformed.
int64_t parse_size(const std::string& text, const std::string& flag);

}  // namespace tessera::cli
