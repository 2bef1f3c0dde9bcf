// jinja2's tests (`x is defined`, `x is divisibleby 3`...) and the
// registry that maps filter and test names to functions.
#include <string_view>
#include <unordered_map>

#include "builtins.h"
#include "filters.h"
#include "interpreter.h"
#include "ops.h"
#include "unicode.h"

namespace tessera::jinja {

namespace {

void no_args(const char* test, CallArgs& args) { ArgBinder binder(test, args, {}); }

const Value& one_arg(ArgBinder& a, const char* test) {
  if (!a.has(0)) fault("{}() missing 1 required positional argument", test);
  return a.get(0);
}

#define TESSERA_TEST(name) bool name(Interpreter& in, const Value& v, CallArgs& args)

TESSERA_TEST(test_defined) {
  no_args("defined", args);
  return !v.is_undefined();
}
TESSERA_TEST(test_undefined) {
  no_args("undefined", args);
  return v.is_undefined();
}
TESSERA_TEST(test_none) {
  no_args("none", args);
  return v.is_none();
}
TESSERA_TEST(test_boolean) {
  no_args("boolean", args);
  return v.is_bool();
}
TESSERA_TEST(test_true) {
  no_args("true", args);
  return v.is_bool() && v.as_bool();
}
TESSERA_TEST(test_false) {
  no_args("false", args);
  return v.is_bool() && !v.as_bool();
}
TESSERA_TEST(test_integer) {
  no_args("integer", args);
  return v.is_int();
}
TESSERA_TEST(test_float) {
  no_args("float", args);
  return v.is_float();
}
TESSERA_TEST(test_number) {
  no_args("number", args);
  return v.is_number();
}
TESSERA_TEST(test_string) {
  no_args("string", args);
  return v.is_string();
}
TESSERA_TEST(test_mapping) {
  no_args("mapping", args);
  return v.is_dict();
}
TESSERA_TEST(test_callable) {
  no_args("callable", args);
  return v.is_callable();
}
TESSERA_TEST(test_escaped) {
  no_args("escaped", args);
  return v.is_string() && v.is_safe();
}

TESSERA_TEST(test_iterable) {
  no_args("iterable", args);
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict() ||
         (v.is_object() && v.as_object().type_name == "LoopContext");
}

TESSERA_TEST(test_sequence) {
  // len() and [] both work: str, list, tuple, dict, and jinja2's Undefined.
  no_args("sequence", args);
  if (v.is_sequence()) return v.seq_kind() == SeqKind::kList || v.seq_kind() == SeqKind::kTuple;
  return v.is_undefined() || v.is_string() || v.is_dict();
}

TESSERA_TEST(test_lower) {
  no_args("lower", args);
  bool cased = false;
  for (char32_t c : unicode::decode(to_str(v))) {
    if (unicode::is_upper(c)) return false;
    cased = cased || unicode::is_lower(c);
  }
  return cased;
}

TESSERA_TEST(test_upper) {
  no_args("upper", args);
  bool cased = false;
  for (char32_t c : unicode::decode(to_str(v))) {
    if (unicode::is_lower(c)) return false;
    cased = cased || unicode::is_upper(c);
  }
  return cased;
}

TESSERA_TEST(test_odd) {
  no_args("odd", args);
  return equals(modulo(v, Value::integer(2), in.limits().max_output_bytes), Value::integer(1));
}

TESSERA_TEST(test_even) {
  no_args("even", args);
  return equals(modulo(v, Value::integer(2), in.limits().max_output_bytes), Value::integer(0));
}

TESSERA_TEST(test_divisibleby) {
  ArgBinder a("divisibleby", args, {"num"});
  return equals(modulo(v, one_arg(a, "divisibleby"), in.limits().max_output_bytes),
                Value::integer(0));
}

TESSERA_TEST(test_in) {
  ArgBinder a("in", args, {"seq"});
  return contains(one_arg(a, "in"), v);
}

TESSERA_TEST(test_eq) {
  ArgBinder a("eq", args, {"other"});
  return equals(v, one_arg(a, "eq"));
}
TESSERA_TEST(test_ne) {
  ArgBinder a("ne", args, {"other"});
  return !equals(v, one_arg(a, "ne"));
}
TESSERA_TEST(test_lt) {
  ArgBinder a("lt", args, {"other"});
  return compare(v, one_arg(a, "lt"), "<") < 0;
}
TESSERA_TEST(test_le) {
  ArgBinder a("le", args, {"other"});
  return compare(v, one_arg(a, "le"), "<=") <= 0;
}
TESSERA_TEST(test_gt) {
  ArgBinder a("gt", args, {"other"});
  return compare(v, one_arg(a, "gt"), ">") > 0;
}
TESSERA_TEST(test_ge) {
  ArgBinder a("ge", args, {"other"});
  return compare(v, one_arg(a, "ge"), ">=") >= 0;
}

TESSERA_TEST(test_sameas) {
  ArgBinder a("sameas", args, {"other"});
  const Value& other = one_arg(a, "sameas");
  if (v.type() != other.type()) return false;
  switch (v.type()) {
    case Value::Type::kNone:
    case Value::Type::kUndefined:
      return true;
    case Value::Type::kBool:
      return v.as_bool() == other.as_bool();
    case Value::Type::kInt:  // CPython caches small ints
      return v.as_int() == other.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Value::Type::kString:
      return &v.as_string() == &other.as_string();
    case Value::Type::kSequence:
      return &v.as_list() == &other.as_list();
    case Value::Type::kDict:
      return &v.as_dict() == &other.as_dict();
    default:
      return equals(v, other);
  }
}

TESSERA_TEST(test_filter) {
  no_args("filter", args);
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}
TESSERA_TEST(test_test) {
  no_args("test", args);
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

#undef TESSERA_TEST

}  // namespace

FilterFunction find_filter(std::string_view name) {
  using namespace filters;
  static const std::unordered_map<std::string_view, FilterFunction> table = {
      {"abs", abs},
      {"attr", attr},
      {"batch", batch},
      {"capitalize", capitalize},
      {"center", center},
      {"count", length},
      {"d", default_value},
      {"default", default_value},
      {"dictsort", dictsort},
      {"e", escape},
      {"escape", escape},
      {"first", first},
      {"float", to_float},
      {"forceescape", forceescape},
      {"format", format},
      {"indent", indent},
      {"int", to_int},
      {"items", items},
      {"join", join},
      {"last", last},
      {"length", length},
      {"list", list},
      {"lower", lower},
      {"map", map},
      {"max", max},
      {"min", min},
      {"reject", reject},
      {"rejectattr", rejectattr},
      {"replace", replace},
      {"reverse", reverse},
      {"round", round},
      {"safe", safe},
      {"select", select},
      {"selectattr", selectattr},
      {"slice", slice},
      {"sort", sort},
      {"string", string},
      {"sum", sum},
      {"title", title},
      {"tojson", tojson},
      {"trim", trim},
      {"truncate", truncate},
      {"unique", unique},
      {"upper", upper},
      {"wordcount", wordcount},
  };
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

TestFunction find_test(std::string_view name) {
  static const std::unordered_map<std::string_view, TestFunction> table = {
      {"defined", test_defined},
      {"undefined", test_undefined},
      {"none", test_none},
      {"boolean", test_boolean},
      {"true", test_true},
      {"false", test_false},
      {"integer", test_integer},
      {"float", test_float},
      {"number", test_number},
      {"string", test_string},
      {"mapping", test_mapping},
      {"iterable", test_iterable},
      {"sequence", test_sequence},
      {"callable", test_callable},
      {"escaped", test_escaped},
      {"lower", test_lower},
      {"upper", test_upper},
      {"odd", test_odd},
      {"even", test_even},
      {"divisibleby", test_divisibleby},
      {"in", test_in},
      {"eq", test_eq},
      {"equalto", test_eq},
      {"==", test_eq},
      {"ne", test_ne},
      {"!=", test_ne},
      {"lt", test_lt},
      {"lessthan", test_lt},
      {"<", test_lt},
      {"le", test_le},
      {"<=", test_le},
      {"gt", test_gt},
      {"greaterthan", test_gt},
      {">", test_gt},
      {"ge", test_ge},
      {">=", test_ge},
      {"sameas", test_sameas},
      {"filter", test_filter},
      {"test", test_test},
  };
  auto it = table.find(name);
  return it == table.end() ? nullptr : it->second;
}

}  // namespace tessera::jinja
