// Python methods of str, dict, list and tuple that templates call
// (`content.split('</think>')`, `message.get('name')`...). Methods that
// mutate are refused, as in jinja2's ImmutableSandboxedEnvironment.
#include <algorithm>
#include <unordered_set>

#include "builtins.h"
#include "interpreter.h"
#include "ops.h"
#include "unicode.h"

namespace tessera::jinja {

namespace {

const std::unordered_set<std::string_view> kStringMethods = {
    "upper",        "lower",        "title",   "capitalize", "swapcase",  "casefold",
    "strip",        "lstrip",       "rstrip",  "split",      "rsplit",    "splitlines",
    "startswith",   "endswith",     "replace", "find",       "rfind",     "index",
    "rindex",       "count",        "join",    "isdigit",    "isalpha",   "isalnum",
    "isspace",      "isupper",      "islower", "istitle",    "isdecimal", "isnumeric",
    "center",       "ljust",        "rjust",   "zfill",      "partition", "rpartition",
    "removeprefix", "removesuffix", "format",
};
// markupsafe.Markup returns Markup from these.
const std::unordered_set<std::string_view> kMarkupKeeping = {
    "upper", "lower",  "title",        "capitalize",   "swapcase", "casefold",
    "strip", "lstrip", "rstrip",       "replace",      "center",   "ljust",
    "rjust", "zfill",  "removeprefix", "removesuffix", "format",
};
const std::unordered_set<std::string_view> kDictMethods = {"keys", "values", "items", "get",
                                                           "copy"};
const std::unordered_set<std::string_view> kDictUnsafe = {"pop", "popitem", "setdefault", "update",
                                                          "clear"};
const std::unordered_set<std::string_view> kListMethods = {"index", "count", "copy"};
const std::unordered_set<std::string_view> kListUnsafe = {"append", "extend",  "insert", "pop",
                                                          "remove", "reverse", "sort",   "clear"};

const std::string& string_arg(const ArgBinder& a, size_t i, const char* method) {
  if (!a.has(i) || !a.get(i).is_string())
    fault("{}() argument must be str, not {}", method, a.has(i) ? a.get(i).type_name() : "nothing");
  return a.get(i).as_string();
}

int64_t int_arg(const ArgBinder& a, size_t i, int64_t fallback) {
  if (!a.has(i) || a.get(i).is_none()) return fallback;
  if (!a.get(i).is_integral())
    fault("'{}' object cannot be interpreted as an integer", a.get(i).type_name());
  return a.get(i).as_int();
}

int64_t codepoint_index(const std::string& s, size_t byte_offset) {
  return static_cast<int64_t>(unicode::length(std::string_view(s).substr(0, byte_offset)));
}

List split_on(const std::string& s, const std::string& sep, int64_t maxsplit, bool from_right,
              const Interpreter& in) {
  if (sep.empty()) fault("empty separator");
  // Count first: a huge split must fail before it allocates.
  size_t pieces = 1;
  for (size_t at = s.find(sep);
       at != std::string::npos && (maxsplit < 0 || static_cast<int64_t>(pieces) <= maxsplit);
       at = s.find(sep, at + sep.size()))
    ++pieces;
  in.check_sequence_size(pieces);
  std::vector<std::string> parts;
  if (!from_right) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      size_t at = s.find(sep, start);
      if (at == std::string::npos) break;
      parts.push_back(s.substr(start, at - start));
      start = at + sep.size();
    }
    parts.push_back(s.substr(start));
  } else {
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
      if (end < sep.size()) break;
      size_t at = s.rfind(sep, end - sep.size());
      if (at == std::string::npos) break;
      parts.push_back(s.substr(at + sep.size(), end - at - sep.size()));
      end = at;
    }
    parts.push_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
  }
  List out;
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

std::string replace_all(const std::string& s, const std::string& old, const std::string& repl,
                        int64_t count, size_t max_bytes) {
  std::string out;
  auto add = [&](std::string_view piece) {
    if (out.size() + piece.size() > max_bytes) fault("replace() result larger than the byte limit");
    out.append(piece);
  };
  if (old.empty()) {  // Python inserts `repl` around every character
    std::u32string cs = unicode::decode(s);
    int64_t done = 0;
    for (char32_t c : cs) {
      if (count < 0 || done < count) add(repl), ++done;
      std::string one;
      unicode::append(one, c);
      add(one);
    }
    if (count < 0 || done < count) add(repl);
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t at = s.find(old, start);
    if (at == std::string::npos) break;
    add(std::string_view(s).substr(start, at - start));
    add(repl);
    start = at + old.size();
    ++done;
  }
  add(std::string_view(s).substr(start));
  return out;
}

bool affix_match(const Value& self, const Value& affix, bool prefix, const char* method) {
  const std::string& s = self.as_string();
  auto one = [&](const Value& a) {
    if (!a.is_string())
      fault("{} first arg must be str or a tuple of str, not {}", method, a.type_name());
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_sequence() && affix.seq_kind() == SeqKind::kTuple) {
    for (const Value& a : affix.as_list())
      if (one(a)) return true;
    return false;
  }
  return one(affix);
}

template <typename Pred>
bool all_chars(const std::string& s, Pred pred) {
  if (s.empty()) return false;
  for (char32_t c : unicode::decode(s))
    if (!pred(c)) return false;
  return true;
}

Value pad(const std::string& s, const ArgBinder& a, const char* method, size_t max_bytes) {
  int64_t width = int_arg(a, 0, 0);
  std::string fill = " ";
  if (a.has(1)) {
    fill = string_arg(a, 1, method);
    if (unicode::length(fill) != 1) fault("The fill character must be exactly one character long");
  }
  int64_t len = static_cast<int64_t>(unicode::length(s));
  if (width <= len) return Value::string(s);
  if (static_cast<size_t>(width) > max_bytes)
    fault("{}() width larger than the byte limit", method);
  int64_t margin = width - len;
  int64_t left = 0;
  std::string_view m = method;
  if (m == "rjust")
    left = margin;
  else if (m == "center")
    left = margin / 2 + (margin & width & 1);
  auto repeat = [&](int64_t n) {
    std::string r;
    for (int64_t i = 0; i < n; ++i) r += fill;
    return r;
  };
  return Value::string(repeat(left) + s + repeat(margin - left));
}

Value string_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args) {
  const std::string& s = self.as_string();
  const size_t max_bytes = in.limits().max_output_bytes;
  if (name == "upper" || name == "lower" || name == "casefold" || name == "title" ||
      name == "capitalize" || name == "swapcase") {
    ArgBinder(name, args, {});
    if (name == "upper") return Value::string(unicode::upper(s));
    if (name == "title") return Value::string(unicode::title(s));
    if (name == "capitalize") return Value::string(unicode::capitalize(s));
    if (name == "swapcase") return Value::string(unicode::swapcase(s));
    return Value::string(unicode::lower(s));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgBinder a(name, args, {"chars"});
    const std::string* chars = nullptr;
    if (a.has(0) && !a.get(0).is_none()) chars = &string_arg(a, 0, name.c_str());
    return Value::string(unicode::strip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    ArgBinder a(name, args, {"sep", "maxsplit"});
    int64_t maxsplit = int_arg(a, 1, -1);
    if (!a.has(0) || a.get(0).is_none()) {
      List out;
      try {
        for (auto& p : unicode::split_whitespace(s, maxsplit, name == "rsplit",
                                                 in.limits().max_sequence_items))
          out.push_back(Value::string(std::move(p)));
      } catch (const unicode::TooManyParts&) {
        in.check_sequence_size(in.limits().max_sequence_items + 1);
      }
      return Value::sequence(std::move(out));
    }
    return Value::sequence(
        split_on(s, string_arg(a, 0, name.c_str()), maxsplit, name == "rsplit", in));
  }
  if (name == "splitlines") {
    ArgBinder a(name, args, {"keepends"});
    List out;
    try {
      for (auto& line : unicode::splitlines(s, a.get_or(0, Value::boolean(false)).truthy(),
                                            in.limits().max_sequence_items))
        out.push_back(Value::string(std::move(line)));
    } catch (const unicode::TooManyParts&) {
      in.check_sequence_size(in.limits().max_sequence_items + 1);
    }
    return Value::sequence(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    ArgBinder a(name, args, {"affix", "start", "end"});
    if (!a.has(0)) fault("{}() takes at least 1 argument (0 given)", name);
    Value subject = self;
    if (a.has(1) || a.has(2)) {
      std::optional<int64_t> start, end;
      if (a.has(1) && !a.get(1).is_none()) start = int_arg(a, 1, 0);
      if (a.has(2) && !a.get(2).is_none()) end = int_arg(a, 2, 0);
      subject = slice(self, start, end, std::nullopt);
    }
    return Value::boolean(affix_match(subject, a.get(0), name == "startswith", name.c_str()));
  }
  if (name == "replace") {
    ArgBinder a(name, args, {"old", "new", "count"});
    return Value::string(replace_all(s, string_arg(a, 0, "replace"), string_arg(a, 1, "replace"),
                                     int_arg(a, 2, -1), max_bytes));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    ArgBinder a(name, args, {"sub", "start", "end"});
    const std::string& sub = string_arg(a, 0, name.c_str());
    if (a.has(1) || a.has(2)) fault("{}() with start/end is not supported", name);
    if (name == "count") {
      if (sub.empty()) return Value::integer(static_cast<int64_t>(unicode::length(s)) + 1);
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
      return Value::integer(n);
    }
    size_t at = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
    if (at == std::string::npos) {
      if (name == "index" || name == "rindex") fault("substring not found");
      return Value::integer(-1);
    }
    return Value::integer(codepoint_index(s, at));
  }
  if (name == "join") {
    ArgBinder a(name, args, {"iterable"});
    if (!a.has(0)) fault("join() takes exactly one argument (0 given)");
    std::string out;
    size_t i = 0;
    for (const Value& item : in.iterate(a.get(0))) {
      if (!item.is_string())
        fault("sequence item {}: expected str instance, {} found", i, item.type_name());
      if (i++) out += s;
      out += item.as_string();
      if (out.size() > max_bytes) fault("join() result larger than the byte limit");
    }
    return Value::string(std::move(out));
  }
  if (name.rfind("is", 0) == 0) {
    ArgBinder(name, args, {});
    if (name == "isdigit") return Value::boolean(all_chars(s, unicode::is_digit));
    if (name == "isdecimal") return Value::boolean(all_chars(s, unicode::is_decimal));
    if (name == "isnumeric")
      return Value::boolean(all_chars(s, [](char32_t c) {
        return unicode::is_digit(c) || (unicode::is_alnum(c) && !unicode::is_alpha(c));
      }));
    if (name == "isalpha") return Value::boolean(all_chars(s, unicode::is_alpha));
    if (name == "isalnum") return Value::boolean(all_chars(s, unicode::is_alnum));
    if (name == "isspace") return Value::boolean(all_chars(s, unicode::is_space));
    bool cased = false, upper = false, lower = false, title_ok = true, previous_cased = false;
    for (char32_t c : unicode::decode(s)) {
      bool u = unicode::is_upper(c), l = unicode::is_lower(c);
      upper = upper || u;
      lower = lower || l;
      cased = cased || u || l;
      if (u && previous_cased) title_ok = false;
      if (l && !previous_cased) title_ok = false;
      previous_cased = unicode::is_cased(c);
    }
    if (name == "isupper") return Value::boolean(upper && !lower);
    if (name == "islower") return Value::boolean(lower && !upper);
    return Value::boolean(cased && title_ok);  // istitle
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    ArgBinder a(name, args, {"width", "fillchar"});
    return pad(s, a, name.c_str(), max_bytes);
  }
  if (name == "zfill") {
    ArgBinder a(name, args, {"width"});
    int64_t width = int_arg(a, 0, 0);
    int64_t len = static_cast<int64_t>(unicode::length(s));
    if (width <= len) return self;
    if (static_cast<size_t>(width) > max_bytes) fault("zfill() width larger than the byte limit");
    size_t sign = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    return Value::string(s.substr(0, sign) + std::string(width - len, '0') + s.substr(sign));
  }
  if (name == "partition" || name == "rpartition") {
    ArgBinder a(name, args, {"sep"});
    const std::string& sep = string_arg(a, 0, name.c_str());
    if (sep.empty()) fault("empty separator");
    size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (at == std::string::npos) {
      if (name == "partition")
        return Value::sequence({self, Value::string(""), Value::string("")}, SeqKind::kTuple);
      return Value::sequence({Value::string(""), Value::string(""), self}, SeqKind::kTuple);
    }
    return Value::sequence({Value::string(s.substr(0, at)), Value::string(sep),
                            Value::string(s.substr(at + sep.size()))},
                           SeqKind::kTuple);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ArgBinder a(name, args, {"affix"});
    const std::string& x = string_arg(a, 0, name.c_str());
    if (name == "removeprefix" && s.compare(0, x.size(), x) == 0)
      return Value::string(s.substr(x.size()));
    if (name == "removesuffix" && !x.empty() && x.size() <= s.size() &&
        s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value::string(s.substr(0, s.size() - x.size()));
    return Value::string(s);
  }
  if (name == "format") return Value::string(brace_format(s, args, max_bytes));
  fault("'str' object has no attribute '{}'", name);
}

Value dict_method(const Value& self, const std::string& name, CallArgs& args) {
  const Dict& d = self.as_dict();
  if (name == "get") {
    ArgBinder a("get", args, {"key", "default"});
    if (!a.has(0)) fault("get expected at least 1 argument, got 0");
    if (!hash_key(a.get(0))) fault("unhashable type: '{}'", a.get(0).type_name());
    const Value* v = d.find(a.get(0));
    return v ? *v : a.get_or(1, Value::none());
  }
  ArgBinder(name, args, {});
  if (name == "copy") return self;
  List out;
  out.reserve(d.size());
  for (const auto& [k, v] : d.items()) {
    if (name == "keys")
      out.push_back(k);
    else if (name == "values")
      out.push_back(v);
    else
      out.push_back(Value::sequence({k, v}, SeqKind::kTuple));
  }
  SeqKind kind = name == "keys"     ? SeqKind::kDictKeys
                 : name == "values" ? SeqKind::kDictValues
                                    : SeqKind::kDictItems;
  return Value::sequence(std::move(out), kind);
}

Value list_method(const Value& self, const std::string& name, CallArgs& args) {
  const List& items = self.as_list();
  if (name == "copy") {
    ArgBinder("copy", args, {});
    return self;
  }
  ArgBinder a(name, args, {"value"});
  if (!a.has(0)) fault("{}() takes exactly one argument (0 given)", name);
  if (name == "count")
    return Value::integer(std::count_if(items.begin(), items.end(),
                                        [&](const Value& v) { return equals(v, a.get(0)); }));
  for (size_t i = 0; i < items.size(); ++i)
    if (equals(items[i], a.get(0))) return Value::integer(static_cast<int64_t>(i));
  fault("{} is not in list", to_repr(a.get(0)));
}

}  // namespace

bool has_method(const Value& value, std::string_view name, bool& unsafe) {
  unsafe = false;
  if (value.is_string()) return kStringMethods.count(name) != 0;
  if (value.is_dict()) {
    if (kDictUnsafe.count(name)) return unsafe = true;
    return kDictMethods.count(name) != 0;
  }
  if (value.is_sequence() &&
      (value.seq_kind() == SeqKind::kList || value.seq_kind() == SeqKind::kTuple)) {
    if (kListUnsafe.count(name) && value.seq_kind() == SeqKind::kList) return unsafe = true;
    return kListMethods.count(name) != 0 && (name != "copy" || value.seq_kind() == SeqKind::kList);
  }
  return false;
}

Value call_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args) {
  bool unsafe = false;
  if (!has_method(self, name, unsafe) || unsafe) {
    if (unsafe) fault("access to attribute '{}' of '{}' object is unsafe.", name, self.type_name());
    fault("'{}' object has no attribute '{}'", self.type_name(), name);
  }
  if (self.is_string()) {
    Value result = string_method(in, self, name, args);
    if (self.is_safe() && result.is_string() && kMarkupKeeping.count(name))
      return Value::string(result.as_string(), true);
    return result;
  }
  if (self.is_dict()) return dict_method(self, name, args);
  return list_method(self, name, args);
}

}  // namespace tessera::jinja
