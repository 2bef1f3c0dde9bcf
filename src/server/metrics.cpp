#include "metrics.h"

#include <fmt/format.h>

namespace tessera::server {

namespace {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void gauge(std::string& out, std::string_view name, std::string_view help, std::string_view labels,
           double value) {
  header(out, name, "gauge", help);
  fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
}

void counter(std::string& out, std::string_view name, std::string_view help,
             std::string_view labels, double value) {
  // HELP/TYPE name the sample itself (x_total), as the exposition format
  // and prometheus_client's parser expect.
  std::string total = fmt::format("{}_total", name);
  header(out, total, "counter", help);
  fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", total, labels, value);
}

std::string format_bound(double b) { return fmt::format("{}", b); }

}  // namespace

std::string prometheus_escape(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    std::string le = i < bounds_.size() ? format_bound(bounds_[i]) : "+Inf";
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, le,
                   cumulative);
  }
  fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels,
                 sum_, name, labels, count_);
}

ServerMetrics::ServerMetrics(std::string model_name)
    : labels_(fmt::format("model_name=\"{}\"", prometheus_escape(model_name))),
      ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0, 20.0, 40.0, 80.0}),
      tpot_({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
             10.0, 20.0, 40.0, 80.0}),
      e2e_({0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
            240.0, 480.0, 960.0}),
      prompt_tokens_(
          {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}),
      generation_tokens_(
          {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}) {}

void ServerMetrics::count_http(std::string_view route, int status) {
  std::lock_guard lock(mu_);
  ++http_counts_[{std::string(route), status}];
}

void ServerMetrics::record_request(const RequestRecord& r) {
  std::lock_guard lock(mu_);
  ++finished_by_reason_[static_cast<size_t>(r.finish)];
  e2e_.observe(r.e2e_s);
  prompt_tokens_.observe(r.prompt_tokens);
  generation_tokens_.observe(r.generation_tokens);
  if (r.ttft_s) {
    ttft_.observe(*r.ttft_s);
    // Time per output token after the first one, as vLLM reports it.
    if (r.generation_tokens > 1)
      tpot_.observe((r.e2e_s - *r.ttft_s) / static_cast<double>(r.generation_tokens - 1));
  }
}

std::string ServerMetrics::render(const BackendStats& s) const {
  std::string out;
  const std::string& l = labels_;
  gauge(out, "tessera:num_requests_running", "Requests in the engine's running batch.", l,
        s.num_running);
  gauge(out, "tessera:num_requests_waiting", "Requests waiting to be scheduled.", l, s.num_waiting);
  gauge(out, "tessera:kv_cache_usage_perc", "Fraction of KV-cache blocks in use (1 = full).", l,
        s.kv_cache_usage);
  gauge(out, "tessera:kv_cache_blocks", "Number of KV-cache blocks.", l, s.kv_cache_blocks);
  double hit_rate = s.prefix_cache_queries > 0 ? static_cast<double>(s.prefix_cache_hits) /
                                                     static_cast<double>(s.prefix_cache_queries)
                                               : 0.0;
  gauge(out, "tessera:prefix_cache_hit_rate",
        "Fraction of prompt tokens looked up in the prefix cache that were found there.", l,
        hit_rate);
  counter(out, "tessera:prefix_cache_queries", "Prompt tokens looked up in the prefix cache.", l,
          static_cast<double>(s.prefix_cache_queries));
  counter(out, "tessera:prefix_cache_hits", "Prompt tokens found in the prefix cache.", l,
          static_cast<double>(s.prefix_cache_hits));
  counter(out, "tessera:num_preemptions", "Requests preempted for lack of KV-cache blocks.", l,
          static_cast<double>(s.num_preemptions));
  counter(out, "tessera:prompt_tokens", "Prompt tokens computed (prefix-cache hits excluded).", l,
          static_cast<double>(s.prompt_tokens));
  counter(out, "tessera:generation_tokens", "Tokens generated.", l,
          static_cast<double>(s.generation_tokens));

  std::lock_guard lock(mu_);
  header(out, "tessera:request_success_total", "counter", "Finished requests by finish reason.");
  for (Finish f : {Finish::kStop, Finish::kLength, Finish::kAbort})
    fmt::format_to(std::back_inserter(out),
                   "tessera:request_success_total{{{},finished_reason=\"{}\"}} {}\n", l,
                   finish_name(f), finished_by_reason_[static_cast<size_t>(f)]);
  header(out, "tessera:http_requests_total", "counter", "HTTP requests by route and status.");
  for (const auto& [key, count] : http_counts_)
    fmt::format_to(std::back_inserter(out),
                   "tessera:http_requests_total{{{},route=\"{}\",status=\"{}\"}} {}\n", l,
                   prometheus_escape(key.first), key.second, count);

  auto histogram = [&](const Histogram& h, std::string_view name, std::string_view help) {
    header(out, name, "histogram", help);
    h.render(out, name, l);
  };
  histogram(ttft_, "tessera:time_to_first_token_seconds",
            "Time from request arrival to its first generated token.");
  histogram(tpot_, "tessera:time_per_output_token_seconds",
            "Mean time per generated token after the first, per request.");
  histogram(e2e_, "tessera:e2e_request_latency_seconds",
            "Time from request arrival to its last token.");
  histogram(prompt_tokens_, "tessera:request_prompt_tokens", "Prompt length per request.");
  histogram(generation_tokens_, "tessera:request_generation_tokens",
            "Generated tokens per request.");
  return out;
}

}  // namespace tessera::server
