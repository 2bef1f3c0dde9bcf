// Filters on sequences and mappings. Where jinja2 returns a generator
// (map, select, unique, items, batch, slice, reverse) the result is an
// iterator value: truthy, without len(), printing as a generator.
#include <algorithm>

#include "filters.h"
#include "ops.h"
#include "unicode.h"

namespace tessera::jinja::filters {

namespace {

Value iterator(List items) { return Value::sequence(std::move(items), SeqKind::kIterator); }

// "a.b.0" -> getitem path ["a", "b", 0], as jinja2's make_attrgetter.
std::vector<Value> attribute_path(const Value& attribute) {
  std::vector<Value> parts;
  if (attribute.is_none() || attribute.is_undefined()) return parts;
  if (!attribute.is_string()) {
    parts.push_back(attribute);
    return parts;
  }
  const std::string& s = attribute.as_string();
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(),
                                               [](char c) { return c >= '0' && c <= '9'; });
    if (digits && part.size() < 18)
      parts.push_back(Value::integer(std::stoll(part)));
    else
      parts.push_back(Value::string(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

Value follow(Interpreter& in, Value item, const std::vector<Value>& path,
             const Value* fallback = nullptr) {
  for (const Value& part : path) {
    item = in.getitem(item, part);
    if (fallback && item.is_undefined()) item = *fallback;
  }
  return item;
}

Value ignore_case(const Value& v) {
  if (v.is_string()) return Value::string(unicode::lower(v.as_string()));
  return v;
}

// Python's sorted() with a key and reverse: stable either way.
void sort_by_key(std::vector<std::pair<Value, Value>>& keyed, bool reverse) {
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? compare(b.first, a.first) < 0 : compare(a.first, b.first) < 0;
  });
}

// select / reject / selectattr / rejectattr
Value select_or_reject(Interpreter& in, const Value& value, CallArgs& args, bool keep_if,
                       bool lookup_attr) {
  if (!value.truthy()) return iterator({});
  size_t off = 0;
  std::vector<Value> path;
  if (lookup_attr) {
    if (args.positional.empty()) fault("Missing parameter for attribute name");
    path = attribute_path(args.positional[0]);
    off = 1;
  }
  std::string test_name;
  CallArgs test_args;
  const bool has_test = args.positional.size() > off;
  if (has_test) {
    test_name = to_str(args.positional[off]);
    test_args.positional.assign(args.positional.begin() + off + 1, args.positional.end());
    test_args.keyword = args.keyword;
  }
  List out;
  for (const Value& item : in.iterate(value)) {
    Value subject = lookup_attr ? follow(in, item, path) : item;
    bool passed;
    if (has_test) {
      CallArgs a = test_args;
      passed = in.apply_test(test_name, subject, a);
    } else {
      passed = subject.truthy();
    }
    if (passed == keep_if) out.push_back(item);
  }
  return iterator(std::move(out));
}

Value min_or_max(Interpreter& in, const Value& value, CallArgs& args, const char* name, bool max) {
  ArgBinder a(name, args, {"case_sensitive", "attribute"});
  bool case_sensitive = a.get_or(0, Value::boolean(false)).truthy();
  std::vector<Value> path = attribute_path(a.get_or(1, Value::none()));
  List items = in.iterate(value);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  auto key = [&](const Value& item) {
    Value k = follow(in, item, path);
    return case_sensitive ? k : ignore_case(k);
  };
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (max ? compare(k, best_key, ">") > 0 : compare(k, best_key, "<") < 0) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

}  // namespace

Value attr(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("attr", args, {"name"});
  if (!a.has(0)) fault("attr() missing required argument 'name'");
  if (value.is_undefined()) undefined_fault(value);
  std::string name = to_str(a.get(0));
  bool unsafe = false;
  if (value.is_object() || has_method(value, name, unsafe)) return in.getattr(value, name);
  return Value::undefined(
      fmt::format("'{} object' has no attribute '{}'", value.type_name(), name));
}

Value batch(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("batch", args, {"linecount", "fill_with"});
  if (!a.has(0) || !a.get(0).is_integral()) fault("batch() needs an integer line count");
  const int64_t linecount = a.get(0).as_int();
  if (linecount <= 0) fault("batch() line count must be positive");
  Value fill = a.get_or(1, Value::none());
  List out, current;
  for (Value& item : in.iterate(value)) {
    if (static_cast<int64_t>(current.size()) == linecount) {
      out.push_back(Value::sequence(std::move(current)));
      current.clear();
    }
    current.push_back(std::move(item));
  }
  if (!current.empty()) {
    if (!fill.is_none())
      while (static_cast<int64_t>(current.size()) < linecount) current.push_back(fill);
    out.push_back(Value::sequence(std::move(current)));
  }
  return iterator(std::move(out));
}

Value default_value(Interpreter&, const Value& value, CallArgs& args) {
  ArgBinder a("default", args, {"default_value", "boolean"});
  const bool boolean = a.get_or(1, Value::boolean(false)).truthy();
  if (value.is_undefined() || (boolean && !value.truthy())) return a.get_or(0, Value::string(""));
  return value;
}

Value dictsort(Interpreter&, const Value& value, CallArgs& args) {
  ArgBinder a("dictsort", args, {"case_sensitive", "by", "reverse"});
  bool case_sensitive = a.get_or(0, Value::boolean(false)).truthy();
  std::string by = to_str(a.get_or(1, Value::string("key")));
  bool reverse = a.get_or(2, Value::boolean(false)).truthy();
  if (by != "key" && by != "value") fault("You can only sort by either \"key\" or \"value\"");
  if (value.is_undefined()) undefined_fault(value);
  if (!value.is_dict()) fault("'{}' object has no attribute 'items'", value.type_name());
  std::vector<std::pair<Value, Value>> keyed;
  for (const auto& [k, v] : value.as_dict().items()) {
    Value key = by == "key" ? k : v;
    keyed.emplace_back(case_sensitive ? key : ignore_case(key),
                       Value::sequence({k, v}, SeqKind::kTuple));
  }
  sort_by_key(keyed, reverse);
  List out;
  for (auto& [k, item] : keyed) out.push_back(std::move(item));
  return Value::sequence(std::move(out));
}

Value first(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("first", args, {});
  List items = in.iterate(value);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value items(Interpreter&, const Value& value, CallArgs& args) {
  ArgBinder("items", args, {});
  if (value.is_undefined()) return iterator({});
  if (!value.is_dict()) fault("Can only get item pairs from a mapping.");
  List out;
  for (const auto& [k, v] : value.as_dict().items())
    out.push_back(Value::sequence({k, v}, SeqKind::kTuple));
  return iterator(std::move(out));
}

Value join(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("join", args, {"d", "attribute"});
  std::string separator = to_str(a.get_or(0, Value::string("")));
  std::vector<Value> path = attribute_path(a.get_or(1, Value::none()));
  const size_t limit = in.limits().max_output_bytes;
  std::string out;
  bool first_item = true;
  for (const Value& item : in.iterate(value)) {
    if (!first_item) out += separator;
    first_item = false;
    out += to_str(path.empty() ? item : follow(in, item, path), limit);
    if (out.size() > limit) fault("join() result larger than the {} byte limit", limit);
  }
  return Value::string(std::move(out));
}

Value last(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("last", args, {});
  if (value.is_sequence() && value.seq_kind() == SeqKind::kIterator)
    fault("'generator' object is not reversible");
  List items = in.iterate(value);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value length(Interpreter&, const Value& value, CallArgs& args) {
  ArgBinder("length", args, {});
  switch (value.type()) {
    case Value::Type::kUndefined:
      return Value::integer(0);
    case Value::Type::kString:
      return Value::integer(static_cast<int64_t>(unicode::length(value.as_string())));
    case Value::Type::kDict:
      return Value::integer(static_cast<int64_t>(value.as_dict().size()));
    case Value::Type::kSequence:
      if (value.seq_kind() == SeqKind::kIterator) break;
      return Value::integer(static_cast<int64_t>(value.as_list().size()));
    default:
      break;
  }
  fault("object of type '{}' has no len()", value.type_name());
}

Value list(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("list", args, {});
  return Value::sequence(in.iterate(value));
}

Value map(Interpreter& in, const Value& value, CallArgs& args) {
  List out;
  if (!value.truthy()) return iterator({});  // jinja2: `if value:` before iterating
  if (args.positional.empty()) {
    const Value* attribute = nullptr;
    const Value* fallback = nullptr;
    for (const auto& [k, v] : args.keyword) {
      if (k == "attribute")
        attribute = &v;
      else if (k == "default")
        fallback = &v;
      else
        fault("Unexpected keyword argument '{}'", k);
    }
    if (!attribute) fault("map requires a filter argument");
    std::vector<Value> path = attribute_path(*attribute);
    const Value* default_value = fallback && !fallback->is_none() ? fallback : nullptr;
    for (const Value& item : in.iterate(value))
      out.push_back(follow(in, item, path, default_value));
    return iterator(std::move(out));
  }
  std::string name = to_str(args.positional[0]);
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : in.iterate(value)) {
    CallArgs a = rest;
    out.push_back(in.apply_filter(name, item, a));
  }
  return iterator(std::move(out));
}

Value max(Interpreter& in, const Value& value, CallArgs& args) {
  return min_or_max(in, value, args, "max", true);
}
Value min(Interpreter& in, const Value& value, CallArgs& args) {
  return min_or_max(in, value, args, "min", false);
}

Value select(Interpreter& in, const Value& value, CallArgs& args) {
  return select_or_reject(in, value, args, true, false);
}
Value reject(Interpreter& in, const Value& value, CallArgs& args) {
  return select_or_reject(in, value, args, false, false);
}
Value selectattr(Interpreter& in, const Value& value, CallArgs& args) {
  return select_or_reject(in, value, args, true, true);
}
Value rejectattr(Interpreter& in, const Value& value, CallArgs& args) {
  return select_or_reject(in, value, args, false, true);
}

Value reverse(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder("reverse", args, {});
  if (value.is_string()) return jinja::slice(value, std::nullopt, std::nullopt, -1);
  List items = in.iterate(value);
  std::reverse(items.begin(), items.end());
  return iterator(std::move(items));
}

Value slice(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("slice", args, {"slices", "fill_with"});
  if (!a.has(0) || !a.get(0).is_integral()) fault("slice() needs an integer number of slices");
  const int64_t slices = a.get(0).as_int();
  if (slices <= 0) fault("integer division or modulo by zero");
  in.check_sequence_size(static_cast<size_t>(slices));
  Value fill = a.get_or(1, Value::none());
  List seq = in.iterate(value);
  const int64_t length = static_cast<int64_t>(seq.size());
  const int64_t per_slice = length / slices, with_extra = length % slices;
  int64_t offset = 0;
  List out;
  for (int64_t n = 0; n < slices; ++n) {
    int64_t start = offset + n * per_slice;
    if (n < with_extra) ++offset;
    int64_t end = offset + (n + 1) * per_slice;
    List part(seq.begin() + start, seq.begin() + end);
    if (!fill.is_none() && n >= with_extra) part.push_back(fill);
    out.push_back(Value::sequence(std::move(part)));
  }
  return iterator(std::move(out));
}

Value sort(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("sort", args, {"reverse", "case_sensitive", "attribute"});
  bool reverse = a.get_or(0, Value::boolean(false)).truthy();
  bool case_sensitive = a.get_or(1, Value::boolean(false)).truthy();
  Value attribute = a.get_or(2, Value::none());
  // "a,b": sort by several attributes (jinja2's make_multi_attrgetter)
  std::vector<std::vector<Value>> paths;
  if (attribute.is_string()) {
    const std::string& s = attribute.as_string();
    size_t start = 0;
    while (true) {
      size_t comma = s.find(',', start);
      paths.push_back(attribute_path(Value::string(s.substr(start, comma - start))));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    paths.push_back(attribute_path(attribute));
  }
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : in.iterate(value)) {
    List key;
    for (const auto& path : paths) {
      Value k = follow(in, item, path);
      key.push_back(case_sensitive ? k : ignore_case(k));
    }
    keyed.emplace_back(Value::sequence(std::move(key)), std::move(item));
  }
  sort_by_key(keyed, reverse);
  List out;
  for (auto& [k, item] : keyed) out.push_back(std::move(item));
  return Value::sequence(std::move(out));
}

Value sum(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("sum", args, {"attribute", "start"});
  std::vector<Value> path = attribute_path(a.get_or(0, Value::none()));
  Value total = a.get_or(1, Value::integer(0));
  if (total.is_string()) fault("sum() can't sum strings [use ''.join(seq) instead]");
  for (const Value& item : in.iterate(value))
    total = add(total, path.empty() ? item : follow(in, item, path), in.limits().max_output_bytes,
                in.limits().max_sequence_items);
  return total;
}

Value unique(Interpreter& in, const Value& value, CallArgs& args) {
  ArgBinder a("unique", args, {"case_sensitive", "attribute"});
  bool case_sensitive = a.get_or(0, Value::boolean(false)).truthy();
  std::vector<Value> path = attribute_path(a.get_or(1, Value::none()));
  Dict seen;
  List out;
  for (const Value& item : in.iterate(value)) {
    Value key = follow(in, item, path);
    if (!case_sensitive) key = ignore_case(key);
    if (seen.find(key)) continue;
    seen.set(key, Value::none());
    out.push_back(item);
  }
  return iterator(std::move(out));
}

}  // namespace tessera::jinja::filters
