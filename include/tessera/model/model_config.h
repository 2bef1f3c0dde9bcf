// What the forward pass needs to know about a model, read from GGUF metadata
// or an HF config.json. Architecture code reads these fields, never the name.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/backend/backend.h"

namespace tessera {

namespace gguf {
class File;
}

struct ModelConfig {
  std::string architecture;  // "llama", "gemma3", ... (GGUF general.architecture)
  std::string name;          // human-readable, for `info` and /v1/models
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  float rms_norm_eps = 1e-5f;
  int64_t max_position = 2048;  // context length the model was trained for
  bool tie_word_embeddings = false;
  RopeParams rope;
};

// Architectures whose config these readers understand (GGUF
// general.architecture / HF model_type).
bool is_supported_architecture(const std::string& arch);

// From GGUF metadata (`<arch>.block_count`, `.embedding_length`, ...). Llama
// GGUF files store Q/K rows permuted for adjacent-pair rotation, so the rope
// style is kInterleaved. Missing or malformed keys and unsupported
// architectures raise Error(kBadFile, "<path>: ... <key> ...").
ModelConfig config_from_gguf(const gguf::File& file);

// From the text of an HF config.json (`path` names it in errors). HF
// checkpoints keep Q/K unpermuted: the rope style is kNeox.
ModelConfig config_from_hf_json(const std::string& json_text, const std::string& path);

// "none", "linear", "llama3".
const char* rope_scaling_name(RopeParams::Scaling scaling);

// One line per field ("layers: 30"), for logs and test failure messages.
std::string describe_config(const ModelConfig& config);

}  // namespace tessera
