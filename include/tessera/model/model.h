// A loaded model: weights on a backend plus the forward pass of one
// architecture. It runs one flat batch per call and knows nothing of
// requests or scheduling.
#pragma once

#include <memory>
#include <vector>

#include "tessera/backend/backend.h"
#include "tessera/model/model_config.h"

namespace tessera {

class WeightSource;

// One step's batch, on the backend's device. token_ids / positions are
// [num_tokens]; logits_rows lists the batch rows whose next-token logits are
// wanted (the last token of each sequence, or every prompt token for prompt
// logprobs).
struct ForwardInput {
  Tensor token_ids;    // I32 [T]
  Tensor positions;    // I32 [T]
  Tensor logits_rows;  // I32 [L]
  AttentionMeta attn;
};

class Model {
 public:
  virtual ~Model() = default;

  // Picks the architecture from the config; throws Error(kUnsupported) for
  // architectures we do not implement.
  static std::unique_ptr<Model> load(const WeightSource& source, Backend& backend);

  virtual const ModelConfig& config() const = 0;
  virtual Backend& backend() const = 0;
  // Fills logits [L, vocab] (F32, on the backend) and writes this step's K/V
  // into the paged cache at attn.slot_mapping.
  virtual void forward(const ForwardInput& in, std::vector<KvLayer>& kv_cache, Tensor& logits) = 0;
  // Bytes of weights one decode step reads (for bandwidth figures).
  virtual size_t weight_bytes() const = 0;
  // Changes whenever forward() replaces its activation buffers (a larger
  // batch than before): CUDA graphs captured before point into the old ones.
  virtual uint64_t workspace_epoch() const { return 0; }
};

}  // namespace tessera
