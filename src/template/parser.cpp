#include "parser.h"

#include <algorithm>
#include <initializer_list>

#include "builtins.h"
#include "lexer.h"
#include "tessera/template/template.h"

namespace tessera::jinja {

namespace {

std::string describe(const Token& t) {
  switch (t.type) {
    case TokenType::kText:
      return "template text";
    case TokenType::kVariableBegin:
      return "begin of print statement";
    case TokenType::kVariableEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kEnd:
      return "end of template";
    default:
      return t.text;
  }
}

// Sets a parser flag for the lifetime of a scope.
struct FlagScope {
  FlagScope(bool& flag, bool value) : flag_(flag), saved_(flag) { flag = value; }
  ~FlagScope() { flag_ = saved_; }
  bool& flag_;
  bool saved_;
};

class Parser {
 public:
  Parser(std::vector<Token> tokens, int max_nesting)
      : tokens_(std::move(tokens)), max_nesting_(max_nesting) {}

  Body parse_all() {
    Body body = subparse({});
    if (!pending_.empty()) fail(pending_.front().second, pending_.front().first);
    return body;
  }

 private:
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
    DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > parser.max_nesting_)
        parser.fail(fmt::format("template nesting deeper than {}", parser.max_nesting_));
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };

  // --- statements ---

  // Parses until a {% tag %} named in `end_tags`; stops with that name as
  // the current token (the caller consumes it).
  Body subparse(std::initializer_list<const char*> end_tags) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& t = current();
      switch (t.type) {
        case TokenType::kText:
          body.push_back(std::make_unique<TextStmt>(t.text, t.line));
          next();
          break;
        case TokenType::kVariableBegin: {
          int line = next().line;
          ExprPtr e = parse_tuple(true, false, {});
          expect(TokenType::kVariableEnd, "end of print statement");
          body.push_back(std::make_unique<OutputStmt>(std::move(e), line));
          break;
        }
        case TokenType::kBlockBegin: {
          next();
          if (current().type == TokenType::kName)
            for (const char* tag : end_tags)
              if (current().text == tag) return body;
          body.push_back(parse_statement());
          expect(TokenType::kBlockEnd, "end of statement block");
          break;
        }
        case TokenType::kEnd:
          if (end_tags.size() != 0) {
            std::string wanted;
            for (const char* tag : end_tags)
              wanted += (wanted.empty() ? "'" : " or '") + std::string(tag) + "'";
            fail(fmt::format("unexpected end of template, expected {}", wanted));
          }
          return body;
        default:
          fail(fmt::format("unexpected '{}'", describe(t)));
      }
    }
  }

  // After the opening tag's own tokens: `%}`, the body, then the end tag's
  // name (consumed when `drop_needle`).
  Body parse_statements(std::initializer_list<const char*> end_tags, bool drop_needle) {
    skip_op(":");
    expect(TokenType::kBlockEnd, "end of statement block");
    Body body = subparse(end_tags);
    if (drop_needle) next();
    return body;
  }

  StmtPtr parse_statement() {
    const Token& t = current();
    if (t.type != TokenType::kName) fail("tag name expected");
    const std::string& name = t.text;
    int line = t.line;
    if (name == "if") return parse_if();
    if (name == "for") return parse_for();
    if (name == "set") return parse_set();
    if (name == "macro") return parse_macro();
    if (name == "call") return parse_call_block();
    if (name == "filter") return parse_filter_block();
    if (name == "with") return parse_with();
    if (name == "generation") {
      next();
      auto s = std::make_unique<ScopeStmt>(line);
      s->body = parse_statements({"endgeneration"}, true);
      return s;
    }
    if (name == "print") {
      next();
      return std::make_unique<OutputStmt>(parse_tuple(true, false, {}), line);
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail(fmt::format("'{}' outside of a loop", name));
      next();
      return std::make_unique<SimpleStmt>(
          name == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, line);
    }
    if (name == "include" || name == "import" || name == "from" || name == "extends" ||
        name == "block")
      fail(fmt::format("'{}' is not supported: chat templates have no other templates to load",
                       name));
    fail(fmt::format("encountered unknown tag '{}'", name));
  }

  StmtPtr parse_if() {
    auto node = std::make_unique<IfStmt>(next().line);
    FlagScope soft(soft_, true);
    while (true) {
      ExprPtr test = parse_tuple(false, false, {});
      Body body = parse_statements({"elif", "else", "endif"}, false);
      node->branches.emplace_back(std::move(test), std::move(body));
      std::string tag = next().text;
      if (tag == "elif") continue;
      if (tag == "else") node->otherwise = parse_statements({"endif"}, true);
      break;
    }
    return node;
  }

  StmtPtr parse_for() {
    auto node = std::make_unique<ForStmt>(next().line);
    node->target = parse_assign_target(false, {"in"});
    if (!skip_name("in")) fail(fmt::format("expected 'in', got '{}'", describe(current())));
    node->iterable = parse_tuple(false, false, {"recursive", "if"});
    if (skip_name("if")) node->filter = parse_expression(true);
    if (skip_name("recursive")) fail("recursive loops are not supported");
    FlagScope hard(soft_, false);
    ++loop_depth_;
    node->body = parse_statements({"endfor", "else"}, false);
    --loop_depth_;
    if (next().text == "else") node->otherwise = parse_statements({"endfor"}, true);
    return node;
  }

  StmtPtr parse_set() {
    int line = next().line;
    Target target = parse_assign_target(true, {});
    if (skip_op("=")) {
      auto node = std::make_unique<SetStmt>(line);
      node->target = std::move(target);
      node->value = parse_tuple(true, false, {});
      return node;
    }
    auto node = std::make_unique<SetBlockStmt>(line);
    if (target.tuple || !target.attr.empty()) fail("a block set needs a plain name");
    node->target = std::move(target);
    if (is_op("|")) node->filter = parse_filter(std::make_unique<BlockValueExpr>(line), false);
    FlagScope hard(soft_, false);
    node->body = parse_statements({"endset"}, true);
    return node;
  }

  std::vector<MacroParam> parse_signature() {
    std::vector<MacroParam> params;
    expect_op("(");
    bool defaults = false;
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      MacroParam p;
      p.name = expect_name();
      if (skip_op("=")) {
        p.default_value = parse_expression(true);
        defaults = true;
      } else if (defaults) {
        fail("non-default argument follows default argument");
      }
      params.push_back(std::move(p));
    }
    expect_op(")");
    return params;
  }

  StmtPtr parse_macro() {
    auto node = std::make_unique<MacroStmt>(next().line);
    FlagScope hard(soft_, false);
    node->name = expect_name();
    node->params = parse_signature();
    int saved = loop_depth_;
    loop_depth_ = 0;
    node->body = parse_statements({"endmacro"}, true);
    loop_depth_ = saved;
    return node;
  }

  StmtPtr parse_call_block() {
    auto node = std::make_unique<CallBlockStmt>(next().line);
    FlagScope hard(soft_, false);
    if (is_op("(")) node->caller_params = parse_signature();
    node->call = parse_expression(true);
    if (node->call->kind != Expr::Kind::kCall) fail("expected a call after 'call'", node->line);
    int saved = loop_depth_;
    loop_depth_ = 0;
    node->body = parse_statements({"endcall"}, true);
    loop_depth_ = saved;
    return node;
  }

  StmtPtr parse_filter_block() {
    auto node = std::make_unique<FilterBlockStmt>(next().line);
    FlagScope hard(soft_, false);
    node->filter = parse_filter(std::make_unique<BlockValueExpr>(node->line), true);
    node->body = parse_statements({"endfilter"}, true);
    return node;
  }

  StmtPtr parse_with() {
    auto node = std::make_unique<WithStmt>(next().line);
    while (current().type != TokenType::kBlockEnd) {
      if (!node->assignments.empty()) expect_op(",");
      Target target = parse_assign_target(false, {});
      expect_op("=");
      node->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    FlagScope hard(soft_, false);
    node->body = parse_statements({"endwith"}, true);
    return node;
  }

  // name | name.attr (with_namespace) | name, name | (name, name)
  Target parse_assign_target(bool with_namespace, std::initializer_list<const char*> end_names) {
    Target target;
    if (with_namespace && current().type == TokenType::kName &&
        look().type == TokenType::kOperator && look().text == ".") {
      target.names.push_back(next().text);
      next();
      target.attr = expect_name();
      return target;
    }
    bool parens = skip_op("(");
    while (true) {
      if (current().type != TokenType::kName)
        fail(fmt::format("can't assign to '{}'", describe(current())));
      std::string name = next().text;
      if (name == "true" || name == "false" || name == "none" || name == "True" ||
          name == "False" || name == "None")
        fail(fmt::format("can't assign to '{}'", name));
      target.names.push_back(name);
      if (!is_op(",")) break;
      next();
      target.tuple = true;
      bool end = is_op(")") || is_op("=") || current().type == TokenType::kBlockEnd;
      for (const char* n : end_names) end = end || is_name(n);
      if (end) break;
    }
    if (parens) {
      expect_op(")");
      target.tuple = true;
    }
    return target;
  }

  // --- expressions ---

  bool is_tuple_end(std::initializer_list<const char*> extra_end) const {
    const Token& t = current();
    if (t.type == TokenType::kVariableEnd || t.type == TokenType::kBlockEnd ||
        t.type == TokenType::kEnd)
      return true;
    if (t.type == TokenType::kOperator && t.text == ")") return true;
    if (t.type == TokenType::kName)
      for (const char* n : extra_end)
        if (t.text == n) return true;
    return false;
  }

  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens,
                      std::initializer_list<const char*> extra_end) {
    int line = current().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) expect_op(",");
      if (is_tuple_end(extra_end)) break;
      items.push_back(parse_expression(with_condexpr));
      if (is_op(","))
        is_tuple = true;
      else
        break;
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens)
        fail(fmt::format("expected an expression, got '{}'", describe(current())));
    }
    auto node = std::make_unique<ListExpr>(true, line);
    node->items = std::move(items);
    return node;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    return with_condexpr ? parse_condexpr() : parse_or();
  }

  ExprPtr parse_condexpr() {
    int line = current().line;
    const size_t mark = pending_.size();
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      next();
      pending_.resize(mark);  // the whole conditional expression is soft
      FlagScope soft(soft_, true);
      auto cond = std::make_unique<ConditionExpr>(line);
      cond->then = std::move(expr);
      cond->condition = parse_or();
      if (skip_name("else")) cond->otherwise = parse_condexpr();
      expr = std::move(cond);
    }
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      int line = next().line;
      left = std::make_unique<BinaryExpr>(BinaryOp::kOr, std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      int line = next().line;
      left = std::make_unique<BinaryExpr>(BinaryOp::kAnd, std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      int line = next().line;
      return std::make_unique<UnaryExpr>(UnaryOp::kNot, parse_not(), line);
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = current().line;
    ExprPtr expr = parse_math1();
    std::unique_ptr<CompareExpr> cmp;
    while (true) {
      CompareOp op;
      if (is_op("=="))
        op = CompareOp::kEq;
      else if (is_op("!="))
        op = CompareOp::kNe;
      else if (is_op("<"))
        op = CompareOp::kLt;
      else if (is_op("<="))
        op = CompareOp::kLe;
      else if (is_op(">"))
        op = CompareOp::kGt;
      else if (is_op(">="))
        op = CompareOp::kGe;
      else if (is_name("in"))
        op = CompareOp::kIn;
      else if (is_name("not") && look().type == TokenType::kName && look().text == "in") {
        next();
        op = CompareOp::kNotIn;
      } else {
        break;
      }
      next();
      if (!cmp) cmp = std::make_unique<CompareExpr>(std::move(expr), line);
      cmp->rest.emplace_back(op, parse_math1());
    }
    if (cmp) return cmp;
    return expr;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      BinaryOp op = current().text == "+" ? BinaryOp::kAdd : BinaryOp::kSub;
      int line = next().line;
      left = std::make_unique<BinaryExpr>(op, std::move(left), parse_concat(), line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      int line = next().line;
      left = std::make_unique<BinaryExpr>(BinaryOp::kConcat, std::move(left), parse_math2(), line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string& t = current().text;
      BinaryOp op = t == "*"    ? BinaryOp::kMul
                    : t == "/"  ? BinaryOp::kDiv
                    : t == "//" ? BinaryOp::kFloorDiv
                                : BinaryOp::kMod;
      int line = next().line;
      left = std::make_unique<BinaryExpr>(op, std::move(left), parse_pow(), line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      int line = next().line;
      left = std::make_unique<BinaryExpr>(BinaryOp::kPow, std::move(left), parse_unary(true), line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    int line = current().line;
    ExprPtr node;
    if (skip_op("-"))
      node = std::make_unique<UnaryExpr>(UnaryOp::kNeg, parse_unary(false), line);
    else if (skip_op("+"))
      node = std::make_unique<UnaryExpr>(UnaryOp::kPos, parse_unary(false), line);
    else
      node = parse_primary();
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& t = current();
    int line = t.line;
    switch (t.type) {
      case TokenType::kName: {
        std::string name = next().text;
        if (name == "true" || name == "True")
          return std::make_unique<LiteralExpr>(Value::boolean(true), line);
        if (name == "false" || name == "False")
          return std::make_unique<LiteralExpr>(Value::boolean(false), line);
        if (name == "none" || name == "None")
          return std::make_unique<LiteralExpr>(Value::none(), line);
        return std::make_unique<NameExpr>(std::move(name), line);
      }
      case TokenType::kString: {
        std::string s = next().text;
        while (current().type == TokenType::kString) s += next().text;
        return std::make_unique<LiteralExpr>(Value::string(std::move(s)), line);
      }
      case TokenType::kInteger:
        return std::make_unique<LiteralExpr>(Value::integer(next().int_value), line);
      case TokenType::kFloat:
        return std::make_unique<LiteralExpr>(Value::number(next().float_value), line);
      case TokenType::kOperator:
        if (t.text == "(") {
          next();
          ExprPtr e = parse_tuple(true, true, {});
          expect_op(")");
          return e;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      default:
        break;
    }
    fail(fmt::format("unexpected '{}'", describe(t)));
  }

  ExprPtr parse_list() {
    auto node = std::make_unique<ListExpr>(false, next().line);
    while (!is_op("]")) {
      if (!node->items.empty()) expect_op(",");
      if (is_op("]")) break;
      node->items.push_back(parse_expression(true));
    }
    expect_op("]");
    return node;
  }

  ExprPtr parse_dict() {
    auto node = std::make_unique<DictExpr>(next().line);
    while (!is_op("}")) {
      if (!node->items.empty()) expect_op(",");
      if (is_op("}")) break;
      ExprPtr key = parse_expression(true);
      expect_op(":");
      node->items.emplace_back(std::move(key), parse_expression(true));
    }
    expect_op("}");
    return node;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("["))
        node = parse_subscript(std::move(node));
      else if (is_op("("))
        node = parse_call(std::move(node));
      else
        return node;
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|"))
        node = parse_filter(std::move(node), false);
      else if (is_name("is"))
        node = parse_test(std::move(node));
      else if (is_op("("))
        node = parse_call(std::move(node));
      else
        return node;
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    int line = current().line;
    if (skip_op(".")) {
      if (current().type == TokenType::kName)
        return std::make_unique<GetAttrExpr>(std::move(node), next().text, line);
      if (current().type == TokenType::kInteger)
        return std::make_unique<GetItemExpr>(
            std::move(node), std::make_unique<LiteralExpr>(Value::integer(next().int_value), line),
            line);
      fail(fmt::format("expected a name or number after '.', got '{}'", describe(current())));
    }
    expect_op("[");
    std::vector<ExprPtr> keys;
    while (!is_op("]")) {
      if (!keys.empty()) expect_op(",");
      keys.push_back(parse_subscribed(node, line));
      if (keys.back()->kind == Expr::Kind::kSlice) {
        expect_op("]");
        return std::move(keys.back());
      }
    }
    expect_op("]");
    if (keys.empty()) fail("empty subscript");
    ExprPtr key;
    if (keys.size() == 1) {
      key = std::move(keys[0]);
    } else {
      auto tuple = std::make_unique<ListExpr>(true, line);
      tuple->items = std::move(keys);
      key = std::move(tuple);
    }
    return std::make_unique<GetItemExpr>(std::move(node), std::move(key), line);
  }

  // One subscript: an expression, or a slice (which takes over `object`).
  ExprPtr parse_subscribed(ExprPtr& object, int line) {
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (!is_op(":")) return start;
    }
    next();  // ':'
    auto slice = std::make_unique<SliceExpr>(line);
    slice->start = std::move(start);
    if (!is_op(":") && !is_op("]") && !is_op(",")) slice->stop = parse_expression(true);
    if (skip_op(":"))
      if (!is_op("]") && !is_op(",")) slice->step = parse_expression(true);
    slice->object = std::move(object);
    return slice;
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto node = std::make_unique<CallExpr>(std::move(callee), current().line);
    parse_call_args(node->args);
    return node;
  }

  void parse_call_args(CallArgExprs& args) {
    expect_op("(");
    bool need_comma = false;
    while (!is_op(")")) {
      if (need_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (skip_op("*")) {
        if (args.star || args.starstar) fail("invalid syntax for function call expression");
        args.star = parse_expression(true);
      } else if (skip_op("**")) {
        if (args.starstar) fail("invalid syntax for function call expression");
        args.starstar = parse_expression(true);
      } else if (current().type == TokenType::kName && look().type == TokenType::kOperator &&
                 look().text == "=") {
        if (args.starstar) fail("invalid syntax for function call expression");
        std::string key = next().text;
        next();
        args.keyword.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (args.star || args.starstar || !args.keyword.empty())
          fail("positional argument follows keyword argument");
        args.positional.push_back(parse_expression(true));
      }
      need_comma = true;
    }
    expect_op(")");
  }

  std::string parse_dotted_name() {
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name.push_back('.');
      name += expect_name();
    }
    return name;
  }

  ExprPtr parse_filter(ExprPtr node, bool start_inline) {
    while (is_op("|") || start_inline) {
      if (!start_inline) next();
      start_inline = false;
      int line = current().line;
      std::string name = parse_dotted_name();
      if (!filter_exists(name) && !soft_)
        pending_.emplace_back(line, fmt::format("no filter named '{}'", name));
      auto f = std::make_unique<FilterExpr>(std::move(node), std::move(name), line);
      if (is_op("(")) parse_call_args(f->args);
      node = std::move(f);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    int line = next().line;  // 'is'
    bool negated = skip_name("not");
    std::string name = parse_dotted_name();
    if (!test_exists(name) && !soft_)
      pending_.emplace_back(line, fmt::format("no test named '{}'", name));
    auto test = std::make_unique<TestExpr>(std::move(node), std::move(name), line);
    const Token& t = current();
    if (is_op("(")) {
      parse_call_args(test->args);
    } else if ((t.type == TokenType::kName || t.type == TokenType::kString ||
                t.type == TokenType::kInteger || t.type == TokenType::kFloat || is_op("[") ||
                is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("you cannot chain multiple tests with is");
      test->args.positional.push_back(parse_postfix(parse_primary()));
    }
    if (negated) return std::make_unique<UnaryExpr>(UnaryOp::kNot, std::move(test), line);
    return test;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int max_nesting_;
  int depth_ = 0;
  int loop_depth_ = 0;
  // Inside an {% if %} or a conditional expression (jinja2's "soft frame"):
  // an unknown filter or test fails only if it runs.
  bool soft_ = false;
  // Unknown filters/tests outside soft frames: errors unless an enclosing
  // conditional expression (seen only after its first operand) makes them soft.
  std::vector<std::pair<int, std::string>> pending_;
};

}  // namespace

Body parse_template(std::string_view source, int max_nesting) {
  Parser parser(tokenize(source), max_nesting);
  return parser.parse_all();
}

}  // namespace tessera::jinja
