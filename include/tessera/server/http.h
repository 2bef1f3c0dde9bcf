// The HTTP request/response model the routes work with. It carries no Boost
// types: the Beast-based transport (src/server/http_server.cpp) converts at
// the edge, so the routes can be tested by calling them directly.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tessera::server {

struct HttpRequest {
  std::string method;                                        // "GET", "POST", ...
  std::string target;                                        // path plus query
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;

  // The first header with that (lower-case) name, if any.
  std::optional<std::string_view> header(std::string_view name) const;
  // The target without its query string.
  std::string_view path() const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
  // The body follows as chunks (an event stream); `body` is then empty.
  bool chunked = false;
};

const char* status_reason(int status);

// Everything a reply that waits for the engine has to report at one poll.
struct ReplyProgress {
  // Set once: either the full response (then `done` is set too), or the
  // head of a chunked response whose body arrives in `chunk`.
  std::optional<HttpResponse> response;
  std::string chunk;  // body bytes (unframed) appended since the last poll
  bool done = false;
};

// A reply produced asynchronously. The transport calls start() once, then
// poll() on its own strand whenever `wake` fired or its previous write
// completed; it stops polling (and so stops pulling from the engine) while a
// write is in flight, which is the backpressure on slow readers.
class PendingReply {
 public:
  virtual ~PendingReply() = default;
  // `wake` may be called from any thread, any number of times.
  virtual void start(std::function<void()> wake) = 0;
  virtual void poll(ReplyProgress& progress) = 0;
  // The client went away or the server is stopping: abort the work.
  virtual void cancel() = 0;
};

using Reply = std::variant<HttpResponse, std::shared_ptr<PendingReply>>;

// Maps a request to a reply. Called on io threads: must not block.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual Reply handle(const HttpRequest& request) = 0;
  // A response for a request the transport rejected before routing
  // (413 body too large, 431 headers too large, 400 malformed HTTP).
  virtual HttpResponse transport_error(int status, std::string_view message) = 0;
};

}  // namespace tessera::server
