// Continuous batching under a token budget and a sequence cap: decode tokens
// of running sequences first, then prefill chunks (a long prompt is split
// across steps), then new requests. When KV blocks run out, the newest
// running request is preempted: its blocks are freed and it is recomputed
// later (prefix caching makes that cheap when its blocks survive).
#pragma once

#include <deque>
#include <vector>

#include "request_state.h"
#include "tessera/kv/kv_cache_manager.h"

namespace tessera {

struct SchedulerConfig {
  int max_num_seqs = 64;
  int max_num_batched_tokens = 512;
};

struct ScheduledWork {
  RequestState* request = nullptr;
  SequenceState* seq = nullptr;
  int num_new = 0;
  bool want_logits = false;      // the last new token completes the known tokens: sample
  bool want_all_logits = false;  // prompt logprobs
};

struct StepPlan {
  std::vector<ScheduledWork> work;
  std::vector<BlockCopy> copies;
  int num_tokens = 0;
  bool empty() const { return work.empty(); }
};

class Scheduler {
 public:
  Scheduler(KvCacheManager& kv, const SchedulerConfig& config) : kv_(kv), config_(config) {}

  void add(RequestState* request) { waiting_.push_back(request); }
  // Frees the request's blocks and forgets it (finished or aborted).
  void remove(RequestState* request);
  StepPlan schedule();

  int num_running() const { return int(running_.size()); }
  int num_waiting() const { return int(waiting_.size()); }
  int64_t num_preemptions() const { return preemptions_; }
  const std::vector<RequestState*>& running() const { return running_; }

 private:
  bool schedule_seq(StepPlan& plan, RequestState* r, SequenceState& s, int& budget);
  // Frees the newest running request and puts it back at the front of the
  // waiting queue. Returns it.
  RequestState* preempt_newest(StepPlan& plan, int& budget);
  bool admit(RequestState* r, StepPlan& plan, int& budget);
  int live_seqs() const;

  KvCacheManager& kv_;
  SchedulerConfig config_;
  std::deque<RequestState*> waiting_;
  std::vector<RequestState*> running_;  // in admission order
  int64_t preemptions_ = 0;
  uint64_t next_arrival_ = 0;
};

}  // namespace tessera
