// Python arithmetic on template values: int stays int (overflow is an
// error, where Python would grow a big int), `/` is always float, `//` and
// `%` floor, str and list concatenate and repeat, Markup escapes what it is
// joined with.
#include <cmath>
#include <limits>

#include "ops.h"
#include "unicode.h"

namespace tessera::jinja {

namespace {

void check_operand(const Value& v) {
  if (v.is_undefined()) undefined_fault(v);
}

[[noreturn]] void unsupported(const char* op, const Value& a, const Value& b) {
  fault("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name());
}

int64_t checked(bool overflow, int64_t value) {
  if (overflow) fault("integer overflow (beyond 64 bits)");
  return value;
}

bool is_list_like(const Value& v) {
  return v.is_sequence() && (v.seq_kind() == SeqKind::kList || v.seq_kind() == SeqKind::kTuple);
}

Value repeat(const Value& seq, int64_t times, size_t max_bytes, size_t max_items) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(times) > max_bytes / s.size())
      fault("string longer than the {} byte limit", max_bytes);
    std::string out;
    out.reserve(s.size() * times);
    for (int64_t i = 0; i < times; ++i) out += s;
    return Value::string(std::move(out), seq.is_safe());
  }
  const List& items = seq.as_list();
  if (!items.empty() && static_cast<uint64_t>(times) > max_items / items.size())
    fault("list longer than the {} item limit", max_items);
  List out;
  out.reserve(items.size() * times);
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::sequence(std::move(out), seq.seq_kind());
}

double python_fmod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  if (m == 0) m = std::copysign(0.0, b);
  return m;
}

}  // namespace

Value add(const Value& a, const Value& b, size_t max_bytes, size_t max_items) {
  check_operand(a);
  check_operand(b);
  if (a.is_integral() && b.is_integral()) {
    int64_t r = 0;
    const bool overflow = __builtin_add_overflow(a.as_int(), b.as_int(), &r);
    return Value::integer(checked(overflow, r));
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_float() + b.as_float());
  if (a.is_string() && b.is_string()) {
    // markupsafe: Markup + str escapes the str, and the result is Markup.
    const bool safe = a.is_safe() || b.is_safe();
    std::string left = safe && !a.is_safe() ? html_escape(a.as_string()) : a.as_string();
    const std::string right_escaped =
        safe && !b.is_safe() ? html_escape(b.as_string()) : std::string();
    const std::string& right = safe && !b.is_safe() ? right_escaped : b.as_string();
    if (left.size() + right.size() > max_bytes)
      fault("string longer than the {} byte limit", max_bytes);
    left += right;
    return Value::string(std::move(left), safe);
  }
  if (is_list_like(a) && is_list_like(b) && a.seq_kind() == b.seq_kind()) {
    if (a.as_list().size() + b.as_list().size() > max_items)
      fault("list longer than the {} item limit", max_items);
    List out = a.as_list();
    out.insert(out.end(), b.as_list().begin(), b.as_list().end());
    return Value::sequence(std::move(out), a.seq_kind());
  }
  if (a.is_string() && !a.is_safe())
    fault("can only concatenate str (not \"{}\") to str", b.type_name());
  if (is_list_like(a) && a.seq_kind() == SeqKind::kList)
    fault("can only concatenate list (not \"{}\") to list", b.type_name());
  if (is_list_like(a)) fault("can only concatenate tuple (not \"{}\") to tuple", b.type_name());
  unsupported("+", a, b);
}

Value subtract(const Value& a, const Value& b) {
  check_operand(a);
  check_operand(b);
  if (a.is_integral() && b.is_integral()) {
    int64_t r = 0;
    const bool overflow = __builtin_sub_overflow(a.as_int(), b.as_int(), &r);
    return Value::integer(checked(overflow, r));
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_float() - b.as_float());
  unsupported("-", a, b);
}

Value multiply(const Value& a, const Value& b, size_t max_bytes, size_t max_items) {
  check_operand(a);
  check_operand(b);
  if (a.is_integral() && b.is_integral()) {
    int64_t r = 0;
    const bool overflow = __builtin_mul_overflow(a.as_int(), b.as_int(), &r);
    return Value::integer(checked(overflow, r));
  }
  if (a.is_number() && b.is_number()) return Value::number(a.as_float() * b.as_float());
  if ((a.is_string() || is_list_like(a)) && b.is_integral())
    return repeat(a, b.as_int(), max_bytes, max_items);
  if (a.is_integral() && (b.is_string() || is_list_like(b)))
    return repeat(b, a.as_int(), max_bytes, max_items);
  if (a.is_string() || b.is_string() || a.is_sequence() || b.is_sequence())
    fault("can't multiply sequence by non-int of type '{}'",
          (a.is_string() || a.is_sequence()) ? b.type_name() : a.type_name());
  unsupported("*", a, b);
}

Value divide(const Value& a, const Value& b) {
  check_operand(a);
  check_operand(b);
  if (!a.is_number() || !b.is_number()) unsupported("/", a, b);
  if (b.as_float() == 0) fault("division by zero");
  return Value::number(a.as_float() / b.as_float());
}

Value floor_divide(const Value& a, const Value& b) {
  check_operand(a);
  check_operand(b);
  if (!a.is_number() || !b.is_number()) unsupported("//", a, b);
  if (a.is_integral() && b.is_integral()) {
    int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) fault("integer division or modulo by zero");
    if (x == std::numeric_limits<int64_t>::min() && y == -1)
      fault("integer overflow (beyond 64 bits)");
    int64_t q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
    return Value::integer(q);
  }
  double y = b.as_float();
  if (y == 0) fault("float floor division by zero");
  // CPython's float_floor_div
  double x = a.as_float();
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
  double result;
  if (div != 0) {
    result = std::floor(div);
    if (div - result > 0.5) result += 1.0;
  } else {
    result = std::copysign(0.0, x / y);
  }
  return Value::number(result);
}

Value modulo(const Value& a, const Value& b, size_t max_bytes) {
  check_operand(a);
  if (a.is_string()) {
    check_operand(b);
    std::string out = percent_format(a.as_string(), b, max_bytes);
    return Value::string(std::move(out), a.is_safe());
  }
  check_operand(b);
  if (!a.is_number() || !b.is_number()) unsupported("%", a, b);
  if (a.is_integral() && b.is_integral()) {
    int64_t x = a.as_int(), y = b.as_int();
    if (y == 0) fault("integer division or modulo by zero");
    if (y == -1) return Value::integer(0);
    int64_t m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::integer(m);
  }
  if (b.as_float() == 0) fault("float modulo");
  return Value::number(python_fmod(a.as_float(), b.as_float()));
}

Value power(const Value& a, const Value& b) {
  check_operand(a);
  check_operand(b);
  if (!a.is_number() || !b.is_number()) unsupported("** or pow()", a, b);
  if (a.is_integral() && b.is_integral() && b.as_int() >= 0) {
    int64_t base = a.as_int(), exp = b.as_int(), result = 1;
    while (exp > 0) {
      if (exp & 1) checked(__builtin_mul_overflow(result, base, &result), 0);
      exp >>= 1;
      if (exp > 0) checked(__builtin_mul_overflow(base, base, &base), 0);
    }
    return Value::integer(result);
  }
  double x = a.as_float(), y = b.as_float();
  if (x == 0 && y < 0) fault("0.0 cannot be raised to a negative power");
  double r = std::pow(x, y);
  if (std::isinf(r) && std::isfinite(x) && std::isfinite(y)) fault("numerical result out of range");
  return Value::number(r);
}

Value negate(const Value& a) {
  check_operand(a);
  if (a.is_integral()) {
    if (a.as_int() == std::numeric_limits<int64_t>::min())
      fault("integer overflow (beyond 64 bits)");
    return Value::integer(-a.as_int());
  }
  if (a.is_float()) return Value::number(-a.as_float());
  fault("bad operand type for unary -: '{}'", a.type_name());
}

Value positive(const Value& a) {
  check_operand(a);
  if (a.is_integral()) return Value::integer(a.as_int());
  if (a.is_float()) return a;
  fault("bad operand type for unary +: '{}'", a.type_name());
}

Value slice(const Value& v, std::optional<int64_t> start, std::optional<int64_t> stop,
            std::optional<int64_t> step_opt) {
  int64_t step = step_opt.value_or(1);
  if (step == 0) fault("slice step cannot be zero");
  std::u32string chars;
  size_t n;
  const bool is_str = v.is_string();
  if (is_str) {
    if (unicode::is_ascii(v.as_string()))
      n = v.as_string().size();
    else
      chars = unicode::decode(v.as_string()), n = chars.size();
  } else {
    n = v.as_list().size();
  }
  const int64_t len = static_cast<int64_t>(n);
  // Python's PySlice_AdjustIndices
  auto adjust = [&](std::optional<int64_t> x, int64_t fallback) {
    if (!x) return fallback;
    int64_t i = *x;
    if (i < 0) {
      i += len;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= len) {
      i = step < 0 ? len - 1 : len;
    }
    return i;
  };
  int64_t lo = adjust(start, step < 0 ? len - 1 : 0);
  int64_t hi = adjust(stop, step < 0 ? -1 : len);
  std::vector<size_t> indices;
  if (step > 0)
    for (int64_t i = lo; i < hi; i += step) indices.push_back(static_cast<size_t>(i));
  else
    for (int64_t i = lo; i > hi; i += step) indices.push_back(static_cast<size_t>(i));
  if (is_str) {
    std::string out;
    if (chars.empty() && n > 0) {
      for (size_t i : indices) out.push_back(v.as_string()[i]);
    } else {
      for (size_t i : indices) unicode::append(out, chars[i]);
    }
    return Value::string(std::move(out), v.is_safe());
  }
  List out;
  out.reserve(indices.size());
  for (size_t i : indices) out.push_back(v.as_list()[i]);
  return Value::sequence(std::move(out),
                         v.seq_kind() == SeqKind::kTuple ? SeqKind::kTuple : SeqKind::kList);
}

}  // namespace tessera::jinja
