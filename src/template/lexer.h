// Splits template source into tokens the way jinja2's lexer does with
// trim_blocks and lstrip_blocks on: text, {{ }} / {% %} delimiters and the
// expression tokens between them. Comments vanish; {% raw %} becomes text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::jinja {

enum class TokenType : uint8_t {
  kText,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEnd,
};

struct Token {
  TokenType type = TokenType::kEnd;
  std::string text;  // text, name, operator, or the decoded string literal
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
};

// Throws TemplateError(kSyntax) for unterminated tags, strings, comments.
std::vector<Token> tokenize(std::string_view source);

// Python's str.strip family with the default (Unicode whitespace) set.
std::string_view rstrip_whitespace(std::string_view s);

}  // namespace tessera::jinja
