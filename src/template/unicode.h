// UTF-8 and the bits of Python's str semantics that depend on Unicode:
// strings are indexed, sliced and measured in code points, and strip(),
// split(), upper()... use Unicode character classes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::jinja::unicode {

// Decodes UTF-8; an invalid byte decodes as U+DC80..U+DCFF (Python's
// surrogateescape) so that encode(decode(s)) gives s back for any input.
std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);
void append(std::string& out, char32_t c);
size_t length(std::string_view s);  // in code points
bool is_ascii(std::string_view s);

bool is_space(char32_t c);      // str.isspace()
bool is_printable(char32_t c);  // str.isprintable()
bool is_alpha(char32_t c);
bool is_decimal(char32_t c);
bool is_digit(char32_t c);
bool is_alnum(char32_t c);
bool is_word(char32_t c);  // regex \w
bool is_upper(char32_t c);
bool is_lower(char32_t c);
bool is_cased(char32_t c);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);       // str.title()
std::string capitalize(std::string_view s);  // str.capitalize()
std::string swapcase(std::string_view s);

// str.strip([chars]) and friends; chars == nullptr strips whitespace.
std::string strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.splitlines(keepends). More than `max_parts` lines throws TooManyParts.
std::vector<std::string> splitlines(std::string_view s, bool keepends, size_t max_parts = SIZE_MAX);
// str.split(None, maxsplit): runs of whitespace, no empty parts.
std::vector<std::string> split_whitespace(std::string_view s, int64_t maxsplit, bool from_right,
                                          size_t max_parts = SIZE_MAX);
struct TooManyParts {};

}  // namespace tessera::jinja::unicode
