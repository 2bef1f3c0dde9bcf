#include "generation_job.h"

#include <algorithm>

namespace tessera::server {

namespace {
// A poll hands back at most about this much, so that one busy reply does
// not hold an io thread and its write goes out before more is pulled.
constexpr size_t kMaxChunkPerPoll = 256 * 1024;
}  // namespace

GenerationJob::GenerationJob(JobSettings settings, std::chrono::steady_clock::time_point arrival,
                             ServerMetrics* metrics)
    : settings_(std::move(settings)), arrival_(arrival), metrics_(metrics) {}

GenerationJob::~GenerationJob() {
  if (!done_) cancel();
}

void GenerationJob::add_prompt(PromptState prompt) {
  if (prompt.num_prompt_tokens == 0)
    prompt.num_prompt_tokens = static_cast<int>(prompt.prompt_ids.size());
  prompts_.push_back(std::move(prompt));
  choices_.resize(prompts_.size() * static_cast<size_t>(settings_.n));
}

void GenerationJob::start(std::function<void()> wake) {
  for (auto& p : prompts_) p.stream->on_ready(wake);
}

HttpResponse GenerationJob::stream_head() const {
  HttpResponse head;
  head.content_type = "text/event-stream; charset=utf-8";
  head.chunked = true;
  head.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  return head;
}

void GenerationJob::append_event(std::string& out, const std::string& data) {
  out += "data: ";
  out += data;
  out += "\n\n";
}

int GenerationJob::prompt_tokens() const {
  int total = 0;
  for (const auto& p : prompts_) total += p.num_prompt_tokens;
  return total;
}

int GenerationJob::completion_tokens() const {
  int total = 0;
  for (const auto& c : choices_) total += static_cast<int>(c.token_ids.size());
  return total;
}

void GenerationJob::poll(ReplyProgress& progress) {
  if (done_) {
    progress.done = true;
    return;
  }
  if (settings_.stream && !head_sent_) {
    progress.response = stream_head();
    head_sent_ = true;
    on_stream_start(progress.chunk);
  }
  for (size_t i = 0; i < prompts_.size(); ++i) {
    PromptState& p = prompts_[i];
    while (!p.finished && progress.chunk.size() < kMaxChunkPerPoll) {
      std::optional<GenerationOutput> output = p.stream->try_next();
      if (!output) {
        // A stream that ended without a final output was aborted under us.
        if (p.stream->finished()) finish_prompt(i, /*aborted=*/true);
        break;
      }
      consume(i, *output, progress.chunk);
      if (output->finished) finish_prompt(i, /*aborted=*/false);
    }
  }
  bool all_finished = std::all_of(prompts_.begin(), prompts_.end(),
                                  [](const PromptState& p) { return p.finished; });
  if (!all_finished) return;
  done_ = true;
  progress.done = true;
  if (settings_.stream)
    on_stream_end(progress.chunk);
  else
    progress.response = final_response();
}

void GenerationJob::consume(size_t prompt_index, GenerationOutput& output, std::string& out) {
  PromptState& p = prompts_[prompt_index];
  if (output.num_prompt_tokens > 0) p.num_prompt_tokens = output.num_prompt_tokens;
  p.num_cached_prompt_tokens =
      std::max(p.num_cached_prompt_tokens, output.num_cached_prompt_tokens);
  if (!output.prompt_logprobs.empty()) p.prompt_logprobs = std::move(output.prompt_logprobs);
  for (SequenceDelta& delta : output.sequences) {
    if (delta.index < 0 || delta.index >= settings_.n) continue;  // not ours to show
    size_t choice_index =
        prompt_index * static_cast<size_t>(settings_.n) + static_cast<size_t>(delta.index);
    ChoiceState& c = choices_[choice_index];
    if (c.finish) continue;
    if (!delta.token_ids.empty() && !p.first_token_at)
      p.first_token_at = std::chrono::steady_clock::now();
    if (delta.finish == Finish::kStop && delta.stop_reason.empty() && !delta.token_ids.empty()) {
      int32_t last = delta.token_ids.back();
      if (std::find(settings_.stop_token_ids.begin(), settings_.stop_token_ids.end(), last) !=
          settings_.stop_token_ids.end()) {
        c.stopped_by_token = true;
        c.stop_reason = std::to_string(last);
      }
    }
    if (delta.finish == Finish::kStop && !delta.stop_reason.empty()) {
      c.stop_reason = delta.stop_reason;
      if (settings_.include_stop_str_in_output) delta.text += delta.stop_reason;
    }
    c.text += delta.text;
    c.token_ids.insert(c.token_ids.end(), delta.token_ids.begin(), delta.token_ids.end());
    c.logprobs.insert(c.logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
    if (delta.finish) c.finish = delta.finish;
    if (settings_.stream) on_delta(prompt_index, choice_index, delta, out);
  }
}

void GenerationJob::finish_prompt(size_t prompt_index, bool aborted) {
  PromptState& p = prompts_[prompt_index];
  if (p.finished) return;
  p.finished = true;
  bool any_length = false;
  int generated = 0;
  for (int k = 0; k < settings_.n; ++k) {
    ChoiceState& c =
        choices_[prompt_index * static_cast<size_t>(settings_.n) + static_cast<size_t>(k)];
    if (!c.finish) c.finish = aborted ? Finish::kAbort : Finish::kStop;
    any_length |= c.finish == Finish::kLength;
    aborted |= c.finish == Finish::kAbort;
    generated += static_cast<int>(c.token_ids.size());
  }
  if (!metrics_) return;
  auto now = std::chrono::steady_clock::now();
  RequestRecord record;
  record.e2e_s = std::chrono::duration<double>(now - arrival_).count();
  if (p.first_token_at)
    record.ttft_s = std::chrono::duration<double>(*p.first_token_at - arrival_).count();
  record.prompt_tokens = p.num_prompt_tokens;
  record.generation_tokens = generated;
  record.finish = aborted ? Finish::kAbort : any_length ? Finish::kLength : Finish::kStop;
  metrics_->record_request(record);
}

void GenerationJob::cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  for (size_t i = 0; i < prompts_.size(); ++i) {
    if (prompts_[i].finished) continue;
    prompts_[i].stream->abort();
    finish_prompt(i, /*aborted=*/true);
  }
  done_ = true;
}

}  // namespace tessera::server
