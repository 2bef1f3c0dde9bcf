// Python string formatting: `fmt % args` and str.format().
#include <cmath>
#include <cstdio>

#include "ops.h"
#include "unicode.h"

namespace tessera::jinja {

namespace {

struct Spec {
  char fill = ' ';
  char align = 0;  // '<', '>', '^', '=' or 0 (type default)
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  int width = -1;
  int precision = -1;
  char type = 0;
};

std::string pad(std::string body, const Spec& spec, bool numeric) {
  if (spec.width < 0) return body;
  size_t len = unicode::length(body);
  if (len >= static_cast<size_t>(spec.width)) return body;
  size_t n = spec.width - len;
  char align = spec.align ? spec.align : (numeric ? '>' : '<');
  char fill = spec.fill;
  if (spec.zero && !spec.align) {
    align = '=';
    fill = '0';
  }
  if (align == '<') return body + std::string(n, fill);
  if (align == '^') return std::string(n / 2, fill) + body + std::string(n - n / 2, fill);
  if (align == '=') {
    size_t sign_len =
        (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
    if (body.size() > sign_len + 1 && body[sign_len] == '0' &&
        (body[sign_len + 1] == 'x' || body[sign_len + 1] == 'X' || body[sign_len + 1] == 'o' ||
         body[sign_len + 1] == 'b'))
      sign_len += 2;
    return body.substr(0, sign_len) + std::string(n, fill) + body.substr(sign_len);
  }
  return std::string(n, fill) + body;
}

int64_t as_integer(const Value& v, char type) {
  if (v.is_integral()) return v.as_int();
  if (v.is_float()) {
    if (type == 'x' || type == 'X' || type == 'o' || type == 'c' || type == 'b')
      fault("%{} format: an integer is required, not float", type);
    double d = v.as_float();
    if (!std::isfinite(d)) fault("cannot convert float {} to integer", float_repr(d));
    return static_cast<int64_t>(d);
  }
  fault("%{} format: a real number is required, not {}", type, v.type_name());
}

std::string with_sign(std::string digits, bool negative, char sign) {
  if (negative) return "-" + digits;
  if (sign == '+') return "+" + digits;
  if (sign == ' ') return " " + digits;
  return digits;
}

std::string format_integer(int64_t i, const Spec& spec) {
  bool negative = i < 0;
  uint64_t u = negative ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
  std::string digits;
  switch (spec.type) {
    case 'x':
      digits = fmt::format("{:x}", u);
      if (spec.alternate) digits = "0x" + digits;
      break;
    case 'X':
      digits = fmt::format("{:X}", u);
      if (spec.alternate) digits = "0X" + digits;
      break;
    case 'o':
      digits = fmt::format("{:o}", u);
      if (spec.alternate) digits = "0o" + digits;
      break;
    case 'b':
      digits = fmt::format("{:b}", u);
      if (spec.alternate) digits = "0b" + digits;
      break;
    default:
      digits = std::to_string(u);
  }
  if (spec.precision >= 0 && digits.size() < static_cast<size_t>(spec.precision))
    digits = std::string(spec.precision - digits.size(), '0') + digits;
  return with_sign(digits, negative, spec.sign);
}

std::string format_float(double d, const Spec& spec, char type) {
  bool negative = std::signbit(d) && !std::isnan(d);
  double a = std::fabs(d);
  std::string body;
  if (std::isnan(a) || std::isinf(a)) {
    body = std::isnan(a) ? "nan" : "inf";
    if (type == 'F' || type == 'E' || type == 'G') body = std::isnan(a) ? "NAN" : "INF";
  } else if (type == 'r') {
    body = float_repr(a);
  } else {
    int precision = spec.precision < 0 ? 6 : spec.precision;
    char f[16];
    std::snprintf(f, sizeof(f), "%%%s.%d%c", spec.alternate ? "#" : "", precision, type);
    int n = std::snprintf(nullptr, 0, f, a);
    body.resize(n + 1);
    std::snprintf(body.data(), body.size(), f, a);
    body.resize(n);
  }
  return with_sign(body, negative, spec.sign);
}

std::string convert(const Value& v, Spec spec, size_t max_bytes) {
  if (spec.width > 0 && static_cast<size_t>(spec.width) > max_bytes)
    fault("format width larger than the {} byte limit", max_bytes);
  if (spec.precision > 1000) fault("format precision too large");
  switch (spec.type) {
    case 's':
    case 'r':
    case 'a': {
      std::string s = spec.type == 's' ? to_str(v) : to_repr(v);
      if (spec.precision >= 0) {
        std::u32string cs = unicode::decode(s);
        if (cs.size() > static_cast<size_t>(spec.precision))
          s = unicode::encode(std::u32string_view(cs).substr(0, spec.precision));
      }
      return pad(s, spec, false);
    }
    case 'c': {
      if (v.is_string()) {
        if (unicode::length(v.as_string()) != 1) fault("%c requires an int or a unicode character");
        return pad(v.as_string(), spec, false);
      }
      std::string s;
      int64_t cp = as_integer(v, 'c');
      if (cp < 0 || cp > 0x10FFFF) fault("%c arg not in range(0x110000)");
      unicode::append(s, static_cast<char32_t>(cp));
      return pad(s, spec, false);
    }
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o':
    case 'b':
      return pad(format_integer(as_integer(v, spec.type), spec), spec, true);
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
    case '%': {
      if (!v.is_number()) fault("must be real number, not {}", v.type_name());
      if (spec.type == '%') {
        Spec s = spec;
        s.type = 'f';
        return pad(format_float(v.as_float() * 100, s, 'f') + "%", spec, true);
      }
      return pad(format_float(v.as_float(), spec, spec.type), spec, true);
    }
    default:
      fault("unsupported format character '{}'", spec.type);
  }
}

int parse_number(std::string_view f, size_t& i) {
  int n = 0;
  while (i < f.size() && f[i] >= '0' && f[i] <= '9') {
    n = n * 10 + (f[i++] - '0');
    if (n > 100'000'000) fault("format width too large");
  }
  return n;
}

}  // namespace

std::string percent_format(std::string_view f, const Value& args, size_t max_bytes) {
  std::vector<Value> positional;
  const Dict* mapping = nullptr;
  if (args.is_sequence() && args.seq_kind() == SeqKind::kTuple)
    positional = args.as_list();
  else if (args.is_dict())
    mapping = &args.as_dict(), positional.push_back(args);
  else
    positional.push_back(args);
  size_t next = 0;
  bool used_mapping = false;
  auto take = [&]() -> const Value& {
    if (next >= positional.size()) fault("not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  for (size_t i = 0; i < f.size();) {
    if (f[i] != '%') {
      out.push_back(f[i++]);
      continue;
    }
    ++i;
    if (i >= f.size()) fault("incomplete format");
    Spec spec;
    const Value* value = nullptr;
    if (f[i] == '(') {
      size_t close = f.find(')', i);
      if (close == std::string_view::npos) fault("incomplete format key");
      if (!mapping) fault("format requires a mapping");
      const Value* v = mapping->find(f.substr(i + 1, close - i - 1));
      if (!v) fault("KeyError: '{}'", f.substr(i + 1, close - i - 1));
      value = v;
      used_mapping = true;
      i = close + 1;
    }
    for (; i < f.size(); ++i) {
      char c = f[i];
      if (c == '-')
        spec.align = '<';
      else if (c == '+')
        spec.sign = '+';
      else if (c == ' ') {
        if (spec.sign != '+') spec.sign = ' ';
      } else if (c == '#')
        spec.alternate = true;
      else if (c == '0')
        spec.zero = true;
      else
        break;
    }
    if (spec.align == '<') spec.zero = false;
    if (i < f.size() && f[i] == '*') {
      ++i;
      spec.width = static_cast<int>(as_integer(take(), 'd'));
    } else if (i < f.size() && f[i] >= '0' && f[i] <= '9') {
      spec.width = parse_number(f, i);
    }
    if (i < f.size() && f[i] == '.') {
      ++i;
      if (i < f.size() && f[i] == '*') {
        ++i;
        spec.precision = static_cast<int>(as_integer(take(), 'd'));
      } else {
        spec.precision = parse_number(f, i);
      }
    }
    while (i < f.size() && (f[i] == 'h' || f[i] == 'l' || f[i] == 'L')) ++i;
    if (i >= f.size()) fault("incomplete format");
    spec.type = f[i++];
    if (spec.type == '%') {
      out.push_back('%');
      continue;
    }
    out += convert(value ? *value : take(), spec, max_bytes);
    if (out.size() > max_bytes) fault("string longer than the {} byte limit", max_bytes);
  }
  // Python skips this check for args with __getitem__ (lists, dicts), which
  // it treats as a possible mapping.
  const bool subscriptable =
      args.is_dict() || (args.is_sequence() && args.seq_kind() != SeqKind::kTuple);
  if (!used_mapping && !subscriptable && next < positional.size())
    fault("not all arguments converted during string formatting");
  return out;
}

std::string brace_format(std::string_view f, const CallArgs& args, size_t max_bytes) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < f.size();) {
    char c = f[i];
    if (c == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') {
        out.push_back('}');
        i += 2;
        continue;
      }
      fault("Single '}}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out.push_back('{');
      i += 2;
      continue;
    }
    size_t close = f.find('}', i);
    if (close == std::string_view::npos) fault("Single '{{' encountered in format string");
    std::string_view field = f.substr(i + 1, close - i - 1);
    i = close + 1;
    std::string_view spec_text;
    char conversion = 0;
    if (size_t colon = field.find(':'); colon != std::string_view::npos) {
      spec_text = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string_view::npos) {
      if (bang + 2 != field.size()) fault("invalid conversion in format string");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    const Value* value = nullptr;
    if (field.empty()) {
      if (auto_index >= args.positional.size())
        fault("Replacement index {} out of range for positional args tuple", auto_index);
      value = &args.positional[auto_index++];
    } else if (field[0] >= '0' && field[0] <= '9') {
      size_t k = 0;
      size_t index = static_cast<size_t>(parse_number(field, k));
      if (k != field.size()) fault("unsupported format field '{}'", field);
      if (index >= args.positional.size())
        fault("Replacement index {} out of range for positional args tuple", index);
      value = &args.positional[index];
    } else {
      for (const auto& [name, v] : args.keyword)
        if (name == field) value = &v;
      if (!value) fault("KeyError: '{}'", field);
    }
    Value converted = *value;
    if (conversion == 'r' || conversion == 'a')
      converted = Value::string(to_repr(*value));
    else if (conversion == 's')
      converted = Value::string(to_str(*value));
    else if (conversion)
      fault("Unknown conversion specifier {}", conversion);
    // [[fill]align][sign][#][0][width][.precision][type]
    Spec spec;
    size_t k = 0;
    auto is_align = [](char a) { return a == '<' || a == '>' || a == '^' || a == '='; };
    if (spec_text.size() >= 2 && is_align(spec_text[1])) {
      spec.fill = spec_text[0];
      spec.align = spec_text[1];
      k = 2;
    } else if (!spec_text.empty() && is_align(spec_text[0])) {
      spec.align = spec_text[0];
      k = 1;
    }
    if (k < spec_text.size() && (spec_text[k] == '+' || spec_text[k] == '-' || spec_text[k] == ' '))
      spec.sign = spec_text[k++];
    if (k < spec_text.size() && spec_text[k] == '#') spec.alternate = true, ++k;
    if (k < spec_text.size() && spec_text[k] == '0') spec.zero = true, ++k;
    if (k < spec_text.size() && spec_text[k] >= '0' && spec_text[k] <= '9')
      spec.width = parse_number(spec_text, k);
    if (k < spec_text.size() && spec_text[k] == '.') {
      ++k;
      spec.precision = parse_number(spec_text, k);
    }
    if (k < spec_text.size()) spec.type = spec_text[k++];
    if (k != spec_text.size()) fault("Invalid format specifier '{}'", spec_text);
    if (!spec.type) {
      if (converted.is_integral() && !converted.is_bool())
        spec.type = 'd';
      else if (converted.is_float())
        spec.type = spec.precision >= 0 ? 'g' : 'r';
      else
        spec.type = 's';
    }
    if (spec.type == 'r') {  // float with no type: repr, then padding
      out += pad(float_repr(converted.as_float()), spec, true);
    } else {
      if (spec.type == 's' && !converted.is_string() && spec_text.empty())
        converted = Value::string(to_str(converted));
      out += convert(converted, spec, max_bytes);
    }
    if (out.size() > max_bytes) fault("string longer than the {} byte limit", max_bytes);
  }
  return out;
}

}  // namespace tessera::jinja
