// Python semantics for template values: str()/repr(), equality and
// ordering, arithmetic, `in`, json.dumps, HTML escaping and %-formatting.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "tessera/template/value.h"

namespace tessera::jinja {

// A runtime error inside a render (Python's TypeError, jinja2's
// UndefinedError...). The interpreter adds the template line and turns it
// into a TemplateError.
struct RuntimeFault : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fault(fmt::format_string<Args...> format, Args&&... args) {
  throw RuntimeFault(fmt::format(format, std::forward<Args>(args)...));
}
[[noreturn]] void undefined_fault(const Value& undefined);

std::string float_repr(double d);  // Python repr(float)
// Python str() (undefined -> "") and repr(); longer than `max_bytes` throws.
std::string to_str(const Value& v, size_t max_bytes = SIZE_MAX);
std::string to_repr(const Value& v, size_t max_bytes = SIZE_MAX);
std::string html_escape(std::string_view s);  // markupsafe.escape

// Python hash() identity for dict keys; nullopt for unhashable values.
std::optional<std::string> hash_key(const Value& v);

bool equals(const Value& a, const Value& b);  // ==
// <: -1, ==: 0, >: 1; throws the TypeError Python raises for unorderable types.
int compare(const Value& a, const Value& b, const char* op = "<");
bool contains(const Value& container, const Value& item);  // `item in container`

Value add(const Value& a, const Value& b, size_t max_bytes, size_t max_items);
Value subtract(const Value& a, const Value& b);
Value multiply(const Value& a, const Value& b, size_t max_bytes, size_t max_items);
Value divide(const Value& a, const Value& b);
Value floor_divide(const Value& a, const Value& b);
Value modulo(const Value& a, const Value& b, size_t max_bytes);
Value power(const Value& a, const Value& b);
Value negate(const Value& a);
Value positive(const Value& a);

struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // nullopt: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
// Python json.dumps; throws for values JSON cannot hold.
std::string json_dumps(const Value& v, const JsonOptions& options, size_t max_bytes);

// Python's `format % args` for str.
std::string percent_format(std::string_view format, const Value& args, size_t max_bytes);
// Python's str.format(*args, **kwargs) for the common field forms.
std::string brace_format(std::string_view format, const CallArgs& args, size_t max_bytes);

// Python str indexing and slicing work on code points.
Value slice(const Value& v, std::optional<int64_t> start, std::optional<int64_t> stop,
            std::optional<int64_t> step);

}  // namespace tessera::jinja
