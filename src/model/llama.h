#pragma once

#include <vector>

#include "fused_projection.h"
#include "tessera/model/model.h"

namespace tessera {

class LlamaModel final : public Model {
 public:
  LlamaModel(const WeightSource& source, Backend& backend);

  const ModelConfig& config() const override { return config_; }
  Backend& backend() const override { return backend_; }
  void forward(const ForwardInput& in, std::vector<KvLayer>& kv_cache, Tensor& logits) override;
  size_t weight_bytes() const override { return bytes_; }
  uint64_t workspace_epoch() const override { return ws_epoch_; }

 private:
  struct Layer {
    Tensor attn_norm, wo, ffn_norm, w_down;
    FusedProjection qkv, gate_up;
  };
  // Activations, sized for the largest batch seen so far and reused.
  struct Workspace {
    Tensor x, h, qkv, attn, proj, gate_up, act;
    Tensor last_x, last_proj, last_h;
  };
  void reserve(int64_t tokens, int64_t logit_rows);

  ModelConfig config_;
  Backend& backend_;
  Tensor token_embd_, output_norm_, output_;
  std::vector<Layer> layers_;
  size_t bytes_ = 0;
  Workspace ws_;
  int64_t ws_tokens_ = 0, ws_logit_rows_ = 0;
  uint64_t ws_epoch_ = 0;
};

}  // namespace tessera
