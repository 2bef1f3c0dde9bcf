#include "openai_format.h"

#include <atomic>
#include <chrono>
#include <random>

#include <fmt/format.h>

namespace tessera::server {

std::string make_request_id(std::string_view prefix) {
  // Seeded once from the OS; a counter keeps ids unique even if two threads
  // draw at once.
  static const uint64_t base = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<uint64_t> counter{0};
  uint64_t n = counter.fetch_add(1);
  uint64_t mixed = base ^ (n * 0x9E3779B97F4A7C15ULL);
  mixed ^= mixed >> 31;
  mixed *= 0xBF58476D1CE4E5B9ULL;
  return fmt::format("{}-{:016x}{:016x}", prefix, mixed, base + n);
}

int64_t unix_time_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len > 1) {
      // Reject overlong forms, surrogates and code points past U+10FFFF.
      uint32_t cp = c & (0xFF >> (len + 1));
      for (size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

size_t utf8_length(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

double clamp_logprob(float logprob) {
  if (!(logprob > -9999.0f)) return -9999.0;
  // The shortest decimal that reads back as this float, not the float's
  // exact binary value widened to double (-0.594, not -0.593999981880188).
  return std::stod(fmt::format("{}", logprob));
}

json usage_json(int prompt_tokens, int completion_tokens, int cached_tokens) {
  json usage = {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens}};
  if (cached_tokens > 0) usage["prompt_tokens_details"] = {{"cached_tokens", cached_tokens}};
  return usage;
}

std::string TokenSpeller::spell(int32_t id) const {
  if (as_ids_) return fmt::format("token_id:{}", id);
  return sanitize_utf8(backend_.token_bytes(id));
}

json TokenSpeller::bytes(int32_t id) const {
  json out = json::array();
  for (char c : backend_.token_bytes(id)) out.push_back(static_cast<unsigned char>(c));
  return out;
}

void CompletionLogprobs::add(const TokenSpeller& speller, int32_t token,
                             const std::optional<TokenLogprob>& lp) {
  std::string text = speller.spell(token);
  text_offset_.push_back(offset_);
  offset_ += utf8_length(text);
  tokens_.push_back(text);
  if (!lp) {
    token_logprobs_.push_back(nullptr);
    top_logprobs_.push_back(nullptr);
    return;
  }
  token_logprobs_.push_back(clamp_logprob(lp->logprob));
  json top = json::object();
  for (const auto& alt : lp->top) {
    std::string key = speller.spell(alt.token);
    if (!top.contains(key)) top[key] = clamp_logprob(alt.logprob);
  }
  // As in vLLM, the chosen token is always among the alternatives.
  if (!top.contains(text)) top[text] = clamp_logprob(lp->logprob);
  top_logprobs_.push_back(std::move(top));
}

json CompletionLogprobs::to_json() const {
  return {{"tokens", tokens_},
          {"token_logprobs", token_logprobs_},
          {"top_logprobs", top_logprobs_},
          {"text_offset", text_offset_}};
}

void CompletionLogprobs::clear() {
  tokens_ = json::array();
  token_logprobs_ = json::array();
  top_logprobs_ = json::array();
  text_offset_ = json::array();
}

json chat_logprob_entry(const TokenSpeller& speller, const TokenLogprob& lp) {
  json top = json::array();
  for (const auto& alt : lp.top)
    top.push_back({{"token", speller.spell(alt.token)},
                   {"logprob", clamp_logprob(alt.logprob)},
                   {"bytes", speller.bytes(alt.token)}});
  return {{"token", speller.spell(lp.token)},
          {"logprob", clamp_logprob(lp.logprob)},
          {"bytes", speller.bytes(lp.token)},
          {"top_logprobs", std::move(top)}};
}

}  // namespace tessera::server
