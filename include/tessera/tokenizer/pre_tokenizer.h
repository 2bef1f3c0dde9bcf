// Splits text into the pieces ("words") BPE merges within, as a sequence of
// HF-style steps (regex splits with a delimiter behaviour, ByteLevel).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tessera/tokenizer/tokenizer_spec.h"

namespace tessera::tokenizer {

// The split GPT-2's ByteLevel pre-tokenizer applies (use_regex).
extern const char* const kGpt2Pattern;

struct TextSpan {
  size_t begin = 0;
  size_t end = 0;
};

class PreTokenizer {
 public:
  // Compiles every pattern; Error(kBadFile) names the one that fails.
  explicit PreTokenizer(const std::vector<PreTokenizerStep>& steps);
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Splits buffer[begin, end) (valid UTF-8) into pieces, appended to `out`
  // as byte ranges of `buffer`. A step that adds text (ByteLevel's prefix
  // space) appends the new piece to `buffer`, so ranges stay valid.
  void split(std::string& buffer, size_t begin, size_t end, std::vector<TextSpan>& out) const;
  // Convenience for tests: the pieces as strings.
  std::vector<std::string> split(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::tokenizer
