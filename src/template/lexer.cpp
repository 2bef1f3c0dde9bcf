// The rules follow jinja2's lexer (3.1) with trim_blocks=True and
// lstrip_blocks=True:
//  - line endings become "\n" and one trailing newline of the source is
//    dropped (keep_trailing_newline=False);
//  - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`,
//    `-#}` strip all whitespace after it;
//  - lstrip_blocks: whitespace between a line start and `{%` / `{#` goes,
//    unless the tag opens with `+`;
//  - trim_blocks: one newline right after `%}` / `#}` goes, unless `+%}`;
//  - end delimiters only count while brackets are balanced, so
//    `{{ {'a': 1}}}` works.
#include "lexer.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "tessera/template/template.h"
#include "unicode.h"

namespace tessera::jinja {

namespace {

[[noreturn]] void syntax_error(int line, const std::string& message) {
  throw TemplateError(TemplateError::Reason::kSyntax,
                      fmt::format("template syntax error (line {}): {}", line, message));
}

std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

int count_newlines(std::string_view s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Python's `\s*` at `pos` on a str: Unicode whitespace.
size_t skip_whitespace(std::string_view s, size_t pos) {
  while (pos < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[pos]);
    if (c < 0x80) {
      if (!is_ascii_space(static_cast<char>(c)) && !(c >= 0x1C && c <= 0x1F)) break;
      ++pos;
      continue;
    }
    // Multi-byte: decode one code point.
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (pos + len > s.size()) break;
    std::u32string cp = unicode::decode(s.substr(pos, len));
    if (cp.size() != 1 || !unicode::is_space(cp[0])) break;
    pos += len;
  }
  return pos;
}

// Decodes the body of a string literal like Python's "unicode-escape" codec
// (which jinja2 applies to literals).
std::string decode_string_literal(std::string_view body, int line) {
  std::string out;
  out.reserve(body.size());
  auto hex_value = [&](size_t pos, size_t count) -> char32_t {
    if (pos + count > body.size()) syntax_error(line, "truncated escape in string literal");
    char32_t v = 0;
    for (size_t k = 0; k < count; ++k) {
      char c = body[pos + k];
      int d = is_digit(c)              ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) syntax_error(line, "truncated escape in string literal");
      v = v * 16 + static_cast<char32_t>(d);
    }
    return v;
  };
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out.push_back(c);
      continue;
    }
    char e = body[++i];
    switch (e) {
      case '\n':
        break;  // line continuation
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
        out.push_back('\'');
        break;
      case '"':
        out.push_back('"');
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x':
        unicode::append(out, hex_value(i + 1, 2));
        i += 2;
        break;
      case 'u':
        unicode::append(out, hex_value(i + 1, 4));
        i += 4;
        break;
      case 'U': {
        char32_t v = hex_value(i + 1, 8);
        if (v > 0x10FFFF) syntax_error(line, "illegal Unicode character in string literal");
        unicode::append(out, v);
        i += 8;
        break;
      }
      case 'N':
        syntax_error(line, "\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          char32_t v = static_cast<char32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7';
               ++k)
            v = v * 8 + static_cast<char32_t>(body[++i] - '0');
          unicode::append(out, v);
        } else {  // unknown escapes stay as written
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }
  return out;
}

// Operators, longest first so that `//` wins over `/`.
constexpr const char* kOperators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/",
                                      "*",  "%",  "~",  "[",  "]",  "(",  ")", "{", "}",
                                      ">",  "<",  "=",  ".",  ":",  "|",  ",", ";"};

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {}

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      size_t tag = find_tag(pos);
      if (tag == std::string::npos) {
        emit_text(std::string_view(src_).substr(pos));
        break;
      }
      char kind = src_[tag + 1];
      size_t after = tag + 2;
      char sign =
          (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) ? src_[after] : 0;
      size_t raw_end = kind == '%' ? match_raw_begin(tag) : std::string::npos;
      std::string_view text = std::string_view(src_).substr(pos, tag - pos);
      emit_text(strip_before_tag(text, sign, kind != '{', line_starting));
      line_ += count_newlines(std::string_view(src_).substr(pos, tag - pos));
      if (sign) ++after;
      if (raw_end != std::string::npos) {
        line_ += count_newlines(std::string_view(src_).substr(tag, raw_end - tag));
        pos = lex_raw_body(raw_end, line_starting);
      } else if (kind == '#') {
        pos = lex_comment(after, line_starting);
      } else {
        pos = lex_tag(kind, after, line_starting);
      }
    }
    Token end;
    end.type = TokenType::kEnd;
    end.line = line_;
    tokens_.push_back(end);
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t pos) const {
    while (true) {
      size_t p = src_.find('{', pos);
      if (p == std::string::npos || p + 1 >= src_.size()) return std::string::npos;
      char next = src_[p + 1];
      if (next == '{' || next == '%' || next == '#') return p;
      pos = p + 1;
    }
  }

  // Whitespace control for the text in front of a tag.
  static std::string_view strip_before_tag(std::string_view text, char sign, bool is_block,
                                           bool line_starting) {
    if (sign == '-') return rstrip_whitespace(text);
    if (sign == '+' || !is_block) return text;
    size_t line_start = text.rfind('\n');
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    if (line_start == 0 && !line_starting) return text;
    // Only (Unicode) whitespace between the line start and the tag.
    if (rstrip_whitespace(text.substr(line_start)).empty()) return text.substr(0, line_start);
    return text;
  }

  void emit_text(std::string_view text) {
    if (text.empty()) return;
    Token t;
    t.type = TokenType::kText;
    t.text = std::string(text);
    t.line = line_;
    tokens_.push_back(std::move(t));
  }

  void emit(TokenType type, int line, std::string text = {}) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    t.line = line;
    tokens_.push_back(std::move(t));
  }

  // `{%[-+]?\s*raw\s*(-%}\s*|%})` at `tag`: returns the position after it.
  size_t match_raw_begin(size_t tag) const {
    size_t p = tag + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    p = skip_whitespace(src_, p);
    if (src_.compare(p, 3, "raw") != 0) return std::string::npos;
    p = skip_whitespace(src_, p + 3);
    if (src_.compare(p, 3, "-%}") == 0) return skip_whitespace(src_, p + 3);
    if (src_.compare(p, 2, "%}") == 0) return p + 2;
    return std::string::npos;
  }

  size_t lex_raw_body(size_t pos, bool& line_starting) {
    size_t search = pos;
    while (true) {
      size_t tag = src_.find("{%", search);
      if (tag == std::string::npos) syntax_error(line_, "missing end of raw directive");
      size_t p = tag + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      p = skip_whitespace(src_, p);
      if (src_.compare(p, 6, "endraw") != 0) {
        search = tag + 2;
        continue;
      }
      p = skip_whitespace(src_, p + 6);
      size_t end;
      if (src_.compare(p, 3, "+%}") == 0)
        end = p + 3;
      else if (src_.compare(p, 3, "-%}") == 0)
        end = skip_whitespace(src_, p + 3);
      else if (src_.compare(p, 2, "%}") == 0)
        end = p + 2 + (p + 2 < src_.size() && src_[p + 2] == '\n');
      else {
        search = tag + 2;
        continue;
      }
      std::string_view text = std::string_view(src_).substr(pos, tag - pos);
      emit_text(strip_before_tag(text, sign, true, line_starting));
      line_ += count_newlines(std::string_view(src_).substr(pos, end - pos));
      line_starting = src_[end - 1] == '\n';
      return end;
    }
  }

  size_t lex_comment(size_t content_start, bool& line_starting) {
    size_t close = src_.find("#}", content_start);
    if (close == std::string::npos) syntax_error(line_, "missing end of comment tag");
    size_t end = close + 2;
    char sign = close > content_start ? src_[close - 1] : 0;
    if (sign == '-')
      end = skip_whitespace(src_, end);
    else if (sign != '+' && end < src_.size() && src_[end] == '\n')
      ++end;
    line_ += count_newlines(std::string_view(src_).substr(content_start, end - content_start));
    line_starting = src_[end - 1] == '\n';
    return end;
  }

  // Expression tokens up to the end delimiter of a {{ }} or {% %} tag.
  size_t lex_tag(char kind, size_t pos, bool& line_starting) {
    const bool block = kind == '%';
    emit(block ? TokenType::kBlockBegin : TokenType::kVariableBegin, line_);
    const int tag_line = line_;
    std::vector<char> brackets;
    while (true) {
      if (pos >= src_.size())
        syntax_error(tag_line, block ? "unexpected end of template in a {% %} tag"
                                     : "unexpected end of template in a {{ }} tag");
      if (brackets.empty()) {
        size_t end = match_tag_end(block, pos);
        if (end != std::string::npos) {
          emit(block ? TokenType::kBlockEnd : TokenType::kVariableEnd, line_);
          line_ += count_newlines(std::string_view(src_).substr(pos, end - pos));
          line_starting = src_[end - 1] == '\n';
          return end;
        }
      }
      char c = src_[pos];
      size_t ws = skip_whitespace(src_, pos);
      if (ws > pos) {
        line_ += count_newlines(std::string_view(src_).substr(pos, ws - pos));
        pos = ws;
        continue;
      }
      if (is_digit(c)) {
        pos = lex_number(pos);
      } else if (is_name_start(c)) {
        size_t e = pos;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        emit(TokenType::kName, line_, src_.substr(pos, e - pos));
        pos = e;
      } else if (c == '\'' || c == '"') {
        pos = lex_string(pos);
      } else {
        pos = lex_operator(pos, brackets);
      }
    }
  }

  size_t match_tag_end(bool block, size_t pos) const {
    const char* close = block ? "%}" : "}}";
    if (src_[pos] == '-' && src_.compare(pos + 1, 2, close) == 0)
      return skip_whitespace(src_, pos + 3);
    if (block && src_[pos] == '+' && src_.compare(pos + 1, 2, close) == 0) return pos + 3;
    if (src_.compare(pos, 2, close) == 0) {
      size_t end = pos + 2;
      if (block && end < src_.size() && src_[end] == '\n') ++end;
      return end;
    }
    return std::string::npos;
  }

  size_t lex_number(size_t pos) {
    // digits with optional single underscores between them
    auto digits = [&](size_t p) -> size_t {
      if (p >= src_.size() || !is_digit(src_[p])) return std::string::npos;
      while (p < src_.size()) {
        if (is_digit(src_[p])) {
          ++p;
        } else if (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1])) {
          ++p;
        } else {
          break;
        }
      }
      return p;
    };
    const bool after_dot = pos > 0 && src_[pos - 1] == '.';
    size_t int_end = digits(pos);
    // float: digits ((.digits)? e[+-]?digits | .digits), never right after a dot
    if (!after_dot) {
      size_t p = int_end;
      size_t frac_end = std::string::npos;
      if (p < src_.size() && src_[p] == '.') frac_end = digits(p + 1);
      size_t q = frac_end != std::string::npos ? frac_end : p;
      size_t exp_end = std::string::npos;
      if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
        size_t r = q + 1;
        if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
        exp_end = digits(r);
      }
      size_t end = exp_end != std::string::npos ? exp_end : frac_end;
      if (end != std::string::npos) {
        std::string text;
        for (size_t i = pos; i < end; ++i)
          if (src_[i] != '_') text.push_back(src_[i]);
        Token t;
        t.type = TokenType::kFloat;
        t.float_value = std::strtod(text.c_str(), nullptr);
        t.text = text;
        t.line = line_;
        tokens_.push_back(std::move(t));
        return end;
      }
    }
    // integer: 0b / 0o / 0x prefixes, or decimal
    int base = 10;
    size_t start = pos, end = int_end;
    if (src_[pos] == '0' && pos + 1 < src_.size()) {
      char p = static_cast<char>(src_[pos + 1] | 0x20);
      base = p == 'b' ? 2 : p == 'o' ? 8 : p == 'x' ? 16 : 10;
      if (base != 10) {
        start = pos + 2;
        end = start;
        while (end < src_.size()) {
          char d = static_cast<char>(src_[end] | 0x20);
          int v = is_digit(d) ? d - '0' : (d >= 'a' && d <= 'f') ? d - 'a' + 10 : 99;
          if (src_[end] == '_' || v < base)
            ++end;
          else
            break;
        }
        if (end == start) {  // "0x" without digits: just the integer 0
          base = 10;
          start = pos;
          end = pos + 1;
        }
      } else {
        // "0", "00", "0_0": a decimal zero never has other leading digits
        end = pos + 1;
        while (end < src_.size() &&
               (src_[end] == '0' ||
                (src_[end] == '_' && end + 1 < src_.size() && src_[end + 1] == '0')))
          ++end;
      }
    }
    std::string digits_text;
    for (size_t i = start; i < end; ++i)
      if (src_[i] != '_') digits_text.push_back(src_[i]);
    int64_t value = 0;
    auto [ptr, ec] =
        std::from_chars(digits_text.data(), digits_text.data() + digits_text.size(), value, base);
    if (ec != std::errc()) syntax_error(line_, "integer literal too large: " + digits_text);
    Token t;
    t.type = TokenType::kInteger;
    t.int_value = value;
    t.text = src_.substr(pos, end - pos);
    t.line = line_;
    tokens_.push_back(std::move(t));
    return end;
  }

  size_t lex_string(size_t pos) {
    char quote = src_[pos];
    size_t p = pos + 1;
    while (p < src_.size() && src_[p] != quote) {
      if (src_[p] == '\\') ++p;
      ++p;
    }
    if (p >= src_.size()) syntax_error(line_, "unterminated string literal");
    std::string_view body = std::string_view(src_).substr(pos + 1, p - pos - 1);
    Token t;
    t.type = TokenType::kString;
    t.text = decode_string_literal(body, line_);
    t.line = line_;
    tokens_.push_back(std::move(t));
    line_ += count_newlines(body);
    return p + 1;
  }

  size_t lex_operator(size_t pos, std::vector<char>& brackets) {
    for (const char* op : kOperators) {
      size_t len = std::strlen(op);
      if (src_.compare(pos, len, op) != 0) continue;
      char c = op[0];
      if (len == 1 && (c == '(' || c == '[' || c == '{')) {
        brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (len == 1 && (c == ')' || c == ']' || c == '}')) {
        if (brackets.empty()) syntax_error(line_, fmt::format("unexpected '{}'", c));
        if (brackets.back() != c)
          syntax_error(line_, fmt::format("unexpected '{}', expected '{}'", c, brackets.back()));
        brackets.pop_back();
      }
      emit(TokenType::kOperator, line_, op);
      return pos + len;
    }
    unsigned char c = static_cast<unsigned char>(src_[pos]);
    if (c >= 0x20 && c < 0x7F) syntax_error(line_, fmt::format("unexpected char '{}'", src_[pos]));
    syntax_error(line_, fmt::format("unexpected byte 0x{:02x}", static_cast<int>(c)));
  }

  std::string src_;
  std::vector<Token> tokens_;
  int line_ = 1;
};

}  // namespace

std::string_view rstrip_whitespace(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    unsigned char c = static_cast<unsigned char>(s[end - 1]);
    if (c < 0x80) {
      if (is_ascii_space(static_cast<char>(c)) || (c >= 0x1C && c <= 0x1F)) {
        --end;
        continue;
      }
      break;
    }
    // find the start of the last code point
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 4)
      --start;
    std::u32string cp = unicode::decode(s.substr(start, end - start));
    if (cp.size() != 1 || !unicode::is_space(cp[0])) break;
    end = start;
  }
  return s.substr(0, end);
}

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace tessera::jinja
