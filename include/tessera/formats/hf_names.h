// HF (transformers) Llama tensor names and the GGUF names tessera uses as
// canonical: model.layers.3.self_attn.q_proj.weight <-> blk.3.attn_q.weight.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tessera::hf {

// nullopt for names outside the Llama layout (e.g. rotary_emb.inv_freq).
std::optional<std::string> canonical_name(std::string_view hf_name);
std::optional<std::string> hf_name(std::string_view canonical_name);

}  // namespace tessera::hf
