#include "engine_impl.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "dtype_flags.h"
#include "tessera/core/error.h"
#include "tessera/core/log.h"
#ifdef TESSERA_WITH_CUDA
#include "tessera/backend/cuda.h"
#include "tessera/backend/cuda_sampling.h"
#endif

namespace tessera {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
  }
  return "stop";
}

EngineImpl::EngineImpl(const EngineConfig& config, std::unique_ptr<WeightSource> source,
                       std::unique_ptr<Backend> backend, std::unique_ptr<Model> model,
                       tokenizer::Tokenizer tokenizer, int kv_blocks)
    : config_(config),
      source_(std::move(source)),
      backend_(std::move(backend)),
      model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      kv_(KvCacheConfig{kv_blocks, config.block_size, config.enable_prefix_caching, {}}),
      runner_(*model_,
              [&] {
                KvCacheShape s;
                s.num_layers = model_->config().num_layers;
                s.num_blocks = kv_blocks;
                s.block_size = config.block_size;
                s.num_kv_heads = model_->config().num_kv_heads;
                s.head_dim = model_->config().head_dim;
                s.dtype = kv_cache_dtype(config, backend_->device(), backend_->activation_dtype());
                return s;
              }()),
      scheduler_(kv_, SchedulerConfig{config.max_num_seqs, config.max_num_batched_tokens}),
      sampler_(int(model_->config().vocab_size), {tokenizer_.eos_id()}),
      seeds_(config.seed ? *config.seed : draw_random_seed()),
      edit_builder_(int(model_->config().vocab_size), {tokenizer_.eos_id()}) {
  model_name_ = config.model;  // what the user named it, as vLLM does
  max_model_len_ = int(config.max_model_len > 0
                           ? std::min<int64_t>(config.max_model_len, model_->config().max_position)
                           : model_->config().max_position);
  if (!config.enforce_eager && backend_->device() == Device::kCUDA)
    runner_.enable_cuda_graphs(std::min(config.max_num_seqs, 256), max_model_len_);
  if (const char* t = std::getenv("TESSERA_STEP_TIMING"); t && std::string_view(t) == "1")
    timing_ = std::make_unique<StepTiming>();
#ifdef TESSERA_WITH_CUDA
  const char* device_sampling = std::getenv("TESSERA_DEVICE_SAMPLING");
  if (cuda::is_cuda_backend(*backend_) &&
      !(device_sampling && std::string_view(device_sampling) == "0"))
    device_sampler_ =
        std::make_shared<cuda::DeviceSampler>(*backend_, int(model_->config().vocab_size));
#endif
  // Chained steps read their tokens from the device sampler on a GPU, or
  // from the host sampler on the CPU; a GPU sampling on the host has no
  // device copy of the ids to chain from.
  const bool can_chain = device_sampler_ || backend_->device() == Device::kCPU;
  async_scheduling_ = can_chain && config.async_scheduling.value_or(bool(device_sampler_));
  thread_ = std::thread([this] { loop(); });
}

EngineImpl::~EngineImpl() { shutdown(); }

std::string EngineImpl::weights_dtype() const {
  std::map<std::string, int64_t> elements;
  for (const WeightInfo& w : source_->tensors())
    if (w.shape.size() == 2) elements[w.type_name] += w.num_elements;
  auto most = std::max_element(elements.begin(), elements.end(),
                               [](auto& a, auto& b) { return a.second < b.second; });
  return most == elements.end() ? std::string("unknown") : most->first;
}

void EngineImpl::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (timing_ && timing_->steps > 0) {
    const double n = double(timing_->steps);
    spdlog::info(
        "step timing over {} steps, ms per step: schedule + batch {:.3f}, forward (host side; "
        "eager waits for nothing) {:.3f}, sample wait (GPU) {:.3f}, outputs on the host {:.3f}",
        timing_->steps, timing_->schedule_ms / n, timing_->forward_ms / n, timing_->sample_ms / n,
        (timing_->outputs_ms - timing_->sample_ms) / n);
    timing_->steps = 0;
  }
}

std::shared_ptr<RequestHandle> EngineImpl::submit(GenerateRequest request) {
  SamplingLimits limits;
  limits.vocab_size = int(model_->config().vocab_size);
  request.params.validate(limits);
  const int prompt_len = int(request.prompt_ids.size());
  if (prompt_len == 0) fail(ErrorKind::kInvalidArgument, "the prompt is empty");
  for (int32_t id : request.prompt_ids)
    if (id < 0 || id >= model_->config().vocab_size)
      fail(ErrorKind::kInvalidArgument, "prompt token id {} is outside the vocabulary (0..{})", id,
           model_->config().vocab_size - 1);
  const int max_tokens = request.params.max_tokens.value_or(0);
  if (prompt_len + std::max(max_tokens, 1) > max_model_len_)
    fail(ErrorKind::kInvalidArgument,
         "this model's maximum context length is {} tokens, but the request has {} prompt tokens "
         "and asks for {} more",
         max_model_len_, prompt_len, std::max(max_tokens, 1));
  const int64_t capacity = int64_t(kv_.stats().num_blocks) * config_.block_size;
  if (prompt_len + std::max(max_tokens, 1) > capacity)
    fail(ErrorKind::kInvalidArgument,
         "the request needs {} tokens of KV cache but the cache holds {} (raise --kv-cache-memory)",
         prompt_len + std::max(max_tokens, 1), capacity);

  auto r = std::make_unique<RequestState>();
  r->prompt = std::move(request.prompt_ids);
  r->params = std::move(request.params);
  r->arrival_time = std::chrono::steady_clock::now();
  r->seed = r->params.seed ? uint64_t(*r->params.seed) : seeds_.next();
  std::shared_ptr<OutputStream> stream;
  {
    std::lock_guard lock(mu_);
    if (stopping_) fail(ErrorKind::kResourceExhausted, "the engine is shutting down");
    if (int(inbox_.size()) + stats_.num_waiting >= config_.max_waiting_requests)
      fail(ErrorKind::kResourceExhausted, "too many waiting requests ({}); retry later",
           config_.max_waiting_requests);
    // Ids name requests for abort(): two live requests with one id would
    // let one client abort another's request, so a taken id is refused.
    if (request.request_id.empty()) {
      do r->id = "req-" + std::to_string(++next_request_id_);
      while (live_ids_.contains(r->id));
    } else if (live_ids_.contains(request.request_id)) {
      fail(ErrorKind::kInvalidArgument, "request id '{}' is already in use by a request in flight",
           request.request_id);
    } else {
      r->id = request.request_id;
    }
    live_ids_.insert(r->id);
    stream = std::make_shared<OutputStream>(r->id, [this](const std::string& id) { abort(id); });
    r->stream = stream;
    inbox_.push_back(std::move(r));
  }
  cv_.notify_all();
  return stream;
}

void EngineImpl::abort(const std::string& request_id) {
  {
    std::lock_guard lock(mu_);
    aborts_.push_back(request_id);
  }
  cv_.notify_all();
}

EngineStats EngineImpl::stats() const {
  std::lock_guard lock(mu_);
  EngineStats s = stats_;
  s.num_waiting += int(inbox_.size());
  return s;
}

SequenceState EngineImpl::new_sequence(const RequestState& r, int index) {
  SequenceState s;
  s.kv_id = next_kv_id_++;
  s.index = index;
  s.tokens = r.prompt;
  s.detokenizer =
      std::make_unique<tokenizer::IncrementalDetokenizer>(tokenizer_, r.params.skip_special_tokens);
  s.stops = std::make_unique<StopStringMatcher>(r.params.stop);
  // Sequence i of a request draws stream i of the request's seed.
  s.rng = RequestRng(r.seed, uint64_t(index));
  return s;
}

void EngineImpl::take_inbox() {
  std::deque<std::unique_ptr<RequestState>> inbox;
  std::vector<std::string> aborts;
  {
    std::lock_guard lock(mu_);
    inbox.swap(inbox_);
    aborts.swap(aborts_);
  }
  for (auto& r : inbox) {
    const int width = r->params.use_beam_search ? r->params.effective_beam_width() : r->params.n;
    r->seqs.reserve(size_t(std::max(width, 1)));
    r->seqs.push_back(new_sequence(*r, 0));
    scheduler_.add(r.get());
    requests_.emplace(r->id, std::move(r));
  }
  for (const auto& id : aborts) {
    auto it = requests_.find(id);
    if (it == requests_.end()) continue;
    finish_request(*it->second, FinishReason::kAbort);
  }
}

void EngineImpl::loop() {
  const auto fail_all = [this](const char* what) {
    // A failed step fails the requests in flight, not the process.
    spdlog::error("engine step failed: {}", what);
    inflight_.reset();
    std::vector<RequestState*> all;
    for (auto& [id, r] : requests_) all.push_back(r.get());
    for (RequestState* r : all) finish_request(*r, FinishReason::kAbort);
  };
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || inflight_ || !inbox_.empty() || !aborts_.empty() || !requests_.empty();
      });
      if (stopping_) break;
    }
    try {
      // Requests change only between steps: the step in flight ends first.
      if (inflight_ && input_pending()) {
        finish(*inflight_, nullptr);
        inflight_.reset();
      }
      take_inbox();
      step();
      ++steps_;
    } catch (const std::exception& e) {
      fail_all(e.what());
    }
    update_stats();
  }
  try {
    if (inflight_) finish(*inflight_, nullptr);
  } catch (const std::exception& e) {
    fail_all(e.what());
  }
  inflight_.reset();
  take_inbox();
  std::vector<RequestState*> all;
  for (auto& [id, r] : requests_) all.push_back(r.get());
  for (RequestState* r : all) finish_request(*r, FinishReason::kAbort);
}

void EngineImpl::step() {
  const auto t0 = std::chrono::steady_clock::now();
  auto t1 = t0;
  if (!inflight_) {
    if (requests_.empty()) return;
    StepPlan plan = scheduler_.schedule();
    if (plan.empty()) {
      // Nothing fits although nothing runs: the head request can never get
      // its blocks (its context outgrew the cache). End it rather than spin.
      if (scheduler_.num_running() == 0 && scheduler_.num_waiting() > 0) {
        for (auto& [id, r] : requests_)
          if (!r->aborted) {
            spdlog::warn("request {} does not fit in the KV cache; ending it", id);
            finish_request(*r, FinishReason::kLength);
            break;
          }
      }
      return;
    }
    t1 = std::chrono::steady_clock::now();
    inflight_ = launch(std::move(plan), nullptr, {});
  }
  // Async scheduling: queue the next decode step before waiting for this
  // one, unless requests are waiting to be admitted (a normal schedule does
  // that) or new input arrived.
  std::optional<InFlight> next;
  if (inflight_->fast && scheduler_.num_waiting() == 0 && !input_pending())
    next = chain(*inflight_);
  chained_steps_ += next.has_value();
  const auto t2 = std::chrono::steady_clock::now();
  finish(*inflight_, next ? &*next : nullptr);
  inflight_ = std::move(next);
  if (timing_) {
    const auto t3 = std::chrono::steady_clock::now();
    const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    timing_->schedule_ms += ms(t1 - t0);
    timing_->forward_ms += ms(t2 - t1);
    timing_->outputs_ms += ms(t3 - t2);
    ++timing_->steps;
  }
}

bool EngineImpl::is_stop_token(const RequestState& r, int32_t token) const {
  if (!r.params.ignore_eos && token == tokenizer_.eos_id()) return true;
  return std::find(r.params.stop_token_ids.begin(), r.params.stop_token_ids.end(), token) !=
         r.params.stop_token_ids.end();
}

void EngineImpl::append_token(RequestState& r, SequenceState& s, int32_t token, float logprob,
                              std::vector<LogprobEntry> top) {
  s.tokens.push_back(token);
  s.new_tokens.push_back(token);
  s.cumulative_logprob += logprob;
  if (r.params.logprobs) s.new_logprobs.push_back(TokenLogprob{token, logprob, std::move(top)});
  ++generation_tokens_;
  const int generated = s.num_generated(int(r.prompt.size()));
  const bool may_stop = generated >= r.params.min_tokens;
  if (may_stop && is_stop_token(r, token)) {
    s.finished = true;
    s.finish_reason = FinishReason::kStop;
    if (token != tokenizer_.eos_id()) s.stop_reason = std::to_string(token);
    s.new_text += s.stops->push(s.detokenizer->flush());
    s.new_text += s.stops->flush();
    return;
  }
  s.new_text += s.stops->push(s.detokenizer->push(token));
  if (s.stops->matched() && may_stop) {
    s.finished = true;
    s.finish_reason = FinishReason::kStop;
    s.stop_reason = *s.stops->matched();
    if (r.params.include_stop_str_in_output) s.new_text += s.stop_reason;
    return;
  }
  const bool at_max = r.params.max_tokens && generated >= *r.params.max_tokens;
  if (at_max || int(s.tokens.size()) >= max_model_len_) {
    s.finished = true;
    s.finish_reason = FinishReason::kLength;
    s.new_text += s.stops->push(s.detokenizer->flush());
    s.new_text += s.stops->flush();
  }
}

void EngineImpl::publish(RequestState& r) {
  RequestOutput out;
  out.request_id = r.id;
  out.num_prompt_tokens = int(r.prompt.size());
  out.num_cached_prompt_tokens = r.num_cached_prompt;
  for (auto& s : r.seqs) out.num_generated_tokens += s.num_generated(int(r.prompt.size()));
  if (r.params.use_beam_search) {
    out.num_generated_tokens = 0;
    if (!r.done()) return;  // beams are reported once, at the end
  }
  if (!r.prompt_logprobs_sent && r.params.prompt_logprobs && !r.prompt_logprobs.empty()) {
    out.prompt_logprobs = r.prompt_logprobs;
    r.prompt_logprobs_sent = true;
  }
  for (auto& s : r.seqs) {
    if (s.finish_published || (s.new_tokens.empty() && s.new_text.empty() && !s.finished)) continue;
    SequenceOutput so;
    so.index = s.index;
    so.token_ids = std::move(s.new_tokens);
    so.text = std::move(s.new_text);
    so.logprobs = std::move(s.new_logprobs);
    so.finish_reason = s.finish_reason;
    so.stop_reason = s.stop_reason;
    so.cumulative_logprob = s.cumulative_logprob;
    s.new_tokens.clear();
    s.new_text.clear();
    s.new_logprobs.clear();
    s.finish_published = s.finished;
    if (r.params.use_beam_search) out.num_generated_tokens += int(so.token_ids.size());
    out.outputs.push_back(std::move(so));
  }
  out.finished = r.done();
  r.stream->push(std::move(out));
}

void EngineImpl::finish_request(RequestState& r, std::optional<FinishReason> reason) {
  if (reason) {
    r.aborted = *reason == FinishReason::kAbort;
    for (auto& s : r.seqs)
      if (!s.finished) {
        s.finished = true;
        s.finish_reason = reason;
        s.new_text += s.stops->flush();
      }
  }
  scheduler_.remove(&r);
  ++requests_finished_;
  {
    // Free before the last output is published, so a client that sees it
    // may reuse the id at once.
    std::lock_guard lock(mu_);
    live_ids_.erase(r.id);
  }
  // A consumer that sees the last output also sees the request's blocks freed.
  update_stats();
  publish(r);
  requests_.erase(r.id);  // destroys r
}

void EngineImpl::update_stats() {
  const KvCacheStats kv = kv_.stats();
  std::lock_guard lock(mu_);
  stats_.num_running = scheduler_.num_running();
  stats_.num_waiting = scheduler_.num_waiting();
  stats_.kv_cache_usage = kv.usage;
  stats_.kv_cache_blocks = kv.num_blocks;
  stats_.prefix_cache_queries = kv.prefix_query_tokens;
  stats_.prefix_cache_hits = kv.prefix_hit_tokens;
  stats_.num_preemptions = scheduler_.num_preemptions();
  stats_.prompt_tokens = prompt_tokens_;
  stats_.generation_tokens = generation_tokens_;
  stats_.requests_finished = requests_finished_;
  stats_.steps = steps_;
  stats_.chained_steps = chained_steps_;
}

}  // namespace tessera
