// What the HTTP server needs from a model: submit generation requests and
// read their output streams, tokenize, detokenize and render chat
// templates. The real implementation wraps Engine + tokenizer + chat
// template (src/server/engine_backend.cpp); tests use a fake with the same
// contract (tests/server/fake_engine.h).
//
// The types mirror the engine's (engine.h / sampling_params.h) on purpose
// instead of reusing them: the server builds and is tested without the
// engine library, and the adapter is the one place that maps the two.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::server {

// Sampling settings after the server validated and defaulted them. Field
// names follow SamplingParams; "off" values are spelled out per field.
struct SamplingOptions {
  int n = 1;
  float temperature = 1.0f;  // 0: greedy
  float top_p = 1.0f;
  int top_k = 0;  // 0: off
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool include_stop_str_in_output = false;
  int max_tokens = 16;
  int min_tokens = 0;
  bool ignore_eos = false;
  std::optional<int> logprobs;         // number of top alternatives per token
  std::optional<int> prompt_logprobs;  // same, for the prompt tokens
  bool skip_special_tokens = true;
  bool use_beam_search = false;
  float length_penalty = 1.0f;
};

struct GenerationRequest {
  std::string request_id;
  std::vector<int32_t> prompt_ids;
  SamplingOptions sampling;
};

enum class Finish { kStop, kLength, kAbort };
const char* finish_name(Finish f);  // "stop", "length", "abort"

struct TokenAlternative {
  int32_t token = 0;
  float logprob = 0.0f;
};
struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
  std::vector<TokenAlternative> top;  // best first
};

// News from one of a request's n sequences since its previous output.
struct SequenceDelta {
  int index = 0;
  std::vector<int32_t> token_ids;
  std::string text;  // whole UTF-8 characters; stop strings already cut
  std::vector<TokenLogprob> logprobs;
  std::optional<Finish> finish;
  std::string stop_reason;  // the stop string that matched, if any
};

struct GenerationOutput {
  std::vector<SequenceDelta> sequences;
  bool finished = false;
  int num_prompt_tokens = 0;
  int num_cached_prompt_tokens = 0;
  // Only in the first output, when prompt_logprobs was asked for.
  std::vector<std::optional<TokenLogprob>> prompt_logprobs;
};

// One request's output stream; thread-safe (the engine pushes, an io
// thread pulls).
class GenerationStream {
 public:
  virtual ~GenerationStream() = default;
  virtual std::optional<GenerationOutput> try_next() = 0;
  virtual bool finished() const = 0;
  // Called on the producer's thread after every push; must only post work.
  virtual void on_ready(std::function<void()> callback) = 0;
  virtual void abort() = 0;
};

struct BackendStats {
  int num_running = 0;
  int num_waiting = 0;
  double kv_cache_usage = 0.0;  // fraction of KV blocks in use
  int kv_cache_blocks = 0;
  int64_t prefix_cache_queries = 0;
  int64_t prefix_cache_hits = 0;
  int64_t num_preemptions = 0;
  int64_t prompt_tokens = 0;
  int64_t generation_tokens = 0;
  int64_t requests_finished = 0;
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  nlohmann::json kwargs = nlohmann::json::object();  // extra template variables
};

struct BackendInfo {
  std::string dtype = "unknown";
  std::string device = "cpu";
  int max_num_seqs = 0;
  int max_waiting_requests = 0;
  size_t vocab_size = 0;
};

class ServingBackend {
 public:
  virtual ~ServingBackend() = default;
  // Error(kInvalidArgument) for a request the engine refuses,
  // Error(kResourceExhausted) when its waiting queue is full.
  virtual std::shared_ptr<GenerationStream> submit(GenerationRequest request) = 0;
  // parse_special: "<|im_start|>" in the text becomes that special token.
  virtual std::vector<int32_t> tokenize(std::string_view text, bool add_special_tokens,
                                        bool parse_special) const = 0;
  // Error(kInvalidArgument) for ids outside the vocabulary.
  virtual std::string detokenize(std::span<const int32_t> ids, bool skip_special_tokens) const = 0;
  // The bytes one token decodes to (may be part of a UTF-8 character).
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual bool is_valid_token(int32_t id) const = 0;
  // Renders OpenAI-style messages (already validated) into prompt text;
  // Error(kInvalidArgument) when the template rejects them.
  virtual std::string apply_chat_template(const nlohmann::json& messages,
                                          const ChatTemplateOptions& options) const = 0;
  virtual const std::string& model_name() const = 0;
  virtual int max_model_len() const = 0;
  virtual BackendStats stats() const = 0;
  virtual BackendInfo info() const = 0;
  // Stops the engine; outstanding streams end with Finish::kAbort.
  virtual void shutdown() = 0;
};

}  // namespace tessera::server
