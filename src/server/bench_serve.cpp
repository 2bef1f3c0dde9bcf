// The serving benchmark client: one io thread, one connection per request
// (as a fresh client would), server-sent events parsed as they arrive.
#include "tessera/server/bench_serve.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <random>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "tessera/core/error.h"

namespace tessera::server {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Url {
  std::string host;
  std::string port = "80";
  std::string prefix;  // path before the endpoint, without a trailing '/'
};

Url parse_url(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0)
    fail(ErrorKind::kInvalidArgument, "--url must start with http:// (got '{}')", url);
  std::string rest = url.substr(kScheme.size());
  Url out;
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) out.prefix = rest.substr(slash);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  // A bare /v1 prefix is the usual OpenAI base URL: the endpoint has it already.
  if (out.prefix == "/v1") out.prefix.clear();
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  } else {
    out.host = authority;
  }
  if (out.host.empty()) fail(ErrorKind::kInvalidArgument, "no host in --url '{}'", url);
  return out;
}

std::vector<std::string> make_prompts(const BenchServeOptions& o) {
  std::vector<std::string> prompts;
  if (!o.prompt_file.empty()) {
    std::ifstream in(o.prompt_file);
    if (!in) fail(ErrorKind::kNotFound, "cannot read --prompt-file {}", o.prompt_file);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
    if (lines.empty())
      fail(ErrorKind::kInvalidArgument, "--prompt-file {} has no prompts", o.prompt_file);
    for (int i = 0; i < o.num_prompts; ++i)
      prompts.push_back(lines[static_cast<size_t>(i) % lines.size()]);
    return prompts;
  }
  static constexpr const char* kWords[] = {
      "time",    "year",    "people",   "way",    "day",        "man",    "thing",   "woman",
      "life",    "child",   "world",    "school", "state",      "family", "student", "group",
      "country", "problem", "hand",     "part",   "place",      "case",   "week",    "company",
      "system",  "program", "question", "work",   "government", "number", "night",   "point",
      "home",    "water",   "room",     "mother", "area",       "money",  "story",   "fact",
      "month",   "lot",     "right",    "study",  "book",       "eye",    "job",     "word"};
  std::mt19937_64 rng(o.seed);
  for (int i = 0; i < o.num_prompts; ++i) {
    std::string p;
    for (int w = 0; w < o.input_len; ++w) {
      if (w) p += ' ';
      p += kWords[rng() % std::size(kWords)];
    }
    prompts.push_back(std::move(p));
  }
  return prompts;
}

class Runner;

// One request: connect, send, read the event stream as it comes.
class RequestOp : public std::enable_shared_from_this<RequestOp> {
 public:
  RequestOp(Runner& runner, size_t index, std::string body);
  void start();

 private:
  void fail_with(const std::string& what);
  void read_some();
  void feed(size_t n, Clock::time_point now);
  void finish();

  Runner& runner_;
  size_t index_;
  RequestMetrics metrics_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::array<char, 16384> chunk_{};
  std::string pending_;  // bytes of an event not yet complete
  std::string error_body_;
  Clock::time_point start_;
  std::optional<Clock::time_point> last_token_;
  int chunks_with_text_ = 0;
  bool saw_done_ = false;
  bool finished_ = false;
  int status_ = 0;
};

class Runner {
 public:
  Runner(const BenchServeOptions& o, std::string model)
      : options(o), url(parse_url(o.url)), model_(std::move(model)), timer_(ioc) {}

  BenchServeResult run() {
    std::vector<std::string> prompts = make_prompts(options);
    tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) fail(ErrorKind::kNotFound, "cannot resolve {}: {}", url.host, ec.message());
    bool chat = options.endpoint.find("chat") != std::string::npos;
    for (const auto& p : prompts) {
      json body = {{"model", model_},
                   {"max_tokens", options.output_len},
                   {"temperature", 0},
                   {"stream", true},
                   {"stream_options", {{"include_usage", true}}}};
      if (options.ignore_eos) body["ignore_eos"] = true;
      if (chat)
        body["messages"] = json::array({{{"role", "user"}, {"content", p}}});
      else
        body["prompt"] = p;
      bodies_.push_back(body.dump());
    }
    result_.requests.resize(bodies_.size());
    result_.model = model_;
    // Poisson arrivals: exponential gaps with mean 1/rate.
    std::mt19937_64 rng(options.seed ^ 0x5EED);
    double t = 0;
    for (size_t i = 0; i < bodies_.size(); ++i) {
      arrivals_.push_back(t);
      if (std::isfinite(options.request_rate) && options.request_rate > 0)
        t += std::exponential_distribution<double>(options.request_rate)(rng);
    }
    start_ = Clock::now();
    schedule_next();
    ioc.run();
    result_.duration_s = std::chrono::duration<double>(Clock::now() - start_).count();
    return std::move(result_);
  }

  void done(size_t index, RequestMetrics metrics) {
    result_.requests[index] = std::move(metrics);
    --in_flight_;
    if (!queued_.empty()) {
      size_t next = queued_.front();
      queued_.pop_front();
      launch(next);
    }
  }

  const BenchServeOptions& options;
  Url url;
  net::io_context ioc;
  tcp::resolver::results_type endpoints;

 private:
  void schedule_next() {
    if (next_ >= bodies_.size()) return;
    auto at = start_ + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(arrivals_[next_]));
    timer_.expires_at(at);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      // Everything due by now goes out together.
      while (next_ < bodies_.size() &&
             start_ + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(arrivals_[next_])) <=
                 Clock::now()) {
        size_t i = next_++;
        if (options.max_concurrency > 0 && in_flight_ >= options.max_concurrency)
          queued_.push_back(i);
        else
          launch(i);
      }
      schedule_next();
    });
  }

  void launch(size_t i) {
    ++in_flight_;
    std::make_shared<RequestOp>(*this, i, bodies_[i])->start();
  }

  std::string model_;
  net::steady_timer timer_;
  std::vector<std::string> bodies_;
  std::vector<double> arrivals_;
  std::deque<size_t> queued_;
  size_t next_ = 0;
  int in_flight_ = 0;
  Clock::time_point start_;
  BenchServeResult result_;
};

RequestOp::RequestOp(Runner& runner, size_t index, std::string body)
    : runner_(runner), index_(index), stream_(runner.ioc) {
  request_.method(http::verb::post);
  request_.target(runner.url.prefix + runner.options.endpoint);
  request_.version(11);
  request_.set(http::field::host, runner.url.host + ":" + runner.url.port);
  request_.set(http::field::content_type, "application/json");
  request_.set(http::field::connection, "close");
  if (!runner.options.api_key.empty())
    request_.set(http::field::authorization, "Bearer " + runner.options.api_key);
  request_.body() = std::move(body);
  request_.prepare_payload();
}

void RequestOp::start() {
  start_ = Clock::now();
  stream_.expires_after(
      std::chrono::milliseconds(static_cast<int64_t>(runner_.options.timeout_s * 1000)));
  stream_.async_connect(runner_.endpoints, [self = shared_from_this()](boost::system::error_code ec,
                                                                       const tcp::endpoint&) {
    if (ec) return self->fail_with("connect: " + ec.message());
    http::async_write(self->stream_, self->request_, [self](boost::system::error_code ec, size_t) {
      if (ec) return self->fail_with("write: " + ec.message());
      self->parser_.emplace();
      self->parser_->body_limit(boost::none);
      http::async_read_header(self->stream_, self->buffer_, *self->parser_,
                              [self](boost::system::error_code ec, size_t) {
                                if (ec) return self->fail_with("read: " + ec.message());
                                self->status_ = self->parser_->get().result_int();
                                self->read_some();
                              });
    });
  });
}

void RequestOp::read_some() {
  if (parser_->is_done()) return finish();
  auto& body = parser_->get().body();
  body.data = chunk_.data();
  body.size = chunk_.size();
  http::async_read_some(stream_, buffer_, *parser_,
                        [self = shared_from_this()](boost::system::error_code ec, size_t) {
                          if (ec == http::error::need_buffer) ec = {};
                          size_t n = self->chunk_.size() - self->parser_->get().body().size;
                          if (n > 0) self->feed(n, Clock::now());
                          if (ec && ec != http::error::end_of_stream)
                            return self->fail_with("read: " + ec.message());
                          if (ec == http::error::end_of_stream || self->parser_->is_done())
                            return self->finish();
                          self->read_some();
                        });
}

void RequestOp::feed(size_t n, Clock::time_point now) {
  if (status_ != 200) {
    error_body_.append(chunk_.data(),
                       std::min<size_t>(n, 512 - std::min<size_t>(512, error_body_.size())));
    return;
  }
  pending_.append(chunk_.data(), n);
  RequestMetrics& m = metrics_;
  size_t end;
  while ((end = pending_.find("\n\n")) != std::string::npos) {
    std::string event = pending_.substr(0, end);
    pending_.erase(0, end + 2);
    if (event.rfind("data: ", 0) != 0) continue;
    std::string data = event.substr(6);
    if (data == "[DONE]") {
      saw_done_ = true;
      continue;
    }
    json chunk = json::parse(data, nullptr, false);
    if (chunk.is_discarded()) continue;
    if (chunk.contains("usage") && chunk["usage"].is_object()) {
      m.output_tokens = chunk["usage"].value("completion_tokens", 0);
      m.prompt_tokens = chunk["usage"].value("prompt_tokens", 0);
    }
    if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty())
      continue;
    const json& choice = chunk["choices"][0];
    std::string text;
    if (choice.contains("text") && choice["text"].is_string()) text = choice["text"];
    if (choice.contains("delta") && choice["delta"].is_object() &&
        choice["delta"].contains("content") && choice["delta"]["content"].is_string())
      text = choice["delta"]["content"];
    if (text.empty()) continue;
    if (!last_token_)
      m.ttft_s = std::chrono::duration<double>(now - start_).count();
    else
      m.itl_s.push_back(std::chrono::duration<double>(now - *last_token_).count());
    last_token_ = now;
    ++chunks_with_text_;
  }
}

void RequestOp::fail_with(const std::string& what) {
  if (finished_) return;
  finished_ = true;
  metrics_.ok = false;
  metrics_.error = what;
  metrics_.latency_s = std::chrono::duration<double>(Clock::now() - start_).count();
  boost::system::error_code ignored;
  stream_.socket().close(ignored);
  runner_.done(index_, std::move(metrics_));
}

void RequestOp::finish() {
  if (finished_) return;
  if (status_ != 200) return fail_with(fmt::format("HTTP {}: {}", status_, error_body_));
  if (!saw_done_) return fail_with("the stream ended without [DONE]");
  if (!last_token_) return fail_with("no tokens in the stream");
  finished_ = true;
  metrics_.ok = true;
  metrics_.latency_s = std::chrono::duration<double>(Clock::now() - start_).count();
  if (metrics_.output_tokens == 0) metrics_.output_tokens = chunks_with_text_;
  boost::system::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  runner_.done(index_, std::move(metrics_));
}

// The first model the server lists.
std::string discover_model(const BenchServeOptions& o) {
  Url url = parse_url(o.url);
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (!ec) {
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(endpoints, ec);
  }
  if (ec) fail(ErrorKind::kNotFound, "cannot reach {}: {}", o.url, ec.message());
  http::request<http::string_body> req(http::verb::get, url.prefix + "/v1/models", 11);
  req.set(http::field::host, url.host + ":" + url.port);
  if (!o.api_key.empty()) req.set(http::field::authorization, "Bearer " + o.api_key);
  http::write(stream, req, ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (!ec) http::read(stream, buffer, res, ec);
  if (ec) fail(ErrorKind::kNotFound, "GET /v1/models failed: {}", ec.message());
  json models = json::parse(res.body(), nullptr, false);
  if (res.result_int() != 200 || models.is_discarded() || !models.contains("data") ||
      !models["data"].is_array() || models["data"].empty() || !models["data"][0].contains("id"))
    fail(ErrorKind::kNotFound, "GET /v1/models answered {}: {}", res.result_int(),
         res.body().substr(0, 200));
  return models["data"][0]["id"].get<std::string>();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  // Linear interpolation between closest ranks (numpy's default).
  double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

json stats_ms(const std::vector<double>& seconds, const std::vector<double>& percentiles) {
  std::vector<double> ms;
  ms.reserve(seconds.size());
  for (double s : seconds) ms.push_back(s * 1000.0);
  double mean = 0, var = 0;
  for (double x : ms) mean += x;
  if (!ms.empty()) mean /= static_cast<double>(ms.size());
  for (double x : ms) var += (x - mean) * (x - mean);
  if (!ms.empty()) var /= static_cast<double>(ms.size());
  json out = {{"mean", mean},
              {"median", percentile(ms, 50)},
              {"std", std::sqrt(var)},
              {"count", ms.size()}};
  for (double p : percentiles) out[fmt::format("p{}", p)] = percentile(ms, p);
  return out;
}

}  // namespace

BenchServeResult run_bench_serve(const BenchServeOptions& options) {
  if (options.num_prompts < 1)
    fail(ErrorKind::kInvalidArgument, "--num-prompts must be at least 1");
  if (options.output_len < 1) fail(ErrorKind::kInvalidArgument, "--output-len must be at least 1");
  if (!(options.request_rate > 0)) fail(ErrorKind::kInvalidArgument, "--request-rate must be > 0");
  std::string model = options.model.empty() ? discover_model(options) : options.model;
  Runner runner(options, model);
  return runner.run();
}

json bench_summary(const BenchServeResult& r, const BenchServeOptions& o) {
  std::vector<double> ttft, tpot, itl, e2e;
  int ok = 0;
  int64_t input = 0, output = 0;
  json errors = json::array();
  for (const auto& m : r.requests) {
    if (!m.ok) {
      if (errors.size() < 5) errors.push_back(m.error);
      continue;
    }
    ++ok;
    input += m.prompt_tokens;
    output += m.output_tokens;
    ttft.push_back(m.ttft_s);
    e2e.push_back(m.latency_s);
    if (m.output_tokens > 1)
      tpot.push_back((m.latency_s - m.ttft_s) / static_cast<double>(m.output_tokens - 1));
    itl.insert(itl.end(), m.itl_s.begin(), m.itl_s.end());
  }
  double d = r.duration_s > 0 ? r.duration_s : 1e-9;
  return {{"model", r.model},
          {"endpoint", o.endpoint},
          {"request_rate", std::isfinite(o.request_rate) ? json(o.request_rate) : json("inf")},
          {"max_concurrency", o.max_concurrency},
          {"num_prompts", r.requests.size()},
          {"completed", ok},
          {"failed", static_cast<int>(r.requests.size()) - ok},
          {"errors", errors},
          {"duration_s", r.duration_s},
          {"total_input_tokens", input},
          {"total_output_tokens", output},
          {"request_throughput", ok / d},
          {"output_throughput", static_cast<double>(output) / d},
          {"total_token_throughput", static_cast<double>(input + output) / d},
          {"ttft_ms", stats_ms(ttft, o.percentiles)},
          {"tpot_ms", stats_ms(tpot, o.percentiles)},
          {"itl_ms", stats_ms(itl, o.percentiles)},
          {"e2el_ms", stats_ms(e2e, o.percentiles)},
          {"percentiles", o.percentiles}};
}

std::string format_bench_report(const json& s) {
  std::string out;
  auto line = [&](std::string_view label, const std::string& value) {
    out += fmt::format("{:<40} {:>10}\n", label, value);
  };
  auto num = [](double v) { return fmt::format("{:.2f}", v); };
  auto section = [&](std::string_view title) {
    size_t pad = title.size() + 2 < 50 ? 50 - title.size() - 2 : 0;
    out += fmt::format("{:-^{}}\n", fmt::format(" {} ", title), title.size() + 2 + pad);
  };
  out += fmt::format("{:=^50}\n", " Serving Benchmark Result ");
  line("Successful requests:", std::to_string(s["completed"].get<int>()));
  line("Failed requests:", std::to_string(s["failed"].get<int>()));
  line("Benchmark duration (s):", num(s["duration_s"]));
  line("Total input tokens:", std::to_string(s["total_input_tokens"].get<int64_t>()));
  line("Total generated tokens:", std::to_string(s["total_output_tokens"].get<int64_t>()));
  line("Request throughput (req/s):", num(s["request_throughput"]));
  line("Output token throughput (tok/s):", num(s["output_throughput"]));
  line("Total token throughput (tok/s):", num(s["total_token_throughput"]));
  auto block = [&](std::string_view title, std::string_view key, std::string_view name) {
    section(title);
    const json& st = s[std::string(key)];
    line(fmt::format("Mean {} (ms):", name), num(st["mean"]));
    line(fmt::format("Median {} (ms):", name), num(st["median"]));
    for (double p : s["percentiles"].get<std::vector<double>>())
      line(fmt::format("P{} {} (ms):", p, name), num(st[fmt::format("p{}", p)]));
  };
  block("Time to First Token", "ttft_ms", "TTFT");
  block("Time per Output Token (excl. 1st token)", "tpot_ms", "TPOT");
  block("Inter-token Latency", "itl_ms", "ITL");
  block("End-to-end Latency", "e2el_ms", "E2EL");
  out += std::string(50, '=') + "\n";
  for (const auto& e : s["errors"]) out += fmt::format("error: {}\n", e.get<std::string>());
  return out;
}

}  // namespace tessera::server
