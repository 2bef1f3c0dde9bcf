// Turns a stream of token ids into text one id at a time without ever
// emitting half a UTF-8 character: bytes of a character split across tokens
// (byte-level BPE pieces, <0xXX> byte tokens) wait until it is complete.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/tokenizer/tokenizer.h"

namespace tessera::tokenizer {

class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false);

  // The new complete text this id makes available (often empty while a
  // character is incomplete). Bytes that can never form a character come
  // out as U+FFFD. Throws Error(kInvalidArgument) for an id out of range.
  std::string push(int32_t id);
  // Whatever is still held back, with an incomplete character as U+FFFD.
  std::string flush();
  // Bytes waiting for the rest of their character.
  size_t pending_bytes() const { return pending_.size(); }
  void reset();

 private:
  std::string take_complete(bool final);

  const Tokenizer* tokenizer_;
  bool skip_special_;
  bool at_start_ = true;  // for the SentencePiece leading-space strip
  std::string pending_;
};

}  // namespace tessera::tokenizer
