// The second half of a step: commit what the forward pass computed, sample,
// publish. Sampling runs on the device for the requests it covers (CUDA
// backends): only the chosen ids (and requested logprobs) come back. The
// host samples the others (beam search, prompt logprobs, more than
// cuda::kMaxDeviceLogprobs logprobs) from the rows downloaded for them.
#include <algorithm>
#include <chrono>
#include <map>

#include "engine_impl.h"
#include "tessera/core/error.h"
#ifdef TESSERA_WITH_CUDA
#include "tessera/backend/cuda_sampling.h"
#endif

namespace tessera {

bool EngineImpl::samples_on_device(const RequestState& r) const {
  const SamplingParams& p = r.params;
  return device_sampler_ && !p.use_beam_search && !p.prompt_logprobs &&
         (!p.logprobs || *p.logprobs <= cuda::kMaxDeviceLogprobs);
}

void EngineImpl::process_outputs(const StepPlan& plan, const Tensor& logits,
                                 const std::vector<int>& first_row) {
  const int64_t vocab = model_->config().vocab_size;
  // The rows the host needs: prompt logprobs, and the rows it samples.
  std::vector<int> host_rows;
  for (size_t i = 0; i < plan.work.size(); ++i) {
    const ScheduledWork& w = plan.work[i];
    if (first_row[i] < 0) continue;
    if (w.want_all_logits)
      for (int r = 0; r < w.num_new; ++r) host_rows.push_back(first_row[i] + r);
    else if (w.want_logits && !samples_on_device(*w.request))
      host_rows.push_back(first_row[i]);
  }
  std::sort(host_rows.begin(), host_rows.end());
  host_rows.erase(std::unique(host_rows.begin(), host_rows.end()), host_rows.end());
  const std::span<const float> host = runner_.download_rows(logits, host_rows);
  const auto host_row = [&](int row) {
    const auto it = std::lower_bound(host_rows.begin(), host_rows.end(), row);
    TESSERA_CHECK(it != host_rows.end() && *it == row);
    return host.data() + size_t(it - host_rows.begin()) * size_t(vocab);
  };

  // Commit the computed tokens and gather the rows to sample, per request.
  std::map<RequestState*, std::vector<std::pair<SequenceState*, int>>> to_sample;
  for (size_t i = 0; i < plan.work.size(); ++i) {
    const ScheduledWork& w = plan.work[i];
    SequenceState& s = *w.seq;
    kv_.commit_tokens(s.kv_id,
                      std::span(s.tokens).subspan(size_t(s.num_computed), size_t(w.num_new)));
    if (w.want_all_logits && first_row[i] >= 0)
      record_prompt_logprobs(*w.request, w, host_row(first_row[i]));
    s.num_computed += w.num_new;
    if (!w.request->forked) prompt_tokens_ += w.num_new;
    if (w.want_logits)
      to_sample[w.request].emplace_back(&s, first_row[i] + (w.want_all_logits ? w.num_new - 1 : 0));
  }
  std::vector<std::pair<RequestState*, int>> device_rows;  // (request, row) per sequence
  job_seqs_.clear();
  for (auto& [r, rows] : to_sample) {
    if (r->aborted) continue;
    if (!samples_on_device(*r)) {
      std::vector<std::pair<SequenceState*, const float*>> pointers;
      for (auto [s, row] : rows) pointers.emplace_back(s, host_row(row));
      sample_request(*r, pointers);
      continue;
    }
    if (!r->forked) {
      // The n samples share the prompt's blocks and its last logits row.
      r->forked = true;
      fork_samples(*r);
      for (size_t k = 0; k < r->seqs.size(); ++k) {
        device_rows.emplace_back(r, rows.front().second);
        job_seqs_.emplace_back(r, int(k));
      }
      continue;
    }
    for (auto [s, row] : rows) {
      if (s->finished) continue;
      device_rows.emplace_back(r, row);
      job_seqs_.emplace_back(r, int(s - r->seqs.data()));
    }
  }
  if (!device_rows.empty()) sample_on_device(logits, device_rows);

  // Publish; finished requests publish their last output in finish_request,
  // after their blocks are back.
  std::vector<RequestState*> done;
  for (auto& [r, rows] : to_sample) {
    if (r->aborted) continue;
    if (r->done())
      done.push_back(r);
    else
      publish(*r);
  }
  for (RequestState* r : done) finish_request(*r, std::nullopt);
}

cuda::SampleJob EngineImpl::make_job(const RequestState& r, const SequenceState& s, int row,
                                     int num_pending) {
  const SamplingParams& p = r.params;
  cuda::SampleJob j;
  j.row = row;
  j.greedy = p.greedy() ? 1 : 0;
  j.top_k = p.top_k;
  j.temperature = p.temperature;
  j.top_p = p.top_p;
  j.min_p = p.min_p;
  j.repetition_penalty = p.repetition_penalty;
  j.presence_penalty = p.presence_penalty;
  j.frequency_penalty = p.frequency_penalty;
  j.num_logprobs = p.logprobs ? *p.logprobs : -1;
  j.seed = s.rng.seed();
  j.stream = s.rng.stream();
  j.counter = s.rng.counter();
  j.edit_begin = int32_t(edits_.size());
  SequenceTokens history;
  history.prompt = r.prompt;
  history.output = std::span(s.tokens).subspan(r.prompt.size());
  history.num_pending = num_pending;
  j.edit_count = edit_builder_.append(p, history, edits_);
  return j;
}

void EngineImpl::append_device_token(RequestState& r, SequenceState& s, int32_t token,
                                     const cuda::SampleLogprobs* logprobs) {
  float logprob = 0.0f;
  std::vector<LogprobEntry> top;
  if (logprobs) {
    logprob = logprobs->logprob;
    for (int i = 0; i < logprobs->num_top; ++i)
      top.push_back({logprobs->top_ids[i], logprobs->top_logprobs[i]});
  }
  append_token(r, s, token, logprob, std::move(top));
}

void EngineImpl::sample_on_device(const Tensor& logits,
                                  const std::vector<std::pair<RequestState*, int>>& seq_rows) {
#ifdef TESSERA_WITH_CUDA
  jobs_.clear();
  edits_.clear();
  for (size_t k = 0; k < seq_rows.size(); ++k) {
    RequestState& r = *job_seqs_[k].first;
    jobs_.push_back(make_job(r, r.seqs[size_t(job_seqs_[k].second)], seq_rows[k].second, 0));
  }
  const auto t0 = std::chrono::steady_clock::now();
  device_sampler_->sample(logits, jobs_, edits_);
  if (timing_)
    timing_->sample_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const std::span<const int32_t> tokens = device_sampler_->tokens();
  for (size_t k = 0; k < seq_rows.size(); ++k) {
    RequestState& r = *job_seqs_[k].first;
    SequenceState& s = r.seqs[size_t(job_seqs_[k].second)];
    s.rng.set_counter(s.rng.counter() + 1);  // the one draw the host sampler would take
    append_device_token(r, s, tokens[k],
                        r.params.logprobs ? &device_sampler_->logprobs()[k] : nullptr);
  }
#else
  (void)logits;
  (void)seq_rows;
  fail(ErrorKind::kInternal, "device sampling without CUDA");
#endif
}

}  // namespace tessera
