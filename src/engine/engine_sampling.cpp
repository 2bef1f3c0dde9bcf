// The sampling half of a step: n parallel samples forked from one computed
// prompt, beam search, and prompt logprobs.
#include <algorithm>
#include <cmath>

#include "engine_impl.h"
#include "tessera/core/error.h"

namespace tessera {
void EngineImpl::record_prompt_logprobs(RequestState& r, const ScheduledWork& w,
                                        const float* rows) {
  const int vocab = int(model_->config().vocab_size);
  const int prompt_len = int(r.prompt.size());
  if (r.prompt_logprobs.empty()) r.prompt_logprobs.resize(size_t(prompt_len));
  // Row i was computed at position num_computed + i and predicts the next
  // prompt token; the last prompt position predicts the first output.
  const int first = w.seq->num_computed + 1;
  const int count = std::min(w.num_new, prompt_len - first);
  if (count <= 0) return;
  auto scored = prompt_logprobs(std::span(rows, size_t(count) * vocab), vocab,
                                std::span(r.prompt).subspan(size_t(first), size_t(count)),
                                r.params.prompt_logprobs.value_or(0));
  for (int i = 0; i < count; ++i) {
    TokenLogprob& lp = r.prompt_logprobs[size_t(first + i)].emplace();
    lp.token = scored[size_t(i)].token;
    lp.logprob = scored[size_t(i)].logprob;
    lp.top = std::move(scored[size_t(i)].top);
  }
}

void EngineImpl::fork_samples(RequestState& r) {
  for (int i = 1; i < r.params.n; ++i) {
    SequenceState child = new_sequence(r, i);
    child.num_computed = r.seqs[0].num_computed;
    kv_.fork(r.seqs[0].kv_id, child.kv_id);
    r.seqs.push_back(std::move(child));
  }
}

void EngineImpl::sample_one(RequestState& r, SequenceState& s, const float* row) {
  const int vocab = int(model_->config().vocab_size);
  SequenceTokens history;
  history.prompt = r.prompt;
  history.output = std::span(s.tokens).subspan(r.prompt.size());
  SampledToken x = sampler_.sample(std::span(row, size_t(vocab)), r.params, history, s.rng);
  append_token(r, s, x.token, x.logprob, std::move(x.top_logprobs));
}

void EngineImpl::sample_request(RequestState& r,
                                const std::vector<std::pair<SequenceState*, const float*>>& rows) {
  if (r.params.use_beam_search) {
    beam_step(r, rows);
    return;
  }
  if (!r.forked) {
    // The prompt was computed once; the n samples share its blocks and draw
    // their first tokens from the same logits.
    r.forked = true;
    const float* row = rows.front().second;
    fork_samples(r);
    for (auto& s : r.seqs) sample_one(r, s, row);
    return;
  }
  for (auto [s, row] : rows)
    if (!s->finished) sample_one(r, *s, row);
}

// One beam-search step: every live beam's logits are here (the scheduler
// runs a beam request's beams together). The best continuations become the
// new beams, each forking its parent's KV blocks; EOS continuations become
// finished hypotheses.
void EngineImpl::beam_step(RequestState& r,
                           const std::vector<std::pair<SequenceState*, const float*>>& rows) {
  r.forked = true;
  const int vocab = int(model_->config().vocab_size);
  const int width = r.params.effective_beam_width();
  const int prompt_len = int(r.prompt.size());
  std::vector<float> logprobs(rows.size() * size_t(vocab));
  std::vector<double> cum(rows.size());
  for (size_t b = 0; b < rows.size(); ++b) {
    std::span<float> out(logprobs.data() + b * vocab, size_t(vocab));
    log_softmax(std::span(rows[b].second, size_t(vocab)), out);
    cum[b] = rows[b].first->cumulative_logprob;
  }
  const std::vector<BeamCandidate> candidates = top_beam_candidates(logprobs, vocab, cum, width);
  const int generated = rows.front().first->num_generated(prompt_len) + 1;

  std::vector<SequenceState> next;
  next.reserve(size_t(width));
  for (const BeamCandidate& c : candidates) {
    const SequenceState& parent = *rows[size_t(c.beam)].first;
    const bool eos = generated > r.params.min_tokens && is_stop_token(r, c.token);
    if (eos) {
      // Only candidates that would rank among the beams count as finished.
      if (int(next.size()) < width) {
        std::vector<int32_t> tokens(parent.tokens.begin() + prompt_len, parent.tokens.end());
        tokens.push_back(c.token);
        r.finished_beams.push_back({std::move(tokens), c.cum_logprob,
                                    beam_score(c.cum_logprob, generated, r.params.length_penalty)});
      }
      continue;
    }
    if (int(next.size()) == width) continue;
    SequenceState beam = new_sequence(r, int(next.size()));
    beam.tokens = parent.tokens;
    beam.tokens.push_back(c.token);
    beam.num_computed = parent.num_computed;
    beam.cumulative_logprob = c.cum_logprob;
    kv_.fork(parent.kv_id, beam.kv_id);
    next.push_back(std::move(beam));
  }
  for (auto& s : r.seqs) kv_.free(s.kv_id);
  r.seqs = std::move(next);

  // Done when no live beam can beat the worst kept hypothesis, or at the
  // length limit (HF's heuristic with early_stopping=False).
  std::sort(r.finished_beams.begin(), r.finished_beams.end(),
            [](auto& a, auto& b) { return a.score > b.score; });
  if (int(r.finished_beams.size()) > width) r.finished_beams.resize(size_t(width));
  bool done = r.seqs.empty();
  const bool at_max = (r.params.max_tokens && generated >= *r.params.max_tokens) ||
                      prompt_len + generated >= max_model_len_;
  if (!done && int(r.finished_beams.size()) == width) {
    const double best_live =
        beam_score(r.seqs.front().cumulative_logprob, generated, r.params.length_penalty);
    done = best_live <= r.finished_beams.back().score;
  }
  if (done || at_max) finish_beams(r, at_max);
}

void EngineImpl::finish_beams(RequestState& r, bool at_max) {
  const int prompt_len = int(r.prompt.size());
  for (auto& s : r.seqs) {
    const int generated = s.num_generated(prompt_len);
    r.finished_beams.push_back(
        {std::vector<int32_t>(s.tokens.begin() + prompt_len, s.tokens.end()), s.cumulative_logprob,
         beam_score(s.cumulative_logprob, generated, r.params.length_penalty)});
    kv_.free(s.kv_id);
  }
  std::stable_sort(r.finished_beams.begin(), r.finished_beams.end(),
                   [](auto& a, auto& b) { return a.score > b.score; });
  // The n best hypotheses become the request's outputs.
  std::vector<SequenceState> outputs;
  const int n = std::min<int>(r.params.n, int(r.finished_beams.size()));
  for (int i = 0; i < n; ++i) {
    const auto& h = r.finished_beams[size_t(i)];
    SequenceState s = new_sequence(r, i);
    s.tokens.insert(s.tokens.end(), h.tokens.begin(), h.tokens.end());
    s.new_tokens = h.tokens;
    s.cumulative_logprob = h.cumulative_logprob;
    s.finished = true;
    const bool ended_by_eos = !h.tokens.empty() && is_stop_token(r, h.tokens.back());
    s.finish_reason = ended_by_eos || !at_max ? FinishReason::kStop : FinishReason::kLength;
    std::vector<int32_t> text_tokens = h.tokens;
    if (ended_by_eos) text_tokens.pop_back();
    s.new_text = tokenizer_.decode(text_tokens, r.params.skip_special_tokens);
    outputs.push_back(std::move(s));
  }
  r.seqs = std::move(outputs);
}

}  // namespace tessera
