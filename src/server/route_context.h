// What every route handler gets: the backend, the configuration, metrics
// and the request's arrival time. Handlers are free functions per route
// family (openai_completions.cpp, openai_chat.cpp, tgi_routes.cpp,
// misc_routes.cpp); router.cpp dispatches to them.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "generation_job.h"
#include "json_fields.h"
#include "metrics.h"
#include "tessera/server/api.h"
#include "tessera/server/backend.h"
#include "tessera/server/http.h"

namespace tessera::server {

struct RouteContext {
  ServingBackend& backend;
  const ApiConfig& config;
  ServerMetrics& metrics;
  const std::string& model_name;  // the reported (first served) name
  std::chrono::steady_clock::time_point arrival;
};

HttpResponse json_response(int status, const nlohmann::json& body);

// The largest `n` a request may ask for: the configured cap, and no more
// sequences than the engine runs at once (more could never be scheduled).
inline int max_n(const RouteContext& ctx) {
  int seqs = ctx.backend.info().max_num_seqs;
  return seqs > 0 ? std::min(ctx.config.max_n, seqs) : ctx.config.max_n;
}

// Submits, turning the engine's refusals into API errors: 400 for
// kInvalidArgument/kUnsupported, 503 with Retry-After for
// kResourceExhausted.
std::shared_ptr<GenerationStream> submit_request(RouteContext& ctx, GenerationRequest request);
// submit_request for one prompt of a reply: its state, stream attached.
PromptState submit_prompt(RouteContext& ctx, std::string request_id, std::vector<int32_t> ids,
                          const SamplingOptions& sampling);

Reply handle_completions(RouteContext& ctx, const HttpRequest& request);
Reply handle_chat_completions(RouteContext& ctx, const HttpRequest& request);
Reply handle_tgi_generate(RouteContext& ctx, const HttpRequest& request, bool stream);
HttpResponse handle_tgi_info(RouteContext& ctx);
HttpResponse handle_models(RouteContext& ctx, std::string_view model_id);
HttpResponse handle_tokenize(RouteContext& ctx, const HttpRequest& request);
HttpResponse handle_detokenize(RouteContext& ctx, const HttpRequest& request);

// Reads messages and the chat-template fields (add_generation_prompt,
// continue_final_message, chat_template_kwargs, add_special_tokens) and
// returns the rendered, tokenized prompt; `messages_out` gets the checked
// messages. Shared by chat completions and /tokenize.
std::vector<int32_t> render_chat_prompt(RouteContext& ctx, JsonFields& fields,
                                        nlohmann::json& messages_out);

}  // namespace tessera::server
