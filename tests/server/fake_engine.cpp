#include "fake_engine.h"

#include <algorithm>

#include "tessera/core/error.h"

namespace tessera::server::testing {

namespace {

constexpr const char* kSpecialNames[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

uint64_t hash_ids(std::span<const int32_t> ids, uint64_t h = 0x1234567) {
  for (int32_t id : ids) h = mix(h ^ static_cast<uint64_t>(id + 1));
  return h;
}

// Words the fake "model" writes: ASCII, and multi-byte UTF-8 so that
// characters split across tokens are exercised.
constexpr const char* kWords[] = {"the",  "quick",   "brown",  "fox",   "jumps", "over", "lazy",
                                  "dog",  "tessera", "serves", "café",  "naïve", "日本", "tokens",
                                  "fast", "emoji😀",  "stream", "hello", "world", "again"};

// Length of the longest complete-UTF-8 prefix of `bytes`.
size_t complete_utf8_prefix(const std::string& bytes) {
  size_t i = 0, done = 0;
  while (i < bytes.size()) {
    auto c = static_cast<unsigned char>(bytes[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 1;
    if (i + len > bytes.size()) break;
    i += len;
    done = i;
  }
  return done;
}

class FakeStream : public GenerationStream {
 public:
  std::optional<GenerationOutput> try_next() override {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return std::nullopt;
    GenerationOutput out = std::move(queue_.front());
    queue_.pop_front();
    return out;
  }
  bool finished() const override {
    std::lock_guard lock(mu_);
    return ended_ && queue_.empty();
  }
  void on_ready(std::function<void()> callback) override {
    std::lock_guard lock(mu_);
    callback_ = std::move(callback);
  }
  void abort() override { aborted_ = true; }

  void push(GenerationOutput output) {
    std::function<void()> callback;
    {
      std::lock_guard lock(mu_);
      if (ended_) return;
      ended_ = output.finished;
      queue_.push_back(std::move(output));
      callback = callback_;
    }
    if (callback) callback();
  }
  bool aborted() const { return aborted_; }

 private:
  mutable std::mutex mu_;
  std::deque<GenerationOutput> queue_;
  std::function<void()> callback_;
  bool ended_ = false;
  std::atomic<bool> aborted_{false};
};

struct Sequence {
  uint64_t rng = 0;
  std::vector<int32_t> tokens;
  std::string word;          // bytes of the current word still to emit
  std::string utf8_pending;  // bytes not yet a whole character
  std::string unreleased;    // text held back: it may start a stop string
  int planned_len = 0;
  bool finished = false;
  int blocks = 0;
};

SequenceDelta aborted_delta(size_t index) {
  SequenceDelta d;
  d.index = static_cast<int>(index);
  d.finish = Finish::kAbort;
  return d;
}

TokenLogprob fake_logprob(int32_t token, size_t position, int top) {
  TokenLogprob lp;
  lp.token = token;
  lp.logprob =
      -0.01f -
      static_cast<float>(mix(static_cast<uint64_t>(token) * 131 + position) % 1000) / 500.0f;
  for (int k = 0; k < top; ++k) {
    int32_t alt = k == 0 ? token : static_cast<int32_t>((token + 7 * k) % 256);
    lp.top.push_back({alt, lp.logprob - 0.5f * static_cast<float>(k)});
  }
  return lp;
}

}  // namespace

struct FakeEngine::Request {
  std::string id;
  std::vector<int32_t> prompt;
  SamplingOptions s;
  std::shared_ptr<FakeStream> stream;
  std::vector<Sequence> seqs;
  bool prefilled = false;
  int prompt_blocks = 0;
};

FakeEngine::FakeEngine(FakeEngineConfig config) : config_(std::move(config)) {
  thread_ = std::thread([this] { loop(); });
}

FakeEngine::~FakeEngine() { shutdown(); }

uint64_t FakeEngine::sequence_seed(std::span<const int32_t> prompt, const SamplingOptions& s,
                                   int index, uint64_t unseeded) {
  uint64_t h = hash_ids(prompt);
  if (s.temperature == 0.0f) return h;  // greedy: the same for every sequence
  uint64_t seed = s.seed ? *s.seed : unseeded;
  return mix(h ^ mix(seed + 0x9E37 * static_cast<uint64_t>(index + 1)));
}

std::shared_ptr<GenerationStream> FakeEngine::submit(GenerationRequest request) {
  const SamplingOptions& s = request.sampling;
  if (request.prompt_ids.empty()) fail(ErrorKind::kInvalidArgument, "the prompt is empty");
  for (int32_t id : request.prompt_ids)
    if (!is_valid_token(id)) fail(ErrorKind::kInvalidArgument, "token id {} out of range", id);
  if (s.n < 1 || s.max_tokens < 1) fail(ErrorKind::kInvalidArgument, "bad n or max_tokens");
  int total = static_cast<int>(request.prompt_ids.size()) + s.max_tokens;
  if (total > config_.max_model_len)
    fail(ErrorKind::kInvalidArgument,
         "prompt ({} tokens) + max_tokens ({}) exceeds max_model_len ({})",
         request.prompt_ids.size(), s.max_tokens, config_.max_model_len);
  auto r = std::make_shared<Request>();
  r->id = request.request_id;
  r->prompt = std::move(request.prompt_ids);
  r->s = s;
  r->stream = std::make_shared<FakeStream>();
  uint64_t unseeded =
      config_.seed
          ? mix(*config_.seed + unseeded_counter_++)
          : mix(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) +
                unseeded_counter_++);
  for (int i = 0; i < s.n; ++i) {
    Sequence seq;
    seq.rng = sequence_seed(r->prompt, s, i, unseeded);
    seq.planned_len = 4 + static_cast<int>(mix(seq.rng ^ 0xE05) % 40);
    r->seqs.push_back(std::move(seq));
  }
  std::lock_guard lock(mu_);
  if (stop_) fail(ErrorKind::kResourceExhausted, "the engine is shut down");
  if (static_cast<int>(waiting_.size()) >= config_.max_waiting_requests)
    fail(ErrorKind::kResourceExhausted, "the waiting queue is full ({} requests)",
         config_.max_waiting_requests);
  waiting_.push_back(r);
  cv_.notify_all();
  return r->stream;
}

void FakeEngine::loop() {
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !waiting_.empty() || !running_.empty(); });
      if (stop_) break;
    }
    next = std::max(next + config_.step_time, std::chrono::steady_clock::now());
    std::this_thread::sleep_until(next);
    step();
  }
}

void FakeEngine::step() {
  std::vector<std::pair<std::shared_ptr<FakeStream>, GenerationOutput>> outputs;
  {
    std::lock_guard lock(mu_);
    // Aborted requests leave first; their blocks return now.
    auto abort_out = [&](const std::shared_ptr<Request>& r) {
      GenerationOutput out;
      out.finished = true;
      for (size_t i = 0; i < r->seqs.size(); ++i)
        if (!r->seqs[i].finished) out.sequences.push_back(aborted_delta(i));
      outputs.emplace_back(r->stream, std::move(out));
    };
    std::erase_if(waiting_, [&](const std::shared_ptr<Request>& r) {
      if (!r->stream->aborted()) return false;
      abort_out(r);
      return true;
    });
    std::erase_if(running_, [&](const std::shared_ptr<Request>& r) {
      if (!r->stream->aborted()) return false;
      abort_out(r);
      used_blocks_ -= r->prompt_blocks;
      for (const auto& s : r->seqs) used_blocks_ -= s.blocks;
      return true;
    });
    int running_seqs = 0;
    for (const auto& r : running_) running_seqs += r->s.n;
    while (!waiting_.empty() && running_seqs + waiting_.front()->s.n <= config_.max_num_seqs) {
      running_seqs += waiting_.front()->s.n;
      running_.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
    for (auto& r : running_) {
      GenerationOutput out;
      out.num_prompt_tokens = static_cast<int>(r->prompt.size());
      if (!r->prefilled) {
        r->prefilled = true;
        // Prefix cache stand-in: full prompt blocks seen before are hits.
        int bs = config_.block_size;
        uint64_t h = 0;
        int cached = 0;
        bool prefix = true;
        for (size_t b = 0; b + static_cast<size_t>(bs) <= r->prompt.size();
             b += static_cast<size_t>(bs)) {
          h = hash_ids(std::span(r->prompt).subspan(b, static_cast<size_t>(bs)), h);
          bool hit = seen_blocks_.count(h) > 0;
          if (prefix && hit) cached += bs;
          prefix &= hit;
          if (seen_blocks_.size() > 100000) seen_blocks_.clear();
          seen_blocks_.insert(h);
        }
        out.num_cached_prompt_tokens = cached;
        totals_.prefix_cache_queries += static_cast<int64_t>(r->prompt.size());
        totals_.prefix_cache_hits += cached;
        totals_.prompt_tokens += static_cast<int64_t>(r->prompt.size()) - cached;
        r->prompt_blocks = static_cast<int>((r->prompt.size() + static_cast<size_t>(bs) - 1) /
                                            static_cast<size_t>(bs));
        used_blocks_ += r->prompt_blocks;
        if (r->s.prompt_logprobs) {
          out.prompt_logprobs.emplace_back(std::nullopt);
          for (size_t i = 1; i < r->prompt.size(); ++i)
            out.prompt_logprobs.emplace_back(fake_logprob(r->prompt[i], i, *r->s.prompt_logprobs));
        }
      }
      bool all_done = true;
      for (size_t i = 0; i < r->seqs.size(); ++i) {
        Sequence& seq = r->seqs[i];
        if (seq.finished) continue;
        SequenceDelta d;
        d.index = static_cast<int>(i);
        int32_t token;
        size_t pos = seq.tokens.size();
        auto forced = std::find_if(r->s.logit_bias.begin(), r->s.logit_bias.end(),
                                   [](const auto& b) { return b.second >= 100.0f; });
        if (forced != r->s.logit_bias.end()) {
          token = forced->first;
        } else if (!r->s.ignore_eos &&
                   static_cast<int>(pos) >= std::max(r->s.min_tokens, seq.planned_len)) {
          token = kImEnd;
        } else {
          if (seq.word.empty()) {
            seq.rng = mix(seq.rng + 1);
            seq.word = std::string(kWords[seq.rng % std::size(kWords)]) + " ";
          }
          token = static_cast<unsigned char>(seq.word.front());
          seq.word.erase(0, 1);
        }
        seq.tokens.push_back(token);
        d.token_ids.push_back(token);
        ++totals_.generation_tokens;
        if (r->s.logprobs) d.logprobs.push_back(fake_logprob(token, pos, *r->s.logprobs));
        bool stop_token = std::find(r->s.stop_token_ids.begin(), r->s.stop_token_ids.end(),
                                    token) != r->s.stop_token_ids.end();
        if (token == kImEnd && !r->s.ignore_eos) {
          d.finish = Finish::kStop;
        } else if (stop_token) {
          d.finish = Finish::kStop;
        } else {
          if (token < 256)
            seq.utf8_pending += static_cast<char>(token);
          else if (!r->s.skip_special_tokens)
            seq.utf8_pending += kSpecialNames[token - 256];
          size_t whole = complete_utf8_prefix(seq.utf8_pending);
          seq.unreleased += seq.utf8_pending.substr(0, whole);
          seq.utf8_pending.erase(0, whole);
        }
        // Stop strings: cut at the earliest match; otherwise hold back a
        // tail that could still become one.
        size_t cut = std::string::npos;
        for (const auto& stop : r->s.stop) {
          size_t at = seq.unreleased.find(stop);
          if (at != std::string::npos && (cut == std::string::npos || at < cut)) {
            cut = at;
            d.stop_reason = stop;
          }
        }
        if (cut != std::string::npos) {
          d.text = seq.unreleased.substr(0, cut);
          seq.unreleased.clear();
          d.finish = Finish::kStop;
        } else if (!d.finish && static_cast<int>(seq.tokens.size()) >= r->s.max_tokens) {
          d.finish = Finish::kLength;
        }
        if (d.finish && cut == std::string::npos) {
          d.text = seq.unreleased + (seq.utf8_pending.empty() ? "" : "\xEF\xBF\xBD");
          seq.unreleased.clear();
        } else if (!d.finish) {
          size_t hold = 0;
          for (const auto& stop : r->s.stop)
            for (size_t k = std::min(stop.size() - 1, seq.unreleased.size()); k > hold; --k)
              if (seq.unreleased.compare(seq.unreleased.size() - k, k, stop, 0, k) == 0) {
                hold = k;
                break;
              }
          d.text = seq.unreleased.substr(0, seq.unreleased.size() - hold);
          seq.unreleased.erase(0, seq.unreleased.size() - hold);
        }
        int blocks =
            static_cast<int>((seq.tokens.size() + static_cast<size_t>(config_.block_size) - 1) /
                             static_cast<size_t>(config_.block_size));
        used_blocks_ += blocks - seq.blocks;
        seq.blocks = blocks;
        if (d.finish) seq.finished = true;
        all_done &= seq.finished;
        out.sequences.push_back(std::move(d));
      }
      out.finished = all_done;
      outputs.emplace_back(r->stream, std::move(out));
    }
    std::erase_if(running_, [&](const std::shared_ptr<Request>& r) {
      bool done =
          std::all_of(r->seqs.begin(), r->seqs.end(), [](const Sequence& s) { return s.finished; });
      if (done) {
        ++totals_.requests_finished;
        used_blocks_ -= r->prompt_blocks;
        for (const auto& s : r->seqs) used_blocks_ -= s.blocks;
      }
      return done;
    });
  }
  for (auto& [stream, out] : outputs) stream->push(std::move(out));
}

void FakeEngine::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::vector<std::shared_ptr<Request>> left;
  {
    std::lock_guard lock(mu_);
    left.assign(running_.begin(), running_.end());
    left.insert(left.end(), waiting_.begin(), waiting_.end());
    running_.clear();
    waiting_.clear();
    used_blocks_ = 0;
  }
  for (auto& r : left) {
    GenerationOutput out;
    out.finished = true;
    for (size_t i = 0; i < r->seqs.size(); ++i)
      if (!r->seqs[i].finished) out.sequences.push_back(aborted_delta(i));
    r->stream->push(std::move(out));
  }
}

std::vector<int32_t> FakeEngine::tokenize(std::string_view text, bool add_special_tokens,
                                          bool parse_special) const {
  std::vector<int32_t> ids;
  if (add_special_tokens) ids.push_back(kEndOfText);
  size_t i = 0;
  while (i < text.size()) {
    bool matched = false;
    if (parse_special && text[i] == '<') {
      for (int k = 0; k < 3 && !matched; ++k) {
        std::string_view name = kSpecialNames[k];
        if (text.substr(i, name.size()) == name) {
          ids.push_back(256 + k);
          i += name.size();
          matched = true;
        }
      }
    }
    if (!matched) ids.push_back(static_cast<unsigned char>(text[i++]));
  }
  return ids;
}

std::string FakeEngine::detokenize(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string out;
  for (int32_t id : ids) {
    if (!is_valid_token(id)) fail(ErrorKind::kInvalidArgument, "token id {} out of range", id);
    if (id < 256)
      out += static_cast<char>(id);
    else if (!skip_special_tokens)
      out += kSpecialNames[id - 256];
  }
  return out;
}

std::string FakeEngine::token_bytes(int32_t id) const {
  if (!is_valid_token(id)) fail(ErrorKind::kInvalidArgument, "token id {} out of range", id);
  return id < 256 ? std::string(1, static_cast<char>(id)) : std::string(kSpecialNames[id - 256]);
}

std::string FakeEngine::apply_chat_template(const nlohmann::json& messages,
                                            const ChatTemplateOptions& options) const {
  std::string out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    std::string role = m.at("role");
    if (role == "developer") role = "system";
    out += "<|im_start|>" + role + "\n" + m.at("content").get<std::string>();
    bool last = i + 1 == messages.size();
    if (!(last && options.continue_final_message)) out += "<|im_end|>\n";
  }
  if (options.add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

BackendStats FakeEngine::stats() const {
  std::lock_guard lock(mu_);
  BackendStats s = totals_;
  s.num_running = static_cast<int>(running_.size());
  s.num_waiting = static_cast<int>(waiting_.size());
  s.kv_cache_blocks = config_.num_blocks;
  s.kv_cache_usage = static_cast<double>(used_blocks_) / config_.num_blocks;
  return s;
}

int FakeEngine::used_blocks() const {
  std::lock_guard lock(mu_);
  return used_blocks_;
}

BackendInfo FakeEngine::info() const {
  BackendInfo info;
  info.dtype = "fake";
  info.device = "cpu";
  info.max_num_seqs = config_.max_num_seqs;
  info.max_waiting_requests = config_.max_waiting_requests;
  info.vocab_size = kVocabSize;
  return info;
}

}  // namespace tessera::server::testing
