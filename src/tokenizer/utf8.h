// Small UTF-8 helpers shared by the tokenizer sources.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::tokenizer::utf8 {

inline constexpr char32_t kInvalid = 0xFFFFFFFF;
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed character starting at s[i], or 0 when the bytes
// there are not one (bad lead byte, bad continuation, overlong, surrogate,
// beyond U+10FFFF, or cut off by the end of `s`).
size_t char_length(std::string_view s, size_t i);
// Like char_length, but tells a sequence that is merely cut off by the end
// of `s` (could still complete) from one that can never be valid: returns
// the number of bytes present of a possible prefix as a negative number.
int prefix_state(std::string_view s, size_t i);
// Decodes the character at s[i] (which char_length says is valid).
char32_t decode_at(std::string_view s, size_t i, size_t len);
void append(std::string& out, char32_t c);
bool is_valid(std::string_view s);
// Copies `s`, every byte that does not start a well-formed character
// replaced by U+FFFD (maximal-subpart replacement, like most decoders).
std::string make_valid(std::string_view s);
// Byte offset after the last complete character, counting bytes that can
// never complete as complete (they will be replaced). Bytes after it form
// an incomplete but possibly valid prefix.
size_t complete_prefix(std::string_view s);

}  // namespace tessera::tokenizer::utf8
