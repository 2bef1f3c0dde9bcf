// The HTTP API: OpenAI-compatible routes (/v1/completions,
// /v1/chat/completions, /v1/models), vLLM's extras (/tokenize,
// /detokenize, /health, /metrics, /version) and TGI's (/generate,
// /generate_stream, /info), on top of a ServingBackend. docs/server.md
// lists every route, parameter and error.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessera/server/backend.h"
#include "tessera/server/http.h"

namespace tessera::server {

struct ApiConfig {
  // Accepted as "Authorization: Bearer KEY"; empty: no authentication.
  std::vector<std::string> api_keys;
  // Names the model answers to (the first is reported); empty: the
  // backend's model name.
  std::vector<std::string> served_model_names;
  int retry_after_seconds = 1;           // sent with 503 when the queue is full
  size_t max_prompts_per_request = 256;  // completions with a list of prompts
  int max_n = 128;
  int io_threads = 0;  // reported by /info
  bool log_requests = false;
};

class ApiRouter : public HttpHandler {
 public:
  ApiRouter(ApiConfig config, ServingBackend& backend);
  ~ApiRouter() override;

  Reply handle(const HttpRequest& request) override;
  HttpResponse transport_error(int status, std::string_view message) override;

  // While draining (shutting down), /health answers 503 and new generation
  // requests are refused with 503.
  void set_draining(bool draining);
  std::string metrics_text() const;
  const std::string& model_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::server
