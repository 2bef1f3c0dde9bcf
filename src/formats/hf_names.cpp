#include "tessera/formats/hf_names.h"

#include <array>
#include <cctype>
#include <utility>

namespace tessera::hf {
namespace {

// Whole-model tensors.
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kGlobal = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
}};

// Per-layer tensors, after "model.layers.N." / "blk.N.".
constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kLayer = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.gate_proj.bias", "ffn_gate.bias"},
    {"mlp.up_proj.bias", "ffn_up.bias"},
    {"mlp.down_proj.bias", "ffn_down.bias"},
}};

// Splits "<prefix>N.<rest>" into N and rest; false if it does not match.
bool split_layer(std::string_view name, std::string_view prefix, std::string_view& index,
                 std::string_view& rest) {
  if (name.substr(0, prefix.size()) != prefix) return false;
  name.remove_prefix(prefix.size());
  size_t digits = 0;
  while (digits < name.size() && std::isdigit(static_cast<unsigned char>(name[digits]))) ++digits;
  if (digits == 0 || digits > 6 || digits >= name.size() || name[digits] != '.') return false;
  index = name.substr(0, digits);
  rest = name.substr(digits + 1);
  return true;
}

std::optional<std::string> translate(std::string_view name, bool to_canonical) {
  for (const auto& [hf, canon] : kGlobal)
    if (name == (to_canonical ? hf : canon)) return std::string(to_canonical ? canon : hf);
  const std::string_view from_prefix = to_canonical ? "model.layers." : "blk.";
  const std::string_view to_prefix = to_canonical ? "blk." : "model.layers.";
  std::string_view index, rest;
  if (!split_layer(name, from_prefix, index, rest)) return std::nullopt;
  for (const auto& [hf, canon] : kLayer) {
    if (rest == (to_canonical ? hf : canon)) {
      std::string out(to_prefix);
      out.append(index).append(".").append(to_canonical ? canon : hf);
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> canonical_name(std::string_view hf_name) {
  return translate(hf_name, true);
}

std::optional<std::string> hf_name(std::string_view canonical_name) {
  return translate(canonical_name, false);
}

}  // namespace tessera::hf
