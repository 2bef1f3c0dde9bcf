// POST /v1/completions: one engine request per prompt (a prompt is a
// string, a list of token ids, or a list of either), n sequences each;
// choice index = prompt * n + sequence.
#include <limits>

#include "api_error.h"
#include "generation_job.h"
#include "json_fields.h"
#include "openai_format.h"
#include "openai_request.h"
#include "route_context.h"

namespace tessera::server {

namespace {

struct PromptInput {
  std::vector<int32_t> ids;
  std::string text;  // for echo (detokenized when the prompt came as ids)
};

std::vector<int32_t> checked_ids(const ServingBackend& backend, const json& list) {
  std::vector<int32_t> ids;
  ids.reserve(list.size());
  for (const auto& v : list) {
    int64_t id = json_integer(v, "prompt", 0, std::numeric_limits<int32_t>::max());
    if (!backend.is_valid_token(static_cast<int32_t>(id)))
      bad_request("prompt", "`prompt`: token id {} is not in the vocabulary", id);
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

std::vector<PromptInput> read_prompts(const json& prompt, const ServingBackend& backend,
                                      bool add_special, size_t max_prompts) {
  std::vector<PromptInput> out;
  auto from_text = [&](const std::string& text) {
    out.push_back({backend.tokenize(text, add_special, /*parse_special=*/true), text});
  };
  auto from_ids = [&](const json& list) {
    PromptInput p;
    p.ids = checked_ids(backend, list);
    p.text = backend.detokenize(p.ids, /*skip_special_tokens=*/false);
    out.push_back(std::move(p));
  };
  if (prompt.is_string()) {
    from_text(prompt.get<std::string>());
  } else if (prompt.is_array() && !prompt.empty()) {
    const json& first = prompt[0];
    if (prompt.size() > max_prompts && !first.is_number())
      bad_request("prompt", "`prompt` may hold at most {} prompts, got {}", max_prompts,
                  prompt.size());
    if (first.is_number()) {
      from_ids(prompt);
    } else if (first.is_string()) {
      for (const auto& p : prompt) {
        if (!p.is_string())
          bad_request("prompt",
                      "`prompt`: a list of prompts must all be strings or all be "
                      "token lists");
        from_text(p.get<std::string>());
      }
    } else if (first.is_array()) {
      for (const auto& p : prompt) {
        if (!p.is_array() || p.empty())
          bad_request("prompt", "`prompt`: a list of token lists must hold non-empty lists only");
        from_ids(p);
      }
    } else {
      bad_request("prompt",
                  "`prompt` must be a string, a list of strings, a list of token ids or "
                  "a list of token-id lists");
    }
  } else {
    bad_request("prompt", "`prompt` must be a non-empty string or list, got {}",
                prompt.is_array() ? "an empty list" : json_type_name(prompt));
  }
  return out;
}

class CompletionJob : public GenerationJob {
 public:
  CompletionJob(JobSettings settings, RouteContext& ctx, std::string id, bool echo,
                std::optional<int> logprobs, bool ids_as_tokens)
      : GenerationJob(std::move(settings), ctx.arrival, &ctx.metrics),
        backend_(ctx.backend),
        speller_(ctx.backend, ids_as_tokens),
        id_(std::move(id)),
        model_(ctx.model_name),
        created_(unix_time_now()),
        echo_(echo),
        logprobs_(logprobs) {}

 private:
  json chunk_base() const {
    return {{"id", id_}, {"object", "text_completion"}, {"created", created_}, {"model", model_}};
  }

  json stop_reason_json(const ChoiceState& c) const {
    if (c.stop_reason.empty()) return nullptr;
    if (c.stopped_by_token) return std::stoi(c.stop_reason);
    return c.stop_reason;
  }

  // Prompt tokens as logprob entries (echo with logprobs).
  void add_prompt_logprobs(CompletionLogprobs& lp, const PromptState& p) const {
    for (size_t i = 0; i < p.prompt_ids.size(); ++i) {
      std::optional<TokenLogprob> entry;
      if (i < p.prompt_logprobs.size()) entry = p.prompt_logprobs[i];
      lp.add(speller_, p.prompt_ids[i], entry);
    }
  }

  void on_delta(size_t prompt, size_t choice, const SequenceDelta& delta,
                std::string& out) override {
    if (offsets_.empty()) {
      offsets_.assign(choices_.size(), 0);
      echoed_.assign(choices_.size(), false);
    }
    std::string text;
    CompletionLogprobs lp(offsets_[choice]);
    if (echo_ && !echoed_[choice]) {
      echoed_[choice] = true;
      text = prompts_[prompt].prompt_text;
      if (logprobs_) add_prompt_logprobs(lp, prompts_[prompt]);
    }
    text += delta.text;
    if (logprobs_)
      for (const auto& entry : delta.logprobs) lp.add(speller_, entry.token, entry);
    offsets_[choice] = lp.offset();
    if (text.empty() && lp.empty() && !delta.finish) return;
    const ChoiceState& c = choices_[choice];
    json chunk = chunk_base();
    chunk["choices"] = json::array(
        {{{"index", choice},
          {"text", text},
          {"logprobs", logprobs_ ? lp.to_json() : json(nullptr)},
          {"finish_reason", delta.finish ? json(finish_name(*delta.finish)) : json(nullptr)},
          {"stop_reason", delta.finish ? stop_reason_json(c) : json(nullptr)}}});
    if (settings_.continuous_usage)
      chunk["usage"] = usage_json(prompt_tokens(), completion_tokens(), 0);
    else if (settings_.include_usage)
      chunk["usage"] = nullptr;
    append_event(out, dump_json(chunk));
  }

  void on_stream_end(std::string& out) override {
    if (settings_.include_usage) {
      json chunk = chunk_base();
      chunk["choices"] = json::array();
      chunk["usage"] = usage_json(prompt_tokens(), completion_tokens(), cached_tokens());
      append_event(out, dump_json(chunk));
    }
    out += "data: [DONE]\n\n";
  }

  int cached_tokens() const {
    int total = 0;
    for (const auto& p : prompts_) total += p.num_cached_prompt_tokens;
    return total;
  }

  HttpResponse final_response() override {
    json choices = json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const ChoiceState& c = choices_[i];
      const PromptState& p = prompts_[i / static_cast<size_t>(settings_.n)];
      json logprobs = nullptr;
      if (logprobs_) {
        CompletionLogprobs lp;
        if (echo_) add_prompt_logprobs(lp, p);
        for (const auto& entry : c.logprobs) lp.add(speller_, entry.token, entry);
        logprobs = lp.to_json();
      }
      choices.push_back({{"index", i},
                         {"text", echo_ ? p.prompt_text + c.text : c.text},
                         {"logprobs", std::move(logprobs)},
                         {"finish_reason", finish_name(c.finish.value_or(Finish::kStop))},
                         {"stop_reason", stop_reason_json(c)}});
    }
    json body = chunk_base();
    body["choices"] = std::move(choices);
    body["usage"] = usage_json(prompt_tokens(), completion_tokens(), cached_tokens());
    return json_response(200, body);
  }

  const ServingBackend& backend_;
  TokenSpeller speller_;
  std::string id_;
  std::string model_;
  int64_t created_;
  bool echo_;
  std::optional<int> logprobs_;
  std::vector<size_t> offsets_;
  std::vector<bool> echoed_;
};

}  // namespace

Reply handle_completions(RouteContext& ctx, const HttpRequest& request) {
  json body = parse_json_body(request.body);
  JsonFields f(body);
  std::vector<std::string> names = ctx.config.served_model_names;
  if (names.empty()) names.push_back(ctx.model_name);
  check_model(f, names);
  const json* prompt = f.get("prompt");
  if (!prompt) bad_request("prompt", "`prompt` is required");
  StreamFields stream = read_stream_fields(f);
  SamplingOptions sampling;
  read_sampling_fields(f, sampling, ctx.backend, max_n(ctx));
  int max_len = ctx.backend.max_model_len();
  auto max_tokens = f.integer("max_tokens", 1, std::numeric_limits<int32_t>::max());
  bool echo = f.boolean("echo").value_or(false);
  auto logprobs = f.integer("logprobs", 0, 20);
  bool add_special = f.boolean("add_special_tokens").value_or(true);
  auto truncate = f.integer("truncate_prompt_tokens", 1, max_len);
  bool ids_as_tokens = f.boolean("return_tokens_as_token_ids").value_or(false);
  if (f.has("prompt_logprobs"))
    bad_request("prompt_logprobs",
                "`prompt_logprobs` is not supported; use `echo` with `logprobs`");
  reject_unsupported_fields(f);
  f.reject_unknown();

  std::vector<PromptInput> prompts =
      read_prompts(*prompt, ctx.backend, add_special, ctx.config.max_prompts_per_request);
  std::vector<SamplingOptions> per_prompt;
  for (auto& p : prompts) {
    size_t before = p.ids.size();
    truncate_prompt(p.ids, truncate);
    if (p.ids.size() != before) p.text = ctx.backend.detokenize(p.ids, false);
    if (p.ids.empty()) bad_request("prompt", "the prompt is empty after tokenization");
    SamplingOptions s = sampling;
    fit_max_tokens(s, max_tokens, 16, static_cast<int>(p.ids.size()), max_len, "prompt");
    if (logprobs) s.logprobs = static_cast<int>(*logprobs);
    if (echo && logprobs) s.prompt_logprobs = static_cast<int>(*logprobs);
    per_prompt.push_back(std::move(s));
  }

  const JobSettings settings = job_settings(stream, sampling);
  std::string id = make_request_id("cmpl");
  auto job = std::make_shared<CompletionJob>(
      settings, ctx, id, echo,
      logprobs ? std::optional<int>(static_cast<int>(*logprobs)) : std::nullopt, ids_as_tokens);
  for (size_t i = 0; i < prompts.size(); ++i) {
    PromptState state = submit_prompt(ctx, prompts.size() == 1 ? id : fmt::format("{}-{}", id, i),
                                      std::move(prompts[i].ids), per_prompt[i]);
    state.prompt_text = std::move(prompts[i].text);
    job->add_prompt(std::move(state));
  }
  return job;
}

}  // namespace tessera::server
