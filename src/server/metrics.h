// Server-side metrics in the Prometheus text format: HTTP request counts,
// per-request latency histograms (time to first token, time per output
// token, end-to-end), token counts, plus the engine's gauges and counters
// read at scrape time. Names follow vLLM's with a `tessera:` prefix.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/server/backend.h"

namespace tessera::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // _bucket{le=...} (cumulative, ending with +Inf), _sum and _count lines.
  void render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

struct RequestRecord {
  std::optional<double> ttft_s;  // none when no token came out
  double e2e_s = 0.0;
  int prompt_tokens = 0;
  int generation_tokens = 0;
  Finish finish = Finish::kStop;
};

class ServerMetrics {
 public:
  explicit ServerMetrics(std::string model_name);

  void count_http(std::string_view route, int status);
  void record_request(const RequestRecord& record);
  std::string render(const BackendStats& stats) const;

 private:
  std::string labels_;  // model_name="..."
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> http_counts_;
  std::array<uint64_t, 3> finished_by_reason_{};  // indexed by Finish
  Histogram ttft_;
  Histogram tpot_;
  Histogram e2e_;
  Histogram prompt_tokens_;
  Histogram generation_tokens_;
};

// A label value escaped for the text format.
std::string prometheus_escape(std::string_view value);

}  // namespace tessera::server
