// Expressions: names, literals, operators, attribute/item access, calls,
// filters and tests, with jinja2's sandboxed lookup rules.
#include "builtins.h"
#include "interpreter.h"
#include "ops.h"
#include "unicode.h"

namespace tessera::jinja {

namespace {

// jinja2's object_type_repr, for "... has no attribute ..." messages.
std::string object_type(const Value& v) {
  if (v.is_none()) return "None";
  return v.type_name() + " object";
}

std::optional<int64_t> slice_index(const Value& v) {
  if (v.is_none() || v.is_undefined()) return std::nullopt;
  if (!v.is_integral()) fault("slice indices must be integers or None or have an __index__ method");
  return v.as_int();
}

}  // namespace

Value Interpreter::eval(const Expr& expr) {
  count_step();
  DepthScope depth(*this);
  line_ = expr.line;
  switch (expr.kind) {
    case Expr::Kind::kLiteral:
      return static_cast<const LiteralExpr&>(expr).value;
    case Expr::Kind::kName:
      return lookup(static_cast<const NameExpr&>(expr).name);
    case Expr::Kind::kList: {
      const auto& e = static_cast<const ListExpr&>(expr);
      List items;
      items.reserve(e.items.size());
      for (const ExprPtr& item : e.items) items.push_back(eval(*item));
      return charge(Value::sequence(std::move(items), e.tuple ? SeqKind::kTuple : SeqKind::kList));
    }
    case Expr::Kind::kDict: {
      const auto& e = static_cast<const DictExpr&>(expr);
      Dict d;
      for (const auto& [key, value] : e.items) {
        Value k = eval(*key);
        d.set(k, eval(*value));
      }
      return charge(Value::dict(std::move(d)));
    }
    case Expr::Kind::kGetAttr: {
      const auto& e = static_cast<const GetAttrExpr&>(expr);
      return getattr(eval(*e.object), e.attr);
    }
    case Expr::Kind::kGetItem: {
      const auto& e = static_cast<const GetItemExpr&>(expr);
      Value object = eval(*e.object);
      return getitem(object, eval(*e.key));
    }
    case Expr::Kind::kSlice:
      return charge(eval_slice(static_cast<const SliceExpr&>(expr)));
    case Expr::Kind::kUnary: {
      const auto& e = static_cast<const UnaryExpr&>(expr);
      Value v = eval(*e.operand);
      switch (e.op) {
        case UnaryOp::kNeg:
          return negate(v);
        case UnaryOp::kPos:
          return positive(v);
        case UnaryOp::kNot:
          return Value::boolean(!v.truthy());
      }
      return v;
    }
    case Expr::Kind::kBinary:
      return charge(eval_binary(static_cast<const BinaryExpr&>(expr)));
    case Expr::Kind::kCompare:
      return eval_compare(static_cast<const CompareExpr&>(expr));
    case Expr::Kind::kCondition: {
      const auto& e = static_cast<const ConditionExpr&>(expr);
      if (eval(*e.condition).truthy()) return eval(*e.then);
      if (e.otherwise) return eval(*e.otherwise);
      return Value::undefined(fmt::format(
          "the inline if-expression on line {} evaluated to false and no else section was defined.",
          e.line));
    }
    case Expr::Kind::kCall:
      return charge(eval_call(static_cast<const CallExpr&>(expr)));
    case Expr::Kind::kFilter: {
      const auto& e = static_cast<const FilterExpr&>(expr);
      Value value = eval(*e.operand);
      CallArgs args = eval_args(e.args);
      line_ = e.line;
      return charge(apply_filter(e.name, value, args));
    }
    case Expr::Kind::kTest: {
      const auto& e = static_cast<const TestExpr&>(expr);
      Value value = eval(*e.operand);
      CallArgs args = eval_args(e.args);
      line_ = e.line;
      return Value::boolean(apply_test(e.name, value, args));
    }
    case Expr::Kind::kBlockValue:
      return block_values_.back();
  }
  return Value();
}

Value Interpreter::eval_binary(const BinaryExpr& e) {
  if (e.op == BinaryOp::kAnd) {
    Value left = eval(*e.left);
    return left.truthy() ? eval(*e.right) : left;
  }
  if (e.op == BinaryOp::kOr) {
    Value left = eval(*e.left);
    return left.truthy() ? left : eval(*e.right);
  }
  Value a = eval(*e.left);
  Value b = eval(*e.right);
  line_ = e.line;
  const size_t max_bytes = options_.limits.max_output_bytes;
  const size_t max_items = options_.limits.max_sequence_items;
  switch (e.op) {
    case BinaryOp::kAdd:
      return add(a, b, max_bytes, max_items);
    case BinaryOp::kSub:
      return subtract(a, b);
    case BinaryOp::kMul:
      return multiply(a, b, max_bytes, max_items);
    case BinaryOp::kDiv:
      return divide(a, b);
    case BinaryOp::kFloorDiv:
      return floor_divide(a, b);
    case BinaryOp::kMod:
      return modulo(a, b, max_bytes);
    case BinaryOp::kPow:
      return power(a, b);
    case BinaryOp::kConcat: {
      std::string s = to_str(a, max_bytes);
      std::string t = to_str(b, max_bytes);
      if (s.size() + t.size() > max_bytes) fault("string longer than the {} byte limit", max_bytes);
      return Value::string(s + t);
    }
    default:
      return Value();
  }
}

Value Interpreter::eval_compare(const CompareExpr& e) {
  Value left = eval(*e.first);
  for (const auto& [op, expr] : e.rest) {
    Value right = eval(*expr);
    line_ = e.line;
    bool result = false;
    switch (op) {
      case CompareOp::kEq:
        result = equals(left, right);
        break;
      case CompareOp::kNe:
        result = !equals(left, right);
        break;
      case CompareOp::kLt:
        result = compare(left, right, "<") < 0;
        break;
      case CompareOp::kLe:
        result = compare(left, right, "<=") <= 0;
        break;
      case CompareOp::kGt:
        result = compare(left, right, ">") > 0;
        break;
      case CompareOp::kGe:
        result = compare(left, right, ">=") >= 0;
        break;
      case CompareOp::kIn:
        result = contains(right, left);
        break;
      case CompareOp::kNotIn:
        result = !contains(right, left);
        break;
    }
    if (!result) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

Value Interpreter::eval_slice(const SliceExpr& e) {
  Value object = eval(*e.object);
  if (object.is_undefined()) undefined_fault(object);
  auto index = [&](const ExprPtr& x) -> std::optional<int64_t> {
    if (!x) return std::nullopt;
    return slice_index(eval(*x));
  };
  auto start = index(e.start);
  auto stop = index(e.stop);
  auto step = index(e.step);
  line_ = e.line;
  if (object.is_string() || (object.is_sequence() && (object.seq_kind() == SeqKind::kList ||
                                                      object.seq_kind() == SeqKind::kTuple)))
    return slice(object, start, stop, step);
  return Value::undefined(fmt::format("{} has no element slice", object_type(object)));
}

CallArgs Interpreter::eval_args(const CallArgExprs& exprs) {
  CallArgs args;
  args.positional.reserve(exprs.positional.size());
  for (const ExprPtr& e : exprs.positional) args.positional.push_back(eval(*e));
  for (const auto& [name, e] : exprs.keyword) args.keyword.emplace_back(name, eval(*e));
  if (exprs.star)
    for (Value& v : iterate(eval(*exprs.star))) args.positional.push_back(std::move(v));
  if (exprs.starstar) {
    Value kw = eval(*exprs.starstar);
    if (!kw.is_dict()) fault("argument after ** must be a mapping, not {}", kw.type_name());
    for (const auto& [k, v] : kw.as_dict().items()) {
      if (!k.is_string()) fault("keywords must be strings");
      args.keyword.emplace_back(k.as_string(), v);
    }
  }
  return args;
}

Value Interpreter::eval_call(const CallExpr& e) {
  // obj.method(...): call Python methods without making a bound method.
  if (e.callee->kind == Expr::Kind::kGetAttr) {
    const auto& attr = static_cast<const GetAttrExpr&>(*e.callee);
    Value object = eval(*attr.object);
    bool unsafe = false;
    if ((object.is_string() || object.is_dict() || object.is_sequence()) &&
        has_method(object, attr.attr, unsafe) && !unsafe) {
      CallArgs args = eval_args(e.args);
      line_ = e.line;
      return call_method(*this, object, attr.attr, args);
    }
    Value callee = getattr(object, attr.attr);
    CallArgs args = eval_args(e.args);
    line_ = e.line;
    return call(callee, args);
  }
  Value callee = eval(*e.callee);
  CallArgs args = eval_args(e.args);
  line_ = e.line;
  return call(callee, args);
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_callable()) {
    // Keep the callable alive while it runs (it may be reassigned meanwhile).
    Value keep = callee;
    return keep.as_callable().fn(*this, args);
  }
  if (callee.is_undefined()) undefined_fault(callee);
  fault("'{}' object is not callable", callee.type_name());
}

Value Interpreter::apply_filter(std::string_view name, const Value& value, CallArgs& args) {
  FilterFunction f = find_filter(name);
  if (!f) fault("no filter named '{}'", name);
  return f(*this, value, args);
}

bool Interpreter::apply_test(std::string_view name, const Value& value, CallArgs& args) {
  TestFunction t = find_test(name);
  if (!t) fault("no test named '{}'", name);
  return t(*this, value, args);
}

Value Interpreter::getattr(const Value& object, const std::string& name) {
  switch (object.type()) {
    case Value::Type::kUndefined:
      undefined_fault(object);
    case Value::Type::kObject: {
      Object& o = object.as_object();
      Value out;
      if (o.getter && o.getter(name, out)) return out;
      if (const Value* v = o.attrs.find(name)) return *v;
      break;
    }
    case Value::Type::kString:
    case Value::Type::kDict:
    case Value::Type::kSequence: {
      bool unsafe = false;
      if (has_method(object, name, unsafe)) {
        if (unsafe)
          return Value::undefined(fmt::format("access to attribute '{}' of '{}' object is unsafe.",
                                              name, object.type_name()));
        auto method = std::make_shared<Callable>();
        method->kind = Callable::Kind::kMethod;
        method->name = name;
        method->fn = [self = object, name](Interpreter& in, CallArgs& args) {
          return call_method(in, self, name, args);
        };
        return Value::callable(std::move(method), object.depth());
      }
      if (object.is_dict())
        if (const Value* v = object.as_dict().find(name)) return *v;
      break;
    }
    default:
      break;
  }
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_type(object), name));
}

Value Interpreter::getitem(const Value& object, const Value& key) {
  switch (object.type()) {
    case Value::Type::kUndefined:
      undefined_fault(object);
    case Value::Type::kDict:
      if (const Value* v = object.as_dict().find(key)) return *v;
      break;
    case Value::Type::kString:
    case Value::Type::kSequence: {
      if (!key.is_integral()) break;
      if (object.is_sequence() && object.seq_kind() != SeqKind::kList &&
          object.seq_kind() != SeqKind::kTuple)
        break;
      int64_t i = key.as_int();
      if (object.is_string()) {
        const std::string& s = object.as_string();
        if (unicode::is_ascii(s)) {
          const int64_t n = static_cast<int64_t>(s.size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) return Value::string(std::string(1, s[i]), object.is_safe());
        } else {
          std::u32string cs = unicode::decode(s);
          const int64_t n = static_cast<int64_t>(cs.size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) {
            std::string out;
            unicode::append(out, cs[i]);
            return Value::string(std::move(out), object.is_safe());
          }
        }
      } else {
        const List& items = object.as_list();
        const int64_t n = static_cast<int64_t>(items.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return items[i];
      }
      break;
    }
    default:
      break;
  }
  // jinja2 falls back to an attribute for string keys (d['items'] is the method).
  if (key.is_string()) return getattr(object, key.as_string());
  return Value::undefined(fmt::format("{} has no element {}", object_type(object), to_repr(key)));
}

List Interpreter::iterate(const Value& value) {
  charge(value);
  switch (value.type()) {
    case Value::Type::kUndefined:
      return {};
    case Value::Type::kString: {
      List chars;
      const std::string& s = value.as_string();
      check_sequence_size(unicode::length(s));
      if (unicode::is_ascii(s)) {
        for (char c : s)
          chars.push_back(Value::string(std::string(1, c)));  // plain str, even from Markup
      } else {
        for (char32_t c : unicode::decode(s)) {
          std::string one;
          unicode::append(one, c);
          chars.push_back(Value::string(std::move(one)));
        }
      }
      return chars;
    }
    case Value::Type::kSequence:
      return value.as_list();
    case Value::Type::kDict: {
      List keys;
      keys.reserve(value.as_dict().size());
      for (const auto& [k, v] : value.as_dict().items()) keys.push_back(k);
      return keys;
    }
    default:
      fault("'{}' object is not iterable", value.type_name());
  }
}

}  // namespace tessera::jinja
