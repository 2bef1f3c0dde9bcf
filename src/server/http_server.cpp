// The Beast/Asio transport. Each connection is a Session living on its own
// strand of one shared io_context run by a few threads. A session reads one
// request at a time; while a reply waits on the engine it keeps one read
// outstanding so that a client hanging up is noticed at once (and its
// request aborted), and it only pulls more output from the reply once its
// previous write has completed, so a slow reader never makes us queue
// output: it stays in the engine's per-request buffer.
#include "tessera/server/http_server.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http_wire.h"
#include "tessera/core/error.h"
#include "tessera/core/log.h"

namespace tessera::server {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

class Session;

// Lets the engine thread post to the io_context only while it exists:
// streams (and so wake-up callbacks) can outlive the server. The server
// clears `alive` under the lock before its io_context goes away.
struct PostGate {
  std::mutex mu;
  bool alive = true;
};

// State shared by the listener and all sessions.
struct Shared {
  ServerConfig config;
  HttpHandler& handler;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> pending_replies{0};
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> accepted{0};  // connections ever accepted
  std::mutex mu;
  std::condition_variable idle_cv;  // signalled when pending_replies or connections drop
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  std::shared_ptr<PostGate> gate = std::make_shared<PostGate>();
  net::io_context* ioc = nullptr;

  Shared(ServerConfig c, HttpHandler& h) : config(std::move(c)), handler(h) {}
  void notify() {
    std::lock_guard lock(mu);
    idle_cv.notify_all();
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), shared_(std::move(shared)) {}

  ~Session() {
    if (pending_) release_pending(/*cancel=*/true);
    {
      std::lock_guard lock(shared_->mu);
      shared_->sessions.erase(this);
    }
    shared_->connections.fetch_sub(1);
    shared_->notify();
  }

  void start() {
    {
      std::lock_guard lock(shared_->mu);
      shared_->sessions.emplace(this, weak_from_this());
    }
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->wait_for_request(self->shared_->config.read_timeout);
    });
  }

  // From any thread: close at once if idle; with `force`, also cancel a
  // reply in progress.
  void close_from_outside(bool force) {
    net::post(socket_.get_executor(), [self = shared_from_this(), force] {
      if (self->closed_) return;
      if (force || (!self->pending_ && !self->writing_ && !self->reading_)) self->close();
    });
  }

 private:
  // Between requests: wait for the first byte of the next one (or for the
  // client to close) without holding a parser.
  void wait_for_request(std::chrono::milliseconds timeout) {
    if (closed_) return;
    if (shared_->draining) return close();
    if (buffer_.size() > 0) return read_request();
    arm_timer(timeout);
    if (!watching_) start_watch();
  }

  void start_watch() {
    watching_ = true;
    socket_.async_read_some(
        buffer_.prepare(4096),
        [self = shared_from_this()](error_code ec, size_t n) { self->on_watch(ec, n); });
  }

  void on_watch(error_code ec, size_t n) {
    watching_ = false;
    if (draining_input_) return on_drain(ec, n);
    if (ec) {  // the client went away (or we closed the socket)
      if (pending_) release_pending(/*cancel=*/true);
      return close();
    }
    buffer_.commit(n);
    if (pending_ || writing_ || reading_) return;  // a pipelined request waits its turn
    read_request();
  }

  void read_request() {
    reading_ = true;
    parser_.emplace();
    parser_->header_limit(
        static_cast<uint32_t>(std::min<size_t>(shared_->config.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(shared_->config.max_body_bytes);
    arm_timer(shared_->config.read_timeout);
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) return on_read_error(ec);
    auto expect = parser_->get()[http::field::expect];
    if (!expect.empty() && boost::beast::iequals(expect, "100-continue")) {
      continue_ = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(socket_, net::buffer(continue_),
                       [self = shared_from_this()](error_code ec, size_t) {
                         if (ec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read_error(error_code ec) {
    reading_ = false;
    disarm_timer();
    if (closed_) return;
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec.category() != http::make_error_code(http::error::body_limit).category())
      return close();  // the connection ended or timed out: nothing to answer
    int status = 400;
    std::string message = "malformed HTTP request: " + ec.message();
    if (ec == http::error::body_limit) {
      status = 413;
      message = "request body is larger than the limit of " +
                std::to_string(shared_->config.max_body_bytes) + " bytes";
    } else if (ec == http::error::header_limit) {
      status = 431;
      message = "request headers are larger than the limit of " +
                std::to_string(shared_->config.max_header_bytes) + " bytes";
    }
    keep_alive_ = false;
    drain_after_write_ = true;  // let the client finish sending so it sees the answer
    write_response(shared_->handler.transport_error(status, message), /*head_only=*/false);
  }

  void on_read(error_code ec) {
    if (ec) return on_read_error(ec);
    reading_ = false;
    disarm_timer();
    auto& msg = parser_->get();
    HttpRequest request;
    request.method = std::string(msg.method_string());
    request.target = std::string(msg.target());
    for (const auto& field : msg) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      request.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive() && !shared_->draining;
    http10_ = msg.version() < 11;
    parser_.reset();
    head_only_ = request.method == "HEAD";

    Reply reply;
    try {
      reply = shared_->handler.handle(request);
    } catch (const std::exception& e) {
      spdlog::error("handler failed on {} {}: {}", request.method, request.target, e.what());
      reply = shared_->handler.transport_error(500, "internal error");
    }
    if (auto* response = std::get_if<HttpResponse>(&reply))
      return write_response(std::move(*response), head_only_);

    pending_ = std::move(std::get<std::shared_ptr<PendingReply>>(reply));
    shared_->pending_replies.fetch_add(1);
    head_sent_ = false;
    wake_flag_ = std::make_shared<std::atomic<bool>>(false);
    std::weak_ptr<Session> weak = weak_from_this();
    // Called on the engine thread: coalesce wake-ups and only post. It
    // holds no session and no strand (whose destruction would touch the
    // io_context), just the plain executor, used only while the gate is open.
    pending_->start(
        [weak, gate = shared_->gate, ioc = shared_->ioc->get_executor(), flag = wake_flag_] {
          if (flag->exchange(true)) return;
          std::lock_guard lock(gate->mu);
          if (!gate->alive) return;
          net::post(ioc, [weak, flag] {
            auto session = weak.lock();
            if (!session) return;
            net::dispatch(session->socket_.get_executor(), [session, flag] {
              flag->store(false);
              session->pump();
            });
          });
        });
    if (buffer_.size() == 0 && !watching_) start_watch();
    pump();
  }

  // Pulls what the reply has ready and writes it; waits for a wake-up when
  // there is nothing.
  void pump() {
    if (closed_ || writing_ || !pending_) return;
    ReplyProgress progress;
    try {
      pending_->poll(progress);
    } catch (const std::exception& e) {
      spdlog::error("reply failed: {}", e.what());
      release_pending(/*cancel=*/true);
      if (head_sent_) return close();  // a stream cut short: nothing sane to add
      keep_alive_ = false;
      return write_response(shared_->handler.transport_error(500, "internal error"), head_only_);
    }
    out_.clear();
    bool chunked_done = false;
    if (progress.response) {
      if (progress.response->chunked) {
        if (http10_) {  // no chunked coding: the stream ends with the connection
          keep_alive_ = false;
          progress.response->chunked = false;
          append_head(out_, *progress.response, kCloseDelimited, false);
        } else {
          append_head(out_, *progress.response, 0, keep_alive_);
        }
        head_sent_ = true;
      } else {  // a complete response
        release_pending(/*cancel=*/false);
        return write_response(std::move(*progress.response), head_only_);
      }
    }
    if (http10_)
      out_ += progress.chunk;
    else if (!progress.chunk.empty())
      append_chunk(out_, progress.chunk);
    if (progress.done) {
      if (head_sent_ && !http10_) out_ += kLastChunk;
      chunked_done = true;
      release_pending(/*cancel=*/false);
    }
    if (out_.empty()) {
      if (chunked_done) finish_response();
      return;
    }
    write_out();
  }

  void write_response(HttpResponse response, bool head_only) {
    out_.clear();
    if (!keep_alive_) response.headers.emplace_back("Connection", "close");
    append_head(out_, response, response.body.size(), keep_alive_);
    if (!head_only) out_ += response.body;
    write_out();
  }

  void write_out() {
    writing_ = true;
    arm_timer(shared_->config.write_timeout);
    net::async_write(socket_, net::buffer(out_),
                     [self = shared_from_this()](error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(error_code ec) {
    writing_ = false;
    disarm_timer();
    if (ec) {
      if (pending_) release_pending(/*cancel=*/true);
      return close();
    }
    if (pending_) return pump();
    finish_response();
  }

  void finish_response() {
    if (closed_) return;
    if (drain_after_write_) return drain_and_close();
    if (!keep_alive_ || shared_->draining) return close();
    if (watching_) return arm_timer(shared_->config.keep_alive_timeout);
    wait_for_request(shared_->config.keep_alive_timeout);
  }

  // After an error reply to a request whose body we did not read: stop
  // sending, then read and drop what the client still sends for a while so
  // that closing does not reset the connection before it read our answer.
  void drain_and_close() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    draining_input_ = true;
    drain_budget_ = std::max<size_t>(shared_->config.max_body_bytes, 1 << 20) * 4;
    buffer_.consume(buffer_.size());
    arm_timer(std::chrono::milliseconds(5000));
    if (!watching_) start_watch();
  }

  void on_drain(error_code ec, size_t n) {
    if (ec || n >= drain_budget_) return close();
    drain_budget_ -= n;
    buffer_.commit(n);
    buffer_.consume(buffer_.size());
    start_watch();
  }

  void release_pending(bool cancel) {
    if (!pending_) return;
    if (cancel) pending_->cancel();
    pending_.reset();
    shared_->pending_replies.fetch_sub(1);
    shared_->notify();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    if (pending_) release_pending(/*cancel=*/true);
    disarm_timer();
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  void arm_timer(std::chrono::milliseconds timeout) {
    uint64_t generation = ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
      if (ec || generation != self->timer_generation_) return;
      self->close();  // every outstanding operation ends with an error
    });
  }
  void disarm_timer() {
    ++timer_generation_;
    timer_.cancel();
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  std::shared_ptr<Shared> shared_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<PendingReply> pending_;
  std::shared_ptr<std::atomic<bool>> wake_flag_;
  std::string out_;
  std::string continue_;
  size_t drain_budget_ = 0;
  uint64_t timer_generation_ = 0;
  bool watching_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool http10_ = false;
  bool head_sent_ = false;
  bool drain_after_write_ = false;
  bool draining_input_ = false;
  bool closed_ = false;
};

}  // namespace

struct HttpServer::Impl {
  std::shared_ptr<Shared> shared;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  net::steady_timer accept_retry{ioc};
  net::steady_timer trim_timer{ioc};
  uint64_t accepted_at_last_trim = 0;
  std::vector<std::thread> threads;
  int port = 0;
  bool started = false;
  bool stopped = false;

  Impl(ServerConfig config, HttpHandler& handler)
      : shared(std::make_shared<Shared>(std::move(config), handler)),
        ioc(std::max(1, resolved_threads())) {
    shared->ioc = &ioc;
  }

  int resolved_threads() const {
    if (shared->config.io_threads > 0) return shared->config.io_threads;
    return std::thread::hardware_concurrency() >= 8 ? 4 : 2;
  }

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        // Out of descriptors or similar: back off instead of spinning.
        spdlog::warn("accept failed: {}", ec.message());
        accept_retry.expires_after(std::chrono::milliseconds(50));
        accept_retry.async_wait([this](error_code e) {
          if (!e) accept();
        });
        return;
      }
      if (shared->connections.load() >= shared->config.max_connections) {
        error_code ignored;
        socket.close(ignored);
      } else {
        socket.set_option(tcp::no_delay(true), ec);
        shared->connections.fetch_add(1);
        shared->accepted.fetch_add(1);
        std::make_shared<Session>(std::move(socket), shared)->start();
      }
      accept();
    });
  }

  // After a burst of traffic, once no reply is in flight, hand the memory
  // the burst's connections used back to the system: glibc keeps freed
  // memory in its arenas otherwise, and the process would stay at its
  // high-water mark.
  void schedule_trim() {
    trim_timer.expires_after(std::chrono::seconds(2));
    trim_timer.async_wait([this](error_code ec) {
      if (ec) return;
      uint64_t accepted = shared->accepted.load();
      if (accepted != accepted_at_last_trim && shared->pending_replies.load() == 0) {
        accepted_at_last_trim = accepted;
#if defined(__GLIBC__)
        malloc_trim(0);
#endif
      }
      schedule_trim();
    });
  }

  void close_sessions(bool force) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(shared->mu);
      for (auto& [ptr, weak] : shared->sessions)
        if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) s->close_from_outside(force);
  }
};

HttpServer::HttpServer(ServerConfig config, HttpHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(config), handler)) {}

HttpServer::~HttpServer() {
  shutdown(std::chrono::milliseconds(0));
  std::lock_guard lock(impl_->shared->gate->mu);
  impl_->shared->gate->alive = false;
}

void HttpServer::start() {
  TESSERA_CHECK(!impl_->started);
  const ServerConfig& config = impl_->shared->config;
  error_code ec;
  auto address = net::ip::make_address(config.host, ec);
  if (ec)
    fail(ErrorKind::kInvalidArgument, "bad listen address '{}': {}", config.host, ec.message());
  if (config.port < 0 || config.port > 65535)
    fail(ErrorKind::kInvalidArgument, "bad port {}", config.port);
  tcp::endpoint endpoint(address, static_cast<uint16_t>(config.port));
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    fail(ErrorKind::kResourceExhausted, "cannot listen on {}:{}: {}", config.host, config.port,
         ec.message());
  impl_->port = acceptor.local_endpoint().port();
  impl_->started = true;
  impl_->accept();
  impl_->schedule_trim();
  int n = impl_->resolved_threads();
  for (int i = 0; i < n; ++i) impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

int HttpServer::port() const { return impl_->port; }
const ServerConfig& HttpServer::config() const { return impl_->shared->config; }

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  auto& shared = *impl_->shared;
  shared.draining = true;
  net::post(impl_->ioc, [this] {
    error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->accept_retry.cancel();
    impl_->trim_timer.cancel();
  });
  impl_->close_sessions(/*force=*/false);
  {
    std::unique_lock lock(shared.mu);
    shared.idle_cv.wait_for(lock, grace, [&] { return shared.pending_replies.load() == 0; });
  }
  impl_->close_sessions(/*force=*/true);
  {
    // Sessions finish closing on their strands; then nothing is left to run.
    std::unique_lock lock(shared.mu);
    shared.idle_cv.wait_for(lock, std::chrono::seconds(2),
                            [&] { return shared.connections.load() == 0; });
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

size_t HttpServer::num_connections() const { return impl_->shared->connections.load(); }
size_t HttpServer::num_pending_replies() const { return impl_->shared->pending_replies.load(); }

}  // namespace tessera::server
