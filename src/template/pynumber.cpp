#include "pynumber.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "unicode.h"

namespace tessera::jinja {

namespace {

std::string trim_space(std::string_view s) { return unicode::strip(s, nullptr, true, true); }

// Removes single underscores between digits; false if one is misplaced.
bool drop_underscores(std::string_view s, std::string& out, bool (*is_digit)(char)) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !is_digit(s[i - 1]) || !is_digit(s[i + 1])) return false;
      continue;
    }
    out.push_back(s[i]);
  }
  return true;
}

bool is_decimal_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex_digit(char c) {
  return is_decimal_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

bool parse_python_int(std::string_view text, int64_t base, int64_t& out) {
  const std::string trimmed = trim_space(text);
  std::string_view s = trimmed;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() >= 2 && s[0] == '0') {
    char p = static_cast<char>(s[1] | 0x20);
    int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefix_base && (base == 0 || base == prefix_base)) {
      base = prefix_base;
      s.remove_prefix(2);
      if (!s.empty() && s[0] == '_') s.remove_prefix(1);
    }
  }
  if (base == 0) base = 10;
  if (base < 2 || base > 36 || s.empty()) return false;
  std::string digits;
  if (!drop_underscores(s, digits, [](char c) { return is_hex_digit(c) || (c | 0x20) >= 'g'; }))
    return false;
  if (digits.empty()) return false;
  uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude,
                                   static_cast<int>(base));
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return false;
  if (negative) {
    if (magnitude > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    out = static_cast<int64_t>(0 - magnitude);
  } else {
    if (magnitude > static_cast<uint64_t>(INT64_MAX)) return false;
    out = static_cast<int64_t>(magnitude);
  }
  return true;
}

bool parse_python_float(std::string_view text, double& out) {
  const std::string trimmed = trim_space(text);
  std::string_view s = trimmed;
  std::string body;
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  if (lower == "inf" || lower == "infinity") {
    out = negative ? -INFINITY : INFINITY;
    return true;
  }
  if (lower == "nan") {
    out = negative ? -NAN : NAN;
    return true;
  }
  if (!drop_underscores(s, body, is_decimal_digit)) return false;
  // digits [. digits] [e [sign] digits], at least one digit in the mantissa
  size_t i = 0, mantissa_digits = 0;
  while (i < body.size() && is_decimal_digit(body[i])) ++i, ++mantissa_digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && is_decimal_digit(body[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return false;
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < body.size() && is_decimal_digit(body[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != body.size()) return false;
  out = std::strtod(body.c_str(), nullptr);
  if (negative) out = -out;
  return true;
}

double python_round(double x, int64_t ndigits) {
  if (!std::isfinite(x) || x == 0) return x;
  if (ndigits > 323) return x;
  if (ndigits < -308) return std::copysign(0.0, x);
  if (ndigits >= 0) {
    // printf rounds the exact binary value to nearest, ties to even, like
    // CPython's correctly rounded round().
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(ndigits), x);
    double r = std::strtod(buf, nullptr);
    return r == 0 ? std::copysign(0.0, x) : r;
  }
  double pow1 = std::pow(10.0, static_cast<double>(-ndigits));
  double y = x / pow1;
  double z = std::round(y);
  if (std::fabs(y - z) == 0.5) z = 2.0 * std::round(y / 2.0);
  double r = z * pow1;
  return r == 0 ? std::copysign(0.0, x) : r;
}

int64_t python_round_int(int64_t i, int64_t ndigits) {
  if (ndigits >= 0) return i;
  if (ndigits < -18) return 0;
  int64_t pow1 = 1;
  for (int64_t k = 0; k < -ndigits; ++k) pow1 *= 10;
  int64_t q = i / pow1, r = i % pow1;
  if (r < 0) r += pow1, --q;  // floor division
  if (2 * r > pow1 || (2 * r == pow1 && (q & 1))) ++q;
  return q * pow1;
}

}  // namespace tessera::jinja
