// Python's number parsing (int(str), float(str)) and round().
#pragma once

#include <cstdint>
#include <string_view>

namespace tessera::jinja {

// int(s, base): surrounding whitespace, a sign, "_" between digits, and a
// 0x/0o/0b prefix matching `base` (or any with base 0). False if invalid or
// beyond 64 bits.
bool parse_python_int(std::string_view s, int64_t base, int64_t& out);
// float(s): decimal forms, "inf"/"infinity"/"nan" with any case and sign.
bool parse_python_float(std::string_view s, double& out);
// round(x, ndigits) for float x: correctly rounded, ties to even.
double python_round(double x, int64_t ndigits);
// round(i, ndigits) for int i.
int64_t python_round_int(int64_t i, int64_t ndigits);

}  // namespace tessera::jinja
