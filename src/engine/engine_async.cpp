// Async scheduling: a step is queued (launch), and while the GPU runs it the
// host queues the next decode step (chain), whose input tokens the runner
// reads on the device from this step's sampler output; only then does the
// host wait for this step's tokens (finish). The GPU then never waits for
// the host between decode steps.
//
// A step is "fast" when every row is a decode of a request whose samples
// are already forked and whose next sampling does not depend on the token
// still in flight (no penalties, no beam search, no prompt logprobs); then
// sampling is queued at launch and the step can be chained to. A sequence
// that stops at a token the host only sees later has had one more step
// computed for it; that step's token is dropped and its blocks are freed
// with the request's. Sequences that finish by length are known in advance
// and left out of the chained step.
#include <algorithm>

#include "engine_impl.h"
#include "tessera/core/error.h"
#ifdef TESSERA_WITH_CUDA
#include "tessera/backend/cuda_sampling.h"
#endif

namespace tessera {
namespace {

// Whether the next token's sampling may run before the host knows the
// current one: penalties read the token ids of the output.
bool history_free(const SamplingParams& p) {
  return !p.use_beam_search && !p.prompt_logprobs && p.repetition_penalty == 1.0f &&
         p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f;
}

}  // namespace

bool EngineImpl::input_pending() const {
  std::lock_guard lock(mu_);
  return stopping_ || !inbox_.empty() || !aborts_.empty();
}

bool EngineImpl::fast_eligible(const StepPlan& plan) const {
  if (!async_scheduling_) return false;
  for (const ScheduledWork& w : plan.work) {
    const RequestState& r = *w.request;
    if (w.num_new != 1 || !w.want_logits || w.want_all_logits || !r.forked || r.aborted ||
        w.seq->finished || !history_free(r.params))
      return false;
    if (device_sampler_ && !samples_on_device(r)) return false;
  }
  return !plan.work.empty();
}

EngineImpl::InFlight EngineImpl::launch(StepPlan plan, const InFlight* prev,
                                        const std::vector<int>& sampled_index) {
  InFlight f;
  f.plan = std::move(plan);
  if (!f.plan.copies.empty()) {
    std::vector<std::pair<int32_t, int32_t>> copies;
    for (const auto& c : f.plan.copies) copies.emplace_back(c.src, c.dst);
    runner_.copy_blocks(copies);
  }
  std::vector<ScheduledSeq> seqs(f.plan.work.size());
  for (size_t i = 0; i < f.plan.work.size(); ++i) {
    const ScheduledWork& w = f.plan.work[i];
    ScheduledSeq& q = seqs[i];
    q.tokens = w.seq->tokens;
    q.num_computed = w.seq->num_computed;
    q.num_new = w.num_new;
    q.block_table = kv_.block_table(w.seq->kv_id);
    q.want_logits = w.want_logits;
    q.want_all_logits = w.want_all_logits;
    if (prev) {
      // The token prev is sampling sits at the sequence's end on the host
      // only once prev finishes; this step computes the position after it.
      q.num_computed += 1;
      q.sampled_index = sampled_index[i];
    }
  }
  f.logits = runner_.forward(seqs, f.first_row, prev ? &prev->sampled : nullptr);
  f.fast = fast_eligible(f.plan);
  TESSERA_CHECK(f.fast || !prev);  // a chained step's outputs need the fast path
  if (f.fast) sample_fast(f, prev ? 1 : 0);
  return f;
}

void EngineImpl::sample_fast(InFlight& f, int num_pending) {
  const size_t n = f.plan.work.size();
  f.jobs.clear();
  for (const ScheduledWork& w : f.plan.work)
    f.jobs.emplace_back(w.request, int(w.seq - w.request->seqs.data()));
  if (device_sampler_) {
#ifdef TESSERA_WITH_CUDA
    jobs_.clear();
    edits_.clear();
    for (size_t i = 0; i < n; ++i) {
      SequenceState& s = *f.plan.work[i].seq;
      jobs_.push_back(make_job(*f.plan.work[i].request, s, f.first_row[i], num_pending));
      s.rng.set_counter(s.rng.counter() + 1);  // the draw this job takes
    }
    f.slot = device_sampler_->launch(f.logits, jobs_, edits_);
    f.sampled = device_sampler_->device_tokens(f.slot);
#endif
    return;
  }
  // The host samples now, while the logits rows are still this step's.
  std::vector<int> rows(f.first_row.begin(), f.first_row.end());
  std::sort(rows.begin(), rows.end());
  const std::span<const float> host = runner_.download_rows(f.logits, rows);
  const size_t vocab = size_t(model_->config().vocab_size);
  f.host.clear();
  f.host_ids.clear();
  for (size_t i = 0; i < n; ++i) {
    const RequestState& r = *f.plan.work[i].request;
    SequenceState& s = *f.plan.work[i].seq;
    const size_t at =
        size_t(std::lower_bound(rows.begin(), rows.end(), f.first_row[i]) - rows.begin());
    SequenceTokens history;
    history.prompt = r.prompt;
    history.output = std::span(s.tokens).subspan(r.prompt.size());
    history.num_pending = num_pending;
    f.host.push_back(sampler_.sample(host.subspan(at * vocab, vocab), r.params, history, s.rng));
    f.host_ids.push_back(f.host.back().token);
  }
  f.sampled = Tensor(f.host_ids.data(), DType::kI32, {int64_t(n)}, Device::kCPU);
}

std::optional<EngineImpl::InFlight> EngineImpl::chain(const InFlight& prev) {
  StepPlan plan;
  std::vector<int> index;
  for (size_t k = 0; k < prev.jobs.size(); ++k) {
    RequestState* r = prev.jobs[k].first;
    if (!r) continue;
    SequenceState& s = r->seqs[size_t(prev.jobs[k].second)];
    if (s.finished) continue;
    // After prev's token the sequence holds tokens.size() + 1 tokens; at a
    // length limit it finishes there and needs no next step.
    const int after = int(s.tokens.size()) + 1;
    const int generated = after - int(r->prompt.size());
    if ((r->params.max_tokens && generated >= *r->params.max_tokens) || after >= max_model_len_)
      continue;
    // Blocks for prev's position (reserved already) and the one after it.
    if (!kv_.allocate_slots(s.kv_id, 2)) return std::nullopt;
    ScheduledWork w;
    w.request = r;
    w.seq = &s;
    w.num_new = 1;
    w.want_logits = true;
    plan.work.push_back(w);
    plan.num_tokens += 1;
    index.push_back(int(k));
  }
  if (plan.empty()) return std::nullopt;
  plan.copies = kv_.take_block_copies();
  return launch(std::move(plan), &prev, index);
}

void EngineImpl::finish(InFlight& f, InFlight* next) {
  if (!f.fast) {
    process_outputs(f.plan, f.logits, f.first_row);
    return;
  }
  finish_fast(f, next);
}

void EngineImpl::finish_fast(InFlight& f, InFlight* next) {
  const auto t0 = std::chrono::steady_clock::now();
  std::span<const int32_t> device_tokens;
  std::span<const cuda::SampleLogprobs> device_logprobs;
#ifdef TESSERA_WITH_CUDA
  if (f.slot >= 0) {
    device_sampler_->wait(f.slot);
    device_tokens = device_sampler_->tokens(f.slot);
    device_logprobs = device_sampler_->logprobs(f.slot);
  }
#endif
  if (timing_)
    timing_->sample_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::vector<RequestState*> touched;
  for (size_t k = 0; k < f.jobs.size(); ++k) {
    RequestState* r = f.jobs[k].first;
    if (!r) continue;
    SequenceState& s = r->seqs[size_t(f.jobs[k].second)];
    if (s.finished) continue;  // stopped a step ago; this token is dropped
    kv_.commit_tokens(s.kv_id, std::span(s.tokens).subspan(size_t(s.num_computed), 1));
    s.num_computed += 1;
    if (f.slot < 0) {
      SampledToken& x = f.host[k];
      append_token(*r, s, x.token, x.logprob, std::move(x.top_logprobs));
    } else {
      append_device_token(*r, s, device_tokens[k],
                          r->params.logprobs ? &device_logprobs[k] : nullptr);
    }
    if (touched.empty() || touched.back() != r) touched.push_back(r);
  }
  // A request's jobs are adjacent (the scheduler plans its sequences
  // together), so `touched` has each request once.
  for (RequestState* r : touched) {
    if (!r->done()) {
      publish(*r);
      continue;
    }
    if (next)
      for (auto& job : next->jobs)
        if (job.first == r) job.first = nullptr;
    finish_request(*r, std::nullopt);
  }
}

}  // namespace tessera
