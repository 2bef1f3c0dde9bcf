// Strict reading of a JSON request object: every field type- and
// range-checked, `null` read as "not given" (as the OpenAI API does), and
// any field left unread at the end rejected by name, so nothing a client
// sends is silently ignored. Errors are ApiError 400 naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::server {

using nlohmann::json;

// Parses a request body: 400 for bad JSON (and nesting deeper than
// `max_depth`, checked before parsing), and when it is not an object.
json parse_json_body(std::string_view body, int max_depth = 64);

class JsonFields {
 public:
  // `prefix` names the object in messages ("parameters." for TGI).
  explicit JsonFields(const json& object, std::string prefix = {});

  // The value, or nullptr when absent or null. Marks the field read.
  const json* get(std::string_view key);
  bool has(std::string_view key) const;  // present and not null
  void ignore(std::string_view key) { get(key); }

  std::optional<bool> boolean(std::string_view key);
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max);
  std::optional<double> number(std::string_view key, double min, double max);
  std::optional<std::string> string(std::string_view key);
  // A string, or an array of strings (at most `max_items`).
  std::optional<std::vector<std::string>> string_or_list(std::string_view key, size_t max_items);
  std::optional<std::vector<int64_t>> integer_list(std::string_view key, int64_t min, int64_t max,
                                                   size_t max_items);

  // 400 naming the first field that nothing read.
  void reject_unknown() const;

  std::string param(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  const json& object_;
  std::string prefix_;
  std::unordered_set<std::string> read_;
};

// Conversions with the same checks, for values nested deeper.
int64_t json_integer(const json& value, const std::string& param, int64_t min, int64_t max);
double json_number(const json& value, const std::string& param, double min, double max);
const char* json_type_name(const json& value);

// Output JSON: invalid UTF-8 (never expected, but text comes from a model)
// is replaced instead of throwing.
std::string dump_json(const json& value);

}  // namespace tessera::server
