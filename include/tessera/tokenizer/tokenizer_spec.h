// Everything a tokenizer needs, independent of the file it came from. GGUF
// metadata and HF folders (tokenizer.json + tokenizer_config.json) are both
// turned into a TokenizerSpec first, so the tokenizer core knows no formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessera::gguf {
class File;
}

namespace tessera::tokenizer {

enum class ModelKind {
  kByteLevelBpe,      // GPT-2 / Llama 3 style: bytes mapped to printable chars, merges by rank
  kSentencePieceBpe,  // Llama 2 / Gemma style: "▁" for spaces, merges by score, <0xXX> bytes
};

// Values of GGUF tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// How the pieces a regex finds relate to the text between them (HF Split).
enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokenizerStep {
  enum class Kind {
    kSplit,      // split every piece with `pattern`
    kByteLevel,  // optional leading space, then (use_regex) the GPT-2 split
  };
  Kind kind = Kind::kSplit;
  std::string pattern;  // PCRE2 syntax, compiled with UTF + UCP
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // kByteLevel
  bool use_regex = true;          // kByteLevel
};

enum class Normalization { kNone, kNfc, kNfkc };

// A token matched in raw text before pre-tokenization.
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = true;       // only matched when parsing special tokens; skippable on decode
  bool lstrip = false;       // swallows whitespace on its left
  bool rstrip = false;       // swallows whitespace on its right
  bool single_word = false;  // only matched when not inside a word
  bool normalized = false;
};

struct TokenizerSpec {
  ModelKind model = ModelKind::kByteLevelBpe;
  std::string pre_name;  // GGUF tokenizer.ggml.pre, or "hf" for a tokenizer.json pipeline

  // Indexed by id. Byte-level models spell tokens in the byte-to-unicode
  // alphabet ("Ġthe"); SentencePiece ones with "▁" for spaces.
  std::vector<std::string> tokens;
  std::vector<TokenType> token_types;  // empty: all normal (added tokens aside)
  std::vector<float> scores;           // SentencePiece merge priorities
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order

  Normalization normalization = Normalization::kNone;
  std::vector<PreTokenizerStep> pre_tokenizer;
  std::vector<AddedToken> added_tokens;

  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1;
  bool add_bos = false, add_eos = false;
  bool ignore_merges = false;     // a word that is already a token is not merged (Llama 3)
  bool byte_fallback = false;     // unknown pieces become <0xXX> tokens (SentencePiece)
  bool add_space_prefix = false;  // SentencePiece: "▁" before the text
  // HF Metaspace variants of the prefix: only before the text's first run
  // (prepend_scheme "first"), only where the run does not start with a
  // space already; and splitting words before each "▁" (split: true).
  bool space_prefix_first_only = false;
  bool space_prefix_if_missing = false;
  bool split_at_space_mark = false;

  std::string chat_template;
  std::string bos_token, eos_token;  // their text, for chat templates
};

// The pre-tokenizer llama.cpp-style GGUF files mean by tokenizer.ggml.pre.
// Throws Error(kUnsupported) for names we do not know.
std::vector<PreTokenizerStep> pre_tokenizer_for_gguf_pre(std::string_view pre);
// Names pre_tokenizer_for_gguf_pre accepts.
std::vector<std::string> known_gguf_pre_names();

// From GGUF metadata (tokenizer.ggml.*, tokenizer.chat_template).
TokenizerSpec spec_from_gguf(const gguf::File& file);
// From the text of tokenizer.json and tokenizer_config.json (may be empty).
TokenizerSpec spec_from_hf_json(std::string_view tokenizer_json, std::string_view config_json);
// From a folder holding tokenizer.json (and usually tokenizer_config.json).
TokenizerSpec spec_from_hf_folder(const std::string& dir);

}  // namespace tessera::tokenizer
