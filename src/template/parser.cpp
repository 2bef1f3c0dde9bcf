// Statements: {% if %}, {% for %}, {% set %}, macros, call and filter
// blocks... on top of the expression parser.
#include "parser.h"

#include "expression_parser.h"

namespace tessera::jinja {

namespace {

class Parser : public ExpressionParser {
 public:
  using ExpressionParser::ExpressionParser;

  Body parse_all() {
    Body body = subparse({});
    if (!pending_.empty()) fail(pending_.front().second, pending_.front().first);
    return body;
  }

 private:
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
      } else if (p.name == "caller") {
        fail("the special \"caller\" argument of a macro must be omitted or given a default");
      }
      params.push_back(std::move(p));
    }
    expect_op(")");
    return params;
  }

  StmtPtr parse_macro() {
    auto node = std::make_unique<MacroStmt>(next().line);
    FlagScope hard(soft_, false);
    node->macro.name = expect_name();
    node->macro.params = parse_signature();
    int saved = loop_depth_;
    loop_depth_ = 0;
    node->macro.body = parse_statements({"endmacro"}, true);
    loop_depth_ = saved;
    note_special_names(node->macro);
    return node;
  }

  StmtPtr parse_call_block() {
    auto node = std::make_unique<CallBlockStmt>(next().line);
    FlagScope hard(soft_, false);
    node->caller.name = "caller";
    if (is_op("(")) node->caller.params = parse_signature();
    node->call = parse_expression(true);
    if (node->call->kind != Expr::Kind::kCall) fail("expected a call after 'call'", node->line);
    int saved = loop_depth_;
    loop_depth_ = 0;
    node->caller.body = parse_statements({"endcall"}, true);
    loop_depth_ = saved;
    note_special_names(node->caller);
    return node;
  }

  static void note_special_names(MacroDef& macro) {
    visit_loaded_names(macro.body, [&](const std::string& name) {
      if (name == "caller") macro.uses_caller = true;
      if (name == "varargs") macro.uses_varargs = true;
      if (name == "kwargs") macro.uses_kwargs = true;
    });
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

  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(std::string_view source, int max_nesting) {
  Parser parser(tokenize(source), max_nesting);
  return parser.parse_all();
}

}  // namespace tessera::jinja
