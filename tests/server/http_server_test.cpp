// The transport over real loopback sockets: keep-alive, chunked streams,
// limits, client disconnects and shutdown.
#include "tessera/server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "test_util.h"

namespace tessera::server::testing {
namespace {

class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~Client() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }
  // Reads until `done(buffer)` or the peer closes / times out.
  std::string read_until(const std::function<bool(const std::string&)>& done) {
    std::string buf;
    char tmp[65536];
    while (!done(buf)) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) break;
      buf.append(tmp, static_cast<size_t>(n));
    }
    return buf;
  }
  std::string read_all() {
    return read_until([](const std::string&) { return false; });
  }

 private:
  int fd_ = -1;
};

std::string request(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& extra = "") {
  return method + " " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" +
         extra + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// One complete response with Content-Length at the front of `buf`.
bool has_full_response(const std::string& buf) {
  size_t head = buf.find("\r\n\r\n");
  if (head == std::string::npos) return false;
  size_t cl = buf.find("Content-Length: ");
  if (cl == std::string::npos || cl > head) return false;
  return buf.size() >= head + 4 + std::stoul(buf.substr(cl + 16));
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(ServerConfig config = {}) {
    config.port = 0;
    config.io_threads = 2;
    server_ = std::make_unique<HttpServer>(config, router_);
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->shutdown(std::chrono::milliseconds(0));
  }
  // Waits (bounded) for `cond`.
  static bool eventually(const std::function<bool()>& cond) {
    for (int i = 0; i < 400; ++i) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return cond();
  }

  FakeEngine backend_{fast_config()};
  ApiRouter router_{ApiConfig{}, backend_};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  Client c(server_->port());
  for (int i = 0; i < 3; ++i) {
    c.send(request("POST", "/tokenize", R"({"prompt": "hi"})"));
    std::string r = c.read_until(has_full_response);
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("Connection: keep-alive"), std::string::npos);
    EXPECT_NE(r.find("\"count\":3"), std::string::npos) << r;
  }
  EXPECT_EQ(server_->num_connections(), 1u);
  c.close();
  EXPECT_TRUE(eventually([&] { return server_->num_connections() == 0; }));
}

TEST_F(HttpServerTest, StreamsArriveChunkedAndTheConnectionStaysUsable) {
  start();
  Client c(server_->port());
  c.send(request("POST", "/v1/completions",
                 R"({"prompt": "a", "max_tokens": 5, "ignore_eos": true, "stream": true})"));
  std::string r = c.read_until([](const std::string& b) { return b.ends_with("0\r\n\r\n"); });
  EXPECT_NE(r.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(r.find("data: [DONE]\n\n\r\n0\r\n\r\n"), std::string::npos) << r;
  c.send(request("GET", "/health", ""));
  EXPECT_EQ(c.read_until(has_full_response).rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(HttpServerTest, Http10ClientsGetStreamsEndedByClose) {
  start();
  Client c(server_->port());
  std::string body = R"({"prompt": "a", "max_tokens": 3, "ignore_eos": true, "stream": true})";
  c.send("POST /v1/completions HTTP/1.0\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body);
  std::string r = c.read_all();
  EXPECT_EQ(r.find("Transfer-Encoding"), std::string::npos) << r;
  EXPECT_EQ(r.find("Content-Length"), std::string::npos) << r;
  EXPECT_TRUE(r.ends_with("data: [DONE]\n\n")) << r;
}

TEST_F(HttpServerTest, ClientThatLeavesAbortsItsRequest) {
  start();
  {
    Client streaming(server_->port());
    streaming.send(
        request("POST", "/v1/completions",
                R"({"prompt": "a", "max_tokens": 500, "ignore_eos": true, "stream": true})"));
    streaming.read_until([](const std::string& b) { return b.find("data:") != std::string::npos; });
    Client waiting(server_->port());
    waiting.send(request("POST", "/v1/completions",
                         R"({"prompt": "b", "max_tokens": 500, "ignore_eos": true})"));
    EXPECT_TRUE(eventually([&] { return server_->num_pending_replies() == 2; }));
    EXPECT_GT(backend_.used_blocks(), 0);
  }  // both clients close
  EXPECT_TRUE(eventually([&] { return server_->num_pending_replies() == 0; }));
  EXPECT_TRUE(eventually([&] { return backend_.used_blocks() == 0; }));
  EXPECT_EQ(backend_.stats().num_running, 0);
}

TEST_F(HttpServerTest, SizeLimits) {
  ServerConfig config;
  config.max_body_bytes = 1024;
  config.max_header_bytes = 1024;
  start(config);
  {
    Client c(server_->port());
    c.send(request("POST", "/tokenize", "{\"prompt\": \"" + std::string(4000, 'x') + "\"}"));
    std::string r = c.read_all();
    EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
    EXPECT_NE(r.find("Connection: close"), std::string::npos);
  }
  {
    Client c(server_->port());
    c.send("GET /health HTTP/1.1\r\nX: " + std::string(4000, 'y') + "\r\n\r\n");
    EXPECT_EQ(c.read_all().rfind("HTTP/1.1 431", 0), 0u);
  }
  {
    Client c(server_->port());
    c.send("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(c.read_all().rfind("HTTP/1.1 400", 0), 0u);
  }
}

TEST_F(HttpServerTest, IdleConnectionsTimeOut) {
  ServerConfig config;
  config.keep_alive_timeout = std::chrono::milliseconds(200);
  config.read_timeout = std::chrono::milliseconds(200);
  start(config);
  Client idle(server_->port());
  Client partial(server_->port());
  partial.send("GET /health HTTP/1.1\r\n");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(idle.read_all(), "");
  EXPECT_EQ(partial.read_all(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST_F(HttpServerTest, ShutdownLetsRepliesFinishThenCancels) {
  start();
  Client quick(server_->port());
  quick.send(request("POST", "/v1/completions",
                     R"({"prompt": "a", "max_tokens": 20, "ignore_eos": true, "stream": true})"));
  quick.read_until([](const std::string& b) { return b.find("data:") != std::string::npos; });
  Client slow(server_->port());
  slow.send(request("POST", "/v1/completions",
                    R"({"prompt": "b", "max_tokens": 2000, "ignore_eos": true, "stream": true})"));
  slow.read_until([](const std::string& b) { return b.find("data:") != std::string::npos; });
  std::thread reader([&] {
    std::string rest = quick.read_all();
    EXPECT_NE(rest.find("data: [DONE]"), std::string::npos);
  });
  auto t0 = std::chrono::steady_clock::now();
  // Grace for the 20-token stream (~40 ms of fake steps) even on a loaded
  // machine, far short of the 2000-token one (~4 s).
  server_->shutdown(std::chrono::milliseconds(1500));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  reader.join();
  EXPECT_EQ(server_->num_connections(), 0u);
  EXPECT_TRUE(eventually([&] { return backend_.used_blocks() == 0; }));
}

}  // namespace
}  // namespace tessera::server::testing
