// The built-in vocabulary: filters, tests, global functions and the Python
// methods of str/dict/list that templates call. Each lives in its own file;
// the interpreter and the parser find them by name here.
#pragma once

#include <string>
#include <string_view>

#include "tessera/template/value.h"

namespace tessera::jinja {

using FilterFunction = Value (*)(Interpreter&, const Value&, CallArgs&);
using TestFunction = bool (*)(Interpreter&, const Value&, CallArgs&);

FilterFunction find_filter(std::string_view name);  // nullptr if unknown
TestFunction find_test(std::string_view name);
inline bool filter_exists(std::string_view name) { return find_filter(name) != nullptr; }
inline bool test_exists(std::string_view name) { return find_test(name) != nullptr; }

// Globals every render sees (range, namespace, dict, raise_exception,
// strftime_now, cycler, joiner); nullptr-equivalent undefined if unknown.
bool find_global(std::string_view name, Value& out);

// Python methods: `value.name`. Returns false if `value` has no such safe
// method; `unsafe` is set for methods the immutable sandbox forbids
// (list.append, dict.update...).
bool has_method(const Value& value, std::string_view name, bool& unsafe);
Value call_method(Interpreter& interp, const Value& self, const std::string& name, CallArgs& args);

// Binds Python-style call arguments to named parameters, raising the
// TypeError Python would on surplus or unknown arguments.
class ArgBinder {
 public:
  ArgBinder(std::string_view function, CallArgs& args,
            std::initializer_list<std::string_view> params, bool allow_extra_positional = false);
  bool has(size_t i) const { return i < bound_.size() && bound_[i] != nullptr; }
  const Value& get(size_t i) const { return *bound_[i]; }
  Value get_or(size_t i, Value fallback) const { return has(i) ? *bound_[i] : std::move(fallback); }
  // Positional arguments past the named parameters (*args).
  const std::vector<Value>& extra() const { return extra_; }

 private:
  std::vector<const Value*> bound_;
  std::vector<Value> extra_;
};

}  // namespace tessera::jinja
