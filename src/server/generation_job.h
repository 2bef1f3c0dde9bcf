// A reply that runs one or more engine requests (one per prompt, each with
// n sequences) and turns their outputs into a response: a JSON body at the
// end, or a stream of server-sent events as outputs arrive. Subclasses
// (OpenAI completions, chat, TGI) only format; this class pulls from the
// streams, keeps per-choice state, and records metrics.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "metrics.h"
#include "tessera/server/backend.h"
#include "tessera/server/http.h"

namespace tessera::server {

struct ChoiceState {
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<TokenLogprob> logprobs;
  std::optional<Finish> finish;
  std::string stop_reason;  // stop string, or a stop token id as text
  bool stopped_by_token = false;
};

struct PromptState {
  std::shared_ptr<GenerationStream> stream;
  std::vector<int32_t> prompt_ids;
  std::string prompt_text;  // for echo
  int num_prompt_tokens = 0;
  int num_cached_prompt_tokens = 0;
  std::vector<std::optional<TokenLogprob>> prompt_logprobs;
  bool finished = false;
  std::optional<std::chrono::steady_clock::time_point> first_token_at;
};

struct JobSettings {
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  bool continuous_usage = false;  // stream_options.continuous_usage_stats
  int n = 1;
  bool include_stop_str_in_output = false;
  std::vector<int32_t> stop_token_ids;
};

class GenerationJob : public PendingReply {
 public:
  GenerationJob(JobSettings settings, std::chrono::steady_clock::time_point arrival,
                ServerMetrics* metrics);
  ~GenerationJob() override;

  // Called before start(): one per prompt, in choice order.
  void add_prompt(PromptState prompt);

  void start(std::function<void()> wake) override;
  void poll(ReplyProgress& progress) override;
  void cancel() override;

 protected:
  // The head of an event stream, and what goes out before any output.
  virtual HttpResponse stream_head() const;
  virtual void on_stream_start(std::string& out) {}
  // A sequence's news (stop string already appended when asked for).
  virtual void on_delta(size_t prompt, size_t choice, const SequenceDelta& delta,
                        std::string& out) = 0;
  // After every stream ended: usage, [DONE]...
  virtual void on_stream_end(std::string& out) = 0;
  virtual HttpResponse final_response() = 0;

  static void append_event(std::string& out, const std::string& data);

  int prompt_tokens() const;
  int completion_tokens() const;

  JobSettings settings_;
  std::vector<PromptState> prompts_;
  std::vector<ChoiceState> choices_;  // prompt-major: prompt * n + index

 private:
  void consume(size_t prompt_index, GenerationOutput& output, std::string& out);
  void finish_prompt(size_t prompt_index, bool aborted);

  std::chrono::steady_clock::time_point arrival_;
  ServerMetrics* metrics_;
  bool head_sent_ = false;
  bool done_ = false;
  bool cancelled_ = false;
};

}  // namespace tessera::server
