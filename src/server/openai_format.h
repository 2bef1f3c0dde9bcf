// Pieces of the OpenAI response shapes shared by the routes: ids, usage,
// and the two logprobs layouts (completions: parallel lists; chat: one
// entry per token with bytes and alternatives).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tessera/server/backend.h"

namespace tessera::server {

using nlohmann::json;

// "cmpl-<32 hex digits>" and the like; random, unique per process.
std::string make_request_id(std::string_view prefix);
int64_t unix_time_now();

// Invalid UTF-8 replaced by U+FFFD (a token may be part of a character).
std::string sanitize_utf8(std::string_view bytes);
size_t utf8_length(std::string_view text);  // code points

// JSON cannot hold -inf: very unlikely tokens get -9999 (as vLLM does).
double clamp_logprob(float logprob);

json usage_json(int prompt_tokens, int completion_tokens, int cached_tokens);

// How tokens are spelled in logprobs ("token_id:N" when
// return_tokens_as_token_ids was asked for).
class TokenSpeller {
 public:
  TokenSpeller(const ServingBackend& backend, bool as_ids) : backend_(backend), as_ids_(as_ids) {}
  std::string spell(int32_t id) const;
  json bytes(int32_t id) const;  // the token's bytes as a list of ints

 private:
  const ServingBackend& backend_;
  bool as_ids_;
};

// Completions layout: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
class CompletionLogprobs {
 public:
  explicit CompletionLogprobs(size_t text_offset = 0) : offset_(text_offset) {}
  // A prompt token (logprob may be missing: the first one has none).
  void add(const TokenSpeller& speller, int32_t token, const std::optional<TokenLogprob>& lp);
  json to_json() const;
  size_t offset() const { return offset_; }
  bool empty() const { return tokens_.empty(); }
  void clear();

 private:
  json tokens_ = json::array();
  json token_logprobs_ = json::array();
  json top_logprobs_ = json::array();
  json text_offset_ = json::array();
  size_t offset_;
};

// Chat layout: one {"token", "logprob", "bytes", "top_logprobs"} per token.
json chat_logprob_entry(const TokenSpeller& speller, const TokenLogprob& lp);

}  // namespace tessera::server
