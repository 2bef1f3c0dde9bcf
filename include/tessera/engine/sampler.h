// Token sampling on the CPU: logits processors (bias, min_tokens, penalties),
// temperature, top-k / top-p / min-p truncation, a per-request counter-based
// RNG, log-probabilities, prompt log-probabilities and beam-search helpers.
// See docs/sampling.md for the exact semantics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

#include "tessera/engine/sampling_params.h"

namespace tessera {

// ---- Random numbers -------------------------------------------------------

// Philox-4x32-10 (Salmon et al., SC'11): 4 random words from a 128-bit
// counter and a 64-bit key. Same generator as cuRAND's, so a device sampler
// can reproduce the CPU stream.
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// Seeds for unseeded requests: splitmix64 over a Weyl sequence. Thread-safe.
class SeedGenerator {
 public:
  explicit SeedGenerator(uint64_t seed) : state_(seed) {}
  uint64_t next();

 private:
  std::atomic<uint64_t> state_;
};

// A seed from a process-wide SeedGenerator started from OS entropy.
uint64_t draw_random_seed();

// A request's random stream: draw i depends only on (seed, stream, i), so a
// seeded request samples the same tokens whatever else shares its batch.
// `stream` tells apart sequences of one request (child i of n > 1 uses i).
// The sampler takes exactly one draw per sampled token, greedy included, so
// counter() equals the number of tokens sampled so far.
class RequestRng {
 public:
  explicit RequestRng(uint64_t seed, uint64_t stream = 0) : seed_(seed), stream_(stream) {}
  // Seeded from params.seed, or else from `seeds` (the engine's, seeded by
  // --seed) or else from draw_random_seed().
  static RequestRng for_request(const SamplingParams& params, uint64_t stream = 0,
                                SeedGenerator* seeds = nullptr);

  // Uniform in [0, 1) with 53 random bits; advances the counter.
  double next_uniform();

  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  uint64_t counter() const { return counter_; }
  void set_counter(uint64_t counter) { counter_ = counter; }

 private:
  uint64_t seed_;
  uint64_t stream_;
  uint64_t counter_ = 0;
};

// ---- Sampling -------------------------------------------------------------

struct LogprobEntry {
  int32_t token;
  float logprob;
  friend bool operator==(const LogprobEntry&, const LogprobEntry&) = default;
};

// The token history that penalties and min_tokens look at.
struct SequenceTokens {
  std::span<const int32_t> prompt;
  std::span<const int32_t> output;  // generated so far, not counting this step
  // Tokens sampled after `output` that the host does not know yet (async
  // scheduling samples a step before the previous one's tokens are back).
  // They count for min_tokens; penalties, which need their ids, need 0.
  int num_pending = 0;
  int64_t num_output() const { return int64_t(output.size()) + num_pending; }
};

struct SampledToken {
  int32_t token = -1;
  // Filled when params.logprobs is set: log-softmax of the raw logits (before
  // any processor or temperature), the 1-based rank of `token` in it, and the
  // best params.logprobs entries (ties: lower id first).
  float logprob = 0.0f;
  int rank = 0;
  std::vector<LogprobEntry> top_logprobs;
};

// Samples one token per logits row. Holds scratch buffers of the vocabulary's
// size: use one Sampler per thread.
class Sampler {
 public:
  // `eos_token_ids`: the model's end tokens, kept out until min_tokens
  // (unless ignore_eos), like params.stop_token_ids.
  Sampler(int vocab_size, std::vector<int32_t> eos_token_ids);

  int vocab_size() const { return vocab_; }

  // Picks the next token from `logits` (vocab_size floats, not modified).
  // Order: logit_bias, min_tokens, repetition then presence/frequency
  // penalties, temperature, top-k, top-p, min-p, draw. Greedy (temperature
  // ~0) takes the argmax of the processed logits, lowest id on ties. Takes
  // exactly one draw from `rng`.
  SampledToken sample(std::span<const float> logits, const SamplingParams& params,
                      const SequenceTokens& seq, RequestRng& rng);

  // The distribution sample() draws from (after every processor and the
  // truncation), normalized, into `probs` (vocab_size floats). Greedy gives
  // a one-hot. Also what speculative decoding needs as the target.
  void probabilities(std::span<const float> logits, const SamplingParams& params,
                     const SequenceTokens& seq, std::span<float> probs);

  // The processors before temperature, in place: logit_bias, min_tokens,
  // repetition, presence and frequency penalties. NaN becomes -inf.
  void process_logits(std::span<float> logits, const SamplingParams& params,
                      const SequenceTokens& seq);

 private:
  // What is left to draw from: every id (weights in work_, zero for the
  // excluded ones) or the first `count` of index_ (weights in weights_).
  struct Candidates {
    bool dense = true;
    int count = 0;
    double total = 0.0;
  };
  // Copies `logits` to work_ and runs the processors there; false when every
  // token ended up at -inf.
  bool prepare(std::span<const float> logits, const SamplingParams& params,
               const SequenceTokens& seq);
  void apply_processors(std::span<float> logits, const SamplingParams& params,
                        const SequenceTokens& seq);
  Candidates truncate(const SamplingParams& params);
  void top_p_dense(float top_p, double total);
  int32_t draw(const Candidates& c, double u) const;

  int vocab_;
  std::vector<int32_t> eos_;
  std::vector<float> work_;         // processed logits, then weights
  float max_ = 0.0f;                // largest processed logit
  std::vector<int32_t> index_;      // candidate ids, best first
  std::vector<float> weights_;      // their unnormalized probabilities
  std::vector<double> block_sums_;  // dense weights summed per block
  std::vector<uint16_t> buckets_;   // top-p: float bucket of each weight
  std::vector<double> histogram_;   // top-p: weight mass per bucket
  std::vector<uint32_t> stamp_;     // per-token marks for penalties
  std::vector<int32_t> counts_;     // per-token output counts
  uint32_t generation_ = 0;
};

// ---- Selection and log-probabilities -------------------------------------

// Ids of the k largest values, best first, ties to lower ids (NaN counts as
// -inf). Partial selection: a small heap for small k, nth_element otherwise.
void select_top_k(std::span<const float> values, int k, std::vector<int32_t>& out);

// log(sum(exp(values))), computed stably; -inf for an empty or all -inf row.
double logsumexp(std::span<const float> values);

// out[i] = logits[i] - logsumexp(logits).
void log_softmax(std::span<const float> logits, std::span<float> out);

// The k best (token, logprob) of a logits row, best first, ties to lower ids;
// partial selection, no full sort.
std::vector<LogprobEntry> top_logprobs(std::span<const float> logits, int k);

// Log-probability of each actual next prompt token. Row i of `logits_rows`
// ([next_tokens.size(), vocab]) holds the logits computed at prompt position
// p + i and scores next_tokens[i] (the token at p + i + 1). Rows are
// independent, so chunked prefill can call this per chunk. The first prompt
// token has no logprob (OpenAI reports null there).
struct PromptTokenLogprobs {
  int32_t token = -1;
  float logprob = 0.0f;
  int rank = 0;
  std::vector<LogprobEntry> top;  // top_k entries
};
std::vector<PromptTokenLogprobs> prompt_logprobs(std::span<const float> logits_rows, int vocab,
                                                 std::span<const int32_t> next_tokens, int top_k);

// ---- Beam search helpers --------------------------------------------------

struct BeamCandidate {
  int beam;            // index of the beam it extends
  int32_t token;       // the token appended
  double cum_logprob;  // beam's cumulative logprob + the token's logprob
  friend bool operator==(const BeamCandidate&, const BeamCandidate&) = default;
};

// The best 2 * beam_width continuations over all beams, best first (ties:
// lower beam, then lower token). `logprob_rows` is [beam_cum_logprobs.size(),
// vocab] log-probabilities (see log_softmax). Twice the width so enough
// candidates remain after finished (EOS) ones are set aside.
std::vector<BeamCandidate> top_beam_candidates(std::span<const float> logprob_rows, int vocab,
                                               std::span<const double> beam_cum_logprobs,
                                               int beam_width);

// HF's length-normalized beam score: cum_logprob / length^length_penalty.
// `length` is what the caller normalizes by (HF: generated tokens).
double beam_score(double cum_logprob, int length, double length_penalty);

}  // namespace tessera
