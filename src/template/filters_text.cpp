// Filters on text and numbers. Each follows the jinja2 (3.1) function of
// the same name, with Hugging Face's tojson.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "filters.h"
#include "ops.h"
#include "pynumber.h"
#include "unicode.h"

namespace tessera::jinja::filters {

namespace {

size_t max_bytes(const Interpreter& in) { return in.limits().max_output_bytes; }

void require_defined(const Value& v) {
  if (v.is_undefined()) undefined_fault(v);
}

bool is_title_separator(char32_t c) {
  return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || unicode::is_space(c);
}

}  // namespace

Value soft_str(const Value& value, size_t max) {
  if (value.is_string()) return value;
  return Value::string(to_str(value, max));
}

Value capitalize(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("capitalize", args, {});
  Value s = soft_str(value, max_bytes(in));
  return Value::string(unicode::capitalize(s.as_string()), s.is_safe());
}

Value center(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("center", args, {"width"});
  Value width = a.get_or(0, Value::integer(80));
  if (!width.is_integral())
    fault("'{}' object cannot be interpreted as an integer", width.type_name());
  Value s = soft_str(value, max_bytes(in));
  const int64_t w = width.as_int();
  const int64_t len = static_cast<int64_t>(unicode::length(s.as_string()));
  const int64_t margin = w - len;
  if (margin <= 0) return s;
  if (static_cast<size_t>(w) > max_bytes(in)) fault("center() width larger than the output limit");
  const int64_t left = margin / 2 + (margin & w & 1);
  return Value::string(std::string(left, ' ') + s.as_string() + std::string(margin - left, ' '),
                       s.is_safe());
}

Value escape(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("escape", args, {});
  if (value.is_string() && value.is_safe()) return value;
  return Value::string(html_escape(to_str(value, max_bytes(in))), true);
}

Value forceescape(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("forceescape", args, {});
  return Value::string(html_escape(to_str(value, max_bytes(in))), true);
}

Value format(Interpreter& in, const Value& value, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty())
    fault("can't handle positional and keyword arguments at the same time");
  Value s = soft_str(value, max_bytes(in));
  Value format_args;
  if (!args.keyword.empty()) {
    Dict d;
    for (auto& [k, v] : args.keyword) d.set(k, v);
    format_args = Value::dict(std::move(d));
  } else {
    format_args = Value::sequence(args.positional, SeqKind::kTuple);
  }
  return Value::string(percent_format(s.as_string(), format_args, max_bytes(in)), s.is_safe());
}

Value indent(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("indent", args, {"width", "first", "blank"});
  Value width = a.get_or(0, Value::integer(4));
  std::string indention;
  if (width.is_string()) {
    indention = width.as_string();
  } else if (width.is_integral()) {
    int64_t w = width.as_int();
    if (w > 0 && static_cast<size_t>(w) > max_bytes(in))
      fault("indent width larger than the output limit");
    indention = std::string(w > 0 ? w : 0, ' ');
  } else {
    fault("can't multiply sequence by non-int of type '{}'", width.type_name());
  }
  require_defined(value);
  if (!value.is_string())
    fault("unsupported operand type(s) for +=: '{}' and 'str'", value.type_name());
  std::string s = value.as_string() + "\n";  // jinja2 appends a newline for splitlines
  std::vector<std::string> lines;
  try {
    lines = unicode::splitlines(s, false, in.limits().max_sequence_items);
  } catch (const unicode::TooManyParts&) {
    in.check_sequence_size(in.limits().max_sequence_items + 1);
  }
  std::string out;
  auto add = [&](const std::string& piece) {
    if (out.size() + piece.size() > max_bytes(in))
      fault("indent result larger than the output limit");
    out += piece;
  };
  if (a.get_or(2, Value::boolean(false)).truthy()) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) add("\n" + indention);
      add(lines[i]);
    }
  } else {
    add(lines.empty() ? std::string() : lines[0]);
    for (size_t i = 1; i < lines.size(); ++i) {
      add("\n");
      if (!lines[i].empty()) add(indention);
      add(lines[i]);
    }
  }
  if (a.get_or(1, Value::boolean(false)).truthy()) out = indention + out;
  return Value::string(std::move(out), value.is_safe());
}

Value lower(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("lower", args, {});
  Value s = soft_str(value, max_bytes(in));
  return Value::string(unicode::lower(s.as_string()), s.is_safe());
}

Value upper(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("upper", args, {});
  Value s = soft_str(value, max_bytes(in));
  return Value::string(unicode::upper(s.as_string()), s.is_safe());
}

Value replace(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("replace", args, {"old", "new", "count"});
  if (!a.has(0) || !a.has(1)) fault("replace() missing required arguments 'old' and 'new'");
  CallArgs method_args;
  method_args.positional = {Value::string(to_str(a.get(0))), Value::string(to_str(a.get(1)))};
  if (a.has(2) && !a.get(2).is_none()) method_args.positional.push_back(a.get(2));
  Value s = Value::string(to_str(value, max_bytes(in)));
  return call_method(in, s, "replace", method_args);
}

Value safe(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("safe", args, {});
  return Value::string(to_str(value, max_bytes(in)), true);
}

Value string(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("string", args, {});
  return soft_str(value, max_bytes(in));
}

Value title(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("title", args, {});
  std::u32string s = unicode::decode(soft_str(value, max_bytes(in)).as_string());
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const bool separator = is_title_separator(s[i]);
    size_t j = i;
    while (j < s.size() && is_title_separator(s[j]) == separator) ++j;
    std::u32string_view piece = std::u32string_view(s).substr(i, j - i);
    out += unicode::upper(unicode::encode(piece.substr(0, 1)));
    out += unicode::lower(unicode::encode(piece.substr(1)));
    i = j;
  }
  return Value::string(std::move(out));
}

Value tojson(Interpreter& in, const Value& value, CallArgs& args) {
  // transformers: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  ArgBinder a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions options;
  options.ensure_ascii = a.get_or(0, Value::boolean(false)).truthy();
  Value indent = a.get_or(1, Value::none());
  if (indent.is_string()) {
    options.indent = indent.as_string();
  } else if (indent.is_integral()) {
    int64_t n = indent.as_int();
    if (n > 1000) fault("tojson indent too large");
    options.indent = std::string(n > 0 ? n : 0, ' ');
  } else if (!indent.is_none()) {
    fault("tojson indent must be an int or a string, not {}", indent.type_name());
  }
  if (options.indent)
    options.item_separator.assign(1, ',');  // (assign: GCC 12 -Wrestrict false positive)
  Value separators = a.get_or(2, Value::none());
  if (!separators.is_none()) {
    if (!separators.is_sequence() || separators.as_list().size() != 2 ||
        !separators.as_list()[0].is_string() || !separators.as_list()[1].is_string())
      fault("tojson separators must be a pair of strings");
    options.item_separator = separators.as_list()[0].as_string();
    options.key_separator = separators.as_list()[1].as_string();
  }
  options.sort_keys = a.get_or(3, Value::boolean(false)).truthy();
  return Value::string(json_dumps(value, options, max_bytes(in)));
}

Value trim(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("trim", args, {"chars"});
  Value s = soft_str(value, max_bytes(in));
  std::string chars;
  const std::string* chars_ptr = nullptr;
  if (a.has(0) && !a.get(0).is_none()) {
    if (!a.get(0).is_string()) fault("strip arg must be None or str");
    chars = a.get(0).as_string();
    chars_ptr = &chars;
  }
  return Value::string(unicode::strip(s.as_string(), chars_ptr, true, true), s.is_safe());
}

Value truncate(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("truncate", args, {"length", "killwords", "end", "leeway"});
  int64_t length = a.get_or(0, Value::integer(255)).as_int();
  bool killwords = a.get_or(1, Value::boolean(false)).truthy();
  std::string end = to_str(a.get_or(2, Value::string("...")));
  Value leeway_value = a.get_or(3, Value::none());
  int64_t leeway = leeway_value.is_none() ? 5 : leeway_value.as_int();
  const int64_t end_len = static_cast<int64_t>(unicode::length(end));
  if (length < end_len) fault("expected length >= {}, got {}", end_len, length);
  if (leeway < 0) fault("expected leeway >= 0, got {}", leeway);
  if (!value.is_string()) fault("object of type '{}' has no len()", value.type_name());
  std::u32string s = unicode::decode(value.as_string());
  if (static_cast<int64_t>(s.size()) <= length + leeway) return value;
  std::u32string head = s.substr(0, static_cast<size_t>(length - end_len));
  if (!killwords) {
    size_t space = head.rfind(U' ');
    if (space != std::u32string::npos) head = head.substr(0, space);
  }
  return Value::string(unicode::encode(head) + end);
}

Value wordcount(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("wordcount", args, {});
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : unicode::decode(soft_str(value, max_bytes(in)).as_string())) {
    bool w = unicode::is_word(c);
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value::integer(words);
}

Value abs(Interpreter&, const Value& value, CallArgs& args) {
  ArgBinder("abs", args, {});
  if (value.is_integral()) {
    int64_t i = value.as_int();
    if (i == INT64_MIN) fault("integer overflow (beyond 64 bits)");
    return Value::integer(i < 0 ? -i : i);
  }
  if (value.is_float()) return Value::number(std::fabs(value.as_float()));
  require_defined(value);
  fault("bad operand type for abs(): '{}'", value.type_name());
}

Value to_float(Interpreter&, const Value& value, CallArgs& args) {
  ArgBinder a("float", args, {"default"});
  Value fallback = a.get_or(0, Value::number(0.0));
  require_defined(value);  // Undefined.__float__ raises
  if (value.is_number()) return Value::number(value.as_float());
  if (value.is_string()) {
    double d;
    if (parse_python_float(value.as_string(), d)) return Value::number(d);
  }
  return fallback;
}

Value to_int(Interpreter&, const Value& value, CallArgs& args) {
  ArgBinder a("int", args, {"default", "base"});
  Value fallback = a.get_or(0, Value::integer(0));
  Value base = a.get_or(1, Value::integer(10));
  require_defined(value);  // Undefined.__int__ raises
  if (value.is_integral()) return Value::integer(value.as_int());
  if (value.is_float()) {
    double d = std::trunc(value.as_float());
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
    return Value::integer(static_cast<int64_t>(d));
  }
  if (value.is_string()) {
    int64_t i;
    if (parse_python_int(value.as_string(), base.is_integral() ? base.as_int() : 10, i))
      return Value::integer(i);
    double d;
    if (parse_python_float(value.as_string(), d)) {
      d = std::trunc(d);
      if (std::isfinite(d) && std::fabs(d) < 9.2e18) return Value::integer(static_cast<int64_t>(d));
    }
  }
  return fallback;
}

Value round(Interpreter&, const Value& value, CallArgs& args) {
  ArgBinder a("round", args, {"precision", "method"});
  Value precision_value = a.get_or(0, Value::integer(0));
  std::string method = to_str(a.get_or(1, Value::string("common")));
  if (method != "common" && method != "ceil" && method != "floor")
    fault("method must be common, ceil or floor");
  require_defined(value);
  if (!value.is_number()) fault("type {} doesn't define __round__ method", value.type_name());
  if (!precision_value.is_integral())
    fault("'{}' object cannot be interpreted as an integer", precision_value.type_name());
  const int64_t precision = precision_value.as_int();
  if (method == "common") {
    if (value.is_integral()) return Value::integer(python_round_int(value.as_int(), precision));
    return Value::number(python_round(value.as_float(), precision));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double scaled = value.as_float() * scale;
  double r = method == "floor" ? std::floor(scaled) : std::ceil(scaled);
  return Value::number(r / scale);
}

}  // namespace tessera::jinja::filters
