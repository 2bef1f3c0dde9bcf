#include "json_fields.h"

#include <cmath>

#include "api_error.h"

namespace tessera::server {

namespace {

// Nesting depth of a JSON text, without parsing it (brackets inside
// strings do not count). Lets us refuse deep nesting before the parser
// and the destructor recurse into it.
int nesting_depth(std::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

std::string format_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15)
    return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

}  // namespace

const char* json_type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "value";
  }
}

json parse_json_body(std::string_view body, int max_depth) {
  if (body.empty()) throw ApiError(400, "the request body is empty; expected a JSON object");
  if (nesting_depth(body) > max_depth)
    throw ApiError(400, fmt::format("the request JSON is nested deeper than {} levels", max_depth));
  json value;
  try {
    value = json::parse(body);
  } catch (const json::exception& e) {
    throw ApiError(400, fmt::format("the request body is not valid JSON: {}", e.what()));
  }
  if (!value.is_object())
    throw ApiError(
        400, fmt::format("the request body must be a JSON object, got {}", json_type_name(value)));
  return value;
}

int64_t json_integer(const json& value, const std::string& param, int64_t min, int64_t max) {
  double as_double = 0;
  if (value.is_number_integer() && !value.is_number_unsigned()) {
    int64_t v = value.get<int64_t>();
    if (v < min || v > max)
      bad_request(param, "`{}` must be between {} and {}, got {}", param, min, max, v);
    return v;
  }
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(max) || (min > 0 && v < static_cast<uint64_t>(min)))
      bad_request(param, "`{}` must be between {} and {}, got {}", param, min, max, v);
    return static_cast<int64_t>(v);
  }
  if (value.is_number_float()) {
    as_double = value.get<double>();
    // 3.0 is accepted as 3 (as lenient JSON clients may send it); 3.5 is not.
    if (std::isfinite(as_double) && as_double == std::floor(as_double)) {
      if (as_double < static_cast<double>(min) || as_double > static_cast<double>(max))
        bad_request(param, "`{}` must be between {} and {}, got {}", param, min, max,
                    format_number(as_double));
      return static_cast<int64_t>(as_double);
    }
    bad_request(param, "`{}` must be an integer, got {}", param, format_number(as_double));
  }
  bad_request(param, "`{}` must be an integer, got {}", param, json_type_name(value));
}

double json_number(const json& value, const std::string& param, double min, double max) {
  if (!value.is_number())
    bad_request(param, "`{}` must be a number, got {}", param, json_type_name(value));
  double v = value.get<double>();
  if (!std::isfinite(v) || v < min || v > max)
    bad_request(param, "`{}` must be between {} and {}, got {}", param, format_number(min),
                format_number(max), format_number(v));
  return v;
}

JsonFields::JsonFields(const json& object, std::string prefix)
    : object_(object), prefix_(std::move(prefix)) {}

const json* JsonFields::get(std::string_view key) {
  read_.emplace(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool JsonFields::has(std::string_view key) const {
  auto it = object_.find(key);
  return it != object_.end() && !it->is_null();
}

std::optional<bool> JsonFields::boolean(std::string_view key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_boolean())
    bad_request(param(key), "`{}` must be a boolean, got {}", param(key), json_type_name(*v));
  return v->get<bool>();
}

std::optional<int64_t> JsonFields::integer(std::string_view key, int64_t min, int64_t max) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  return json_integer(*v, param(key), min, max);
}

std::optional<double> JsonFields::number(std::string_view key, double min, double max) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  return json_number(*v, param(key), min, max);
}

std::optional<std::string> JsonFields::string(std::string_view key) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_string())
    bad_request(param(key), "`{}` must be a string, got {}", param(key), json_type_name(*v));
  return v->get<std::string>();
}

std::optional<std::vector<std::string>> JsonFields::string_or_list(std::string_view key,
                                                                   size_t max_items) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > max_items)
      bad_request(param(key), "`{}` may have at most {} entries, got {}", param(key), max_items,
                  v->size());
    for (const auto& item : *v) {
      if (!item.is_string())
        bad_request(param(key), "`{}` must be a string or a list of strings, found {} in the list",
                    param(key), json_type_name(item));
      out.push_back(item.get<std::string>());
    }
  } else {
    bad_request(param(key), "`{}` must be a string or a list of strings, got {}", param(key),
                json_type_name(*v));
  }
  return out;
}

std::optional<std::vector<int64_t>> JsonFields::integer_list(std::string_view key, int64_t min,
                                                             int64_t max, size_t max_items) {
  const json* v = get(key);
  if (!v) return std::nullopt;
  if (!v->is_array())
    bad_request(param(key), "`{}` must be a list of integers, got {}", param(key),
                json_type_name(*v));
  if (v->size() > max_items)
    bad_request(param(key), "`{}` may have at most {} entries, got {}", param(key), max_items,
                v->size());
  std::vector<int64_t> out;
  out.reserve(v->size());
  for (const auto& item : *v) out.push_back(json_integer(item, param(key), min, max));
  return out;
}

void JsonFields::reject_unknown() const {
  for (const auto& [key, value] : object_.items()) {
    if (read_.count(key)) continue;
    bad_request(param(key), "unrecognized request argument supplied: {}", param(key));
  }
}

std::string dump_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tessera::server
