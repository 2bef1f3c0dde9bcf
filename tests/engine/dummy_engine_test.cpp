// The engine on dummy weights (--load-format dummy): no tokenizer files, a
// placeholder vocabulary, finite log-probabilities.
#include <gtest/gtest.h>

#include <cmath>

#include "tessera/engine/engine.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera {
namespace {

TEST(DummyEngine, GeneratesFromAConfigAlone) {
  EngineConfig c;
  c.model = std::string(TESSERA_SOURCE_DIR) + "/tests/data/configs/tiny-llama.json";
  c.load_format = "dummy";
  c.kv_cache_memory = int64_t(8) << 20;
  auto engine = Engine::create(c);
  const tokenizer::Tokenizer& tok = engine->tokenizer();
  EXPECT_EQ(tok.vocab_size(), 300u);
  EXPECT_EQ(tok.eos_id(), 299);
  EXPECT_TRUE(tok.is_special(299));
  EXPECT_FALSE(tok.is_special(5));
  // Any text encodes (byte tokens) and decodes back.
  EXPECT_EQ(tok.decode(tok.encode("héllo", false)), "héllo");
  EXPECT_EQ(engine->weights_dtype(), "BF16");
  EXPECT_GT(engine->weight_bytes(), 0u);

  GenerateRequest r;
  r.prompt_ids = {1, 2, 3, 260, 4};
  r.params.max_tokens = 8;
  r.params.temperature = 0;
  r.params.ignore_eos = true;
  r.params.logprobs = 1;
  auto h = engine->submit(r);
  RequestOutput all;
  while (auto o = h->next()) merge_output(all, std::move(*o));
  ASSERT_EQ(all.outputs.size(), 1u);
  ASSERT_EQ(all.outputs[0].token_ids.size(), 8u);
  for (const TokenLogprob& lp : all.outputs[0].logprobs) {
    EXPECT_TRUE(std::isfinite(lp.logprob));
    EXPECT_LE(lp.logprob, 0.0f);
  }
  // The same config and prompt give the same tokens (weights are a function
  // of the tensor names).
  auto again = Engine::create(c);
  auto h2 = again->submit(r);
  RequestOutput all2;
  while (auto o = h2->next()) merge_output(all2, std::move(*o));
  EXPECT_EQ(all2.outputs[0].token_ids, all.outputs[0].token_ids);
}

}  // namespace
}  // namespace tessera
