// Python's text forms of values: str(), repr(), json.dumps, %-formatting
// and str.format. Byte-for-byte what CPython prints, because rendered
// prompts must match transformers exactly.
#include <charconv>
#include <cmath>
#include <cstdio>

#include "ops.h"
#include "tessera/template/value.h"
#include "unicode.h"

namespace tessera::jinja {

namespace {

constexpr int kMaxReprDepth = Value::kMaxDepth + 8;

void check_depth(int depth) {
  if (depth > kMaxReprDepth) fault("maximum recursion depth exceeded while printing a value");
}

void check_bytes(const std::string& s, size_t max_bytes) {
  if (s.size() > max_bytes) fault("string longer than the {} byte limit", max_bytes);
}

void append_str_repr(std::string& out, const std::string& s) {
  char quote = '\'';
  if (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) quote = '"';
  out.push_back(quote);
  for (char32_t c : unicode::decode(s)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned>(c));
    } else if (c < 0x7F || unicode::is_printable(c)) {
      unicode::append(out, c);
    } else if (c <= 0xFF) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned>(c));
    } else if (c <= 0xFFFF) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<unsigned>(c));
    }
  }
  out.push_back(quote);
}

void append_repr(std::string& out, const Value& v, int depth, size_t max);

void append_items(std::string& out, const List& items, int depth, size_t max) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, items[i], depth + 1, max);
    check_bytes(out, max);
  }
}

void append_dict(std::string& out, const Dict& d, int depth, size_t max) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : d.items()) {
    if (!first) out += ", ";
    first = false;
    append_repr(out, k, depth + 1, max);
    out += ": ";
    append_repr(out, v, depth + 1, max);
    check_bytes(out, max);
  }
  out.push_back('}');
}

void append_str(std::string& out, const Value& v, int depth, size_t max) {
  check_depth(depth);
  switch (v.type()) {
    case Value::Type::kUndefined:
      return;
    case Value::Type::kNone:
      out += "None";
      return;
    case Value::Type::kBool:
      out += v.as_bool() ? "True" : "False";
      return;
    case Value::Type::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Type::kFloat:
      out += float_repr(v.as_float());
      return;
    case Value::Type::kString:
      out += v.as_string();
      return;
    case Value::Type::kSequence:
      switch (v.seq_kind()) {
        case SeqKind::kList:
          out.push_back('[');
          append_items(out, v.as_list(), depth, max);
          out.push_back(']');
          return;
        case SeqKind::kTuple:
          out.push_back('(');
          append_items(out, v.as_list(), depth, max);
          if (v.as_list().size() == 1) out.push_back(',');
          out.push_back(')');
          return;
        case SeqKind::kIterator:
          out += "<generator object>";
          return;
        case SeqKind::kDictItems:
        case SeqKind::kDictKeys:
        case SeqKind::kDictValues:
          out += v.type_name() + "([";
          append_items(out, v.as_list(), depth, max);
          out += "])";
          return;
      }
      return;
    case Value::Type::kDict:
      append_dict(out, v.as_dict(), depth, max);
      return;
    case Value::Type::kCallable: {
      const Callable& c = v.as_callable();
      if (c.kind == Callable::Kind::kMacro)
        out += "<Macro '" + c.name + "'>";
      else
        out += "<built-in method " + c.name + ">";
      return;
    }
    case Value::Type::kObject: {
      const Object& o = v.as_object();
      if (o.type_name == "Namespace") {
        out += "<Namespace ";
        append_dict(out, o.attrs, depth, max);
        out += ">";
      } else if (o.type_name == "LoopContext" && o.getter) {
        Value index, length;
        o.getter("index", index);
        o.getter("length", length);
        out += fmt::format("<LoopContext {}/{}>", to_str(index), to_str(length));
      } else {
        out += "<" + o.type_name + " object>";
      }
      return;
    }
  }
}

void append_repr(std::string& out, const Value& v, int depth, size_t max) {
  check_depth(depth);
  if (v.is_string()) {
    if (v.is_safe()) out += "Markup(";
    append_str_repr(out, v.as_string());
    if (v.is_safe()) out += ")";
  } else if (v.is_undefined()) {
    out += "Undefined";
  } else {
    append_str(out, v, depth, max);
  }
}

// json.dumps

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out.push_back('"');
  auto plain = [&](char32_t c) {
    switch (c) {
      case '"':
        out += "\\\"";
        return;
      case '\\':
        out += "\\\\";
        return;
      case '\n':
        out += "\\n";
        return;
      case '\r':
        out += "\\r";
        return;
      case '\t':
        out += "\\t";
        return;
      case '\b':
        out += "\\b";
        return;
      case '\f':
        out += "\\f";
        return;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        else
          unicode::append(out, c);
    }
  };
  if (!ensure_ascii) {
    // Only ASCII bytes need escaping: copy runs of everything else as is.
    for (char ch : s) {
      unsigned char c = static_cast<unsigned char>(ch);
      if (c >= 0x20 && c != '"' && c != '\\')
        out.push_back(ch);
      else
        plain(c);
    }
  } else {
    for (char32_t c : unicode::decode(s)) {
      if (c < 0x7F) {
        plain(c);
      } else if (c < 0x10000) {
        out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      } else {
        char32_t v = c - 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", static_cast<unsigned>(0xD800 + (v >> 10)),
                           static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      }
    }
  }
  out.push_back('"');
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return float_repr(d);
}

struct JsonWriter {
  const JsonOptions& options;
  size_t max_bytes;
  std::string out;

  void newline(int level) {
    if (!options.indent) return;
    out.push_back('\n');
    for (int i = 0; i < level; ++i) out += *options.indent;
  }

  std::string key_text(const Value& k) {
    switch (k.type()) {
      case Value::Type::kString:
        return k.as_string();
      case Value::Type::kFloat:
        return json_float(k.as_float());
      case Value::Type::kBool:
        return k.as_bool() ? "true" : "false";
      case Value::Type::kNone:
        return "null";
      case Value::Type::kInt:
        return std::to_string(k.as_int());
      default:
        fault("keys must be str, int, float, bool or None, not {}", k.type_name());
    }
  }

  void write(const Value& v, int level) {
    check_depth(level);
    check_bytes(out, max_bytes);
    switch (v.type()) {
      case Value::Type::kNone:
        out += "null";
        return;
      case Value::Type::kBool:
        out += v.as_bool() ? "true" : "false";
        return;
      case Value::Type::kInt:
        out += std::to_string(v.as_int());
        return;
      case Value::Type::kFloat:
        out += json_float(v.as_float());
        return;
      case Value::Type::kString:
        append_json_string(out, v.as_string(), options.ensure_ascii);
        return;
      case Value::Type::kSequence: {
        if (v.seq_kind() != SeqKind::kList && v.seq_kind() != SeqKind::kTuple) break;
        const List& items = v.as_list();
        if (items.empty()) {
          out += "[]";
          return;
        }
        out.push_back('[');
        newline(level + 1);
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) {
            out += options.item_separator;
            newline(level + 1);
          }
          write(items[i], level + 1);
        }
        newline(level);
        out.push_back(']');
        return;
      }
      case Value::Type::kDict: {
        const Dict& d = v.as_dict();
        if (d.empty()) {
          out += "{}";
          return;
        }
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [k, item] : d.items()) entries.emplace_back(key_text(k), &item);
        if (options.sort_keys)
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
        out.push_back('{');
        newline(level + 1);
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i) {
            out += options.item_separator;
            newline(level + 1);
          }
          append_json_string(out, entries[i].first, options.ensure_ascii);
          out += options.key_separator;
          write(*entries[i].second, level + 1);
        }
        newline(level);
        out.push_back('}');
        return;
      }
      default:
        break;
    }
    fault("Object of type {} is not JSON serializable", v.type_name());
  }
};

}  // namespace

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci = [-]D[.DDD]e[+-]XX
  std::string out;
  size_t i = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    i = 1;
  }
  size_t e = sci.find('e');
  std::string digits;
  for (size_t k = i; k < e; ++k)
    if (sci[k] != '.') digits.push_back(sci[k]);
  int exponent = std::stoi(sci.substr(e + 1));
  int decpt = exponent + 1;  // digits are 0.DDD x 10^decpt
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(-decpt, '0');
      out += digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits;
      out.append(decpt - digits.size(), '0');
      out += ".0";
    } else {
      out.append(digits, 0, decpt);
      out.push_back('.');
      out.append(digits, decpt);
    }
  } else {
    out.push_back(digits[0]);
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  }
  return out;
}

std::string to_str(const Value& v, size_t max_bytes) {
  if (v.is_string()) return v.as_string();
  std::string out;
  append_str(out, v, 0, max_bytes);
  return out;
}

std::string to_repr(const Value& v, size_t max_bytes) {
  std::string out;
  append_repr(out, v, 0, max_bytes);
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '"':
        out += "&#34;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string json_dumps(const Value& v, const JsonOptions& options, size_t max_bytes) {
  JsonWriter writer{options, max_bytes, {}};
  writer.write(v, 0);
  check_bytes(writer.out, max_bytes);
  return std::move(writer.out);
}

}  // namespace tessera::jinja
