// Engine-thread state of a request and its sequences (n samples or beams).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "output_stream.h"
#include "stop_strings.h"
#include "tessera/engine/engine.h"
#include "tessera/engine/sampler.h"
#include "tessera/kv/kv_cache_manager.h"
#include "tessera/tokenizer/detokenizer.h"

namespace tessera {

struct SequenceState {
  RequestId kv_id = 0;
  int index = 0;                // output index (0..n-1)
  std::vector<int32_t> tokens;  // prompt + generated
  int num_computed = 0;         // tokens whose KV is cached
  bool finished = false;
  bool finish_published = false;  // its finish_reason went out already
  std::optional<FinishReason> finish_reason;
  std::string stop_reason;
  double cumulative_logprob = 0.0;
  RequestRng rng{0};  // per-sequence stream: same output whatever the batch
  std::unique_ptr<tokenizer::IncrementalDetokenizer> detokenizer;
  std::unique_ptr<StopStringMatcher> stops;
  // Not yet published to the stream.
  std::vector<int32_t> new_tokens;
  std::string new_text;
  std::vector<TokenLogprob> new_logprobs;

  int num_generated(int num_prompt) const { return int(tokens.size()) - num_prompt; }
};

struct RequestState {
  std::string id;
  std::vector<int32_t> prompt;
  SamplingParams params;
  std::shared_ptr<OutputStream> stream;
  uint64_t seed = 0;                // params.seed, or drawn at submission
  std::vector<SequenceState> seqs;  // one until the prompt is done, then n (or beams)
  bool forked = false;              // the prompt was computed and samples forked
  bool aborted = false;
  int num_cached_prompt = 0;
  uint64_t arrival = 0;  // admission order; preemption takes the newest
  std::chrono::steady_clock::time_point arrival_time;
  // Prompt logprobs collected chunk by chunk (index i: token i given < i).
  std::vector<std::optional<TokenLogprob>> prompt_logprobs;
  bool prompt_logprobs_sent = false;
  // Beam search: finished hypotheses (tokens after the prompt, score).
  struct Hypothesis {
    std::vector<int32_t> tokens;
    double cumulative_logprob;
    double score;
  };
  std::vector<Hypothesis> finished_beams;

  bool done() const {
    for (const auto& s : seqs)
      if (!s.finished) return false;
    return true;
  }
};

}  // namespace tessera
