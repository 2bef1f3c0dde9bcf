// HF <-> canonical (GGUF) tensor names.
#include "tessera/formats/hf_names.h"

#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(HfNames, MapsTheLlamaLayoutBothWays) {
  const std::pair<const char*, const char*> pairs[] = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
      {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
      {"model.layers.12.self_attn.q_proj.weight", "blk.12.attn_q.weight"},
      {"model.layers.3.self_attn.k_proj.weight", "blk.3.attn_k.weight"},
      {"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight"},
      {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"},
      {"model.layers.29.post_attention_layernorm.weight", "blk.29.ffn_norm.weight"},
      {"model.layers.7.mlp.gate_proj.weight", "blk.7.ffn_gate.weight"},
      {"model.layers.7.mlp.up_proj.weight", "blk.7.ffn_up.weight"},
      {"model.layers.7.mlp.down_proj.weight", "blk.7.ffn_down.weight"},
      {"model.layers.1.self_attn.q_proj.bias", "blk.1.attn_q.bias"},
  };
  for (const auto& [hf_name, canonical] : pairs) {
    EXPECT_EQ(hf::canonical_name(hf_name), canonical);
    EXPECT_EQ(hf::hf_name(canonical), hf_name);
  }
}

TEST(HfNames, LeavesOtherNamesAlone) {
  for (const char* name :
       {"model.layers.0.self_attn.rotary_emb.inv_freq", "model.layers.x.mlp.up_proj.weight",
        "model.layers..mlp.up_proj.weight", "model.layers.1", "model.layers.1.", "blk.0.attn_q",
        "token_embd.weight", "", "model.layers.1234567.mlp.up_proj.weight"}) {
    EXPECT_EQ(hf::canonical_name(name), std::nullopt) << name;
  }
  EXPECT_EQ(hf::hf_name("model.embed_tokens.weight"), std::nullopt);
  EXPECT_EQ(hf::hf_name("blk.a.attn_q.weight"), std::nullopt);
}

}  // namespace
}  // namespace tessera
