// The API routes called directly (no sockets) on the fake engine: request
// checking and mapping, OpenAI error objects and statuses, response shapes
// and SSE framing.
#include <gtest/gtest.h>

#include "test_util.h"

namespace tessera::server::testing {
namespace {

using nlohmann::json;

class RoutesTest : public ::testing::Test {
 protected:
  RoutesTest() : backend_(fast_config()), router_(ApiConfig{}, backend_) {}

  Drained call(const std::string& path, const json& body) {
    return drain(router_.handle(post(path, body.dump())));
  }
  // The error object of a request that must fail with `status`.
  json error(const std::string& path, const json& body, int status) {
    Drained d = call(path, body);
    EXPECT_EQ(d.response.status, status) << body.dump() << " -> " << d.body;
    json j = json::parse(d.body);
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_TRUE(j["error"]["type"].is_string());
    return j["error"];
  }

  RecordingBackend backend_;
  ApiRouter router_;
};

const json kChat = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 4}};

TEST_F(RoutesTest, MapsOpenAIAndVllmFieldsToSampling) {
  json body = kChat;
  body.update({{"temperature", 0.5},
               {"top_p", 0.9},
               {"top_k", -1},
               {"min_p", 0.05},
               {"presence_penalty", 0.5},
               {"frequency_penalty", -0.5},
               {"repetition_penalty", 1.2},
               {"seed", -1},
               {"stop", "END"},
               {"stop_token_ids", {258}},
               {"n", 2},
               {"logit_bias", {{"65", -100}}},
               {"min_tokens", 2},
               {"ignore_eos", true},
               {"skip_special_tokens", false},
               {"logprobs", true},
               {"top_logprobs", 3},
               {"max_completion_tokens", 6},
               {"user", "me"}});
  ASSERT_EQ(call("/v1/chat/completions", body).response.status, 200);
  SamplingOptions s = backend_.last().sampling;
  EXPECT_FLOAT_EQ(s.temperature, 0.5f);
  EXPECT_FLOAT_EQ(s.top_p, 0.9f);
  EXPECT_EQ(s.top_k, 0);  // -1: off
  EXPECT_FLOAT_EQ(s.min_p, 0.05f);
  EXPECT_FLOAT_EQ(s.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(s.frequency_penalty, -0.5f);
  EXPECT_FLOAT_EQ(s.repetition_penalty, 1.2f);
  EXPECT_EQ(s.seed, UINT64_MAX);  // -1 as a 64-bit pattern
  EXPECT_EQ(s.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(s.stop_token_ids, std::vector<int32_t>{258});
  EXPECT_EQ(s.n, 2);
  ASSERT_EQ(s.logit_bias.size(), 1u);
  EXPECT_EQ(s.logit_bias[0], (std::pair<int32_t, float>{65, -100.0f}));
  EXPECT_EQ(s.min_tokens, 2);
  EXPECT_TRUE(s.ignore_eos);
  EXPECT_FALSE(s.skip_special_tokens);
  EXPECT_EQ(s.logprobs, 3);
  EXPECT_EQ(s.max_tokens, 6);  // max_completion_tokens wins over max_tokens
}

TEST_F(RoutesTest, DefaultMaxTokens) {
  // Completions: 16 (the OpenAI default); chat: what the context leaves.
  ASSERT_EQ(call("/v1/completions", {{"prompt", "abc"}}).response.status, 200);
  EXPECT_EQ(backend_.last().sampling.max_tokens, 16);
  ASSERT_EQ(call("/v1/chat/completions", {{"messages", kChat["messages"]}}).response.status, 200);
  GenerationRequest r = backend_.last();
  EXPECT_EQ(r.sampling.max_tokens, 512 - static_cast<int>(r.prompt_ids.size()));
}

TEST_F(RoutesTest, ChatTemplateAndTokenization) {
  ASSERT_EQ(call("/v1/chat/completions", kChat).response.status, 200);
  std::string expected = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(backend_.last().prompt_ids, backend_.tokenize(expected, false, true));
}

TEST_F(RoutesTest, ErrorsAreOpenAIObjectsWithParams) {
  EXPECT_EQ(error("/v1/completions", {{"prompt", "x"}, {"temperature", 3}}, 400)["param"],
            "temperature");
  EXPECT_EQ(error("/v1/completions", {{"max_tokens", 3}}, 400)["param"], "prompt");
  EXPECT_EQ(error("/v1/completions", {{"prompt", "x"}, {"bogus", 1}}, 400)["param"], "bogus");
  EXPECT_EQ(error("/v1/completions", {{"prompt", {1, "a"}}}, 400)["param"], "prompt");
  EXPECT_EQ(error("/v1/completions", {{"prompt", {999999}}}, 400)["param"], "prompt");
  EXPECT_EQ(error("/v1/completions",
                  {{"prompt", "x"}, {"stream_options", {{"include_usage", true}}}}, 400)["param"],
            "stream_options");
  EXPECT_EQ(error("/v1/completions", {{"prompt", "x"}, {"best_of", 3}}, 400)["param"], "best_of");
  EXPECT_EQ(error("/v1/completions", {{"prompt", "x"}, {"suffix", "y"}}, 400)["param"], "suffix");
  json tools = kChat;
  tools["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}}}}};
  json e = error("/v1/chat/completions", tools, 400);
  EXPECT_EQ(e["param"], "tools");
  EXPECT_NE(e["message"].get<std::string>().find("not supported"), std::string::npos);
  json schema = kChat;
  schema["response_format"] = {{"type", "json_schema"}};
  EXPECT_EQ(error("/v1/chat/completions", schema, 400)["param"], "response_format");
  json no_logprobs = kChat;
  no_logprobs["top_logprobs"] = 2;
  EXPECT_EQ(error("/v1/chat/completions", no_logprobs, 400)["param"], "top_logprobs");
  json bad_role = kChat;
  bad_role["messages"][0]["role"] = "robot";
  EXPECT_EQ(error("/v1/chat/completions", bad_role, 400)["param"], "messages[0].role");
  json model = kChat;
  model["model"] = "other";
  json not_found = error("/v1/chat/completions", model, 404);
  EXPECT_EQ(not_found["code"], "model_not_found");
  EXPECT_TRUE(backend_.requests.empty()) << "nothing invalid reaches the engine";
}

TEST_F(RoutesTest, PromptTooLongNamesBothLengths) {
  std::string prompt(600, 'a');  // 600 tokens in the byte tokenizer, + BOS
  std::string message =
      error("/v1/completions", {{"prompt", prompt}}, 400)["message"].get<std::string>();
  EXPECT_NE(message.find("512"), std::string::npos) << message;
  EXPECT_NE(message.find("601"), std::string::npos) << message;
  message = error("/v1/completions", {{"prompt", "ab"}, {"max_tokens", 600}}, 400)["message"];
  EXPECT_NE(message.find("512"), std::string::npos) << message;
  EXPECT_NE(message.find("603"), std::string::npos) << message;  // 3 + 600
}

TEST_F(RoutesTest, QueueFullIs503WithRetryAfter) {
  FakeEngineConfig config = fast_config();
  config.max_waiting_requests = 0;
  FakeEngine full(config);
  ApiRouter router(ApiConfig{}, full);
  Drained d = drain(router.handle(post("/v1/completions", R"({"prompt": "x"})")));
  EXPECT_EQ(d.response.status, 503);
  bool retry_after = false;
  for (auto& [k, v] : d.response.headers) retry_after |= k == "Retry-After" && std::stoi(v) >= 1;
  EXPECT_TRUE(retry_after);
}

TEST_F(RoutesTest, ApiKey) {
  ApiConfig config;
  config.api_keys = {"k1"};
  ApiRouter router(config, backend_);
  auto status = [&](std::vector<std::pair<std::string, std::string>> headers) {
    HttpRequest r = get("/v1/models");
    r.headers = std::move(headers);
    return drain(router.handle(r)).response.status;
  };
  EXPECT_EQ(status({}), 401);
  EXPECT_EQ(status({{"authorization", "Bearer k2"}}), 401);
  EXPECT_EQ(status({{"authorization", "Bearer k"}}), 401);
  EXPECT_EQ(status({{"authorization", "k1"}}), 401);
  EXPECT_EQ(status({{"authorization", "Bearer k1"}}), 200);
  EXPECT_EQ(status({{"authorization", "bearer k1"}}), 200);
  EXPECT_EQ(drain(router.handle(get("/health"))).response.status, 200);
  EXPECT_EQ(drain(router.handle(get("/metrics"))).response.status, 200);
}

TEST_F(RoutesTest, RoutesAndMethods) {
  EXPECT_EQ(drain(router_.handle(get("/nope"))).response.status, 404);
  EXPECT_EQ(drain(router_.handle(get("/v1/completions"))).response.status, 405);
  EXPECT_EQ(drain(router_.handle(get("/v1/models?x=1"))).response.status, 200);
  EXPECT_EQ(drain(router_.handle(get("/v1/models/fake-model"))).response.status, 200);
  EXPECT_EQ(drain(router_.handle(get("/v1/models/other"))).response.status, 404);
  router_.set_draining(true);
  EXPECT_EQ(drain(router_.handle(get("/health"))).response.status, 503);
  EXPECT_EQ(call("/v1/completions", {{"prompt", "x"}}).response.status, 503);
}

TEST_F(RoutesTest, CompletionStreamFraming) {
  json body = {{"prompt", "abc"},
               {"max_tokens", 10},
               {"temperature", 0},
               {"n", 2},
               {"ignore_eos", true},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  Drained d = call("/v1/completions", body);
  ASSERT_TRUE(d.response.chunked);
  EXPECT_EQ(d.response.status, 200);
  EXPECT_EQ(d.response.content_type.rfind("text/event-stream", 0), 0u);
  std::vector<std::string> events = sse_events(d.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text[2];
  int finishes = 0;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    EXPECT_TRUE(chunk.contains("usage") && chunk["usage"].is_null());
    ASSERT_EQ(chunk["choices"].size(), 1u);
    int index = chunk["choices"][0]["index"];
    text[index] += chunk["choices"][0]["text"].get<std::string>();
    finishes += !chunk["choices"][0]["finish_reason"].is_null();
  }
  EXPECT_EQ(finishes, 2);
  EXPECT_EQ(text[0], text[1]);  // greedy: both sequences agree
  json usage = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 20);
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 4);  // BOS + 3 bytes
  // The same request without streaming gives the same text.
  body["stream"] = false;
  body.erase("stream_options");
  json full = body_json(call("/v1/completions", body));
  EXPECT_EQ(full["choices"][0]["text"], text[0]);
  EXPECT_EQ(full["choices"][0]["finish_reason"], "length");
}

TEST_F(RoutesTest, ChatStreamStartsWithRoleAndEndsWithFinish) {
  json body = kChat;
  body["stream"] = true;
  std::vector<std::string> events = sse_events(call("/v1/chat/completions", body).body);
  ASSERT_GE(events.size(), 3u);
  json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  json last = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(last["choices"][0]["delta"].empty());
  EXPECT_TRUE(last["choices"][0]["finish_reason"].is_string());
  EXPECT_FALSE(last.contains("usage"));
}

TEST_F(RoutesTest, StopStringsAndStopTokens) {
  json base = {{"prompt", "xyz"}, {"max_tokens", 30}, {"temperature", 0}, {"ignore_eos", true}};
  std::string text = body_json(call("/v1/completions", base))["choices"][0]["text"];
  // A two-letter ASCII stop string from inside the output.
  size_t at = 1;
  while (at + 2 < text.size() && !(std::isalpha(static_cast<unsigned char>(text[at])) &&
                                   std::isalpha(static_cast<unsigned char>(text[at + 1]))))
    ++at;
  ASSERT_LT(at + 2, text.size()) << text;
  std::string stop = text.substr(at, 2);
  json with_stop = base;
  with_stop["stop"] = {stop};
  json choice = body_json(call("/v1/completions", with_stop))["choices"][0];
  EXPECT_EQ(choice["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["stop_reason"], stop);
  json by_token = base;
  by_token["stop_token_ids"] = {static_cast<unsigned char>(text[at])};
  choice = body_json(call("/v1/completions", by_token))["choices"][0];
  EXPECT_EQ(choice["text"], text.substr(0, text.find(text[at])));
  EXPECT_EQ(choice["stop_reason"], static_cast<unsigned char>(text[at]));
}

TEST_F(RoutesTest, CompletionLogprobsShape) {
  json body = {{"prompt", "ab"}, {"max_tokens", 5},    {"logprobs", 2},
               {"echo", true},   {"ignore_eos", true}, {"temperature", 0}};
  json lp = body_json(call("/v1/completions", body))["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 3u + 5u);  // BOS, a, b + 5 generated
  EXPECT_TRUE(lp["token_logprobs"][0].is_null());
  EXPECT_TRUE(lp["top_logprobs"][0].is_null());
  for (size_t i = 1; i < 8; ++i) {
    EXPECT_LE(lp["token_logprobs"][i].get<double>(), 0.0);
    EXPECT_GE(lp["top_logprobs"][i].size(), 1u);
    EXPECT_LE(lp["top_logprobs"][i].size(), 3u);
  }
  EXPECT_EQ(lp["text_offset"][0], 0);
}

TEST_F(RoutesTest, TgiGenerateStreamEvents) {
  Drained d = drain(router_.handle(
      post("/generate_stream", R"({"inputs": "abc", "parameters": {"max_new_tokens": 4}})")));
  std::vector<std::string> events = sse_events(d.body);
  ASSERT_FALSE(events.empty());
  std::string joined;
  for (size_t i = 0; i < events.size(); ++i) {
    json e = json::parse(events[i]);
    EXPECT_EQ(e["index"], i + 1);
    joined += e["token"]["text"].get<std::string>();
  }
  EXPECT_EQ(json::parse(events.back())["generated_text"], joined);
  Drained bad = drain(router_.handle(post("/generate", R"({"inputs": 1})")));
  EXPECT_EQ(bad.response.status, 422);
  EXPECT_EQ(json::parse(bad.body)["error_type"], "validation");
}

TEST_F(RoutesTest, CancelAbortsEngineRequests) {
  json body = {{"prompt", {"a", "b", "c"}}, {"max_tokens", 400}, {"ignore_eos", true}};
  Reply reply = router_.handle(post("/v1/completions", body.dump()));
  auto pending = std::get<std::shared_ptr<PendingReply>>(reply);
  pending->start([] {});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GT(backend_.used_blocks(), 0);
  pending->cancel();
  for (int i = 0; i < 200 && backend_.used_blocks() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(backend_.used_blocks(), 0);
  EXPECT_EQ(backend_.stats().num_running, 0);
}

}  // namespace
}  // namespace tessera::server::testing
