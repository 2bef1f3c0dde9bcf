#include "expression_parser.h"

#include "builtins.h"

namespace tessera::jinja {

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

bool ExpressionParser::is_tuple_end(std::initializer_list<const char*> extra_end) const {
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

ExprPtr ExpressionParser::parse_tuple(bool with_condexpr, bool explicit_parens,
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

ExprPtr ExpressionParser::parse_expression(bool with_condexpr) {
  DepthGuard guard(*this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr ExpressionParser::parse_condexpr() {
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

ExprPtr ExpressionParser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name("or")) {
    int line = next().line;
    left = std::make_unique<BinaryExpr>(BinaryOp::kOr, std::move(left), parse_and(), line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name("and")) {
    int line = next().line;
    left = std::make_unique<BinaryExpr>(BinaryOp::kAnd, std::move(left), parse_not(), line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_not() {
  if (is_name("not")) {
    DepthGuard guard(*this);
    int line = next().line;
    return std::make_unique<UnaryExpr>(UnaryOp::kNot, parse_not(), line);
  }
  return parse_compare();
}

ExprPtr ExpressionParser::parse_compare() {
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

ExprPtr ExpressionParser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    BinaryOp op = current().text == "+" ? BinaryOp::kAdd : BinaryOp::kSub;
    int line = next().line;
    left = std::make_unique<BinaryExpr>(op, std::move(left), parse_concat(), line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_concat() {
  ExprPtr left = parse_math2();
  while (is_op("~")) {
    int line = next().line;
    left = std::make_unique<BinaryExpr>(BinaryOp::kConcat, std::move(left), parse_math2(), line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_math2() {
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

ExprPtr ExpressionParser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op("**")) {
    int line = next().line;
    left = std::make_unique<BinaryExpr>(BinaryOp::kPow, std::move(left), parse_unary(true), line);
  }
  return left;
}

ExprPtr ExpressionParser::parse_unary(bool with_filter) {
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

ExprPtr ExpressionParser::parse_primary() {
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

ExprPtr ExpressionParser::parse_list() {
  auto node = std::make_unique<ListExpr>(false, next().line);
  while (!is_op("]")) {
    if (!node->items.empty()) expect_op(",");
    if (is_op("]")) break;
    node->items.push_back(parse_expression(true));
  }
  expect_op("]");
  return node;
}

ExprPtr ExpressionParser::parse_dict() {
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

ExprPtr ExpressionParser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".") || is_op("["))
      node = parse_subscript(std::move(node));
    else if (is_op("("))
      node = parse_call(std::move(node));
    else
      return node;
  }
}

ExprPtr ExpressionParser::parse_filter_expr(ExprPtr node) {
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

ExprPtr ExpressionParser::parse_subscript(ExprPtr node) {
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
ExprPtr ExpressionParser::parse_subscribed(ExprPtr& object, int line) {
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

ExprPtr ExpressionParser::parse_call(ExprPtr callee) {
  auto node = std::make_unique<CallExpr>(std::move(callee), current().line);
  parse_call_args(node->args);
  return node;
}

void ExpressionParser::parse_call_args(CallArgExprs& args) {
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

std::string ExpressionParser::parse_dotted_name() {
  std::string name = expect_name();
  while (is_op(".")) {
    next();
    name.push_back('.');
    name += expect_name();
  }
  return name;
}

ExprPtr ExpressionParser::parse_filter(ExprPtr node, bool start_inline) {
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

ExprPtr ExpressionParser::parse_test(ExprPtr node) {
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

}  // namespace tessera::jinja
