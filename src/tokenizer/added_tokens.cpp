#include "tessera/tokenizer/added_tokens.h"

#include <algorithm>
#include <cctype>

#include "utf8.h"

namespace tessera::tokenizer {
namespace {

// Unicode White_Space, what HF's lstrip / rstrip swallow.
bool is_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// Word characters for single_word: letters, digits, underscore (ASCII and
// any non-ASCII character that is not whitespace).
bool is_word_char(char32_t c) {
  if (c < 0x80) return std::isalnum(static_cast<int>(c)) || c == '_';
  return !is_whitespace(c);
}

char32_t char_before(std::string_view s, size_t pos, size_t& start) {
  size_t i = pos;
  while (i > 0) {
    --i;
    if ((static_cast<uint8_t>(s[i]) & 0xC0) != 0x80) break;
  }
  start = i;
  const size_t n = utf8::char_length(s, i);
  return n == 0 ? utf8::kInvalid : utf8::decode_at(s, i, n);
}

char32_t char_at(std::string_view s, size_t pos, size_t& len) {
  len = utf8::char_length(s, pos);
  if (len == 0) {
    len = 1;
    return utf8::kInvalid;
  }
  return utf8::decode_at(s, pos, len);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) : by_first_byte_(256) {
  for (const AddedToken& t : tokens)
    if (!t.content.empty()) tokens_.push_back(t);
  for (uint32_t i = 0; i < tokens_.size(); ++i)
    by_first_byte_[static_cast<uint8_t>(tokens_[i].content[0])].push_back(i);
  for (auto& list : by_first_byte_)
    std::stable_sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
}

bool AddedTokenMatcher::matches_at(std::string_view text, size_t pos,
                                   const AddedToken& token) const {
  if (text.compare(pos, token.content.size(), token.content) != 0) return false;
  if (!token.single_word) return true;
  size_t start = 0, len = 0;
  if (pos > 0 && is_word_char(char_before(text, pos, start))) return false;
  const size_t end = pos + token.content.size();
  if (end < text.size() && is_word_char(char_at(text, end, len))) return false;
  return true;
}

void AddedTokenMatcher::split(std::string_view text, bool parse_special,
                              std::vector<TextChunk>& out) const {
  out.clear();
  size_t text_start = 0;  // start of the pending text chunk
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* found = nullptr;
    for (uint32_t index : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      const AddedToken& t = tokens_[index];
      if (t.special && !parse_special) continue;
      if (matches_at(text, pos, t)) {
        found = &t;
        break;
      }
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos, end = pos + found->content.size();
    if (found->lstrip) {
      size_t start = 0;
      while (begin > text_start && is_whitespace(char_before(text, begin, start))) begin = start;
    }
    if (found->rstrip) {
      size_t len = 0;
      while (end < text.size() && is_whitespace(char_at(text, end, len))) end += len;
    }
    if (begin > text_start) out.push_back({text_start, begin, -1});
    out.push_back({begin, end, found->id});
    text_start = pos = end;
  }
  if (text_start < text.size()) out.push_back({text_start, text.size(), -1});
}

}  // namespace tessera::tokenizer
