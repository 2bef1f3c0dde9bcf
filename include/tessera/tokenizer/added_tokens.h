// Finds added / special tokens in raw text before pre-tokenization:
// leftmost match first, the longest one where several start at one place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tessera/tokenizer/tokenizer_spec.h"

namespace tessera::tokenizer {

// A run of text (id < 0) or one matched token covering [begin, end),
// whitespace it strips included.
struct TextChunk {
  size_t begin = 0;
  size_t end = 0;
  int32_t id = -1;
};

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

  // Splits `text` into chunks; special tokens count only with parse_special.
  void split(std::string_view text, bool parse_special, std::vector<TextChunk>& out) const;
  bool empty() const { return tokens_.empty(); }

 private:
  bool matches_at(std::string_view text, size_t pos, const AddedToken& token) const;

  std::vector<AddedToken> tokens_;
  std::vector<std::vector<uint32_t>> by_first_byte_;  // longest first
};

}  // namespace tessera::tokenizer
