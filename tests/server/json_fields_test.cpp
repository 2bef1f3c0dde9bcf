#include "../../src/server/json_fields.h"

#include <gtest/gtest.h>

#include "../../src/server/api_error.h"

namespace tessera::server {
namespace {

// The status and param of the ApiError `f` throws.
template <typename F>
std::pair<int, std::string> error_of(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return {e.status, e.param};
  }
  return {0, ""};
}

TEST(ParseJsonBody, RefusesWhatIsNotAJsonObject) {
  for (std::string body : {"", "[]", "1", "\"s\"", "null", "{", "{\"a\":}", "{\"a\": 1} x"})
    EXPECT_EQ(error_of([&] { parse_json_body(body); }).first, 400) << body;
  EXPECT_EQ(parse_json_body("{\"a\": 1}")["a"], 1);
  EXPECT_EQ(error_of([] { parse_json_body("{\"a\": 1e400}"); }).first, 400);  // overflows a double
}

TEST(ParseJsonBody, RefusesDeepNestingBeforeParsing) {
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(error_of([&] { parse_json_body(deep); }).first, 400);
  // Brackets inside strings do not count.
  std::string quoted = "{\"a\": \"" + std::string(1000, '[') + "\"}";
  EXPECT_NO_THROW(parse_json_body(quoted));
  EXPECT_NO_THROW(parse_json_body("{\"a\": [[[[1]]]]}"));
}

TEST(ParseJsonBody, RefusesInvalidUtf8) {
  EXPECT_EQ(error_of([] { parse_json_body("{\"a\": \"\xff\"}"); }).first, 400);
  EXPECT_EQ(error_of([] { parse_json_body("{\"a\": \"\\ud800\"}"); }).first, 400);
}

TEST(JsonFields, ChecksTypesAndRangesNamingTheField) {
  json body = json::parse(R"({"i": 3, "f": 2.5, "b": true, "s": "x", "big": 1e300,
                              "whole": 4.0, "neg": -1, "huge": 18446744073709551615, "nul": null})");
  JsonFields f(body, "p.");
  EXPECT_EQ(f.integer("i", 0, 10), 3);
  EXPECT_EQ(f.integer("whole", 0, 10), 4);
  EXPECT_EQ(f.number("f", 0, 3), 2.5);
  EXPECT_EQ(f.boolean("b"), true);
  EXPECT_EQ(f.string("s"), "x");
  EXPECT_EQ(f.integer("nul", 0, 1), std::nullopt);  // null reads as absent
  EXPECT_EQ(f.integer("missing", 0, 1), std::nullopt);
  EXPECT_EQ(error_of([&] { f.integer("f", 0, 10); }), std::make_pair(400, std::string("p.f")));
  EXPECT_EQ(error_of([&] { f.integer("i", 5, 10); }).first, 400);
  EXPECT_EQ(error_of([&] { f.integer("neg", 0, 10); }).first, 400);
  EXPECT_EQ(error_of([&] { f.integer("huge", 0, INT64_MAX); }).first, 400);
  EXPECT_EQ(error_of([&] { f.number("s", 0, 1); }).first, 400);
  EXPECT_EQ(error_of([&] { f.number("big", -1e10, 1e10); }).first, 400);
  EXPECT_EQ(error_of([&] { f.boolean("i"); }).first, 400);
  EXPECT_EQ(error_of([&] { f.string("b"); }).first, 400);
  EXPECT_EQ(error_of([&] { f.number("b", 0, 1); }).first, 400);  // true is not a number
}

TEST(JsonFields, RejectsUnknownFields) {
  json body = json::parse(R"({"known": 1, "other": 2})");
  JsonFields f(body);
  f.integer("known", 0, 5);
  EXPECT_EQ(error_of([&] { f.reject_unknown(); }), std::make_pair(400, std::string("other")));
  f.ignore("other");
  EXPECT_NO_THROW(f.reject_unknown());
}

TEST(JsonFields, StringOrList) {
  json body =
      json::parse(R"({"one": "a", "many": ["a", "b"], "bad": ["a", 1], "long": ["a","b","c"]})");
  JsonFields f(body);
  EXPECT_EQ(f.string_or_list("one", 2), std::vector<std::string>{"a"});
  EXPECT_EQ(f.string_or_list("many", 2), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(error_of([&] { f.string_or_list("bad", 2); }).first, 400);
  EXPECT_EQ(error_of([&] { f.string_or_list("long", 2); }).first, 400);
}

TEST(DumpJson, ReplacesInvalidUtf8InOutput) {
  json j = {{"text", std::string("a\xff"
                                 "b")}};
  EXPECT_EQ(dump_json(j),
            "{\"text\":\"a\xEF\xBF\xBD"
            "b\"}");
}

}  // namespace
}  // namespace tessera::server
