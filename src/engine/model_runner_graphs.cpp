// Decode steps as CUDA graphs. A decode-only step of S sequences is padded
// to the next bucket size B (1, 2, 4, 8, then steps of 8 up to 64, of 16 up
// to 128, of 32 beyond) and run from fixed device buffers, so that one
// captured graph per bucket replays every such step: the host then only
// uploads the step's ids, positions, slots and block tables, launches one
// graph and reads back the logits, instead of launching some 350 kernels.
// Padding rows are token 0 at position 0 with KV slot -1 (the KV write
// skips it) and a context of one token in block 0; their logits are never
// read. Block tables are padded to a width bucket of the step's longest
// context (multiples of 64 blocks, up to the model's length), and a graph
// is captured per (batch bucket, width bucket): the attention launch (its
// split of the keys) is fixed inside a graph, and planning it for the
// longest possible context would launch mostly idle splits.
// A bucket runs once outside a capture first (growing cuBLASLt plans and
// workspaces), which is also that step's result; graphs captured before a
// workspace was replaced are dropped and captured again.
#include <algorithm>

#include "tessera/core/error.h"
#include "tessera/core/log.h"
#include "tessera/engine/model_runner.h"
#ifdef TESSERA_WITH_CUDA
#include "tessera/backend/cuda.h"
#endif

namespace tessera {
#ifdef TESSERA_WITH_CUDA
namespace {

int bucket_for(int n) {
  if (n <= 1) return 1;
  if (n <= 2) return 2;
  if (n <= 4) return 4;
  if (n <= 64) return (n + 7) / 8 * 8;
  if (n <= 128) return (n + 15) / 16 * 16;
  return (n + 31) / 32 * 32;
}

int width_bucket(int blocks, int max_width) {
  constexpr int kStep = 64;
  return std::min(max_width, std::max(kStep, (blocks + kStep - 1) / kStep * kStep));
}

}  // namespace
#endif

void ModelRunner::enable_cuda_graphs(int max_batch, int max_context) {
#ifdef TESSERA_WITH_CUDA
  if (!cuda::is_cuda_backend(backend_) || max_batch <= 0) return;
  const int B = bucket_for(max_batch);
  const int bs = kv_shape_.block_size;
  graph_table_width_ = (max_context + bs - 1) / bs;
  g_tokens_ = backend_.alloc(DType::kI32, {B});
  g_positions_ = backend_.alloc(DType::kI32, {B});
  g_slots_ = backend_.alloc(DType::kI32, {B});
  g_query_start_ = backend_.alloc(DType::kI32, {B + 1});
  g_context_lens_ = backend_.alloc(DType::kI32, {B});
  g_block_tables_ = backend_.alloc(DType::kI32, {int64_t(B) * graph_table_width_});
  g_logit_rows_ = backend_.alloc(DType::kI32, {B});
  g_logits_ = backend_.alloc(DType::kF32, {B, model_.config().vocab_size});
  graph_max_batch_ = B;
#else
  (void)max_batch;
  (void)max_context;
#endif
}

bool ModelRunner::run_graph(std::span<const ScheduledSeq> seqs, std::vector<int>& first_row,
                            const Tensor* sampled, Tensor& logits_out) {
#ifdef TESSERA_WITH_CUDA
  const bool from_sampled = chained(seqs, sampled);
  const int S = int(seqs.size());
  if (S == 0 || S > graph_max_batch_) return false;
  int longest = 1;
  for (const ScheduledSeq& s : seqs) {
    if (s.num_new != 1 || !s.want_logits || s.want_all_logits ||
        int(s.block_table.size()) > graph_table_width_)
      return false;
    longest = std::max(longest, int(s.block_table.size()));
  }
  const int B = bucket_for(S), W = width_bucket(longest, graph_table_width_);
  const int bs = kv_shape_.block_size;
  h_tokens_.assign(size_t(B), 0);
  h_positions_.assign(size_t(B), 0);
  h_slots_.assign(size_t(B), -1);
  h_context_lens_.assign(size_t(B), 1);
  h_query_start_.resize(size_t(B) + 1);
  h_logit_rows_.resize(size_t(B));
  h_block_tables_.assign(size_t(B) * size_t(W), 0);
  h_sampled_index_.assign(from_sampled ? size_t(B) : 0, -1);
  for (int i = 0; i <= B; ++i) h_query_start_[size_t(i)] = i;
  for (int i = 0; i < B; ++i) h_logit_rows_[size_t(i)] = i;
  first_row.resize(size_t(S));
  for (int i = 0; i < S; ++i) {
    const ScheduledSeq& s = seqs[size_t(i)];
    const int p = s.num_computed;
    TESSERA_CHECK(p + 1 <= int(s.tokens.size()) + (from_sampled ? 1 : 0) &&
                  int64_t(s.block_table.size()) * bs > p);
    if (from_sampled)
      h_sampled_index_[size_t(i)] = s.sampled_index;
    else
      h_tokens_[size_t(i)] = s.tokens[size_t(p)];
    h_positions_[size_t(i)] = p;
    h_slots_[size_t(i)] = s.block_table[size_t(p / bs)] * bs + p % bs;
    h_context_lens_[size_t(i)] = p + 1;
    std::copy(s.block_table.begin(), s.block_table.end(),
              h_block_tables_.begin() + size_t(i) * size_t(W));
    first_row[size_t(i)] = i;
  }
  if (from_sampled)
    gather_sampled(*sampled, g_tokens_.data());  // padding rows (index -1) get token 0
  else
    backend_.upload_i32(h_tokens_.data(), B, g_tokens_);
  backend_.upload_i32(h_positions_.data(), B, g_positions_);
  backend_.upload_i32(h_slots_.data(), B, g_slots_);
  backend_.upload_i32(h_query_start_.data(), B + 1, g_query_start_);
  backend_.upload_i32(h_context_lens_.data(), B, g_context_lens_);
  backend_.upload_i32(h_block_tables_.data(), int64_t(B) * W, g_block_tables_);
  backend_.upload_i32(h_logit_rows_.data(), B, g_logit_rows_);

  ForwardInput in;
  const Device dev = backend_.device();
  in.token_ids = Tensor(g_tokens_.data(), DType::kI32, {B}, dev);
  in.positions = Tensor(g_positions_.data(), DType::kI32, {B}, dev);
  in.logits_rows = Tensor(g_logit_rows_.data(), DType::kI32, {B}, dev);
  in.attn.num_seqs = B;
  in.attn.num_tokens = B;
  in.attn.query_start = g_query_start_.data_as<int32_t>();
  in.attn.context_lens = g_context_lens_.data_as<int32_t>();
  in.attn.block_tables = g_block_tables_.data_as<int32_t>();
  in.attn.max_blocks_per_seq = W;
  in.attn.slot_mapping = g_slots_.data_as<int32_t>();
  in.attn.positions = g_positions_.data_as<int32_t>();
  Tensor logits = g_logits_.slice_rows(0, B);

  auto it = std::find_if(graphs_.begin(), graphs_.end(),
                         [&](const Graph& g) { return g.batch == B && g.width == W; });
  const bool current = it != graphs_.end() &&
                       it->backend_epoch == cuda::workspace_epoch(backend_) &&
                       it->model_epoch == model_.workspace_epoch();
  if (current) {
    cuda::launch_graph(backend_, it->exec);
  } else {
    if (it != graphs_.end()) graphs_.erase(it);
    // This step's result, and the warm-up the capture needs.
    model_.forward(in, kv_cache_, logits);
    try {
      Graph g;
      g.batch = B;
      g.width = W;
      g.exec = cuda::capture_graph(backend_, [&] { model_.forward(in, kv_cache_, logits); });
      g.backend_epoch = cuda::workspace_epoch(backend_);
      g.model_epoch = model_.workspace_epoch();
      graphs_.push_back(std::move(g));
    } catch (const Error& e) {
      spdlog::warn("CUDA graph capture failed ({}); decode steps run without graphs", e.what());
      graph_max_batch_ = 0;
      graphs_.clear();
    }
  }
  logits_out = g_logits_.slice_rows(0, S);
  return true;
#else
  (void)seqs;
  (void)first_row;
  (void)sampled;
  (void)logits_out;
  return false;
#endif
}

}  // namespace tessera
