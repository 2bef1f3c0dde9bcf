// Expression parsing (jinja2's grammar and precedence) and the token
// helpers the statement parser in parser.cpp builds on.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "ast.h"
#include "lexer.h"
#include "tessera/template/template.h"

namespace tessera::jinja {

std::string describe(const Token& t);

// Sets a parser flag for the lifetime of a scope.
struct FlagScope {
  FlagScope(bool& flag, bool value) : flag_(flag), saved_(flag) { flag = value; }
  ~FlagScope() { flag_ = saved_; }
  bool& flag_;
  bool saved_;
};

class ExpressionParser {
 public:
  ExpressionParser(std::vector<Token> tokens, int max_nesting)
      : tokens_(std::move(tokens)), max_nesting_(max_nesting) {}

 protected:
  // --- token helpers ---
  const Token& current() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool is_op(const char* op) const {
    return current().type == TokenType::kOperator && current().text == op;
  }
  bool is_name(const char* name) const {
    return current().type == TokenType::kName && current().text == name;
  }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  [[noreturn]] void fail(const std::string& message, int line = -1) const {
    throw TemplateError(TemplateError::Reason::kSyntax,
                        fmt::format("template syntax error (line {}): {}",
                                    line < 0 ? current().line : line, message));
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(fmt::format("expected '{}', got '{}'", op, describe(current())));
  }
  void expect(TokenType type, const char* what) {
    if (current().type != type)
      fail(fmt::format("expected {}, got '{}'", what, describe(current())));
    next();
  }
  std::string expect_name() {
    if (current().type != TokenType::kName)
      fail(fmt::format("expected a name, got '{}'", describe(current())));
    return next().text;
  }

  struct DepthGuard {
    DepthGuard(ExpressionParser& p) : parser(p) {
      if (++parser.depth_ > parser.max_nesting_)
        parser.fail(fmt::format("template nesting deeper than {}", parser.max_nesting_));
    }
    ~DepthGuard() { --parser.depth_; }
    ExpressionParser& parser;
  };

  // --- expressions ---
  bool is_tuple_end(std::initializer_list<const char*> extra_end) const;
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens,
                      std::initializer_list<const char*> extra_end);
  ExprPtr parse_expression(bool with_condexpr);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_primary();
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  // One subscript: an expression, or a slice (which takes over `object`).
  ExprPtr parse_subscribed(ExprPtr& object, int line);
  ExprPtr parse_call(ExprPtr callee);
  void parse_call_args(CallArgExprs& args);
  std::string parse_dotted_name();
  ExprPtr parse_filter(ExprPtr node, bool start_inline);
  ExprPtr parse_test(ExprPtr node);

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int max_nesting_;
  int depth_ = 0;
  // Inside an {% if %} or a conditional expression (jinja2's "soft frame"):
  // an unknown filter or test fails only if it runs.
  bool soft_ = false;
  // Unknown filters/tests outside soft frames: errors unless an enclosing
  // conditional expression (seen only after its first operand) makes them soft.
  std::vector<std::pair<int, std::string>> pending_;
};

}  // namespace tessera::jinja
