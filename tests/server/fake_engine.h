// A ServingBackend without a model, for testing the server: a byte-level
// "tokenizer" (ids 0-255 are bytes, then a few special tokens), a ChatML
// template, and an engine loop thread that steps every `step_time`,
// producing one token per running sequence per step, with the engine's
// contract: max_num_seqs, a bounded waiting queue (kResourceExhausted),
// prompt-length checks (kInvalidArgument), stop strings held back and cut,
// EOS, max_tokens, n, seeds, logprobs, prompt logprobs, aborts that free a
// request's "KV blocks" at the next step.
//
// Output is deterministic: greedy requests depend only on the prompt,
// seeded ones on the prompt and the seed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "tessera/server/backend.h"

namespace tessera::server::testing {

struct FakeEngineConfig {
  std::string model_name = "fake-model";
  int max_num_seqs = 256;
  int max_waiting_requests = 1024;
  int max_model_len = 2048;
  std::chrono::microseconds step_time{2000};
  int block_size = 16;
  int num_blocks = 65536;
  std::optional<uint64_t> seed;  // for unseeded sampling
};

class FakeEngine : public ServingBackend {
 public:
  static constexpr int32_t kEndOfText = 256;  // BOS when add_special_tokens
  static constexpr int32_t kImStart = 257;
  static constexpr int32_t kImEnd = 258;  // EOS
  static constexpr int32_t kVocabSize = 259;

  explicit FakeEngine(FakeEngineConfig config = {});
  ~FakeEngine() override;

  std::shared_ptr<GenerationStream> submit(GenerationRequest request) override;
  std::vector<int32_t> tokenize(std::string_view text, bool add_special_tokens,
                                bool parse_special) const override;
  std::string detokenize(std::span<const int32_t> ids, bool skip_special_tokens) const override;
  std::string token_bytes(int32_t id) const override;
  bool is_valid_token(int32_t id) const override { return id >= 0 && id < kVocabSize; }
  std::string apply_chat_template(const nlohmann::json& messages,
                                  const ChatTemplateOptions& options) const override;
  const std::string& model_name() const override { return config_.model_name; }
  int max_model_len() const override { return config_.max_model_len; }
  BackendStats stats() const override;
  BackendInfo info() const override;
  void shutdown() override;

  // The tokens a sequence would produce (ignoring stops), for tests that
  // want to predict output: the generator is a pure function of these.
  static uint64_t sequence_seed(std::span<const int32_t> prompt, const SamplingOptions& s,
                                int index, uint64_t unseeded);
  int used_blocks() const;

  struct Request;  // internal

 private:
  void loop();
  void step();

  FakeEngineConfig config_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Request>> waiting_;
  std::vector<std::shared_ptr<Request>> running_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> unseeded_counter_{0};
  BackendStats totals_;  // counters (guarded by mu_)
  int used_blocks_ = 0;
  std::unordered_set<uint64_t> seen_blocks_;  // prompt block hashes (a prefix-cache stand-in)
  std::thread thread_;
};

}  // namespace tessera::server::testing
