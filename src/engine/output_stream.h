// The engine's side of a request's output channel: the engine thread pushes,
// any consumer thread pops. Implements RequestHandle.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "tessera/engine/engine.h"

namespace tessera {

class OutputStream final : public RequestHandle {
 public:
  OutputStream(std::string id, std::function<void(const std::string&)> abort_fn)
      : id_(std::move(id)), abort_fn_(std::move(abort_fn)) {}

  const std::string& id() const override { return id_; }
  std::optional<RequestOutput> next() override;
  std::optional<RequestOutput> next_for(std::chrono::milliseconds timeout) override;
  std::optional<RequestOutput> try_next() override;
  bool finished() const override;
  void on_ready(std::function<void()> callback) override;
  void abort() override;

  // Engine thread. Consecutive outputs are merged while unread, so a slow
  // consumer costs one pending output, not one per step.
  void push(RequestOutput output);

 private:
  std::optional<RequestOutput> pop_locked();

  const std::string id_;
  std::function<void(const std::string&)> abort_fn_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RequestOutput> queue_;
  bool closed_ = false;   // the final output was pushed
  bool drained_ = false;  // ... and popped
  std::function<void()> callback_;
};

}  // namespace tessera
