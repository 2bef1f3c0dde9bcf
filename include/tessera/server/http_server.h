// The HTTP/1.1 transport: a fixed pool of io threads serving every
// connection (no thread per connection), keep-alive, chunked replies for
// event streams, size limits and timeouts. It knows nothing of the routes:
// it hands each parsed request to an HttpHandler.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "tessera/server/http.h"

namespace tessera::server {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8000;                                      // 0: any free port (see HttpServer::port())
  int io_threads = 0;                                   // 0: 2, or 4 on machines with 8+ cores
  size_t max_header_bytes = 32 * 1024;                  // larger: 431
  size_t max_body_bytes = 16 * 1024 * 1024;             // larger: 413
  size_t max_connections = 8192;                        // more are closed on accept
  std::chrono::milliseconds read_timeout{30000};        // to read one request
  std::chrono::milliseconds keep_alive_timeout{15000};  // idle between requests
  std::chrono::milliseconds write_timeout{60000};       // a reader that stalls longer is dropped
};

class HttpServer {
 public:
  HttpServer(ServerConfig config, HttpHandler& handler);
  ~HttpServer();  // shuts down with no grace period if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the io threads. Error(kInvalidArgument) for a
  // bad address, Error(kResourceExhausted) when the port is taken.
  void start();
  int port() const;  // the bound port
  const ServerConfig& config() const;

  // Stops accepting and closes idle connections; replies in progress run
  // on (their connections close when they end) until `grace` has passed,
  // then they are cancelled. Joins the io threads. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  size_t num_connections() const;
  size_t num_pending_replies() const;  // replies waiting on the engine

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::server
