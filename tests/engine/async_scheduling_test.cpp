// Async scheduling (the next decode step queued before the current one's
// tokens are back) must not change any output. On the CPU every step is
// batch-invariant, so the outputs of an engine with async scheduling must
// equal those of one without it exactly: tokens, text, logprobs, finish
// reasons, counts. The workload mixes what ends a sequence early (EOS, stop
// strings and stop tokens seen a step late, max_tokens and the context
// limit known ahead), what keeps a step off the fast path (penalties, beam
// search, prompt logprobs), n > 1, aborts and preemption.
//
// On a GPU (TESSERA_TEST_DEVICE=cuda, run by scripts/gpu-check.sh) steps are
// not batch-invariant, so there the requests run one at a time (the same
// step shapes in both modes) on dummy weights, and must match exactly too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "tessera/engine/engine.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera {
namespace {

EngineConfig config(bool async) {
  EngineConfig c;
  c.model = "smollm2-135m";
  c.max_num_seqs = 64;
  c.max_num_batched_tokens = 512;
  c.kv_cache_memory = int64_t(256) << 20;
  c.async_scheduling = async;
  return c;
}

RequestOutput collect(RequestHandle& h) {
  RequestOutput all;
  while (auto o = h.next()) merge_output(all, std::move(*o));
  std::sort(all.outputs.begin(), all.outputs.end(),
            [](auto& a, auto& b) { return a.index < b.index; });
  return all;
}

void expect_same(const RequestOutput& a, const RequestOutput& b, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(a.num_prompt_tokens, b.num_prompt_tokens);
  EXPECT_EQ(a.num_generated_tokens, b.num_generated_tokens);
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i) {
    const SequenceOutput &x = a.outputs[i], &y = b.outputs[i];
    EXPECT_EQ(x.token_ids, y.token_ids) << "sequence " << i;
    EXPECT_EQ(x.text, y.text) << "sequence " << i;
    EXPECT_EQ(x.finish_reason, y.finish_reason) << "sequence " << i;
    EXPECT_EQ(x.stop_reason, y.stop_reason) << "sequence " << i;
    EXPECT_EQ(x.cumulative_logprob, y.cumulative_logprob) << "sequence " << i;
    ASSERT_EQ(x.logprobs.size(), y.logprobs.size()) << "sequence " << i;
    for (size_t t = 0; t < x.logprobs.size(); ++t) {
      EXPECT_EQ(x.logprobs[t].token, y.logprobs[t].token);
      EXPECT_EQ(x.logprobs[t].logprob, y.logprobs[t].logprob);
      EXPECT_EQ(x.logprobs[t].top, y.logprobs[t].top);
    }
  }
}

GenerateRequest request(const Engine& e, const std::string& prompt, int max_tokens) {
  GenerateRequest r;
  r.prompt_ids = e.tokenizer().encode(prompt, true);
  r.params.max_tokens = max_tokens;
  r.params.temperature = 0.0f;
  return r;
}

// Requests whose outputs must not depend on the scheduling mode, given the
// greedy continuation of "The capital of France is" (for stops that fire
// mid-generation).
std::vector<std::pair<std::string, GenerateRequest>> workload(const Engine& e,
                                                              const RequestOutput& free_run) {
  std::vector<std::pair<std::string, GenerateRequest>> w;
  const char* prompts[] = {"The ocean is",      "def quicksort(arr):", "Photosynthesis is",
                           "My favourite song", "Paris was once",      "1, 2, 3, 5, 8,"};
  for (int i = 0; i < 6; ++i) {
    GenerateRequest r = request(e, prompts[i], 3 + 5 * i);  // EOS may come first
    w.emplace_back("greedy " + std::to_string(i), r);
  }
  for (int i = 0; i < 4; ++i) {
    GenerateRequest r = request(e, prompts[i], 16);
    r.params.temperature = 0.8f;
    r.params.top_k = 40;
    r.params.top_p = 0.9f;
    r.params.min_p = 0.02f;
    r.params.seed = 100 + i;
    r.params.logprobs = 3;
    r.params.ignore_eos = true;
    w.emplace_back("seeded " + std::to_string(i), r);
  }
  GenerateRequest n3 = request(e, "Once upon a time", 12);
  n3.params.n = 3;
  n3.params.temperature = 1.0f;
  n3.params.seed = 7;
  n3.params.ignore_eos = true;
  w.emplace_back("n=3", n3);

  const SequenceOutput& free = free_run.outputs.at(0);
  GenerateRequest stop_string = request(e, "The capital of France is", 24);
  stop_string.params.stop = {free.text.substr(6, 3)};
  w.emplace_back("stop string", stop_string);
  GenerateRequest stop_token = request(e, "The capital of France is", 24);
  stop_token.params.stop_token_ids = {free.token_ids.at(5)};
  w.emplace_back("stop token", stop_token);
  GenerateRequest min_tokens = stop_token;
  min_tokens.params.min_tokens = 8;  // the stop token is banned until then
  w.emplace_back("min_tokens", min_tokens);

  GenerateRequest penalty = request(e, "The ocean is", 12);
  penalty.params.presence_penalty = 0.5f;
  penalty.params.repetition_penalty = 1.3f;
  w.emplace_back("penalties", penalty);
  GenerateRequest beam = request(e, "The capital of France is", 8);
  beam.params.use_beam_search = true;
  beam.params.beam_width = 3;
  w.emplace_back("beam search", beam);
  GenerateRequest prompt_lp = request(e, "Paris was once", 6);
  prompt_lp.params.prompt_logprobs = 2;
  w.emplace_back("prompt logprobs", prompt_lp);
  return w;
}

struct Outcome {
  std::vector<RequestOutput> outputs;
  EngineStats stats;
};

// Submits the whole workload at once (the step compositions differ between
// the modes; on the CPU the outputs must not).
Outcome run(Engine& e, const std::vector<std::pair<std::string, GenerateRequest>>& w) {
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (const auto& [name, r] : w) handles.push_back(e.submit(r));
  Outcome out;
  for (auto& h : handles) out.outputs.push_back(collect(*h));
  out.stats = e.stats();
  return out;
}

TEST(AsyncScheduling, OutputsEqualSynchronousScheduling) {
  auto sync = Engine::create(config(false));
  auto async = Engine::create(config(true));
  const RequestOutput free_run =
      collect(*sync->submit(request(*sync, "The capital of France is", 24)));
  ASSERT_GE(free_run.outputs.at(0).token_ids.size(), 8u);
  const auto w = workload(*sync, free_run);
  const Outcome a = run(*sync, w), b = run(*async, w);
  for (size_t i = 0; i < w.size(); ++i) expect_same(a.outputs[i], b.outputs[i], w[i].first);
  // The early stops did fire, mid-generation.
  EXPECT_LT(a.outputs[11].outputs[0].token_ids.size(), 24u);
  EXPECT_EQ(a.outputs[12].outputs[0].token_ids.size(), 6u);
  EXPECT_GE(a.outputs[13].outputs[0].token_ids.size(), 8u);
  EXPECT_EQ(a.stats.chained_steps, 0);
  EXPECT_GT(b.stats.chained_steps, 10);
  for (const Outcome* r : {&a, &b}) {
    EXPECT_EQ(r->stats.kv_cache_usage, 0.0);
    EXPECT_EQ(r->stats.num_running + r->stats.num_waiting, 0);
  }
}

TEST(AsyncScheduling, ContextLimitAndPreemptionMatch) {
  // 46 KB per token: 3000 KB is 4 blocks of 16 tokens, far too few for
  // six requests; the context limit (48) ends them by length.
  EngineConfig small = config(false);
  small.enable_prefix_caching = false;
  small.kv_cache_memory = int64_t(3000) << 10;
  small.max_model_len = 48;
  auto sync = Engine::create(small);
  small.async_scheduling = true;
  auto async = Engine::create(small);
  std::vector<std::pair<std::string, GenerateRequest>> w;
  const char* prompts[] = {"The ocean", "A quantum computer is", "The history of jazz", "Paris",
                           "def f(x):", "Photosynthesis"};
  for (int i = 0; i < 6; ++i) {
    GenerateRequest r = request(*sync, prompts[i], 40);
    r.params.max_tokens.reset();  // up to the context limit
    r.params.ignore_eos = true;
    w.emplace_back(prompts[i], r);
  }
  const Outcome a = run(*sync, w), b = run(*async, w);
  for (size_t i = 0; i < w.size(); ++i) {
    expect_same(a.outputs[i], b.outputs[i], w[i].first);
    EXPECT_EQ(b.outputs[i].outputs.at(0).finish_reason, FinishReason::kLength);
    EXPECT_EQ(b.outputs[i].num_prompt_tokens + b.outputs[i].num_generated_tokens, 48);
  }
  EXPECT_GT(b.stats.num_preemptions, 0);
  EXPECT_GT(b.stats.chained_steps, 0);
  EXPECT_EQ(b.stats.kv_cache_usage, 0.0);
}

TEST(AsyncScheduling, AbortMidGenerationFreesEverything) {
  auto e = Engine::create(config(true));
  GenerateRequest r = request(*e, "Tell me a long story", 2000);
  r.params.ignore_eos = true;
  auto keep = e->submit(request(*e, "The ocean is", 40));
  auto h = e->submit(r);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h->next().has_value());
  h->abort();
  RequestOutput all;
  while (auto o = h->next()) merge_output(all, std::move(*o));
  ASSERT_FALSE(all.outputs.empty());
  EXPECT_EQ(all.outputs[0].finish_reason, FinishReason::kAbort);
  EXPECT_FALSE(collect(*keep).outputs.empty());
  for (int i = 0; i < 100 && e->stats().num_running > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const EngineStats s = e->stats();
  EXPECT_EQ(s.num_running, 0);
  EXPECT_EQ(s.kv_cache_usage, 0.0);
  EXPECT_GT(s.chained_steps, 0);
}

bool on_cuda() {
  const char* d = std::getenv("TESSERA_TEST_DEVICE");
  return d && std::string(d) == "cuda";
}

EngineConfig device_config(bool async) {
  EngineConfig c;
  c.model = std::string(TESSERA_SOURCE_DIR) + "/tests/data/configs/small-llama.json";
  c.load_format = "dummy";
  c.device = "cuda";
  c.kv_cache_memory = int64_t(64) << 20;
  c.max_model_len = 512;
  c.async_scheduling = async;
  return c;
}

GenerateRequest id_request(int first, int len, int max_tokens) {
  GenerateRequest r;
  for (int i = 0; i < len; ++i) r.prompt_ids.push_back((first + 37 * i) % 2000 + 1);
  r.params.max_tokens = max_tokens;
  r.params.temperature = 0.0f;
  r.params.ignore_eos = true;
  return r;
}

TEST(AsyncScheduling, DeviceOutputsEqualSynchronousScheduling) {
  if (!on_cuda()) GTEST_SKIP() << "hardware: needs TESSERA_TEST_DEVICE=cuda";
  auto sync = Engine::create(device_config(false));
  auto async = Engine::create(device_config(true));
  const RequestOutput free_run = collect(*sync->submit(id_request(5, 20, 40)));
  std::vector<std::pair<std::string, GenerateRequest>> w;
  w.emplace_back("greedy", id_request(5, 20, 40));
  GenerateRequest seeded = id_request(9, 300, 48);
  seeded.params.temperature = 0.9f;
  seeded.params.top_p = 0.95f;
  seeded.params.top_k = 100;
  seeded.params.seed = 3;
  seeded.params.logprobs = 5;
  w.emplace_back("seeded", seeded);
  GenerateRequest n4 = seeded;
  n4.params.n = 4;
  n4.params.logprobs.reset();
  w.emplace_back("n=4", n4);
  GenerateRequest stop = id_request(5, 20, 40);
  stop.params.stop_token_ids = {free_run.outputs.at(0).token_ids.at(10)};
  w.emplace_back("stop token", stop);
  GenerateRequest min_tokens = stop;
  min_tokens.params.min_tokens = 20;
  w.emplace_back("min_tokens", min_tokens);
  GenerateRequest penalties = id_request(11, 40, 24);
  penalties.params.frequency_penalty = 0.4f;
  w.emplace_back("penalties", penalties);
  GenerateRequest to_limit = id_request(13, 480, 40);
  to_limit.params.max_tokens.reset();
  w.emplace_back("context limit", to_limit);
  for (const auto& [name, r] : w)
    expect_same(collect(*sync->submit(r)), collect(*async->submit(r)), name);
  EXPECT_EQ(sync->stats().chained_steps, 0);
  EXPECT_GT(async->stats().chained_steps, 100);

  // Many at once: every stream completes and everything is freed.
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (int i = 0; i < 24; ++i) handles.push_back(async->submit(id_request(i, 8 + 13 * i, 16 + i)));
  for (int i = 0; i < 24; ++i)
    EXPECT_EQ(collect(*handles[size_t(i)]).outputs.at(0).token_ids.size(), size_t(16 + i));
  EXPECT_EQ(async->stats().kv_cache_usage, 0.0);
}

}  // namespace
}  // namespace tessera
