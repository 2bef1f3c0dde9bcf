// Small templates rendered by tessera and compared with what Python jinja2
// (transformers' environment) gave for them: tests/template/cases.json,
// written by tests/template/gen_cases.py.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "tessera/template/template.h"

namespace tessera::jinja {
namespace {

nlohmann::ordered_json load_cases() {
  std::ifstream in(std::string(TESSERA_SOURCE_DIR) + "/tests/template/cases.json");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::ordered_json::parse(buffer.str());
}

const nlohmann::ordered_json& cases() {
  static const nlohmann::ordered_json data = load_cases();
  return data;
}

std::tm fixed_now() {
  std::tm tm{};
  strptime(cases()["now"].get<std::string>().c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  std::time_t t = timegm(&tm);
  gmtime_r(&t, &tm);  // fills weekday and day of the year
  return tm;
}

class TemplateCase : public testing::TestWithParam<size_t> {};

TEST_P(TemplateCase, MatchesJinja2) {
  const auto& c = cases()["cases"][GetParam()];
  SCOPED_TRACE(c["name"].get<std::string>() + ": " + c["template"].get<std::string>());
  RenderOptions options;
  options.now = fixed_now();
  const std::string source = c["template"];
  if (c.contains("output")) {
    Template t(source);
    EXPECT_EQ(t.render(cases()["context"], options), c["output"].get<std::string>());
    return;
  }
  const std::string expected = c["error"];
  try {
    Template t(source);
    std::string out = t.render(cases()["context"], options);
    FAIL() << "expected a " << expected << " error, rendered: " << out;
  } catch (const TemplateError& e) {
    switch (e.reason()) {
      case TemplateError::Reason::kSyntax:
        EXPECT_EQ(expected, "syntax") << e.what();
        break;
      case TemplateError::Reason::kRaised:
        EXPECT_EQ(expected, "raised") << e.what();
        EXPECT_EQ(std::string(e.what()), c["message"].get<std::string>());
        break;
      case TemplateError::Reason::kRuntime:
      case TemplateError::Reason::kLimit:
        EXPECT_EQ(expected, "runtime") << e.what();
        break;
    }
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
}

INSTANTIATE_TEST_SUITE_P(Jinja2, TemplateCase, testing::Range<size_t>(0, cases()["cases"].size()),
                         [](const testing::TestParamInfo<size_t>& info) {
                           return cases()["cases"][info.param]["name"].get<std::string>();
                         });

}  // namespace
}  // namespace tessera::jinja
