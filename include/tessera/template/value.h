// Values of the template language. They follow Python's data model as far
// as chat templates can see it: None, bool, int, float, str (with a "safe"
// flag standing in for markupsafe.Markup), list/tuple (plus iterators and
// dict views, which print and test differently), dict with insertion order,
// callables (builtins, methods, macros), attribute objects (namespace(),
// loop) and jinja2's Undefined.
//
// Strings, lists and dicts are immutable and shared: copying a Value is
// cheap. Only attribute objects (namespace) change in place, like in Python.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tessera::jinja {

class Value;
class Dict;
struct Object;
struct Callable;
class Interpreter;

using List = std::vector<Value>;

// Python sequence types a template can tell apart (by printing them, by
// `is sequence`, by len()).
enum class SeqKind : uint8_t {
  kList,
  kTuple,
  kIterator,    // generators/iterators from filters: truthy, no len, no indexing
  kDictItems,   // dict.items()
  kDictKeys,    // dict.keys()
  kDictValues,  // dict.values()
};

class Value {
 public:
  enum class Type : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kSequence,
    kDict,
    kCallable,
    kObject,
  };

  Value() = default;  // undefined, without a name
  static Value undefined(std::string hint);
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double d);
  static Value string(std::string s, bool safe = false);
  static Value sequence(List items, SeqKind kind = SeqKind::kList);
  static Value dict(Dict d);
  // `depth` is that of what the callable holds (a bound method's object).
  static Value callable(std::shared_ptr<Callable> c, int depth = 0);
  static Value object(std::shared_ptr<Object> o);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::kUndefined; }
  bool is_none() const { return type_ == Type::kNone; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_float() const { return type_ == Type::kFloat; }
  // bool counts as a number, as in Python (bool subclasses int).
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_integral() const { return is_bool() || is_int(); }
  bool is_string() const { return type_ == Type::kString; }
  bool is_sequence() const { return type_ == Type::kSequence; }
  bool is_dict() const { return type_ == Type::kDict; }
  bool is_callable() const { return type_ == Type::kCallable; }
  bool is_object() const { return type_ == Type::kObject; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return is_bool() ? (b_ ? 1 : 0) : i_; }  // int or bool
  double as_float() const { return is_float() ? f_ : static_cast<double>(as_int()); }
  const std::string& as_string() const;
  bool is_safe() const { return safe_; }  // a markupsafe.Markup string
  const List& as_list() const;
  SeqKind seq_kind() const { return seq_kind_; }
  const Dict& as_dict() const;
  const Callable& as_callable() const;
  Object& as_object() const;
  // The message jinja2 gives when an undefined value is used.
  std::string undefined_message() const;

  // How deeply containers nest inside this value (0 for scalars). Values
  // deeper than kMaxDepth are refused, which keeps printing, comparing and
  // freeing them within the stack.
  int depth() const { return depth_; }
  static constexpr int kMaxDepth = 256;

  // Python's bool(value).
  bool truthy() const;
  // Python's type(value).__name__, for error messages.
  std::string type_name() const;

 private:
  Type type_ = Type::kUndefined;
  bool safe_ = false;
  SeqKind seq_kind_ = SeqKind::kList;
  bool b_ = false;
  uint16_t depth_ = 0;
  union {
    int64_t i_ = 0;
    double f_;
  };
  std::shared_ptr<const void> ptr_;  // string, list, dict, callable, object, undefined hint
};

// A dict that keeps insertion order (as Python's does). Keys are hashable
// values: str, int, float, bool, None; 1, 1.0 and True are the same key.
class Dict {
 public:
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts or replaces (keeping the first position); throws on an
  // unhashable key.
  void set(const Value& key, Value value);
  void set(std::string_view key, Value value);
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }
  void clear();

 private:
  std::vector<std::pair<Value, Value>> items_;
  std::unordered_map<std::string, size_t> index_;  // hash_key(key) -> position
};

// Python-style call arguments.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFunction = std::function<Value(Interpreter&, CallArgs&)>;

struct Callable {
  enum class Kind : uint8_t { kFunction, kMethod, kMacro };
  Kind kind = Kind::kFunction;
  std::string name;
  NativeFunction fn;
};

// An object with attributes: namespace() (assignable), loop, cycler...
struct Object {
  std::string type_name;  // "Namespace", "LoopContext", ...
  bool assignable = false;
  Dict attrs;
  // Computed attributes (loop.index...), tried before `attrs`.
  std::function<bool(const std::string& name, Value& out)> getter;
};

}  // namespace tessera::jinja
