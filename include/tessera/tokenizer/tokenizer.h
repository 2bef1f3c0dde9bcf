// Text <-> token ids for one model. Built from a TokenizerSpec; safe to use
// from many threads at once (encode/decode are const; the word cache locks).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/tokenizer/tokenizer_spec.h"

namespace tessera::tokenizer {

class Tokenizer {
 public:
  explicit Tokenizer(TokenizerSpec spec);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  static Tokenizer from_gguf(const gguf::File& file);
  static Tokenizer from_hf_folder(const std::string& dir);

  // add_special_tokens: BOS/EOS as the model asks for them.
  // parse_special: text like "<|im_start|>" becomes that special token;
  // otherwise it is tokenized as plain text. Invalid UTF-8 in `text` is
  // read as U+FFFD.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true,
                              bool parse_special = false) const;
  // Invalid UTF-8 (a character cut between ids) comes out as U+FFFD.
  // Throws Error(kInvalidArgument) for ids out of range.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // The token as the vocabulary spells it ("Ġthe", "▁the", "<0x0A>").
  const std::string& token_text(int32_t id) const;
  // The bytes the token stands for when decoded (may be part of a character).
  const std::string& token_bytes(int32_t id) const;
  std::optional<int32_t> find_token(std::string_view text) const;

  size_t vocab_size() const;
  bool is_special(int32_t id) const;  // control tokens: BOS, EOS, <|im_start|>...
  bool is_valid(int32_t id) const { return id >= 0 && static_cast<size_t>(id) < vocab_size(); }
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t unk_id() const;
  int32_t pad_id() const;
  // The decoded text drops one leading space (SentencePiece prefix space).
  bool strips_leading_space() const;
  const TokenizerSpec& spec() const;
  const std::string& chat_template() const { return spec().chat_template; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::tokenizer
