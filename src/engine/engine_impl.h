// The Engine implementation: owns the model, KV cache, scheduler and the loop
// thread. One step = schedule → one forward pass → sample → publish.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "request_state.h"
#include "sample_edits.h"
#include "scheduler.h"
#include "tessera/engine/engine.h"
#include "tessera/engine/model_runner.h"
#include "tessera/engine/sampler.h"
#include "tessera/kv/kv_cache_manager.h"
#include "tessera/model/model.h"
#include "tessera/model/weight_source.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera {
namespace cuda {
class DeviceSampler;
}

class EngineImpl final : public Engine {
 public:
  EngineImpl(const EngineConfig& config, std::unique_ptr<WeightSource> source,
             std::unique_ptr<Backend> backend, std::unique_ptr<Model> model,
             tokenizer::Tokenizer tokenizer, int kv_blocks);
  ~EngineImpl() override;

  std::shared_ptr<RequestHandle> submit(GenerateRequest request) override;
  void abort(const std::string& request_id) override;
  EngineStats stats() const override;
  const tokenizer::Tokenizer& tokenizer() const override { return tokenizer_; }
  const ModelConfig& model_config() const override { return model_->config(); }
  const std::string& model_name() const override { return model_name_; }
  int max_model_len() const override { return max_model_len_; }
  std::string weights_dtype() const override;
  size_t weight_bytes() const override { return model_->weight_bytes(); }
  void shutdown() override;

 private:
  // A step whose forward pass is queued. On the fast path (async
  // scheduling; every row a decode that can be sampled at launch) sampling
  // is queued too, and the next step can be chained to it before its
  // tokens are back (engine_async.cpp).
  struct InFlight {
    StepPlan plan;
    std::vector<int> first_row;
    Tensor logits;
    bool fast = false;
    // Fast path: job k samples sequence jobs[k].second of jobs[k].first; a
    // null request finished meanwhile (its token is dropped).
    std::vector<std::pair<RequestState*, int>> jobs;
    int slot = -1;                   // device sampler slot; -1: sampled on the host
    std::vector<SampledToken> host;  // host-sampled results
    std::vector<int32_t> host_ids;   // their ids, the storage of `sampled` on the CPU
    Tensor sampled;                  // the chosen ids on the backend's device
  };

  void loop();
  void take_inbox();           // new requests and aborts, under the lock
  bool input_pending() const;  // requests, aborts or a stop are waiting in the inbox
  void step();
  // Queues a step: forward pass, and sampling when the step is fast.
  // `prev` and `sampled_index`: a step chained to prev, whose work item i
  // reads its input token from prev's job sampled_index[i].
  InFlight launch(StepPlan plan, const InFlight* prev, const std::vector<int>& sampled_index);
  bool fast_eligible(const StepPlan& plan) const;
  void sample_fast(InFlight& f, int num_pending);
  // The decode step after `prev` for the sequences that go on, queued;
  // nullopt when there is none or it does not fit the KV cache.
  std::optional<InFlight> chain(const InFlight& prev);
  // Waits for a step and takes in its results. `next` (chained to it) loses
  // the jobs of requests that finish here.
  void finish(InFlight& f, InFlight* next);
  void finish_fast(InFlight& f, InFlight* next);
  // The device job of one sequence, its processor edits appended to edits_.
  cuda::SampleJob make_job(const RequestState& r, const SequenceState& s, int row, int num_pending);
  // append_token() of a device sampler's result for r's sequence s.
  void append_device_token(RequestState& r, SequenceState& s, int32_t token,
                           const cuda::SampleLogprobs* logprobs);
  // After the forward pass: commit the computed tokens, record prompt
  // logprobs, sample (on the device where it covers the request, else on
  // the host from downloaded rows) and publish (engine_step_outputs.cpp).
  void process_outputs(const StepPlan& plan, const Tensor& logits,
                       const std::vector<int>& first_row);
  bool samples_on_device(const RequestState& r) const;
  // Device sampling of the listed sequences; appends their tokens.
  void sample_on_device(const Tensor& logits,
                        const std::vector<std::pair<RequestState*, int>>& seq_rows);
  void sample_request(RequestState& r,
                      const std::vector<std::pair<SequenceState*, const float*>>& rows);
  void append_token(RequestState& r, SequenceState& s, int32_t token, float logprob,
                    std::vector<LogprobEntry> top);
  void beam_step(RequestState& r, const std::vector<std::pair<SequenceState*, const float*>>& rows);
  void finish_beams(RequestState& r, bool at_max);
  void sample_one(RequestState& r, SequenceState& s, const float* row);
  void fork_samples(RequestState& r);
  void publish(RequestState& r);
  void finish_request(RequestState& r, std::optional<FinishReason> reason);
  SequenceState new_sequence(const RequestState& r, int index);
  bool is_stop_token(const RequestState& r, int32_t token) const;
  void record_prompt_logprobs(RequestState& r, const ScheduledWork& w, const float* rows);
  void update_stats();

  EngineConfig config_;
  std::unique_ptr<WeightSource> source_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Model> model_;
  tokenizer::Tokenizer tokenizer_;
  std::string model_name_;
  int max_model_len_ = 0;
  KvCacheManager kv_;
  ModelRunner runner_;
  Scheduler scheduler_;
  std::unordered_map<std::string, std::unique_ptr<RequestState>> requests_;  // engine thread
  uint64_t next_kv_id_ = 1;
  // Counters of the engine thread, copied into stats_ after each step.
  int64_t prompt_tokens_ = 0, generation_tokens_ = 0, requests_finished_ = 0, steps_ = 0,
          chained_steps_ = 0;
  Sampler sampler_;
  SeedGenerator seeds_;
  // Device sampling (CUDA backends unless TESSERA_DEVICE_SAMPLING=0); the
  // edit builder turns processors into per-token edits for it.
  std::shared_ptr<cuda::DeviceSampler> device_sampler_;
  SampleEditBuilder edit_builder_;
  std::vector<cuda::SampleJob> jobs_;
  std::vector<cuda::SampleEdit> edits_;
  std::vector<std::pair<RequestState*, int>> job_seqs_;  // request, index in its seqs
  // TESSERA_STEP_TIMING=1: where a step's host time goes, logged at shutdown.
  struct StepTiming {
    int64_t steps = 0;
    double schedule_ms = 0, forward_ms = 0, sample_ms = 0, outputs_ms = 0;
  };
  std::unique_ptr<StepTiming> timing_;
  bool async_scheduling_ = false;
  std::optional<InFlight> inflight_;  // engine thread

  // Shared with submitting threads.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<RequestState>> inbox_;
  std::vector<std::string> aborts_;
  bool stopping_ = false;
  uint64_t next_request_id_ = 0;
  std::unordered_set<std::string> live_ids_;  // submitted and not yet finished
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace tessera
