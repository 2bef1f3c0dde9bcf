// The serving benchmark client against the server on the fake engine.
#include "tessera/server/bench_serve.h"

#include <gtest/gtest.h>

#include "tessera/core/error.h"
#include "tessera/server/http_server.h"
#include "test_util.h"

namespace tessera::server::testing {
namespace {

class BenchServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.port = 0;
    server_ = std::make_unique<HttpServer>(config, router_);
    server_->start();
    options_.url = "http://127.0.0.1:" + std::to_string(server_->port());
    options_.num_prompts = 40;
    options_.input_len = 16;
    options_.output_len = 12;
  }
  void TearDown() override { server_->shutdown(std::chrono::milliseconds(0)); }

  FakeEngine backend_{[] {
    FakeEngineConfig c = fast_config();
    c.step_time = std::chrono::microseconds(1000);
    return c;
  }()};
  ApiRouter router_{ApiConfig{}, backend_};
  std::unique_ptr<HttpServer> server_;
  BenchServeOptions options_;
};

TEST_F(BenchServeTest, MeasuresEveryRequest) {
  BenchServeResult result = run_bench_serve(options_);
  EXPECT_EQ(result.model, "fake-model");  // asked /v1/models
  ASSERT_EQ(result.requests.size(), 40u);
  for (const auto& r : result.requests) {
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.output_tokens, 12);               // ignore_eos: exactly output_len
    EXPECT_GE(r.prompt_tokens, 1 + 16 * 3 + 15);  // BOS, 16 words of 3+ bytes, 15 spaces
    EXPECT_GT(r.ttft_s, 0);
    EXPECT_GE(r.latency_s, r.ttft_s);
    // One chunk per token, except tokens that end inside a UTF-8 character
    // (their text comes with the next chunk).
    EXPECT_LE(r.itl_s.size(), 11u);
    EXPECT_GE(r.itl_s.size(), 5u);
  }
  nlohmann::json s = bench_summary(result, options_);
  EXPECT_EQ(s["completed"], 40);
  EXPECT_EQ(s["failed"], 0);
  EXPECT_EQ(s["total_output_tokens"], 40 * 12);
  EXPECT_GT(s["output_throughput"].get<double>(), 0);
  // A step is ~1 ms: TPOT and ITL are around it, and percentiles are ordered.
  EXPECT_GT(s["tpot_ms"]["mean"].get<double>(), 0.5);
  EXPECT_LE(s["itl_ms"]["median"].get<double>(), s["itl_ms"]["p99"].get<double>());
  EXPECT_LE(s["ttft_ms"]["median"].get<double>(), s["ttft_ms"]["p90"].get<double>());
  std::string report = format_bench_report(s);
  EXPECT_NE(report.find("Successful requests:"), std::string::npos);
  EXPECT_NE(report.find("P99 TTFT (ms):"), std::string::npos);
}

TEST_F(BenchServeTest, PoissonRateChatAndConcurrencyLimit) {
  options_.endpoint = "/v1/chat/completions";
  options_.request_rate = 400;
  options_.max_concurrency = 4;
  options_.num_prompts = 20;
  BenchServeResult result = run_bench_serve(options_);
  nlohmann::json s = bench_summary(result, options_);
  EXPECT_EQ(s["completed"], 20) << s.dump();
  // At most 4 in flight: 20 requests of >= 13 steps take at least 5 rounds.
  EXPECT_GT(result.duration_s, 5 * 13 * 0.001);
}

TEST_F(BenchServeTest, ReportsFailures) {
  options_.model = "no-such-model";
  options_.num_prompts = 3;
  BenchServeResult result = run_bench_serve(options_);
  for (const auto& r : result.requests) {
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("HTTP 404"), std::string::npos) << r.error;
  }
  EXPECT_THROW(
      {
        BenchServeOptions bad = options_;
        bad.url = "ftp://x";
        run_bench_serve(bad);
      },
      Error);
}

}  // namespace
}  // namespace tessera::server::testing
