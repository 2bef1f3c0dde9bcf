// Text Generation Inference's routes: POST /generate, POST /generate_stream
// and GET /info, with TGI's request and response shapes and its error
// objects ({"error", "error_type"}, 422 for validation).
#include <limits>

#include "api_error.h"
#include "generation_job.h"
#include "json_fields.h"
#include "openai_format.h"
#include "route_context.h"

namespace tessera::server {

namespace {

constexpr size_t kMaxStopSequences = 4;  // TGI's default --max-stop-sequences

struct TgiOptions {
  bool details = false;
  bool decoder_input_details = false;
  bool return_full_text = false;
  int top_n_tokens = 0;
  std::optional<uint64_t> seed;
};

// TGI says "validation" errors with status 422.
[[noreturn]] void invalid(const std::string& param, const std::string& message) {
  throw ApiError(422, message, param, "validation");
}

void read_parameters(const json* params, SamplingOptions& s, TgiOptions& o, int max_model_len,
                     int prompt_len, std::optional<int64_t>& truncate) {
  json empty = json::object();
  if (params && !params->is_object()) invalid("parameters", "`parameters` must be an object");
  JsonFields f(params ? *params : empty, "parameters.");
  try {
    f.integer("best_of", 1, 1);  // only 1: no best-of sampling
    bool do_sample = f.boolean("do_sample").value_or(false);
    auto temperature = f.number("temperature", 0, 100);
    if (temperature && *temperature <= 0)
      invalid("temperature", "`temperature` must be strictly positive");
    auto top_k = f.integer("top_k", 1, std::numeric_limits<int32_t>::max());
    auto top_p = f.number("top_p", 0, 1);
    if (top_p && (*top_p <= 0 || *top_p >= 1)) invalid("top_p", "`top_p` must be > 0.0 and < 1.0");
    auto typical_p = f.number("typical_p", 0, 1);
    if (typical_p && *typical_p < 1.0) invalid("typical_p", "`typical_p` is not supported");
    // Sampling is on when asked for, or implied by a sampling parameter (as in TGI).
    bool sampling = do_sample || temperature || top_k || top_p;
    s.temperature = sampling ? static_cast<float>(temperature.value_or(1.0)) : 0.0f;
    s.top_k = static_cast<int>(top_k.value_or(0));
    s.top_p = static_cast<float>(top_p.value_or(1.0));
    if (auto rp = f.number("repetition_penalty", 0, 100)) {
      if (*rp <= 0) invalid("repetition_penalty", "`repetition_penalty` must be strictly positive");
      s.repetition_penalty = static_cast<float>(*rp);
    }
    s.frequency_penalty = static_cast<float>(f.number("frequency_penalty", -2, 2).value_or(0.0));
    if (const json* seed = f.get("seed")) {
      o.seed = static_cast<uint64_t>(
          json_integer(*seed, "parameters.seed", 0, std::numeric_limits<int64_t>::max()));
      s.seed = o.seed;
    }
    if (auto stop = f.string_or_list("stop", kMaxStopSequences)) {
      for (const auto& str : *stop)
        if (str.empty()) invalid("stop", "`stop` sequences must not be empty");
      s.stop = std::move(*stop);
    }
    o.details = f.boolean("details").value_or(false);
    o.decoder_input_details = f.boolean("decoder_input_details").value_or(false);
    o.return_full_text = f.boolean("return_full_text").value_or(false);
    o.top_n_tokens = static_cast<int>(f.integer("top_n_tokens", 0, 5).value_or(0));
    truncate = f.integer("truncate", 1, max_model_len);
    if (auto watermark = f.boolean("watermark"); watermark && *watermark)
      invalid("watermark", "`watermark` is not supported");
    for (const char* key : {"grammar", "adapter_id"})
      if (f.has(key)) invalid(key, fmt::format("`{}` is not supported", key));
    auto max_new = f.integer("max_new_tokens", 1, std::numeric_limits<int32_t>::max());
    int len = truncate ? std::min<int>(prompt_len, static_cast<int>(*truncate)) : prompt_len;
    if (len >= max_model_len)
      invalid("inputs",
              fmt::format("`inputs` must have less than {} tokens. Given: {}", max_model_len, len));
    s.max_tokens = static_cast<int>(max_new.value_or(std::min(100, max_model_len - len)));
    if (len + s.max_tokens > max_model_len)
      invalid("max_new_tokens",
              fmt::format("`inputs` tokens + `max_new_tokens` must be <= {}. Given: {} `inputs` "
                          "tokens and {} `max_new_tokens`",
                          max_model_len, len, s.max_tokens));
    f.reject_unknown();
  } catch (const ApiError& e) {
    if (e.status == 400) throw ApiError(422, e.what(), e.param, "validation");
    throw;
  }
}

class TgiJob : public GenerationJob {
 public:
  TgiJob(JobSettings settings, RouteContext& ctx, TgiOptions options, std::string input_text)
      : GenerationJob(std::move(settings), ctx.arrival, &ctx.metrics),
        backend_(ctx.backend),
        options_(options),
        input_text_(std::move(input_text)) {}

 private:
  json token_json(int32_t id, const TokenLogprob* lp, std::string text) const {
    return {{"id", id},
            {"text", std::move(text)},
            {"logprob", lp ? json(clamp_logprob(lp->logprob)) : json(nullptr)},
            {"special", false}};
  }

  json top_tokens_json(const TokenLogprob& lp) const {
    json top = json::array();
    for (const auto& alt : lp.top)
      top.push_back({{"id", alt.token},
                     {"text", sanitize_utf8(backend_.token_bytes(alt.token))},
                     {"logprob", clamp_logprob(alt.logprob)},
                     {"special", false}});
    return top;
  }

  std::string finish_reason(const ChoiceState& c) const {
    if (c.finish == Finish::kLength) return "length";
    if (!c.stop_reason.empty() && !c.stopped_by_token) return "stop_sequence";
    return "eos_token";
  }

  std::string full_text(const ChoiceState& c) const {
    return options_.return_full_text ? input_text_ + c.text : c.text;
  }

  // One event per generated token. The engine hands text per output, not
  // per token, so all of an output's text rides on its last token.
  void on_delta(size_t, size_t, const SequenceDelta& delta, std::string& out) override {
    const ChoiceState& c = choices_[0];
    for (size_t i = 0; i < delta.token_ids.size(); ++i) {
      bool last = i + 1 == delta.token_ids.size();
      const TokenLogprob* lp = i < delta.logprobs.size() ? &delta.logprobs[i] : nullptr;
      json event = {{"index", ++events_},
                    {"token", token_json(delta.token_ids[i], lp, last ? delta.text : "")},
                    {"generated_text", nullptr},
                    {"details", nullptr}};
      if (options_.top_n_tokens > 0 && lp) event["top_tokens"] = top_tokens_json(*lp);
      if (last && delta.finish) {
        event["generated_text"] = full_text(c);
        event["details"] = {{"finish_reason", finish_reason(c)},
                            {"generated_tokens", c.token_ids.size()},
                            {"seed", options_.seed ? json(*options_.seed) : json(nullptr)}};
      }
      append_event(out, dump_json(event));
    }
  }

  void on_stream_end(std::string&) override {}

  HttpResponse final_response() override {
    const ChoiceState& c = choices_[0];
    json body = {{"generated_text", full_text(c)}};
    if (options_.details) {
      json tokens = json::array();
      json top_tokens = json::array();
      for (size_t i = 0; i < c.token_ids.size(); ++i) {
        const TokenLogprob* lp = i < c.logprobs.size() ? &c.logprobs[i] : nullptr;
        tokens.push_back(
            token_json(c.token_ids[i], lp, sanitize_utf8(backend_.token_bytes(c.token_ids[i]))));
        if (options_.top_n_tokens > 0 && lp) top_tokens.push_back(top_tokens_json(*lp));
      }
      json prefill = json::array();
      if (options_.decoder_input_details) {
        const PromptState& p = prompts_[0];
        for (size_t i = 0; i < p.prompt_ids.size(); ++i) {
          const std::optional<TokenLogprob>* lp =
              i < p.prompt_logprobs.size() ? &p.prompt_logprobs[i] : nullptr;
          prefill.push_back(
              {{"id", p.prompt_ids[i]},
               {"text", sanitize_utf8(backend_.token_bytes(p.prompt_ids[i]))},
               {"logprob", lp && *lp ? json(clamp_logprob((*lp)->logprob)) : json(nullptr)}});
        }
      }
      body["details"] = {{"finish_reason", finish_reason(c)},
                         {"generated_tokens", c.token_ids.size()},
                         {"seed", options_.seed ? json(*options_.seed) : json(nullptr)},
                         {"prefill", std::move(prefill)},
                         {"tokens", std::move(tokens)}};
      if (options_.top_n_tokens > 0) body["details"]["top_tokens"] = std::move(top_tokens);
    }
    return json_response(200, body);
  }

  const ServingBackend& backend_;
  TgiOptions options_;
  std::string input_text_;
  int events_ = 0;
};

}  // namespace

Reply handle_tgi_generate(RouteContext& ctx, const HttpRequest& request, bool stream) {
  json body;
  try {
    body = parse_json_body(request.body);
  } catch (const ApiError& e) {
    throw ApiError(422, e.what(), e.param, "validation");
  }
  JsonFields f(body);
  std::string inputs;
  try {
    std::optional<std::string> in = f.string("inputs");
    if (!in) bad_request("inputs", "`inputs` is required");
    inputs = std::move(*in);
    // /generate accepts "stream" as TGI's router does (it then streams).
    if (auto s = f.boolean("stream")) stream = stream || *s;
  } catch (const ApiError& e) {
    throw ApiError(422, e.what(), e.param, "validation");
  }
  std::vector<int32_t> ids = ctx.backend.tokenize(inputs, true, true);
  SamplingOptions sampling;
  TgiOptions options;
  std::optional<int64_t> truncate;
  read_parameters(f.get("parameters"), sampling, options, ctx.backend.max_model_len(),
                  static_cast<int>(ids.size()), truncate);
  try {
    f.reject_unknown();
  } catch (const ApiError& e) {
    throw ApiError(422, e.what(), e.param, "validation");
  }
  if (truncate && static_cast<size_t>(*truncate) < ids.size())
    ids.erase(ids.begin(), ids.end() - *truncate);
  if (ids.empty()) invalid("inputs", "`inputs` cannot be empty");
  if (options.details || stream) sampling.logprobs = options.top_n_tokens;
  if (options.decoder_input_details) sampling.prompt_logprobs = 0;

  JobSettings settings;
  settings.stream = stream;
  auto job = std::make_shared<TgiJob>(settings, ctx, options, inputs);
  job->add_prompt(submit_prompt(ctx, make_request_id("tgi"), std::move(ids), sampling));
  return job;
}

HttpResponse handle_tgi_info(RouteContext& ctx) {
  BackendInfo info = ctx.backend.info();
  int max_len = ctx.backend.max_model_len();
  return json_response(200,
                       {{"model_id", ctx.model_name},
                        {"model_sha", nullptr},
                        {"model_dtype", info.dtype},
                        {"model_device_type", info.device},
                        {"model_pipeline_tag", "text-generation"},
                        {"max_concurrent_requests", info.max_num_seqs + info.max_waiting_requests},
                        {"max_best_of", 1},
                        {"max_stop_sequences", kMaxStopSequences},
                        {"max_input_tokens", max_len - 1},
                        {"max_input_length", max_len - 1},
                        {"max_total_tokens", max_len},
                        {"validation_workers", ctx.config.io_threads},
                        {"max_client_batch_size", 1},
                        {"router", "tessera"},
                        {"version", "0.1.0"},
                        {"sha", nullptr},
                        {"docker_label", nullptr}});
}

}  // namespace tessera::server
