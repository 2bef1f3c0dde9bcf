// The small routes: /v1/models, /tokenize, /detokenize (vLLM's shapes).
#include <limits>

#include "api_error.h"
#include "json_fields.h"
#include "openai_format.h"
#include "openai_request.h"
#include "route_context.h"

namespace tessera::server {

namespace {
std::vector<std::string> served_names(const RouteContext& ctx) {
  std::vector<std::string> names = ctx.config.served_model_names;
  if (names.empty()) names.push_back(ctx.model_name);
  return names;
}

json model_card(const RouteContext& ctx, const std::string& name) {
  static const int64_t created = unix_time_now();
  return {{"id", name},
          {"object", "model"},
          {"created", created},
          {"owned_by", "tessera"},
          {"root", ctx.backend.model_name()},
          {"parent", nullptr},
          {"max_model_len", ctx.backend.max_model_len()}};
}
}  // namespace

HttpResponse handle_models(RouteContext& ctx, std::string_view model_id) {
  std::vector<std::string> names = served_names(ctx);
  if (!model_id.empty()) {
    for (const auto& name : names)
      if (name == model_id) return json_response(200, model_card(ctx, name));
    throw ApiError(404, fmt::format("The model `{}` does not exist.", model_id), "model",
                   "invalid_request_error", "model_not_found");
  }
  json data = json::array();
  for (const auto& name : names) data.push_back(model_card(ctx, name));
  return json_response(200, {{"object", "list"}, {"data", std::move(data)}});
}

HttpResponse handle_tokenize(RouteContext& ctx, const HttpRequest& request) {
  json body = parse_json_body(request.body);
  JsonFields f(body);
  check_model(f, served_names(ctx));
  bool return_strs = f.boolean("return_token_strs").value_or(false);
  std::vector<int32_t> ids;
  if (f.has("messages")) {
    if (f.has("prompt")) bad_request("prompt", "give either `prompt` or `messages`, not both");
    json messages;
    ids = render_chat_prompt(ctx, f, messages);
    f.ignore("prompt");
  } else {
    std::optional<std::string> prompt = f.string("prompt");
    if (!prompt) bad_request("prompt", "`prompt` (or `messages`) is required");
    bool add_special = f.boolean("add_special_tokens").value_or(true);
    ids = ctx.backend.tokenize(*prompt, add_special, /*parse_special=*/true);
  }
  f.reject_unknown();
  json response = {
      {"count", ids.size()}, {"max_model_len", ctx.backend.max_model_len()}, {"tokens", ids}};
  if (return_strs) {
    json strs = json::array();
    for (int32_t id : ids) strs.push_back(sanitize_utf8(ctx.backend.token_bytes(id)));
    response["token_strs"] = std::move(strs);
  } else {
    response["token_strs"] = nullptr;
  }
  return json_response(200, response);
}

HttpResponse handle_detokenize(RouteContext& ctx, const HttpRequest& request) {
  json body = parse_json_body(request.body);
  JsonFields f(body);
  check_model(f, served_names(ctx));
  auto tokens = f.integer_list("tokens", 0, std::numeric_limits<int32_t>::max(), 1 << 20);
  if (!tokens) bad_request("tokens", "`tokens` is required");
  f.reject_unknown();
  std::vector<int32_t> ids;
  ids.reserve(tokens->size());
  for (int64_t id : *tokens) {
    if (!ctx.backend.is_valid_token(static_cast<int32_t>(id)))
      bad_request("tokens", "`tokens`: token id {} is not in the vocabulary", id);
    ids.push_back(static_cast<int32_t>(id));
  }
  return json_response(200, {{"prompt", sanitize_utf8(ctx.backend.detokenize(ids, false))}});
}

}  // namespace tessera::server
