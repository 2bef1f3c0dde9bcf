// Adapter: Engine (engine.h) + Tokenizer + ChatTemplate -> ServingBackend.
//
// It only maps types; every check and every response shape lives in the
// server module.
// --chat-template (a file path, or the template text itself) is read here.
#include "serve_engine_backend.h"

#include "model_chat_template.h"

#include "tessera/core/error.h"

#include "tessera/core/log.h"
#include "tessera/engine/engine.h"
#include "tessera/template/chat_template.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera::cli {

namespace {

using server::Finish;

Finish to_finish(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return Finish::kStop;
    case FinishReason::kLength:
      return Finish::kLength;
    case FinishReason::kAbort:
      return Finish::kAbort;
  }
  return Finish::kAbort;
}

server::TokenLogprob to_logprob(const TokenLogprob& lp) {
  server::TokenLogprob out;
  out.token = lp.token;
  out.logprob = lp.logprob;
  out.top.reserve(lp.top.size());
  for (const auto& t : lp.top) out.top.push_back({t.token, t.logprob});
  return out;
}

SamplingParams to_params(const server::SamplingOptions& s) {
  SamplingParams p;
  p.n = s.n;
  p.temperature = s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = s.min_p;
  if (s.seed) p.seed = static_cast<int64_t>(*s.seed);  // the same 64 bits
  p.repetition_penalty = s.repetition_penalty;
  p.presence_penalty = s.presence_penalty;
  p.frequency_penalty = s.frequency_penalty;
  for (const auto& [token, bias] : s.logit_bias) p.logit_bias[token] = bias;
  p.stop = s.stop;
  p.stop_token_ids = s.stop_token_ids;
  // The server appends a matched stop string itself (GenerationJob), so
  // the engine must not include it too.
  p.include_stop_str_in_output = false;
  p.max_tokens = s.max_tokens;
  p.min_tokens = s.min_tokens;
  p.ignore_eos = s.ignore_eos;
  p.logprobs = s.logprobs;
  p.prompt_logprobs = s.prompt_logprobs;
  p.skip_special_tokens = s.skip_special_tokens;
  p.use_beam_search = s.use_beam_search;
  p.length_penalty = s.length_penalty;
  return p;
}

class EngineStream : public server::GenerationStream {
 public:
  explicit EngineStream(std::shared_ptr<RequestHandle> handle) : handle_(std::move(handle)) {}

  std::optional<server::GenerationOutput> try_next() override {
    std::optional<RequestOutput> out = handle_->try_next();
    if (!out) return std::nullopt;
    server::GenerationOutput g;
    g.finished = out->finished;
    g.num_prompt_tokens = out->num_prompt_tokens;
    g.num_cached_prompt_tokens = out->num_cached_prompt_tokens;
    g.sequences.reserve(out->outputs.size());
    for (auto& seq : out->outputs) {
      server::SequenceDelta d;
      d.index = seq.index;
      d.token_ids = std::move(seq.token_ids);
      d.text = std::move(seq.text);
      d.logprobs.reserve(seq.logprobs.size());
      for (const auto& lp : seq.logprobs) d.logprobs.push_back(to_logprob(lp));
      if (seq.finish_reason) d.finish = to_finish(*seq.finish_reason);
      d.stop_reason = std::move(seq.stop_reason);
      g.sequences.push_back(std::move(d));
    }
    g.prompt_logprobs.reserve(out->prompt_logprobs.size());
    for (const auto& lp : out->prompt_logprobs)
      g.prompt_logprobs.push_back(lp ? std::optional(to_logprob(*lp)) : std::nullopt);
    return g;
  }
  bool finished() const override { return handle_->finished(); }
  void on_ready(std::function<void()> callback) override { handle_->on_ready(std::move(callback)); }
  void abort() override { handle_->abort(); }

 private:
  std::shared_ptr<RequestHandle> handle_;
};

class EngineBackend : public server::ServingBackend {
 public:
  EngineBackend(std::unique_ptr<Engine> engine, const server::ServeOptions& options)
      : engine_(std::move(engine)), tokenizer_(engine_->tokenizer()), options_(options) {
    template_ = model_chat_template(tokenizer_, options.chat_template);
    if (!template_)
      spdlog::warn("the model has no chat template: /v1/chat/completions will answer 400");
  }

  std::shared_ptr<server::GenerationStream> submit(server::GenerationRequest request) override {
    GenerateRequest r;
    r.request_id = std::move(request.request_id);
    r.prompt_ids = std::move(request.prompt_ids);
    r.params = to_params(request.sampling);
    return std::make_shared<EngineStream>(engine_->submit(std::move(r)));
  }

  std::vector<int32_t> tokenize(std::string_view text, bool add_special_tokens,
                                bool parse_special) const override {
    return tokenizer_.encode(text, add_special_tokens, parse_special);
  }
  std::string detokenize(std::span<const int32_t> ids, bool skip_special_tokens) const override {
    return tokenizer_.decode(ids, skip_special_tokens);
  }
  std::string token_bytes(int32_t id) const override { return tokenizer_.token_bytes(id); }
  bool is_valid_token(int32_t id) const override { return tokenizer_.is_valid(id); }

  std::string apply_chat_template(const nlohmann::json& messages,
                                  const server::ChatTemplateOptions& options) const override {
    if (!template_) fail(ErrorKind::kInvalidArgument, "this model has no chat template");
    jinja::ChatInputs inputs;
    inputs.messages = nlohmann::ordered_json::parse(messages.dump());
    inputs.add_generation_prompt = options.add_generation_prompt;
    inputs.extra = nlohmann::ordered_json::parse(options.kwargs.dump());
    std::string text = template_->apply(inputs);  // TemplateError is kInvalidArgument
    if (options.continue_final_message) {
      // As transformers does: cut after the final message's content, so
      // the model continues it instead of starting a new turn.
      const std::string& last = messages.back()["content"].get_ref<const std::string&>();
      size_t at = last.empty() ? std::string::npos : text.rfind(last);
      if (at != std::string::npos) text.resize(at + last.size());
    }
    return text;
  }

  const std::string& model_name() const override { return engine_->model_name(); }
  int max_model_len() const override { return engine_->max_model_len(); }

  server::BackendStats stats() const override {
    EngineStats e = engine_->stats();
    server::BackendStats s;
    s.num_running = e.num_running;
    s.num_waiting = e.num_waiting;
    s.kv_cache_usage = e.kv_cache_usage;
    s.kv_cache_blocks = e.kv_cache_blocks;
    s.prefix_cache_queries = e.prefix_cache_queries;
    s.prefix_cache_hits = e.prefix_cache_hits;
    s.num_preemptions = e.num_preemptions;
    s.prompt_tokens = e.prompt_tokens;
    s.generation_tokens = e.generation_tokens;
    s.requests_finished = e.requests_finished;
    return s;
  }

  server::BackendInfo info() const override {
    server::BackendInfo info;
    info.dtype = engine_->weights_dtype();
    info.device = options_.device;
    info.max_num_seqs = options_.max_num_seqs;
    info.max_waiting_requests = options_.max_waiting_requests;
    info.vocab_size = tokenizer_.vocab_size();
    return info;
  }

  void shutdown() override { engine_->shutdown(); }

 private:
  std::unique_ptr<Engine> engine_;
  const tokenizer::Tokenizer& tokenizer_;
  server::ServeOptions options_;
  std::unique_ptr<jinja::ChatTemplate> template_;
};

}  // namespace

std::unique_ptr<server::ServingBackend> make_engine_backend(const server::ServeOptions& o) {
  EngineConfig config;
  if (!o.model.empty()) config.model = o.model;
  config.device = o.device;
  config.load_format = o.load_format;
  config.dtype = o.dtype;
  config.enforce_eager = o.enforce_eager;
  config.async_scheduling = o.async_scheduling;
  config.threads = o.threads;
  config.max_num_seqs = o.max_num_seqs;
  config.max_num_batched_tokens = o.max_num_batched_tokens;
  config.max_model_len = o.max_model_len;
  config.block_size = o.block_size;
  config.kv_cache_memory = o.kv_cache_memory;
  config.kv_cache_dtype = o.kv_cache_dtype;
  config.cpu_activations = o.cpu_activations;
  config.gpu_memory_utilization = o.gpu_memory_utilization;
  config.enable_prefix_caching = o.enable_prefix_caching;
  config.max_waiting_requests = o.max_waiting_requests;
  config.seed = o.seed;
  return std::make_unique<EngineBackend>(Engine::create(config), o);
}

}  // namespace tessera::cli
