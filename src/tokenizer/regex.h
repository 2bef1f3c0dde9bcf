// A compiled PCRE2 pattern (UTF + UCP, JIT when available) that finds
// matches in UTF-8 text without allocating per call.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tessera::tokenizer {

// `pattern` with \s and \S spelled out as Unicode White_Space (exposed for tests).
std::string with_explicit_whitespace(std::string_view pattern);

class Regex {
 public:
  // Throws Error(kBadFile) with PCRE2's message when `pattern` is invalid.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The first match at or after `start` in `subject` (valid UTF-8); false
  // when there is none. Lookarounds see only `subject`.
  bool find(std::string_view subject, size_t start, size_t& match_begin, size_t& match_end) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8
};

}  // namespace tessera::tokenizer
