// Output formatting pieces: HTTP framing, UTF-8 clean-up, logprob values,
// Prometheus histograms.
#include <gtest/gtest.h>

#include "../../src/server/http_wire.h"
#include "../../src/server/metrics.h"
#include "../../src/server/openai_format.h"

namespace tessera::server {
namespace {

TEST(HttpWire, ChunkedFramingRoundTrips) {
  std::string out;
  append_chunk(out, "hello");
  append_chunk(out, "");  // nothing: an empty chunk would end the body
  append_chunk(out, std::string(300, 'x'));
  out += kLastChunk;
  // Decode by the rules of RFC 9112 7.1.
  std::string body;
  size_t pos = 0;
  while (true) {
    size_t eol = out.find("\r\n", pos);
    size_t size = std::stoul(out.substr(pos, eol - pos), nullptr, 16);
    pos = eol + 2;
    if (size == 0) break;
    body += out.substr(pos, size);
    ASSERT_EQ(out.substr(pos + size, 2), "\r\n");
    pos += size + 2;
  }
  EXPECT_EQ(body, "hello" + std::string(300, 'x'));
  EXPECT_EQ(out.substr(pos), "\r\n");
}

TEST(HttpWire, Head) {
  HttpResponse r;
  r.status = 503;
  r.headers = {{"Retry-After", "1"}};
  std::string out;
  append_head(out, r, 7, true);
  EXPECT_EQ(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u);
  EXPECT_NE(out.find("Content-Length: 7\r\n"), std::string::npos);
  EXPECT_NE(out.find("Retry-After: 1\r\n"), std::string::npos);
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
  r.chunked = true;
  out.clear();
  append_head(out, r, 0, false);
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
}

TEST(Utf8, SanitizeKeepsValidAndReplacesInvalid) {
  EXPECT_EQ(sanitize_utf8("abc é 日本 😀"), "abc é 日本 😀");
  EXPECT_EQ(sanitize_utf8("\xe6\x97"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // a cut character
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(utf8_length("é日😀"), 3u);
}

TEST(Logprobs, ClampedAndShortest) {
  EXPECT_EQ(clamp_logprob(-std::numeric_limits<float>::infinity()), -9999.0);
  EXPECT_EQ(clamp_logprob(std::numeric_limits<float>::quiet_NaN()), -9999.0);
  EXPECT_EQ(clamp_logprob(-0.594f), -0.594);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Histogram h({0.1, 1.0});
  for (double v : {0.05, 0.1, 0.5, 2.0}) h.observe(v);
  std::string out;
  h.render(out, "m", "a=\"b\"");
  EXPECT_EQ(out,
            "m_bucket{a=\"b\",le=\"0.1\"} 2\n"
            "m_bucket{a=\"b\",le=\"1\"} 3\n"
            "m_bucket{a=\"b\",le=\"+Inf\"} 4\n"
            "m_sum{a=\"b\"} 2.65\n"
            "m_count{a=\"b\"} 4\n");
  EXPECT_EQ(prometheus_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(RequestIds, Unique) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(make_request_id("cmpl"));
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(ids.begin()->rfind("cmpl-", 0), 0u);
}

}  // namespace
}  // namespace tessera::server
