// GGUF metadata values and the typed lookups over them.
#include <limits>

#include "tessera/core/error.h"
#include "tessera/formats/gguf.h"

namespace tessera::gguf {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kU8:
      return "u8";
    case ValueType::kI8:
      return "i8";
    case ValueType::kU16:
      return "u16";
    case ValueType::kI16:
      return "i16";
    case ValueType::kU32:
      return "u32";
    case ValueType::kI32:
      return "i32";
    case ValueType::kF32:
      return "f32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kU64:
      return "u64";
    case ValueType::kI64:
      return "i64";
    case ValueType::kF64:
      return "f64";
  }
  return "unknown";
}

std::optional<int64_t> Value::as_int() const {
  if (const auto* u = std::get_if<uint64_t>(&v)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  return std::nullopt;
}

std::optional<double> Value::as_float() const {
  if (const auto* u = std::get_if<uint64_t>(&v)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  return std::nullopt;
}

const std::string* Value::as_string() const { return std::get_if<std::string>(&v); }

const Array* Value::as_array() const { return std::get_if<Array>(&v); }

namespace {

std::string describe_type(const Value& value) {
  if (value.type == ValueType::kArray)
    return fmt::format("an array of {}", value_type_name(value.elem_type));
  return value_type_name(value.type);
}

[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const Value& value,
                             std::string_view expected) {
  fail(ErrorKind::kBadFile, "{}: metadata key '{}' is {}, expected {}", path, key,
       describe_type(value), expected);
}

}  // namespace

std::optional<int64_t> File::get_int(const std::string& key) const {
  const Value* value = find(key);
  if (!value) return std::nullopt;
  std::optional<int64_t> i = value->as_int();
  if (!i) wrong_type(path_, key, *value, "an integer");
  return i;
}

std::optional<double> File::get_float(const std::string& key) const {
  const Value* value = find(key);
  if (!value) return std::nullopt;
  std::optional<double> d = value->as_float();
  if (!d) wrong_type(path_, key, *value, "a number");
  return d;
}

std::optional<bool> File::get_bool(const std::string& key) const {
  const Value* value = find(key);
  if (!value) return std::nullopt;
  std::optional<bool> b = value->as_bool();
  if (!b) wrong_type(path_, key, *value, "a bool");
  return b;
}

std::optional<std::string> File::get_string(const std::string& key) const {
  const Value* value = find(key);
  if (!value) return std::nullopt;
  const std::string* s = value->as_string();
  if (!s) wrong_type(path_, key, *value, "a string");
  return *s;
}

std::vector<std::string> File::get_string_array(const std::string& key) const {
  const Value* value = find(key);
  if (!value) return {};
  const Array* array = value->as_array();
  if (!array || value->elem_type != ValueType::kString)
    wrong_type(path_, key, *value, "an array of strings");
  std::vector<std::string> out;
  out.reserve(array->size());
  for (const Value& item : *array) out.push_back(*item.as_string());
  return out;
}

std::vector<int64_t> File::get_int_array(const std::string& key) const {
  const Value* value = find(key);
  if (!value) return {};
  const Array* array = value->as_array();
  if (!array) wrong_type(path_, key, *value, "an array of integers");
  std::vector<int64_t> out;
  out.reserve(array->size());
  for (const Value& item : *array) {
    std::optional<int64_t> i = item.as_int();
    if (!i) wrong_type(path_, key, *value, "an array of integers");
    out.push_back(*i);
  }
  return out;
}

std::vector<double> File::get_float_array(const std::string& key) const {
  const Value* value = find(key);
  if (!value) return {};
  const Array* array = value->as_array();
  if (!array) wrong_type(path_, key, *value, "an array of numbers");
  std::vector<double> out;
  out.reserve(array->size());
  for (const Value& item : *array) {
    std::optional<double> d = item.as_float();
    if (!d) wrong_type(path_, key, *value, "an array of numbers");
    out.push_back(*d);
  }
  return out;
}

}  // namespace tessera::gguf
