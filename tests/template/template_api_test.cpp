// The renderer's API: errors and limits, thread safety, JSON conversion,
// and the chat-template helpers (transformers' apply_chat_template inputs,
// tokenizer_config.json, HF folders). Jinja semantics themselves are
// checked against jinja2 in template_cases_test.cpp.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tessera/template/chat_template.h"
#include "tessera/template/template.h"

namespace tessera::jinja {
namespace {

using json = nlohmann::ordered_json;

std::string render(const std::string& source, const json& context = json::object(),
                   const RenderOptions& options = {}) {
  return Template(source).render(context, options);
}

TemplateError::Reason failure(const std::string& source, const json& context = json::object(),
                              const RenderOptions& options = {}, std::string* message = nullptr) {
  try {
    Template t(source);
    t.render(context, options);
  } catch (const TemplateError& e) {
    if (message) *message = e.what();
    return e.reason();
  }
  ADD_FAILURE() << "no error for: " << source;
  return TemplateError::Reason::kRuntime;
}

TEST(TemplateApi, RendersContextVariables) {
  json context = {{"name", "world"}, {"items", {1, 2, 3}}};
  EXPECT_EQ(render("Hello {{ name }}! {{ items|length }}", context), "Hello world! 3");
}

TEST(TemplateApi, ContextMustBeAnObject) {
  Template t("x");
  EXPECT_THROW(t.render(json::array()), TemplateError);
}

TEST(TemplateApi, SyntaxErrorsNameTheLine) {
  std::string message;
  EXPECT_EQ(failure("line one\n{% if x %}\nmore", json::object(), {}, &message),
            TemplateError::Reason::kSyntax);
  EXPECT_NE(message.find("line 3"), std::string::npos) << message;
  EXPECT_EQ(failure("{{ 1 +* 2 }}"), TemplateError::Reason::kSyntax);
  EXPECT_EQ(failure("{% endfor %}"), TemplateError::Reason::kSyntax);
  EXPECT_EQ(failure("{% break %}"), TemplateError::Reason::kSyntax);
  EXPECT_EQ(failure("{# open comment"), TemplateError::Reason::kSyntax);
}

TEST(TemplateApi, RuntimeErrorsNameTheLine) {
  std::string message;
  EXPECT_EQ(failure("ok\n{{ missing.attr }}", json::object(), {}, &message),
            TemplateError::Reason::kRuntime);
  EXPECT_NE(message.find("line 2"), std::string::npos) << message;
  EXPECT_NE(message.find("'missing' is undefined"), std::string::npos) << message;
}

TEST(TemplateApi, RaiseExceptionCarriesTheMessage) {
  std::string message;
  EXPECT_EQ(failure("{{ raise_exception('Roles must alternate ' ~ 'user/assistant') }}",
                    json::object(), {}, &message),
            TemplateError::Reason::kRaised);
  EXPECT_EQ(message, "Roles must alternate user/assistant");
}

TEST(TemplateApi, ErrorsAreInvalidArgument) {
  try {
    render("{{ raise_exception('x') }}");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
}

TEST(TemplateLimits, MacroRecursion) {
  std::string message;
  EXPECT_EQ(failure("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", json::object(), {},
                    &message),
            TemplateError::Reason::kLimit);
  EXPECT_NE(message.find("nested deeper"), std::string::npos) << message;
}

TEST(TemplateLimits, LoopIterations) {
  RenderOptions options;
  options.limits.max_loop_iterations = 1000;
  EXPECT_EQ(render("{% for i in range(1000) %}{% endfor %}done", json::object(), options), "done");
  EXPECT_EQ(failure("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
                    json::object(), options),
            TemplateError::Reason::kLimit);
}

TEST(TemplateLimits, OutputSize) {
  RenderOptions options;
  options.limits.max_output_bytes = 1000;
  EXPECT_EQ(failure("{% for i in range(200) %}abcdef{% endfor %}", json::object(), options),
            TemplateError::Reason::kLimit);
  // Values are bounded too, not just what is printed.
  EXPECT_NE(failure("{% set x = 'a' * 5000 %}", json::object(), options),
            TemplateError::Reason::kSyntax);
}

TEST(TemplateLimits, StringDoublingStopsEarly) {
  EXPECT_NE(failure("{% set ns = namespace(s='xx') %}{% for i in range(100) %}"
                    "{% set ns.s = ns.s + ns.s %}{% endfor %}"),
            TemplateError::Reason::kSyntax);
}

TEST(TemplateLimits, Steps) {
  RenderOptions options;
  options.limits.max_steps = 10000;
  EXPECT_EQ(failure("{% for i in range(100000) %}{{ i }}{% endfor %}", json::object(), options),
            TemplateError::Reason::kLimit);
}

TEST(TemplateLimits, DeepSourceNesting) {
  std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
  EXPECT_EQ(failure(deep), TemplateError::Reason::kSyntax);
  std::string blocks;
  for (int i = 0; i < 1000; ++i) blocks += "{% if true %}";
  EXPECT_EQ(failure(blocks), TemplateError::Reason::kSyntax);
}

TEST(TemplateLimits, DeepContextAndValues) {
  json deep = json::array();
  for (int i = 0; i < 5000; ++i) deep = json::array({deep});
  EXPECT_EQ(failure("{{ x }}", {{"x", deep}}), TemplateError::Reason::kLimit);
  // Lists nested by the template itself stop at the value depth limit.
  EXPECT_EQ(failure("{% set ns = namespace(v=[]) %}{% for i in range(10000) %}"
                    "{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v|length }}"),
            TemplateError::Reason::kRuntime);
}

TEST(TemplateLimits, SelfReferenceDoesNotCrash) {
  // Python prints "{...}"; we refuse to print an endless value.
  EXPECT_NE(failure("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"),
            TemplateError::Reason::kSyntax);
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns.me.me is defined }}"),
            "True");
}

TEST(TemplateApi, ConcurrentRendersShareOneTemplate) {
  Template t(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + m|length %}"
      "{% endfor %}{{ ns.n }}");
  json context = {{"messages", {"ab", "cde", "f"}}};
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      for (int k = 0; k < 200; ++k)
        if (t.render(context) != "6") ++wrong;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(TemplateApi, StrftimeNowUsesTheGivenTime) {
  RenderOptions options;
  std::tm tm{};
  tm.tm_year = 2025 - 1900;
  tm.tm_mon = 0;
  tm.tm_mday = 2;
  tm.tm_wday = 4;
  options.now = tm;
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y %A') }}", json::object(), options),
            "02 Jan 2025 Thursday");
}

TEST(TemplateApi, InvalidUtf8PassesThrough) {
  // nlohmann refuses to hold invalid UTF-8 in a parsed document, but a
  // Dict built in code can; the renderer must keep the bytes.
  Dict d;
  d.set("s", Value::string(std::string("a\xff\xfe") + "b"));
  EXPECT_EQ(Template("{{ s }}|{{ s|length }}|{{ s[::-1] }}").render(d),
            std::string("a\xff\xfe") + "b|4|b\xfe\xff" + "a");
}

TEST(TemplateJson, KeepsKeyOrder) {
  json j = json::parse(R"({"z": 1, "a": {"y": [1, 2.5, "x", null, true], "b": 2}})");
  Value v = from_json(j);
  ASSERT_TRUE(v.is_dict());
  EXPECT_EQ(v.as_dict().items().front().first.as_string(), "z");
  EXPECT_EQ(to_json(v).dump(), j.dump());
  EXPECT_EQ(Template("{{ x|tojson }}").render(json{{"x", j}}),
            R"({"z": 1, "a": {"y": [1, 2.5, "x", null, true], "b": 2}})");
}

TEST(TemplateJson, BigUnsignedBecomesFloat) {
  json j = {{"x", 18446744073709551615ull}};
  EXPECT_EQ(render("{{ x }}", j), "1.8446744073709552e+19");
}

// --- chat templates -----------------------------------------------------

const char* kChatMl =
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% if m.thinking is defined %}"
    "[think:{{ m.thinking }}|{{ m.reasoning_content }}]{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    "{{ tools is none }}{{ documents is none }}{{ bos_token }}";

TEST(ChatTemplate, ApplyPassesTheStandardVariables) {
  ChatTemplateSource source{kChatMl, {{"bos_token", "<s>"}, {"eos_token", "</s>"}}};
  ChatTemplate chat(source);
  ChatInputs inputs;
  inputs.messages = json::parse(R"([{"role": "user", "content": "hi"}])");
  inputs.add_generation_prompt = true;
  EXPECT_EQ(chat.apply(inputs), "<|user|>hi\n<|assistant|>TrueTrue<s>");
  inputs.extra = {{"bos_token", "[BOS]"}};
  inputs.tools = json::array();
  EXPECT_EQ(chat.apply(inputs), "<|user|>hi\n<|assistant|>FalseTrue[BOS]");
}

TEST(ChatTemplate, AliasesReasoningLikeTransformers) {
  ChatTemplate chat({kChatMl, {}});
  ChatInputs inputs;
  inputs.messages = json::parse(R"([{"role": "assistant", "content": "4", "reasoning": "2+2"}])");
  EXPECT_EQ(chat.apply(inputs), "<|assistant|>4[think:2+2|2+2]\nTrueTrue");
}

TEST(ChatTemplate, MessagesMustBeObjects) {
  ChatTemplate chat({kChatMl, {}});
  ChatInputs inputs;
  inputs.messages = json::parse(R"(["just a string"])");
  EXPECT_THROW(chat.apply(inputs), TemplateError);
}

TEST(ChatTemplate, FromTokenizerConfig) {
  json config = json::parse(R"({
    "bos_token": {"content": "<s>", "lstrip": false},
    "eos_token": "</s>",
    "pad_token": null,
    "chat_template": [
      {"name": "default", "template": "D"},
      {"name": "tool_use", "template": "T"}
    ]})");
  ChatTemplateSource plain = chat_template_from_tokenizer_config(config);
  EXPECT_EQ(plain.source, "D");
  EXPECT_EQ(plain.special_tokens.dump(), R"({"bos_token":"<s>","eos_token":"</s>"})");
  EXPECT_EQ(chat_template_from_tokenizer_config(config, true).source, "T");
  EXPECT_THROW(chat_template_from_tokenizer_config(json::object()), Error);
}

TEST(ChatTemplate, HfFolderPrefersChatTemplateJinja) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("tessera_chat_template_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"chat_template": "from config", "eos_token": "<eos>"})";
  EXPECT_EQ(load_hf_chat_template(dir.string()).source, "from config");
  std::ofstream(dir / "chat_template.jinja") << "from file {{ eos_token }}";
  ChatTemplateSource source = load_hf_chat_template(dir.string());
  EXPECT_EQ(source.source, "from file {{ eos_token }}");
  EXPECT_EQ(ChatTemplate(source).apply({}), "from file <eos>");
  fs::remove_all(dir);
  EXPECT_THROW(load_hf_chat_template(dir.string()), Error);
}

}  // namespace
}  // namespace tessera::jinja
