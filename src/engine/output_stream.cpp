#include "output_stream.h"

namespace tessera {

void merge_output(RequestOutput& into, RequestOutput&& next) {
  into.request_id = next.request_id;
  for (auto& seq : next.outputs) {
    SequenceOutput* target = nullptr;
    for (auto& existing : into.outputs)
      if (existing.index == seq.index) target = &existing;
    if (!target) {
      into.outputs.push_back(std::move(seq));
      continue;
    }
    target->token_ids.insert(target->token_ids.end(), seq.token_ids.begin(), seq.token_ids.end());
    target->text += seq.text;
    for (auto& lp : seq.logprobs) target->logprobs.push_back(std::move(lp));
    if (seq.finish_reason) target->finish_reason = seq.finish_reason;
    if (!seq.stop_reason.empty()) target->stop_reason = seq.stop_reason;
    target->cumulative_logprob = seq.cumulative_logprob;
  }
  into.finished = next.finished;
  into.num_prompt_tokens = next.num_prompt_tokens;
  into.num_cached_prompt_tokens = next.num_cached_prompt_tokens;
  into.num_generated_tokens = next.num_generated_tokens;
  if (!next.prompt_logprobs.empty()) into.prompt_logprobs = std::move(next.prompt_logprobs);
}

void OutputStream::push(RequestOutput output) {
  std::function<void()> callback;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = output.finished;
    if (!queue_.empty())
      merge_output(queue_.back(), std::move(output));
    else
      queue_.push_back(std::move(output));
    callback = callback_;
  }
  cv_.notify_all();
  if (callback) callback();
}

std::optional<RequestOutput> OutputStream::pop_locked() {
  if (queue_.empty()) return std::nullopt;
  RequestOutput out = std::move(queue_.front());
  queue_.pop_front();
  if (out.finished) drained_ = true;
  return out;
}

std::optional<RequestOutput> OutputStream::next() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || drained_; });
  return pop_locked();
}

std::optional<RequestOutput> OutputStream::next_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || drained_; });
  return pop_locked();
}

std::optional<RequestOutput> OutputStream::try_next() {
  std::lock_guard lock(mu_);
  return pop_locked();
}

bool OutputStream::finished() const {
  std::lock_guard lock(mu_);
  return drained_;
}

void OutputStream::on_ready(std::function<void()> callback) {
  std::lock_guard lock(mu_);
  callback_ = std::move(callback);
}

void OutputStream::abort() {
  {
    // Once finished, the id may already name a newer request: leave it be.
    std::lock_guard lock(mu_);
    if (closed_) return;
  }
  abort_fn_(id_);
}

}  // namespace tessera
