// What the forward pass needs to know about a model, read from GGUF metadata
// or an HF config.json. Architecture code reads these fields, never the name.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/backend/backend.h"

namespace tessera {

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

}  // namespace tessera
