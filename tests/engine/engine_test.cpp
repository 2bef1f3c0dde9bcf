// End-to-end engine behaviour on the default model (CPU): batch invariance,
// chunked prefill, prefix caching, preemption, n > 1, beam search, stops.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/engine/engine.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera {
namespace {

EngineConfig base_config() {
  EngineConfig c;
  c.model = "smollm2-135m";
  c.max_num_seqs = 64;
  c.max_num_batched_tokens = 512;
  c.kv_cache_memory = int64_t(256) << 20;
  return c;
}

struct Result {
  std::vector<std::vector<int32_t>> tokens;  // per sequence index
  std::vector<std::string> text;
  RequestOutput last;
};

Result collect(RequestHandle& h) {
  RequestOutput all;
  while (auto o = h.next()) merge_output(all, std::move(*o));
  Result r;
  std::sort(all.outputs.begin(), all.outputs.end(),
            [](auto& a, auto& b) { return a.index < b.index; });
  for (auto& s : all.outputs) {
    r.tokens.push_back(s.token_ids);
    r.text.push_back(s.text);
  }
  r.last = std::move(all);
  return r;
}

std::vector<std::string> varied_prompts(int n) {
  const char* subjects[] = {
      "The ocean",           "My neighbour's cat",  "A quantum computer", "Paris",
      "The history of jazz", "def quicksort(arr):", "Photosynthesis",     "The stock market"};
  const char* verbs[] = {" is", " was once", " can be explained as", " reminds me of"};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(std::string(subjects[i % 8]) + verbs[(i / 8) % 4] +
                  std::string(size_t(i % 5), ' ') + (i % 3 ? " a" : ""));
  return out;
}

GenerateRequest make_request(const Engine& e, const std::string& prompt, int max_tokens,
                             float temperature = 0.0f, std::optional<int64_t> seed = {}) {
  GenerateRequest r;
  r.prompt_ids = e.tokenizer().encode(prompt, true);
  r.params.max_tokens = max_tokens;
  r.params.temperature = temperature;
  r.params.seed = seed;
  r.params.ignore_eos = true;
  return r;
}

std::unique_ptr<Engine>& shared_engine() {
  static std::unique_ptr<Engine> e = Engine::create(base_config());
  return e;
}

TEST(Engine, GreedyAndSeededOutputsDoNotDependOnTheBatch) {
  Engine& e = *shared_engine();
  const auto prompts = varied_prompts(32);
  for (float temperature : {0.0f, 0.8f}) {
    std::vector<std::vector<int32_t>> alone;
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto h = e.submit(make_request(e, prompts[i], 12, temperature, 1000 + int64_t(i)));
      alone.push_back(collect(*h).tokens.at(0));
    }
    std::vector<std::shared_ptr<RequestHandle>> handles;
    for (size_t i = 0; i < prompts.size(); ++i)
      handles.push_back(e.submit(make_request(e, prompts[i], 12, temperature, 1000 + int64_t(i))));
    for (size_t i = 0; i < prompts.size(); ++i)
      EXPECT_EQ(collect(*handles[i]).tokens.at(0), alone[i])
          << "prompt " << i << " temperature " << temperature;
  }
}

TEST(Engine, ChunkedPrefillGivesTheSameTokens) {
  EngineConfig c = base_config();
  c.max_num_batched_tokens = 24;  // a 100-token prompt takes five steps
  c.enable_prefix_caching = false;
  auto chunked = Engine::create(c);
  std::string prompt;
  for (int i = 0; i < 20; ++i) prompt += "one two three four five ";
  Engine& e = *shared_engine();
  auto want = collect(*e.submit(make_request(e, prompt, 16))).tokens.at(0);
  auto got = collect(*chunked->submit(make_request(*chunked, prompt, 16))).tokens.at(0);
  EXPECT_EQ(got, want);
}

TEST(Engine, PrefixCachingComputesOnlyTheNewPart) {
  EngineConfig c = base_config();
  auto cached = Engine::create(c);
  c.enable_prefix_caching = false;
  auto uncached = Engine::create(c);
  // A shared prefix of exactly 256 tokens (16 blocks), then different tails.
  const tokenizer::Tokenizer& tok = cached->tokenizer();
  std::vector<int32_t> prefix;
  while (prefix.size() < 256) {
    auto ids = tok.encode(" the quick brown fox jumps over the lazy dog", false);
    prefix.insert(prefix.end(), ids.begin(), ids.end());
  }
  prefix.resize(256);
  auto request = [&](const std::string& tail) {
    GenerateRequest r;
    r.prompt_ids = prefix;
    auto t = tok.encode(tail, false);
    r.prompt_ids.insert(r.prompt_ids.end(), t.begin(), t.end());
    r.params.max_tokens = 8;
    r.params.temperature = 0;
    return r;
  };
  collect(*cached->submit(request(" and then it rested.")));
  const int64_t computed_before = cached->stats().prompt_tokens;
  GenerateRequest second = request(" but the dog woke up and");
  const int tail = int(second.prompt_ids.size()) - 256;
  Result hit = collect(*cached->submit(second));
  EXPECT_EQ(hit.last.num_cached_prompt_tokens, 256);
  EXPECT_EQ(cached->stats().prompt_tokens - computed_before, tail);
  Result miss = collect(*uncached->submit(request(" but the dog woke up and")));
  EXPECT_EQ(miss.last.num_cached_prompt_tokens, 0);
  EXPECT_EQ(hit.tokens, miss.tokens);
}

TEST(Engine, PreemptionUnderATinyCacheKeepsOutputsAndLeaksNothing) {
  EngineConfig small = base_config();
  small.enable_prefix_caching = false;
  // 46 KB per token for this model: 3000 KB is 4 blocks of 16 (one is the null block).
  small.kv_cache_memory = int64_t(3000) << 10;
  small.max_model_len = 48;
  auto tiny = Engine::create(small);
  Engine& big = *shared_engine();
  const auto prompts = varied_prompts(6);
  std::vector<std::shared_ptr<RequestHandle>> a, b;
  for (const auto& p : prompts) {
    a.push_back(tiny->submit(make_request(*tiny, p, 24)));
    b.push_back(big.submit(make_request(big, p, 24)));
  }
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(collect(*a[i]).tokens, collect(*b[i]).tokens) << "prompt " << i;
  const EngineStats s = tiny->stats();
  EXPECT_GT(s.num_preemptions, 0);
  EXPECT_EQ(s.kv_cache_usage, 0.0);
  EXPECT_EQ(s.num_running + s.num_waiting, 0);
}

TEST(Engine, ParallelSamplesAreSeededStreams) {
  Engine& e = *shared_engine();
  GenerateRequest r = make_request(e, "Once upon a time", 12, 1.0f, 7);
  r.params.n = 4;
  Result first = collect(*e.submit(r));
  Result again = collect(*e.submit(r));
  ASSERT_EQ(first.tokens.size(), 4u);
  EXPECT_EQ(first.tokens, again.tokens);
  EXPECT_NE(first.tokens[0], first.tokens[1]);
  EXPECT_EQ(first.last.num_generated_tokens, 48);
}

TEST(Engine, BeamSearchWidthOneIsGreedy) {
  Engine& e = *shared_engine();
  GenerateRequest greedy = make_request(e, "The capital of France is", 10);
  GenerateRequest beam = greedy;
  beam.params.use_beam_search = true;
  beam.params.beam_width = 1;
  EXPECT_EQ(collect(*e.submit(beam)).tokens.at(0), collect(*e.submit(greedy)).tokens.at(0));
}

TEST(Engine, BeamSearchReturnsNBestBeams) {
  Engine& e = *shared_engine();
  GenerateRequest r = make_request(e, "The capital of France is", 8);
  r.params.use_beam_search = true;
  r.params.beam_width = 4;
  r.params.n = 2;
  r.params.logprobs = 1;
  Result res = collect(*e.submit(r));
  ASSERT_EQ(res.tokens.size(), 2u);
  EXPECT_NE(res.tokens[0], res.tokens[1]);
  EXPECT_GE(res.last.outputs[0].cumulative_logprob, res.last.outputs[1].cumulative_logprob);
}

TEST(Engine, StopStringsEndTheTextBeforeTheMatch) {
  Engine& e = *shared_engine();
  Result free_run = collect(*e.submit(make_request(e, "The capital of France is", 20)));
  const std::string text = free_run.text.at(0);
  ASSERT_GT(text.size(), 8u);
  const std::string stop = text.substr(4, 3);
  GenerateRequest r = make_request(e, "The capital of France is", 20);
  r.params.stop = {stop};
  Result stopped = collect(*e.submit(r));
  EXPECT_EQ(stopped.text.at(0), text.substr(0, text.find(stop)));
  EXPECT_EQ(stopped.last.outputs.at(0).finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped.last.outputs.at(0).stop_reason, stop);
}

TEST(Engine, AbortFreesTheRequest) {
  Engine& e = *shared_engine();
  auto h = e.submit(make_request(e, "Tell me a long story", 2000));
  auto first = h->next();
  ASSERT_TRUE(first.has_value());
  h->abort();
  RequestOutput all;
  while (auto o = h->next()) merge_output(all, std::move(*o));
  ASSERT_FALSE(all.outputs.empty());
  EXPECT_EQ(all.outputs[0].finish_reason, FinishReason::kAbort);
  for (int i = 0; i < 100 && e.stats().num_running > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(e.stats().num_running, 0);
}

TEST(Engine, RefusesARequestIdInUseAndAcceptsItOnceFinished) {
  Engine& e = *shared_engine();
  GenerateRequest r = make_request(e, "Tell me a long story", 2000);
  r.request_id = "same-id";
  auto first = e.submit(r);
  try {
    e.submit(r);
    FAIL() << "a second request with a live id was accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(err.what()).find("same-id"), std::string::npos) << err.what();
  }
  // The refused duplicate must not have touched the first request.
  auto out = first->next();
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->finished);
  first->abort();
  while (first->next()) {
  }
  // Finished: the id is free again, and a stale abort of the old handle
  // does not reach the new request that reuses it.
  r.params.max_tokens = 3;
  auto second = e.submit(r);
  first->abort();
  Result done = collect(*second);
  EXPECT_EQ(done.last.outputs.at(0).finish_reason, FinishReason::kLength);
  EXPECT_EQ(done.tokens.at(0).size(), 3u);
  // An engine-assigned id skips one a caller already took.
  auto probe = e.submit(make_request(e, "x", 1));
  const std::string probe_id = probe->id();  // "req-N"
  collect(*probe);
  ASSERT_EQ(probe_id.rfind("req-", 0), 0u) << probe_id;
  GenerateRequest taken = make_request(e, "Tell me a long story", 2000);
  taken.request_id = "req-" + std::to_string(std::stoll(probe_id.substr(4)) + 1);
  auto hold = e.submit(taken);
  auto next = e.submit(make_request(e, "x", 1));
  EXPECT_NE(next->id(), hold->id());
  collect(*next);
  hold->abort();
  collect(*hold);
}

TEST(Engine, RejectsPromptsLongerThanTheContext) {
  EngineConfig c = base_config();
  c.max_model_len = 32;
  auto e = Engine::create(c);
  GenerateRequest r;
  r.prompt_ids.assign(40, 100);
  r.params.max_tokens = 4;
  try {
    e->submit(r);
    FAIL() << "no error";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(err.what()).find("32"), std::string::npos);
    EXPECT_NE(std::string(err.what()).find("40"), std::string::npos);
  }
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// --cpu-activations sets the process-wide matmul precision; int8 still
// gives a working engine (its tokens may differ from f32, so only the
// count and the mode are checked here), auto picks the CPU's default, and a
// bad name is refused.
TEST(Engine, CpuActivationsFlagSelectsThePrecision) {
  const cpu::ActivationPrecision saved = cpu::activation_precision();
  EngineConfig c = base_config();
  c.cpu_activations = "int8";
  auto e = Engine::create(c);
  EXPECT_EQ(cpu::activation_precision(), cpu::ActivationPrecision::kInt8);
  auto h = e->submit(make_request(*e, "The capital of France is", 8));
  EXPECT_EQ(collect(*h).tokens.at(0).size(), 8u);
  e.reset();
  c.cpu_activations = "f32";
  e = Engine::create(c);
  EXPECT_EQ(cpu::activation_precision(), cpu::ActivationPrecision::kFloat);
  e.reset();
  c.cpu_activations = "int16";
  e = Engine::create(c);
  EXPECT_EQ(cpu::activation_precision(), cpu::ActivationPrecision::kInt16);
  e.reset();
  c.cpu_activations = "auto";
  e = Engine::create(c);
  EXPECT_EQ(cpu::activation_precision(), cpu::default_activation_precision());
  EXPECT_EQ(cpu::default_activation_precision() == cpu::ActivationPrecision::kInt16,
            cpu::kernel_isa() == "avx512-vnni" || cpu::kernel_isa() == "amx");
  e.reset();
  c.cpu_activations = "int4";
  try {
    Engine::create(c);
    ADD_FAILURE() << "int4 accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::kInvalidArgument);
  }
  cpu::set_activation_precision(saved);
}

// --kv-cache-dtype f16 stores twice the blocks in the same budget and still
// runs; an unknown name is refused.
TEST(Engine, KvCacheDtypeSizesThePool) {
  EngineConfig c = base_config();
  auto f32 = Engine::create(c);
  c.kv_cache_dtype = "f16";
  auto f16 = Engine::create(c);
  EXPECT_EQ(f16->stats().kv_cache_blocks, 2 * f32->stats().kv_cache_blocks);
  auto h = f16->submit(make_request(*f16, "The capital of France is", 8));
  EXPECT_EQ(collect(*h).tokens.at(0).size(), 8u);
  c.kv_cache_dtype = "q4";
  EXPECT_THROW(Engine::create(c), Error);
}

}  // namespace
}  // namespace tessera
