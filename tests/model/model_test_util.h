// Shared fixtures for model tests: the default model on the CPU backend, and
// a single sequence stepping through it with a trivial block table.
#pragma once

#include <cstdlib>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "tessera/backend/backend.h"
#include "tessera/engine/model_runner.h"
#include "tessera/model/model.h"
#include "tessera/model/weight_source.h"

namespace tessera {

struct TestModel {
  std::unique_ptr<WeightSource> source;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Model> model;
};

inline TestModel& default_test_model() {
  static TestModel tm = [] {
    TestModel t;
    t.source = WeightSource::open("smollm2-135m");
    t.backend = make_cpu_backend();
    t.model = Model::load(*t.source, *t.backend);
    return t;
  }();
  return tm;
}

inline KvCacheShape kv_shape_for(const Model& model, int num_blocks, int block_size = 16,
                                 DType kv_type = DType::kF32) {
  KvCacheShape s;
  s.dtype = kv_type;
  s.num_layers = model.config().num_layers;
  s.num_blocks = num_blocks;
  s.block_size = block_size;
  s.num_kv_heads = model.config().num_kv_heads;
  s.head_dim = model.config().head_dim;
  return s;
}

// One sequence whose blocks are laid out in reverse order (so the test also
// exercises non-contiguous block tables).
class SingleSequence {
 public:
  SingleSequence(TestModel& tm, int max_tokens, int block_size = 16, DType kv_type = DType::kF32)
      : runner_(*tm.model, kv_shape_for(*tm.model, (max_tokens + block_size - 1) / block_size,
                                        block_size, kv_type)) {
    table_.resize(size_t(runner_.kv_shape().num_blocks));
    std::iota(table_.rbegin(), table_.rend(), 0);
  }
  // Computes the last `n` of `tokens` and returns the last token's logits.
  std::span<const float> step(std::span<const int32_t> tokens, int n) {
    ScheduledSeq s;
    s.tokens = tokens;
    s.num_computed = int(tokens.size()) - n;
    s.num_new = n;
    s.block_table = table_;
    s.want_logits = true;
    std::vector<int> rows;
    return runner_.run({&s, 1}, rows);
  }

 private:
  ModelRunner runner_;
  std::vector<int32_t> table_;
};

}  // namespace tessera
