#include "tessera/tokenizer/detokenizer.h"

#include "tessera/core/error.h"
#include "utf8.h"

namespace tessera::tokenizer {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}

void IncrementalDetokenizer::reset() {
  pending_.clear();
  at_start_ = true;
}

std::string IncrementalDetokenizer::push(int32_t id) {
  if (!tokenizer_->is_valid(id))
    fail(ErrorKind::kInvalidArgument, "token id {} is out of range", id);
  if (skip_special_ && tokenizer_->is_special(id)) return {};
  const std::string& bytes = tokenizer_->token_bytes(id);
  if (bytes.empty()) return {};
  if (at_start_) {
    at_start_ = false;
    // Same rule as Tokenizer::decode: one leading space of the whole text goes.
    if (tokenizer_->strips_leading_space() && bytes[0] == ' ') {
      pending_.append(bytes, 1);
      return take_complete(false);
    }
  }
  pending_ += bytes;
  return take_complete(false);
}

std::string IncrementalDetokenizer::flush() { return take_complete(true); }

std::string IncrementalDetokenizer::take_complete(bool final) {
  const size_t ready = final ? pending_.size() : utf8::complete_prefix(pending_);
  if (ready == 0) return {};
  std::string_view head(pending_.data(), ready);
  std::string out = utf8::is_valid(head) ? std::string(head) : utf8::make_valid(head);
  pending_.erase(0, ready);
  return out;
}

}  // namespace tessera::tokenizer
