// Small tokenizers built by hand for unit tests: every id is known, so
// expectations follow from the BPE rules rather than from our own output.
#pragma once

#include <string>

#include "tessera/tokenizer/byte_level.h"
#include "tessera/tokenizer/pre_tokenizer.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera::tokenizer::testing {

// Byte-level: id b (0..255) is byte b; then merges, then "<|end|>" (control).
inline TokenizerSpec byte_level_spec(
    const std::vector<std::pair<std::string, std::string>>& merges = {}) {
  TokenizerSpec spec;
  spec.model = ModelKind::kByteLevelBpe;
  for (const std::string& c : byte_level_alphabet()) spec.tokens.push_back(c);
  for (const auto& [l, r] : merges) {
    spec.merges.emplace_back(to_byte_level(l), to_byte_level(r));
    spec.tokens.push_back(to_byte_level(l + r));
  }
  spec.tokens.push_back("<|end|>");
  spec.token_types.assign(spec.tokens.size(), TokenType::kNormal);
  spec.token_types.back() = TokenType::kControl;
  AddedToken end;
  end.id = static_cast<int32_t>(spec.tokens.size() - 1);
  end.content = "<|end|>";
  spec.added_tokens.push_back(end);
  spec.eos_id = end.id;
  PreTokenizerStep step;
  step.kind = PreTokenizerStep::Kind::kByteLevel;
  spec.pre_tokenizer.push_back(step);
  return spec;
}

// SentencePiece: <unk>=0 <s>=1 </s>=2, <0x00>..<0xFF> = 3..258, then pieces
// with scores (higher merges first).
inline TokenizerSpec sentencepiece_spec(const std::vector<std::pair<std::string, float>>& pieces) {
  TokenizerSpec spec;
  spec.model = ModelKind::kSentencePieceBpe;
  spec.tokens = {"<unk>", "<s>", "</s>"};
  spec.token_types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  spec.scores = {0, 0, 0};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    spec.tokens.push_back(name);
    spec.token_types.push_back(TokenType::kByte);
    spec.scores.push_back(0);
  }
  for (const auto& [piece, score] : pieces) {
    spec.tokens.push_back(piece);
    spec.token_types.push_back(TokenType::kNormal);
    spec.scores.push_back(score);
  }
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_id = 2;
  spec.add_bos = true;
  spec.add_space_prefix = true;
  spec.byte_fallback = true;
  for (int id : {0, 1, 2}) {
    AddedToken t;
    t.id = id;
    t.content = spec.tokens[id];
    spec.added_tokens.push_back(t);
  }
  return spec;
}

inline int32_t byte_token(int b) { return 3 + b; }  // in sentencepiece_spec

}  // namespace tessera::tokenizer::testing
