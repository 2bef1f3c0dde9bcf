// Dispatch, authentication, error shaping and HTTP metrics for the API.
#include <algorithm>
#include <atomic>

#include "api_error.h"
#include "json_fields.h"
#include "route_context.h"
#include "tessera/core/error.h"
#include "tessera/core/log.h"
#include "tessera/server/api.h"

namespace tessera::server {

std::string ApiError::default_type(int status) {
  if (status == 422) return "validation";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

HttpResponse json_response(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.body = dump_json(body);
  return r;
}

HttpResponse openai_error_response(const ApiError& e) {
  json error = {{"message", e.what()},
                {"type", e.type},
                {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  HttpResponse r = json_response(e.status, {{"error", std::move(error)}});
  r.headers = e.headers;
  return r;
}

namespace {

// TGI's error object.
HttpResponse tgi_error_response(const ApiError& e) {
  std::string type = e.type;
  if (e.status == 503) type = "overloaded";
  if (e.status == 400 || e.status == 422) type = "validation";
  HttpResponse r = json_response(e.status, {{"error", e.what()}, {"error_type", type}});
  r.headers = e.headers;
  return r;
}

// Constant-time comparison, so response timing does not leak a key prefix.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i]) ^
            static_cast<unsigned char>(b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0 && !b.empty();
}

enum class Family { kOpenAI, kTgi, kPlain };

struct Route {
  std::string_view method;
  std::string_view path;
  std::string_view label;  // metrics label
  Family family;
  bool generates;  // refused while draining
  bool authenticated;
};

constexpr Route kRoutes[] = {
    {"POST", "/v1/completions", "/v1/completions", Family::kOpenAI, true, true},
    {"POST", "/v1/chat/completions", "/v1/chat/completions", Family::kOpenAI, true, true},
    {"GET", "/v1/models", "/v1/models", Family::kOpenAI, false, true},
    {"POST", "/tokenize", "/tokenize", Family::kOpenAI, false, true},
    {"POST", "/detokenize", "/detokenize", Family::kOpenAI, false, true},
    {"POST", "/generate", "/generate", Family::kTgi, true, true},
    {"POST", "/generate_stream", "/generate_stream", Family::kTgi, true, true},
    {"POST", "/", "/", Family::kTgi, true, true},
    {"GET", "/info", "/info", Family::kTgi, false, true},
    {"GET", "/health", "/health", Family::kPlain, false, false},
    {"GET", "/metrics", "/metrics", Family::kPlain, false, false},
    {"GET", "/version", "/version", Family::kPlain, false, false},
};

}  // namespace

struct ApiRouter::Impl {
  ApiConfig config;
  ServingBackend& backend;
  std::string model_name;
  ServerMetrics metrics;
  std::atomic<bool> draining{false};

  Impl(ApiConfig c, ServingBackend& b)
      : config(std::move(c)),
        backend(b),
        model_name(config.served_model_names.empty() ? b.model_name()
                                                     : config.served_model_names.front()),
        metrics(model_name) {}

  bool authorized(const HttpRequest& request) const {
    if (config.api_keys.empty()) return true;
    auto header = request.header("authorization");
    if (!header) return false;
    std::string_view value = *header;
    constexpr std::string_view kBearer = "bearer ";
    if (value.size() < kBearer.size()) return false;
    for (size_t i = 0; i < kBearer.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(value[i])) != kBearer[i]) return false;
    value.remove_prefix(kBearer.size());
    bool ok = false;
    for (const auto& key : config.api_keys) ok |= same_secret(value, key);
    return ok;
  }

  Reply dispatch(const Route& route, const HttpRequest& request, std::string_view path) {
    RouteContext ctx{backend, config, metrics, model_name, std::chrono::steady_clock::now()};
    std::string_view p = route.path;
    if (p == "/v1/completions") return handle_completions(ctx, request);
    if (p == "/v1/chat/completions") return handle_chat_completions(ctx, request);
    if (p == "/v1/models") {
      std::string_view id = path.size() > p.size() ? path.substr(p.size() + 1) : std::string_view();
      return handle_models(ctx, id);
    }
    if (p == "/tokenize") return handle_tokenize(ctx, request);
    if (p == "/detokenize") return handle_detokenize(ctx, request);
    if (p == "/generate" || p == "/") return handle_tgi_generate(ctx, request, false);
    if (p == "/generate_stream") return handle_tgi_generate(ctx, request, true);
    if (p == "/info") return handle_tgi_info(ctx);
    if (p == "/health") {
      HttpResponse r;
      r.content_type.clear();
      if (draining) r.status = 503;
      return r;
    }
    if (p == "/version") return json_response(200, {{"version", "0.1.0"}});
    if (p == "/metrics") {
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = metrics.render(backend.stats());
      return r;
    }
    throw ApiError(404, "Not Found");
  }

  Reply handle(const HttpRequest& request) {
    std::string_view path = request.path();
    std::string method = request.method == "HEAD" ? "GET" : request.method;
    const Route* route = nullptr;
    bool path_known = false;
    for (const Route& r : kRoutes) {
      bool match = path == r.path || (r.path == "/v1/models" && path.starts_with("/v1/models/") &&
                                      path.size() > r.path.size() + 1);
      if (!match) continue;
      path_known = true;
      if (r.method == method) route = &r;
    }
    Family family = route ? route->family : Family::kOpenAI;
    std::string_view label = route ? route->label : std::string_view("other");
    Reply reply;
    try {
      if (!route) {
        if (path_known)
          throw ApiError(405, fmt::format("method {} is not allowed on {}", request.method, path));
        throw ApiError(404, fmt::format("no route for {} {}", request.method, path), "", "",
                       "not_found");
      }
      if (route->authenticated && !authorized(request))
        throw ApiError(401, "missing or invalid API key (send it as \"Authorization: Bearer KEY\")",
                       "", "invalid_request_error", "invalid_api_key");
      if (route->generates && draining) {
        ApiError e(503, "the server is shutting down", "", "server_error", "shutting_down");
        e.headers.emplace_back("Connection", "close");
        throw e;
      }
      reply = dispatch(*route, request, path);
    } catch (const ApiError& e) {
      reply = family == Family::kTgi ? tgi_error_response(e) : openai_error_response(e);
    } catch (const Error& e) {
      // The backend refused something that reached it (tokenizer, template).
      int status = e.kind() == ErrorKind::kInvalidArgument || e.kind() == ErrorKind::kUnsupported
                       ? 400
                   : e.kind() == ErrorKind::kResourceExhausted ? 503
                                                               : 500;
      if (status == 500) spdlog::error("{} {}: {}", request.method, path, e.what());
      ApiError api(status, status == 500 ? "internal error" : e.what());
      reply = family == Family::kTgi ? tgi_error_response(api) : openai_error_response(api);
    }
    int status = 200;
    if (auto* response = std::get_if<HttpResponse>(&reply)) status = response->status;
    metrics.count_http(label, status);
    if (config.log_requests) spdlog::info("{} {} -> {}", request.method, path, status);
    return reply;
  }
};

std::shared_ptr<GenerationStream> submit_request(RouteContext& ctx, GenerationRequest request) {
  try {
    return ctx.backend.submit(std::move(request));
  } catch (const Error& e) {
    switch (e.kind()) {
      case ErrorKind::kInvalidArgument:
      case ErrorKind::kUnsupported:
        throw ApiError(400, e.what());
      case ErrorKind::kResourceExhausted: {
        ApiError error(503, fmt::format("the server is overloaded: {}; retry later", e.what()), "",
                       "server_error", "overloaded");
        error.headers.emplace_back("Retry-After", std::to_string(ctx.config.retry_after_seconds));
        throw error;
      }
      default:
        throw;
    }
  }
}

PromptState submit_prompt(RouteContext& ctx, std::string request_id, std::vector<int32_t> ids,
                          const SamplingOptions& sampling) {
  GenerationRequest r;
  r.request_id = std::move(request_id);
  r.prompt_ids = ids;
  r.sampling = sampling;
  PromptState state;
  state.prompt_ids = std::move(ids);
  state.stream = submit_request(ctx, std::move(r));
  return state;
}

ApiRouter::ApiRouter(ApiConfig config, ServingBackend& backend)
    : impl_(std::make_unique<Impl>(std::move(config), backend)) {}
ApiRouter::~ApiRouter() = default;

Reply ApiRouter::handle(const HttpRequest& request) { return impl_->handle(request); }

HttpResponse ApiRouter::transport_error(int status, std::string_view message) {
  impl_->metrics.count_http("transport", status);
  return openai_error_response(ApiError(status, std::string(message)));
}

void ApiRouter::set_draining(bool draining) { impl_->draining = draining; }
std::string ApiRouter::metrics_text() const {
  return impl_->metrics.render(impl_->backend.stats());
}
const std::string& ApiRouter::model_name() const { return impl_->model_name; }

const char* finish_name(Finish f) {
  switch (f) {
    case Finish::kStop:
      return "stop";
    case Finish::kLength:
      return "length";
    case Finish::kAbort:
      return "abort";
  }
  return "stop";
}

}  // namespace tessera::server
