// POST /v1/chat/completions: messages are checked and flattened to text
// content, rendered with the model's chat template, tokenized, and run as
// one engine request with n sequences.
#include <limits>

#include "api_error.h"
#include "generation_job.h"
#include "json_fields.h"
#include "openai_format.h"
#include "openai_request.h"
#include "route_context.h"
#include "tessera/core/error.h"

namespace tessera::server {

namespace {

constexpr size_t kMaxMessages = 4096;

std::string text_content(const json& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    bad_request(param, "`{}` must be a string or a list of content parts, got {}", param,
                json_type_name(content));
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    std::string part_param = fmt::format("{}[{}]", param, i);
    if (!part.is_object())
      bad_request(part_param, "`{}` must be an object, got {}", part_param, json_type_name(part));
    JsonFields f(part, part_param + ".");
    std::optional<std::string> type = f.string("type");
    if (!type) bad_request(part_param + ".type", "`{}.type` is required", part_param);
    if (*type != "text")
      bad_request(part_param + ".type",
                  "content parts of type \"{}\" are not supported; only \"text\" is", *type);
    std::optional<std::string> part_text = f.string("text");
    if (!part_text) bad_request(part_param + ".text", "`{}.text` is required", part_param);
    f.reject_unknown();
    if (!text.empty()) text += "\n";
    text += *part_text;
  }
  return text;
}

// Checked messages with their content flattened to a string, in the shape
// chat templates expect.
json normalize_messages(const json* messages) {
  if (!messages) bad_request("messages", "`messages` is required");
  if (!messages->is_array() || messages->empty())
    bad_request("messages", "`messages` must be a non-empty list of messages");
  if (messages->size() > kMaxMessages)
    bad_request("messages", "`messages` may hold at most {} messages", kMaxMessages);
  json out = json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object())
      bad_request(param, "`{}` must be an object, got {}", param, json_type_name(m));
    JsonFields f(m, param + ".");
    std::optional<std::string> role = f.string("role");
    if (!role) bad_request(param + ".role", "`{}.role` is required", param);
    if (*role == "tool" || *role == "function")
      bad_request(param + ".role", "messages with role \"{}\" are not supported yet (tool calling)",
                  *role);
    if (*role != "system" && *role != "developer" && *role != "user" && *role != "assistant")
      bad_request(param + ".role",
                  "`{}.role` must be one of \"system\", \"developer\", \"user\", \"assistant\", "
                  "got \"{}\"",
                  param, *role);
    json normalized = {{"role", *role}};
    const json* content = f.get("content");
    if (content)
      normalized["content"] = text_content(*content, param + ".content");
    else if (*role == "assistant")
      normalized["content"] = "";
    else
      bad_request(param + ".content", "`{}.content` is required", param);
    if (auto name = f.string("name")) normalized["name"] = *name;
    if (const json* calls = f.get("tool_calls"); calls && !(calls->is_array() && calls->empty()))
      bad_request(param + ".tool_calls", "tool calls in messages are not supported yet");
    if (f.has("function_call"))
      bad_request(param + ".function_call", "function calls in messages are not supported yet");
    f.ignore("refusal");
    f.reject_unknown();
    out.push_back(std::move(normalized));
  }
  return out;
}

class ChatJob : public GenerationJob {
 public:
  ChatJob(JobSettings settings, RouteContext& ctx, std::string id, std::optional<int> top_logprobs,
          bool ids_as_tokens, std::string echo_text)
      : GenerationJob(std::move(settings), ctx.arrival, &ctx.metrics),
        speller_(ctx.backend, ids_as_tokens),
        id_(std::move(id)),
        model_(ctx.model_name),
        created_(unix_time_now()),
        top_logprobs_(top_logprobs),
        echo_text_(std::move(echo_text)) {}

 private:
  json chunk(json choice) const {
    json c = {{"id", id_},
              {"object", "chat.completion.chunk"},
              {"created", created_},
              {"model", model_},
              {"choices", json::array({std::move(choice)})}};
    if (settings_.continuous_usage)
      c["usage"] = usage_json(prompt_tokens(), completion_tokens(), 0);
    else if (settings_.include_usage)
      c["usage"] = nullptr;
    return c;
  }

  json stop_reason_json(const ChoiceState& c) const {
    if (c.stop_reason.empty()) return nullptr;
    if (c.stopped_by_token) return std::stoi(c.stop_reason);
    return c.stop_reason;
  }

  json logprobs_json(const std::vector<TokenLogprob>& entries) const {
    json content = json::array();
    for (const auto& e : entries) content.push_back(chat_logprob_entry(speller_, e));
    return {{"content", std::move(content)}, {"refusal", nullptr}};
  }

  void on_stream_start(std::string& out) override {
    for (size_t i = 0; i < choices_.size(); ++i)
      append_event(out,
                   dump_json(chunk({{"index", i},
                                    {"delta", {{"role", "assistant"}, {"content", echo_text_}}},
                                    {"logprobs", nullptr},
                                    {"finish_reason", nullptr}})));
  }

  void on_delta(size_t, size_t choice, const SequenceDelta& delta, std::string& out) override {
    bool with_logprobs = top_logprobs_ && !delta.logprobs.empty();
    if (!delta.text.empty() || with_logprobs)
      append_event(out, dump_json(chunk({{"index", choice},
                                         {"delta", {{"content", delta.text}}},
                                         {"logprobs", with_logprobs ? logprobs_json(delta.logprobs)
                                                                    : json(nullptr)},
                                         {"finish_reason", nullptr}})));
    if (delta.finish)
      append_event(out, dump_json(chunk({{"index", choice},
                                         {"delta", json::object()},
                                         {"logprobs", nullptr},
                                         {"finish_reason", finish_name(*delta.finish)},
                                         {"stop_reason", stop_reason_json(choices_[choice])}})));
  }

  int cached_tokens() const {
    int total = 0;
    for (const auto& p : prompts_) total += p.num_cached_prompt_tokens;
    return total;
  }

  void on_stream_end(std::string& out) override {
    if (settings_.include_usage)
      append_event(out, dump_json({{"id", id_},
                                   {"object", "chat.completion.chunk"},
                                   {"created", created_},
                                   {"model", model_},
                                   {"choices", json::array()},
                                   {"usage", usage_json(prompt_tokens(), completion_tokens(),
                                                        cached_tokens())}}));
    out += "data: [DONE]\n\n";
  }

  HttpResponse final_response() override {
    json choices = json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const ChoiceState& c = choices_[i];
      choices.push_back({{"index", i},
                         {"message", {{"role", "assistant"}, {"content", echo_text_ + c.text}}},
                         {"logprobs", top_logprobs_ ? logprobs_json(c.logprobs) : json(nullptr)},
                         {"finish_reason", finish_name(c.finish.value_or(Finish::kStop))},
                         {"stop_reason", stop_reason_json(c)}});
    }
    return json_response(
        200, {{"id", id_},
              {"object", "chat.completion"},
              {"created", created_},
              {"model", model_},
              {"choices", std::move(choices)},
              {"usage", usage_json(prompt_tokens(), completion_tokens(), cached_tokens())}});
  }

  TokenSpeller speller_;
  std::string id_;
  std::string model_;
  int64_t created_;
  std::optional<int> top_logprobs_;
  std::string echo_text_;
};

}  // namespace

// Shared with /tokenize: the chat-template fields and the rendered prompt.
std::vector<int32_t> render_chat_prompt(RouteContext& ctx, JsonFields& f, json& messages_out) {
  messages_out = normalize_messages(f.get("messages"));
  ChatTemplateOptions options;
  options.add_generation_prompt = f.boolean("add_generation_prompt").value_or(true);
  options.continue_final_message = f.boolean("continue_final_message").value_or(false);
  if (options.add_generation_prompt && options.continue_final_message &&
      f.has("add_generation_prompt"))
    bad_request("continue_final_message",
                "`continue_final_message` and `add_generation_prompt` cannot both be true");
  if (options.continue_final_message) {
    options.add_generation_prompt = false;
    if (messages_out.back()["role"] != "assistant")
      bad_request("continue_final_message",
                  "`continue_final_message` needs the last message to be from the assistant");
  }
  if (const json* kwargs = f.get("chat_template_kwargs")) {
    if (!kwargs->is_object())
      bad_request("chat_template_kwargs", "`chat_template_kwargs` must be an object");
    options.kwargs = *kwargs;
  }
  if (f.has("chat_template"))
    bad_request("chat_template",
                "a per-request `chat_template` is not supported; start the "
                "server with --chat-template instead");
  if (f.has("documents")) bad_request("documents", "`documents` is not supported");
  bool add_special = f.boolean("add_special_tokens").value_or(false);
  std::string text;
  try {
    text = ctx.backend.apply_chat_template(messages_out, options);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kInternal) throw;
    bad_request("messages", "the chat template rejected the messages: {}", e.what());
  }
  return ctx.backend.tokenize(text, add_special, /*parse_special=*/true);
}

Reply handle_chat_completions(RouteContext& ctx, const HttpRequest& request) {
  json body = parse_json_body(request.body);
  JsonFields f(body);
  std::vector<std::string> names = ctx.config.served_model_names;
  if (names.empty()) names.push_back(ctx.model_name);
  check_model(f, names);
  StreamFields stream = read_stream_fields(f);
  SamplingOptions sampling;
  read_sampling_fields(f, sampling, ctx.backend, max_n(ctx));
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  auto max_tokens = f.integer("max_tokens", 1, kMax);
  if (auto mct = f.integer("max_completion_tokens", 1, kMax)) max_tokens = mct;
  bool logprobs = f.boolean("logprobs").value_or(false);
  auto top_logprobs = f.integer("top_logprobs", 0, 20);
  if (top_logprobs && !logprobs)
    bad_request("top_logprobs", "`top_logprobs` needs `logprobs` set to true");
  bool echo = f.boolean("echo").value_or(false);
  bool ids_as_tokens = f.boolean("return_tokens_as_token_ids").value_or(false);
  if (f.has("prompt_logprobs"))
    bad_request("prompt_logprobs", "`prompt_logprobs` is not supported");
  auto truncate = f.integer("truncate_prompt_tokens", 1, ctx.backend.max_model_len());
  json messages;
  std::vector<int32_t> ids = render_chat_prompt(ctx, f, messages);
  reject_unsupported_fields(f);
  f.reject_unknown();

  truncate_prompt(ids, truncate);
  if (ids.empty()) bad_request("messages", "the rendered prompt is empty");
  fit_max_tokens(sampling, max_tokens, -1, static_cast<int>(ids.size()),
                 ctx.backend.max_model_len(), "messages");
  std::optional<int> top;
  if (logprobs) top = static_cast<int>(top_logprobs.value_or(0));
  if (top) sampling.logprobs = *top;
  std::string echo_text;
  if (echo && messages.back()["role"] == "assistant") echo_text = messages.back()["content"];

  const JobSettings settings = job_settings(stream, sampling);
  std::string id = make_request_id("chatcmpl");
  auto job = std::make_shared<ChatJob>(settings, ctx, id, top, ids_as_tokens, echo_text);
  job->add_prompt(submit_prompt(ctx, id, std::move(ids), sampling));
  return job;
}

}  // namespace tessera::server
