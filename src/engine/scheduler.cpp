#include "scheduler.h"

#include <algorithm>

#include "tessera/core/error.h"

namespace tessera {
namespace {

int remaining(const SequenceState& s) { return int(s.tokens.size()) - s.num_computed; }

bool is_beam(const RequestState& r) { return r.params.use_beam_search; }

}  // namespace

void Scheduler::remove(RequestState* request) {
  for (auto& s : request->seqs) kv_.free(s.kv_id);
  std::erase(running_, request);
  std::erase(waiting_, request);
}

int Scheduler::live_seqs() const {
  int n = 0;
  for (const RequestState* r : running_)
    for (const auto& s : r->seqs) n += !s.finished;
  return n;
}

RequestState* Scheduler::preempt_newest(StepPlan& plan, int& budget) {
  RequestState* victim = running_.back();
  running_.pop_back();
  // Work already planned for the victim this step is dropped.
  std::erase_if(plan.work, [&](const ScheduledWork& w) {
    if (w.request != victim) return false;
    plan.num_tokens -= w.num_new;
    budget += w.num_new;
    return true;
  });
  for (auto& s : victim->seqs) {
    kv_.free(s.kv_id);
    s.num_computed = 0;
  }
  waiting_.push_front(victim);
  ++preemptions_;
  return victim;
}

// Schedules min(remaining, budget) tokens of `s`, preempting newer requests
// when blocks run out. False when `r` itself had to be preempted.
bool Scheduler::schedule_seq(StepPlan& plan, RequestState* r, SequenceState& s, int& budget) {
  int n = std::min(remaining(s), budget);
  if (n <= 0) return true;
  while (!kv_.allocate_slots(s.kv_id, n)) {
    if (preempt_newest(plan, budget) == r) return false;
  }
  ScheduledWork w;
  w.request = r;
  w.seq = &s;
  w.num_new = n;
  w.want_logits = n == remaining(s);
  w.want_all_logits = r->params.prompt_logprobs.has_value() && !r->forked;
  plan.work.push_back(w);
  plan.num_tokens += n;
  budget -= n;
  return true;
}

bool Scheduler::admit(RequestState* r, StepPlan& plan, int& budget) {
  // Every unfinished sequence needs its blocks back (after preemption there
  // may be several); prefix hits make recomputation cheap.
  std::vector<SequenceState*> allocated;
  const bool use_cache = !r->params.prompt_logprobs.has_value();
  for (auto& s : r->seqs) {
    if (s.finished) continue;
    PrefixHit hit;
    if (use_cache) hit = kv_.find_cached_prefix(s.tokens);
    const int n = std::min(int(s.tokens.size()) - hit.num_tokens, budget);
    if (n <= 0 || !kv_.allocate_slots(s.kv_id, n, use_cache ? &hit : nullptr)) {
      for (SequenceState* a : allocated) {
        kv_.free(a->kv_id);
        a->num_computed = 0;
      }
      return false;
    }
    s.num_computed = hit.num_tokens;
    if (!r->forked && &s == &r->seqs.front()) r->num_cached_prompt = hit.num_tokens;
    allocated.push_back(&s);
    ScheduledWork w;
    w.request = r;
    w.seq = &s;
    w.num_new = n;
    w.want_logits = n == remaining(s);
    w.want_all_logits = r->params.prompt_logprobs.has_value() && !r->forked;
    plan.work.push_back(w);
    plan.num_tokens += n;
    budget -= n;
  }
  return true;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int budget = config_.max_num_batched_tokens;
  const int64_t preemptions_at_start = preemptions_;

  // 1. Decode tokens of running sequences, oldest request first. A beam
  //    request runs all its beams together or not at all.
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    RequestState* r = running_[i];
    int decodes = 0;
    for (const auto& s : r->seqs) decodes += !s.finished && remaining(s) == 1;
    if (decodes == 0 || (is_beam(*r) && decodes > budget)) continue;
    for (auto& s : r->seqs) {
      if (s.finished || remaining(s) != 1 || budget == 0) continue;
      if (!schedule_seq(plan, r, s, budget)) break;  // r itself was preempted
    }
  }
  // 2. Prefill chunks of running requests (prompts longer than a step).
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    RequestState* r = running_[i];
    for (auto& s : r->seqs) {
      if (s.finished || remaining(s) <= 1 || budget == 0) continue;
      if (!schedule_seq(plan, r, s, budget)) break;
    }
  }
  // 3. New (or preempted) requests, first come first served; none after a
  //    preemption this step (there is no room).
  const bool preempted = preemptions_ != preemptions_at_start;
  while (!preempted && !waiting_.empty() && budget > 0) {
    RequestState* r = waiting_.front();
    int seqs = 0;
    for (const auto& s : r->seqs) seqs += !s.finished;
    if (live_seqs() + seqs > config_.max_num_seqs && !running_.empty()) break;
    if (!admit(r, plan, budget)) break;
    waiting_.pop_front();
    if (r->arrival == 0) r->arrival = ++next_arrival_;
    // Keep running_ in admission order so preemption takes the newest.
    auto pos = std::upper_bound(running_.begin(), running_.end(), r,
                                [](auto* a, auto* b) { return a->arrival < b->arrival; });
    running_.insert(pos, r);
  }
  plan.copies = kv_.take_block_copies();
  return plan;
}

}  // namespace tessera
