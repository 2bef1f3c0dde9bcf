#include "unicode.h"

#include <algorithm>

#include <utf8proc.h>

#include "tessera/core/utf8.h"

namespace tessera::jinja::unicode {

std::u32string decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    }
    // An invalid byte becomes a lone surrogate (Python's "surrogateescape"),
    // which encode() turns back into the byte.
    const char32_t escaped = 0xDC00 + c;
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(escaped);
      ++i;
      continue;
    }
    char32_t cp = c & (0xFF >> (len + 1));
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      out.push_back(escaped);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append(std::string& out, char32_t c) {
  if (c >= 0xDC80 && c <= 0xDCFF)  // a byte that did not decode
    out.push_back(static_cast<char>(c - 0xDC00));
  else
    append_utf8(out, c);
}

std::string encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append(out, c);
  return out;
}

size_t length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  return decode(s).size();
}

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

bool is_space(char32_t c) {
  switch (c) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x1F:
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

static utf8proc_category_t category(char32_t c) {
  if (c > 0x10FFFF) return UTF8PROC_CATEGORY_CN;
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

bool is_printable(char32_t c) {
  if (c == ' ') return true;
  if (c < 0x7F) return c >= 0x20;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  switch (category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return true;
    default:
      return false;
  }
}

bool is_decimal(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return category(c) == UTF8PROC_CATEGORY_ND;
}

bool is_digit(char32_t c) {
  if (is_decimal(c)) return true;
  // Digits that are not decimal: superscripts, subscripts, circled digits.
  return c == 0xB2 || c == 0xB3 || c == 0xB9 || c == 0x2070 || (c >= 0x2074 && c <= 0x2079) ||
         (c >= 0x2080 && c <= 0x2089) || (c >= 0x2460 && c <= 0x2468);
}

bool is_alnum(char32_t c) {
  if (is_alpha(c) || is_digit(c)) return true;
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

bool is_word(char32_t c) { return c == '_' || is_alnum(c); }

bool is_upper(char32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z';
  return utf8proc_isupper(static_cast<utf8proc_int32_t>(c));
}

bool is_lower(char32_t c) {
  if (c < 0x80) return c >= 'a' && c <= 'z';
  return utf8proc_islower(static_cast<utf8proc_int32_t>(c));
}

bool is_cased(char32_t c) {
  return is_upper(c) || is_lower(c) || (c >= 0x80 && category(c) == UTF8PROC_CATEGORY_LT);
}

static void append_upper(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
  } else if (c == 0xDF) {  // sharp s has no single upper-case letter
    out += "SS";
  } else {
    append(out, static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))));
  }
}

static void append_lower(std::string& out, char32_t c) {
  if (c < 0x80)
    out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  else
    append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

static void append_title(std::string& out, char32_t c) {
  if (c < 0x80)
    out.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
  else
    append(out, static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c))));
}

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : decode(s)) append_upper(out, c);
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : decode(s)) append_lower(out, c);
  return out;
}

std::string swapcase(std::string_view s) {
  std::string out;
  for (char32_t c : decode(s)) {
    if (is_upper(c))
      append_lower(out, c);
    else if (is_lower(c))
      append_upper(out, c);
    else
      append(out, c);
  }
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool previous_cased = false;
  for (char32_t c : decode(s)) {
    if (previous_cased)
      append_lower(out, c);
    else
      append_title(out, c);
    previous_cased = is_cased(c);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool first = true;
  for (char32_t c : decode(s)) {
    if (first)
      append_title(out, c);
    else
      append_lower(out, c);
    first = false;
  }
  return out;
}

std::string strip(std::string_view s, const std::string* chars, bool left, bool right) {
  if (!chars) {
    // Fast path: both ends ASCII (whitespace runs, then an ASCII non-space).
    auto ascii_space = [](unsigned char c) {
      return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F);
    };
    size_t begin = 0, end = s.size();
    if (left)
      while (begin < end && ascii_space(static_cast<unsigned char>(s[begin]))) ++begin;
    if (right)
      while (end > begin && ascii_space(static_cast<unsigned char>(s[end - 1]))) --end;
    const bool ascii_edges =
        (begin == end) || ((!left || static_cast<unsigned char>(s[begin]) < 0x80) &&
                           (!right || static_cast<unsigned char>(s[end - 1]) < 0x80));
    if (ascii_edges) return std::string(s.substr(begin, end - begin));
  }
  std::u32string cs = decode(s);
  std::u32string set = chars ? decode(*chars) : std::u32string();
  auto strippable = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : is_space(c);
  };
  size_t begin = 0, end = cs.size();
  if (left)
    while (begin < end && strippable(cs[begin])) ++begin;
  if (right)
    while (end > begin && strippable(cs[end - 1])) --end;
  return encode(std::u32string_view(cs).substr(begin, end - begin));
}

static bool is_line_break(char32_t c) {
  switch (c) {
    case '\n':
    case '\r':
    case '\v':
    case '\f':
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x85:
    case 0x2028:
    case 0x2029:
      return true;
    default:
      return false;
  }
}

std::vector<std::string> splitlines(std::string_view s, bool keepends, size_t max_parts) {
  std::u32string cs = decode(s);
  std::vector<std::string> lines;
  size_t start = 0, i = 0;
  while (i < cs.size()) {
    if (!is_line_break(cs[i])) {
      ++i;
      continue;
    }
    size_t eol = i + ((cs[i] == '\r' && i + 1 < cs.size() && cs[i + 1] == '\n') ? 2 : 1);
    size_t end = keepends ? eol : i;
    if (lines.size() >= max_parts) throw TooManyParts{};
    lines.push_back(encode(std::u32string_view(cs).substr(start, end - start)));
    start = i = eol;
  }
  if (start < cs.size()) lines.push_back(encode(std::u32string_view(cs).substr(start)));
  return lines;
}

std::vector<std::string> split_whitespace(std::string_view s, int64_t maxsplit, bool from_right,
                                          size_t max_parts) {
  std::u32string cs = decode(s);
  std::vector<std::u32string> parts;
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < cs.size() && is_space(cs[i])) ++i;
      if (i >= cs.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t end = cs.size();
        while (end > i && is_space(cs[end - 1])) --end;
        parts.push_back(cs.substr(i, end - i));
        break;
      }
      size_t j = i;
      while (j < cs.size() && !is_space(cs[j])) ++j;
      if (parts.size() >= max_parts) throw TooManyParts{};
      parts.push_back(cs.substr(i, j - i));
      i = j;
    }
  } else {
    size_t i = cs.size();
    while (true) {
      while (i > 0 && is_space(cs[i - 1])) --i;
      if (i == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t begin = 0;
        while (begin < i && is_space(cs[begin])) ++begin;
        parts.push_back(cs.substr(begin, i - begin));
        break;
      }
      size_t j = i;
      while (j > 0 && !is_space(cs[j - 1])) --j;
      if (parts.size() >= max_parts) throw TooManyParts{};
      parts.push_back(cs.substr(j, i - j));
      i = j;
    }
    std::reverse(parts.begin(), parts.end());
  }
  std::vector<std::string> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.push_back(encode(p));
  return out;
}

}  // namespace tessera::jinja::unicode
