#include "openai_request.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "api_error.h"

namespace tessera::server {

namespace {
constexpr size_t kMaxStopStrings = 16;
constexpr size_t kMaxStopTokenIds = 1024;
constexpr size_t kMaxLogitBias = 1024;
constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

int32_t checked_token(const ServingBackend& backend, int64_t id, const std::string& param) {
  if (id < 0 || id > kIntMax || !backend.is_valid_token(static_cast<int32_t>(id)))
    bad_request(param, "`{}`: token id {} is not in the vocabulary", param, id);
  return static_cast<int32_t>(id);
}
}  // namespace

void check_model(JsonFields& fields, const std::vector<std::string>& served_names) {
  std::optional<std::string> model = fields.string("model");
  if (!model) return;
  if (std::find(served_names.begin(), served_names.end(), *model) != served_names.end()) return;
  throw ApiError(404, fmt::format("The model `{}` does not exist.", *model), "model",
                 "invalid_request_error", "model_not_found");
}

JobSettings job_settings(const StreamFields& stream, const SamplingOptions& sampling) {
  JobSettings settings;
  settings.stream = stream.stream;
  settings.include_usage = stream.include_usage;
  settings.continuous_usage = stream.continuous_usage;
  settings.n = sampling.n;
  settings.include_stop_str_in_output = sampling.include_stop_str_in_output;
  settings.stop_token_ids = sampling.stop_token_ids;
  return settings;
}

StreamFields read_stream_fields(JsonFields& fields) {
  StreamFields out;
  out.stream = fields.boolean("stream").value_or(false);
  if (const json* options = fields.get("stream_options")) {
    if (!options->is_object())
      bad_request("stream_options", "`stream_options` must be an object, got {}",
                  json_type_name(*options));
    if (!out.stream)
      bad_request("stream_options", "`stream_options` is only allowed when `stream` is true");
    JsonFields o(*options, "stream_options.");
    out.include_usage = o.boolean("include_usage").value_or(false);
    out.continuous_usage = o.boolean("continuous_usage_stats").value_or(false);
    o.reject_unknown();
  }
  return out;
}

void read_sampling_fields(JsonFields& f, SamplingOptions& s, const ServingBackend& backend,
                          int max_n) {
  s.n = static_cast<int>(f.integer("n", 1, max_n).value_or(1));
  if (auto best_of = f.integer("best_of", 1, max_n); best_of && *best_of != s.n)
    bad_request("best_of", "`best_of` different from `n` is not supported (got best_of={}, n={})",
                *best_of, s.n);
  s.use_beam_search = f.boolean("use_beam_search").value_or(false);
  s.length_penalty = static_cast<float>(f.number("length_penalty", -100, 100).value_or(1.0));
  s.temperature = static_cast<float>(f.number("temperature", 0, 2).value_or(1.0));
  if (auto top_p = f.number("top_p", 0, 1)) {
    if (*top_p <= 0) bad_request("top_p", "`top_p` must be in (0, 1], got 0");
    s.top_p = static_cast<float>(*top_p);
  }
  if (auto top_k = f.integer("top_k", -1, kIntMax))
    s.top_k = *top_k < 0 ? 0 : static_cast<int>(*top_k);
  s.min_p = static_cast<float>(f.number("min_p", 0, 1).value_or(0.0));
  s.presence_penalty = static_cast<float>(f.number("presence_penalty", -2, 2).value_or(0.0));
  s.frequency_penalty = static_cast<float>(f.number("frequency_penalty", -2, 2).value_or(0.0));
  if (auto rp = f.number("repetition_penalty", 0, 100)) {
    if (*rp <= 0) bad_request("repetition_penalty", "`repetition_penalty` must be greater than 0");
    s.repetition_penalty = static_cast<float>(*rp);
  }
  if (const json* seed = f.get("seed")) {
    if (seed->is_number_unsigned())
      s.seed = seed->get<uint64_t>();
    else
      s.seed = static_cast<uint64_t>(json_integer(
          *seed, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
  }
  if (auto stop = f.string_or_list("stop", kMaxStopStrings)) {
    for (const auto& str : *stop)
      if (str.empty()) bad_request("stop", "`stop` strings must not be empty");
    s.stop = std::move(*stop);
  }
  if (auto ids = f.integer_list("stop_token_ids", 0, kIntMax, kMaxStopTokenIds))
    for (int64_t id : *ids)
      s.stop_token_ids.push_back(checked_token(backend, id, "stop_token_ids"));
  s.include_stop_str_in_output = f.boolean("include_stop_str_in_output").value_or(false);
  s.ignore_eos = f.boolean("ignore_eos").value_or(false);
  s.min_tokens = static_cast<int>(f.integer("min_tokens", 0, kIntMax).value_or(0));
  s.skip_special_tokens = f.boolean("skip_special_tokens").value_or(true);
  if (auto spaces = f.boolean("spaces_between_special_tokens"); spaces && !*spaces)
    bad_request("spaces_between_special_tokens",
                "`spaces_between_special_tokens=false` is not supported");
  if (const json* bias = f.get("logit_bias")) {
    if (!bias->is_object())
      bad_request("logit_bias",
                  "`logit_bias` must be an object mapping token ids to biases, got {}",
                  json_type_name(*bias));
    if (bias->size() > kMaxLogitBias)
      bad_request("logit_bias", "`logit_bias` may have at most {} entries", kMaxLogitBias);
    for (const auto& [key, value] : bias->items()) {
      int64_t id = -1;
      const char* end = key.data() + key.size();
      auto [ptr, ec] = std::from_chars(key.data(), end, id);
      if (key.empty() || ec != std::errc() || ptr != end)
        bad_request("logit_bias", "`logit_bias` keys must be token ids, got \"{}\"", key);
      int32_t token = checked_token(backend, id, "logit_bias");
      double b = json_number(value, "logit_bias", -100, 100);
      s.logit_bias.emplace_back(token, static_cast<float>(b));
    }
  }
  if (auto priority = f.integer("priority", std::numeric_limits<int64_t>::min(),
                                std::numeric_limits<int64_t>::max());
      priority && *priority != 0)
    bad_request("priority",
                "request priorities are not supported (the scheduler is first come, "
                "first served)");
}

void reject_unsupported_fields(JsonFields& f) {
  // Harmless bookkeeping fields: read so they are not "unrecognized".
  for (const char* key : {"user", "metadata", "store", "service_tier", "request_id",
                          "prompt_cache_key", "safety_identifier"})
    f.ignore(key);
  if (const json* tools = f.get("tools"); tools && !(tools->is_array() && tools->empty()))
    bad_request("tools", "tool calling (`tools`) is not supported yet");
  if (const json* choice = f.get("tool_choice");
      choice && !(choice->is_string() && (*choice == "none" || *choice == "auto")))
    bad_request("tool_choice", "tool calling (`tool_choice`) is not supported yet");
  f.boolean("parallel_tool_calls");
  if (f.has("functions")) bad_request("functions", "function calling is not supported yet");
  if (f.has("function_call")) bad_request("function_call", "function calling is not supported yet");
  if (const json* format = f.get("response_format")) {
    if (!format->is_object() || !format->contains("type") || !(*format)["type"].is_string())
      bad_request("response_format", "`response_format` must be an object with a string `type`");
    std::string type = (*format)["type"];
    if (type != "text")
      bad_request("response_format",
                  "`response_format` of type \"{}\" is not supported yet (structured output); "
                  "only \"text\" is",
                  type);
  }
  for (const char* key : {"guided_json", "guided_regex", "guided_choice", "guided_grammar",
                          "guided_decoding_backend", "guided_whitespace_pattern", "structural_tag"})
    if (f.has(key)) bad_request(key, "guided decoding (`{}`) is not supported yet", key);
  for (const char* key : {"allowed_token_ids", "bad_words", "logits_processors"})
    if (f.has(key)) bad_request(key, "`{}` is not supported yet", key);
  for (const char* key :
       {"audio", "prediction", "reasoning_effort", "web_search_options", "mm_processor_kwargs",
        "cache_salt", "kv_transfer_params", "vllm_xargs", "suffix"})
    if (f.has(key)) bad_request(key, "`{}` is not supported", key);
  if (const json* modalities = f.get("modalities")) {
    if (!(modalities->is_array() && modalities->size() == 1 && (*modalities)[0] == "text"))
      bad_request("modalities", "only the \"text\" modality is supported");
  }
}

void fit_max_tokens(SamplingOptions& s, std::optional<int64_t> requested, int default_max,
                    int prompt_tokens, int max_model_len, const char* prompt_word) {
  if (prompt_tokens >= max_model_len)
    throw ApiError(400,
                   fmt::format("This model's maximum context length is {} tokens. However, your "
                               "{} has {} tokens, which leaves no room to generate. Please reduce "
                               "the length of the {}.",
                               max_model_len, prompt_word, prompt_tokens, prompt_word),
                   "messages" == std::string_view(prompt_word) ? "messages" : "prompt",
                   "invalid_request_error", "context_length_exceeded");
  int room = max_model_len - prompt_tokens;
  if (requested) {
    if (*requested > room)
      throw ApiError(400,
                     fmt::format("This model's maximum context length is {} tokens. However, you "
                                 "requested {} tokens ({} in the {}, {} in the completion). Please "
                                 "reduce the length of the {} or completion.",
                                 max_model_len, prompt_tokens + *requested, prompt_tokens,
                                 prompt_word, *requested, prompt_word),
                     "max_tokens", "invalid_request_error", "context_length_exceeded");
    s.max_tokens = static_cast<int>(*requested);
  } else {
    s.max_tokens = default_max < 0 ? room : std::min(default_max, room);
  }
  if (s.min_tokens > s.max_tokens)
    bad_request("min_tokens", "`min_tokens` ({}) must not exceed `max_tokens` ({})", s.min_tokens,
                s.max_tokens);
}

void truncate_prompt(std::vector<int32_t>& ids, std::optional<int64_t> keep_last) {
  if (!keep_last || static_cast<size_t>(*keep_last) >= ids.size()) return;
  ids.erase(ids.begin(), ids.end() - *keep_last);
}

}  // namespace tessera::server
