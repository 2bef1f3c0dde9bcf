// Turns a step's scheduled work into one flat ("nopad") batch, runs the model
// on it, and hands back the logits rows that need sampling. Owns the paged KV
// cache memory; which blocks a sequence uses is the KV-cache manager's call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tessera/backend/backend.h"
#include "tessera/model/model.h"

namespace tessera {

// One sequence's share of a step.
struct ScheduledSeq {
  std::span<const int32_t> tokens;       // every known token (prompt + generated)
  int num_computed = 0;                  // tokens whose K/V are already cached
  int num_new = 0;                       // tokens computed this step
  std::span<const int32_t> block_table;  // covers num_computed + num_new tokens
  bool want_logits = false;              // logits of the last new token (sampling)
  bool want_all_logits = false;          // logits of every new token (prompt logprobs)
  // >= 0: the one new token (at position num_computed, past the end of
  // `tokens`) is entry sampled_index of the `sampled` ids given to forward():
  // sampled on the device by the step before, not yet known to the host.
  int sampled_index = -1;
};

class ModelRunner {
 public:
  ModelRunner(Model& model, const KvCacheShape& kv_shape);

  // Runs one step. Returns host logits [rows, vocab]; `first_row[i]` is the
  // first row of seqs[i] (-1 when it asked for none). Valid until next run().
  std::span<const float> run(std::span<const ScheduledSeq> seqs, std::vector<int>& first_row);

  // The same in two halves: forward() leaves the logits [rows, vocab] (F32)
  // on the backend's device (valid until the next forward), download_rows()
  // copies the rows listed (ascending, no repeats) to the host, one after
  // the other, valid until the next download.
  // `sampled` (int32 ids on the backend's device) feeds the sequences with a
  // sampled_index; either every sequence has one (a decode step chained to
  // the previous one, async scheduling) or none.
  Tensor forward(std::span<const ScheduledSeq> seqs, std::vector<int>& first_row,
                 const Tensor* sampled = nullptr);
  std::span<const float> download_rows(const Tensor& logits, std::span<const int> rows);

  const KvCacheShape& kv_shape() const { return kv_shape_; }
  std::vector<KvLayer>& kv_cache() { return kv_cache_; }
  Model& model() { return model_; }
  // Copies whole KV blocks (copy-on-write for shared blocks).
  void copy_blocks(std::span<const std::pair<int32_t, int32_t>> src_dst);

  // CUDA backends only (a no-op elsewhere): steps that only decode (one new
  // token per sequence, logits of it) for at most `max_batch` sequences
  // whose contexts fit `max_context` tokens are padded to a bucket size and
  // replayed as CUDA graphs, one per bucket, captured the first time a
  // bucket runs (model_runner_graphs.cpp). Other steps run as before.
  void enable_cuda_graphs(int max_batch, int max_context);
  int cuda_graphs_captured() const { return int(graphs_.size()); }

 private:
  void ensure_capacity(int64_t tokens, int64_t seqs, int64_t max_blocks, int64_t logit_rows);
  // The graph path of forward(): false when the step is not one it takes.
  bool run_graph(std::span<const ScheduledSeq> seqs, std::vector<int>& first_row,
                 const Tensor* sampled, Tensor& logits);
  // Whether the step's tokens come from `sampled` (checked: all or none).
  static bool chained(std::span<const ScheduledSeq> seqs, const Tensor* sampled);
  // tokens[i] = sampled[h_sampled_index_[i]] (a negative index gives 0).
  void gather_sampled(const Tensor& sampled, void* tokens);

  Model& model_;
  Backend& backend_;
  KvCacheShape kv_shape_;
  std::vector<KvLayer> kv_cache_;
  // Host staging, reused across steps.
  std::vector<int32_t> h_tokens_, h_positions_, h_slots_, h_query_start_, h_context_lens_,
      h_block_tables_, h_logit_rows_, h_sampled_index_;
  std::vector<float> h_logits_;
  // Device copies, grown on demand.
  Tensor d_tokens_, d_positions_, d_slots_, d_query_start_, d_context_lens_, d_block_tables_,
      d_logit_rows_, d_logits_, d_sampled_index_;

  // CUDA graphs: fixed buffers for the largest bucket (graphs point into
  // them), and one graph per bucket size with the workspace epochs it was
  // captured under.
  struct Graph {
    int batch = 0, width = 0;  // bucket sizes: sequences, blocks per block-table row
    uint64_t backend_epoch = 0, model_epoch = 0;
    std::shared_ptr<void> exec;
  };
  int graph_max_batch_ = 0;
  int graph_table_width_ = 0;  // most blocks per row of g_block_tables_
  std::vector<Graph> graphs_;
  Tensor g_tokens_, g_positions_, g_slots_, g_query_start_, g_context_lens_, g_block_tables_,
      g_logit_rows_, g_logits_;
};

}  // namespace tessera
