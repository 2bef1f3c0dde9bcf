// Helpers for the server's C++ tests: requests built by hand, and a way to
// run a PendingReply to completion without the HTTP transport.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fake_engine.h"
#include "tessera/server/api.h"
#include "tessera/server/http.h"

namespace tessera::server::testing {

inline HttpRequest post(std::string target, std::string body,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.method = "POST";
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

inline HttpRequest get(std::string target) {
  HttpRequest r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

// The reply as the transport would see it: head + body chunks, polled each
// time the reply wakes us (bounded in time).
struct Drained {
  HttpResponse response;  // for streams: the head
  std::string body;       // for streams: the concatenated chunks
  int polls = 0;
};

inline Drained drain(Reply reply, std::chrono::seconds timeout = std::chrono::seconds(20)) {
  Drained out;
  if (auto* r = std::get_if<HttpResponse>(&reply)) {
    out.response = *r;
    out.body = r->body;
    return out;
  }
  auto pending = std::get<std::shared_ptr<PendingReply>>(reply);
  std::mutex mu;
  std::condition_variable cv;
  bool woken = true;
  pending->start([&] {
    std::lock_guard lock(mu);
    woken = true;
    cv.notify_all();
  });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool have_head = false;
  while (true) {
    {
      std::unique_lock lock(mu);
      if (!cv.wait_until(lock, deadline, [&] { return woken; })) {
        ADD_FAILURE() << "reply did not finish in time";
        pending->cancel();
        return out;
      }
      woken = false;
    }
    ReplyProgress p;
    pending->poll(p);
    ++out.polls;
    if (p.response) {
      EXPECT_FALSE(have_head) << "response set twice";
      have_head = true;
      out.response = *p.response;
      if (!p.response->chunked) out.body = p.response->body;
    }
    out.body += p.chunk;
    if (p.done) break;
  }
  return out;
}

inline nlohmann::json body_json(const Drained& d) { return nlohmann::json::parse(d.body); }

// "data: X\n\n" events of an SSE body, checking the framing on the way.
inline std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < body.size()) {
    EXPECT_EQ(body.compare(pos, 6, "data: "), 0) << "at " << pos << ": " << body.substr(pos, 40);
    size_t end = body.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos);
    if (end == std::string::npos) break;
    events.push_back(body.substr(pos + 6, end - pos - 6));
    EXPECT_EQ(events.back().find('\n'), std::string::npos);
    pos = end + 2;
  }
  return events;
}

// A backend that remembers what reached it, around a FakeEngine.
class RecordingBackend : public FakeEngine {
 public:
  using FakeEngine::FakeEngine;
  std::shared_ptr<GenerationStream> submit(GenerationRequest request) override {
    {
      std::lock_guard lock(record_mu);
      requests.push_back(request);
    }
    return FakeEngine::submit(std::move(request));
  }
  GenerationRequest last() {
    std::lock_guard lock(record_mu);
    return requests.back();
  }
  std::mutex record_mu;
  std::vector<GenerationRequest> requests;
};

inline FakeEngineConfig fast_config() {
  FakeEngineConfig c;
  c.step_time = std::chrono::microseconds(200);
  c.max_model_len = 512;
  c.seed = 1;
  return c;
}

}  // namespace tessera::server::testing
