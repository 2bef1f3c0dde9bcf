// Value construction, truthiness, dict keys, equality and ordering.
#include "tessera/template/value.h"

#include <algorithm>
#include <cmath>

#include "ops.h"
#include "unicode.h"

namespace tessera::jinja {

namespace {
template <typename T>
std::shared_ptr<const void> share(T value) {
  return std::make_shared<const T>(std::move(value));
}
const std::string kEmpty;
}  // namespace

Value Value::undefined(std::string hint) {
  Value v;
  v.ptr_ = share(std::move(hint));
  return v;
}
Value Value::none() {
  Value v;
  v.type_ = Type::kNone;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.b_ = b;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.type_ = Type::kInt;
  v.i_ = i;
  return v;
}
Value Value::number(double d) {
  Value v;
  v.type_ = Type::kFloat;
  v.f_ = d;
  return v;
}
Value Value::string(std::string s, bool safe) {
  Value v;
  v.type_ = Type::kString;
  v.safe_ = safe;
  v.ptr_ = share(std::move(s));
  return v;
}
static uint16_t nested_depth(int child_depth) {
  if (child_depth + 1 > Value::kMaxDepth)
    fault("values nest deeper than {} levels", Value::kMaxDepth);
  return static_cast<uint16_t>(child_depth + 1);
}

Value Value::sequence(List items, SeqKind kind) {
  int child = 0;
  for (const Value& item : items) child = std::max(child, item.depth());
  Value v;
  v.depth_ = nested_depth(child);
  v.type_ = Type::kSequence;
  v.seq_kind_ = kind;
  v.ptr_ = share(std::move(items));
  return v;
}
Value Value::dict(Dict d) {
  int child = 0;
  for (const auto& [k, item] : d.items()) child = std::max({child, k.depth(), item.depth()});
  Value v;
  v.depth_ = nested_depth(child);
  v.type_ = Type::kDict;
  v.ptr_ = share(std::move(d));
  return v;
}
Value Value::callable(std::shared_ptr<Callable> c, int depth) {
  Value v;
  v.depth_ = nested_depth(depth);
  v.type_ = Type::kCallable;
  v.ptr_ = std::move(c);
  return v;
}
Value Value::object(std::shared_ptr<Object> o) {
  Value v;
  v.depth_ = 1;
  v.type_ = Type::kObject;
  v.ptr_ = std::move(o);
  return v;
}

const std::string& Value::as_string() const {
  return type_ == Type::kString ? *static_cast<const std::string*>(ptr_.get()) : kEmpty;
}
const List& Value::as_list() const {
  static const List empty;
  return type_ == Type::kSequence ? *static_cast<const List*>(ptr_.get()) : empty;
}
const Dict& Value::as_dict() const {
  static const Dict empty;
  return type_ == Type::kDict ? *static_cast<const Dict*>(ptr_.get()) : empty;
}
const Callable& Value::as_callable() const { return *static_cast<const Callable*>(ptr_.get()); }
Object& Value::as_object() const {
  return *const_cast<Object*>(static_cast<const Object*>(ptr_.get()));
}

std::string Value::undefined_message() const {
  if (type_ == Type::kUndefined && ptr_) return *static_cast<const std::string*>(ptr_.get());
  return "value is undefined";
}

bool Value::truthy() const {
  switch (type_) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
      return b_;
    case Type::kInt:
      return i_ != 0;
    case Type::kFloat:
      return f_ != 0.0;
    case Type::kString:
      return !as_string().empty();
    case Type::kSequence:
      return seq_kind_ == SeqKind::kIterator || !as_list().empty();
    case Type::kDict:
      return !as_dict().empty();
    case Type::kCallable:
    case Type::kObject:
      return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (type_) {
    case Type::kUndefined:
      return "Undefined";
    case Type::kNone:
      return "NoneType";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return is_safe() ? "Markup" : "str";
    case Type::kSequence:
      switch (seq_kind_) {
        case SeqKind::kList:
          return "list";
        case SeqKind::kTuple:
          return "tuple";
        case SeqKind::kIterator:
          return "generator";
        case SeqKind::kDictItems:
          return "dict_items";
        case SeqKind::kDictKeys:
          return "dict_keys";
        case SeqKind::kDictValues:
          return "dict_values";
      }
      return "list";
    case Type::kDict:
      return "dict";
    case Type::kCallable:
      return as_callable().kind == Callable::Kind::kMacro ? "Macro" : "builtin_function_or_method";
    case Type::kObject:
      return as_object().type_name;
  }
  return "object";
}

void undefined_fault(const Value& undefined) { throw RuntimeFault(undefined.undefined_message()); }

// "<tag><text>" (built by hand: GCC 12 warns falsely on "x" + std::string).
static std::string tagged(char tag, std::string_view text) {
  std::string key;
  key.reserve(text.size() + 1);
  key.push_back(tag);
  key.append(text);
  return key;
}

std::optional<std::string> hash_key(const Value& v) {
  switch (v.type()) {
    case Value::Type::kString:
      return tagged('s', v.as_string());
    case Value::Type::kBool:
    case Value::Type::kInt:
      return tagged('i', std::to_string(v.as_int()));
    case Value::Type::kFloat: {
      double d = v.as_float();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18)
        return tagged('i', std::to_string(static_cast<int64_t>(d)));
      return tagged('f', float_repr(d));
    }
    case Value::Type::kNone:
      return std::string("n");
    case Value::Type::kUndefined:
      return std::string("u");
    case Value::Type::kSequence: {
      if (v.seq_kind() != SeqKind::kTuple) return std::nullopt;
      std::string key = "t(";
      for (const Value& item : v.as_list()) {
        auto k = hash_key(item);
        if (!k) return std::nullopt;
        key += std::to_string(k->size()) + ":" + *k;
      }
      return key + ")";
    }
    case Value::Type::kCallable:
    case Value::Type::kObject:  // identity hash, like Python objects
      return tagged('p',
                    std::to_string(v.is_callable() ? reinterpret_cast<uintptr_t>(&v.as_callable())
                                                   : reinterpret_cast<uintptr_t>(&v.as_object())));
    case Value::Type::kDict:
      return std::nullopt;
  }
  return std::nullopt;
}

const Value* Dict::find(const Value& key) const {
  auto k = hash_key(key);
  if (!k) return nullptr;
  auto it = index_.find(*k);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

const Value* Dict::find(std::string_view key) const {
  std::string k;
  k.reserve(key.size() + 1);
  k.push_back('s');
  k.append(key);
  auto it = index_.find(k);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

void Dict::set(const Value& key, Value value) {
  auto k = hash_key(key);
  if (!k) fault("unhashable type: '{}'", key.type_name());
  auto [it, inserted] = index_.emplace(std::move(*k), items_.size());
  if (inserted)
    items_.emplace_back(key, std::move(value));
  else
    items_[it->second].second = std::move(value);
}

void Dict::set(std::string_view key, Value value) { set(Value::string(std::string(key)), value); }

void Dict::clear() {
  items_.clear();
  index_.clear();
}

bool equals(const Value& a, const Value& b) {
  using T = Value::Type;
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() == b.as_int();
    return a.as_float() == b.as_float();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::kUndefined:
    case T::kNone:
      return true;
    case T::kString:
      return a.as_string() == b.as_string();
    case T::kSequence: {
      bool a_tuple = a.seq_kind() == SeqKind::kTuple, b_tuple = b.seq_kind() == SeqKind::kTuple;
      if (a_tuple != b_tuple) return false;
      if (a.seq_kind() == SeqKind::kIterator || b.seq_kind() == SeqKind::kIterator)
        return &a.as_list() == &b.as_list();
      const List& x = a.as_list();
      const List& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case T::kDict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.items()) {
        const Value* other = y.find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    case T::kCallable:
      return &a.as_callable() == &b.as_callable();
    case T::kObject:
      return &a.as_object() == &b.as_object();
    default:
      return false;
  }
}

int compare(const Value& a, const Value& b, const char* op) {
  if (a.is_undefined()) undefined_fault(a);
  if (b.is_undefined()) undefined_fault(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) {
      int64_t x = a.as_int(), y = b.as_int();
      return x < y ? -1 : x > y ? 1 : 0;
    }
    double x = a.as_float(), y = b.as_float();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) {
    // UTF-8 byte order is code point order.
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_sequence() && b.is_sequence() && a.seq_kind() == b.seq_kind() &&
      (a.seq_kind() == SeqKind::kList || a.seq_kind() == SeqKind::kTuple)) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return compare(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  fault("'{}' not supported between instances of '{}' and '{}'", op, a.type_name(), b.type_name());
}

bool contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kUndefined:
      return false;  // jinja2's Undefined iterates as empty
    case Value::Type::kString:
      if (!item.is_string())
        fault("'in <string>' requires string as left operand, not {}", item.type_name());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Type::kSequence:
      for (const Value& v : container.as_list())
        if (equals(v, item)) return true;
      return false;
    case Value::Type::kDict:
      if (!hash_key(item)) fault("unhashable type: '{}'", item.type_name());
      return container.as_dict().find(item) != nullptr;
    default:
      fault("argument of type '{}' is not iterable", container.type_name());
  }
}

}  // namespace tessera::jinja
