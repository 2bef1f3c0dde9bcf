// `tessera bench serve`: a load generator for any OpenAI-compatible server.
// Sends streaming completions (or chat completions) at a Poisson request
// rate, measures per request the time to first token (TTFT), time per
// output token after the first (TPOT), the gaps between streamed chunks
// (ITL) and end-to-end latency, and reports percentiles and throughput in
// the layout vLLM's serving benchmark uses, so numbers compare directly.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::server {

struct BenchServeOptions {
  std::string url = "http://127.0.0.1:8000";  // http://host:port, optionally with a path prefix
  std::string endpoint = "/v1/completions";   // or /v1/chat/completions
  std::string model;                          // empty: the first of /v1/models
  std::string api_key;
  double request_rate = std::numeric_limits<double>::infinity();  // per second
  int num_prompts = 100;
  int max_concurrency = 0;  // 0: no limit
  int input_len = 128;      // prompt length in words (about a token each)
  int output_len = 128;     // max_tokens
  bool ignore_eos = true;   // generate exactly output_len tokens where supported
  std::string prompt_file;  // one prompt per line instead of random words
  uint64_t seed = 0;
  std::vector<double> percentiles = {90, 99};  // the median is always reported
  double timeout_s = 600;  // per request
};

struct RequestMetrics {
  bool ok = false;
  std::string error;
  int prompt_tokens = 0;
  int output_tokens = 0;
  double ttft_s = 0;
  double latency_s = 0;
  std::vector<double> itl_s;  // gaps between chunks after the first
};

struct BenchServeResult {
  std::vector<RequestMetrics> requests;
  double duration_s = 0;
  std::string model;
};

// Runs the benchmark; Error(kInvalidArgument) for a bad URL,
// Error(kNotFound) when the server cannot be reached at all.
BenchServeResult run_bench_serve(const BenchServeOptions& options);

// Summary numbers: counts, throughput, mean/median/std/percentiles (ms) of
// TTFT, TPOT, ITL and E2E latency.
nlohmann::json bench_summary(const BenchServeResult& result, const BenchServeOptions& options);
std::string format_bench_report(const nlohmann::json& summary);

}  // namespace tessera::server
