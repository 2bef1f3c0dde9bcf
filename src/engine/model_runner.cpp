#include "tessera/engine/model_runner.h"

#include <algorithm>
#include <cstring>

#include "tessera/core/error.h"

namespace tessera {

ModelRunner::ModelRunner(Model& model, const KvCacheShape& kv_shape)
    : model_(model), backend_(model.backend()), kv_shape_(kv_shape) {
  kv_cache_ = backend_.alloc_kv_cache(kv_shape_);
}

void ModelRunner::ensure_capacity(int64_t tokens, int64_t seqs, int64_t max_blocks,
                                  int64_t logit_rows) {
  auto grow = [&](Tensor& t, int64_t n) {
    if (!t.defined() || t.numel() < n || t.numel() == 0)
      t = backend_.alloc(DType::kI32, {std::max<int64_t>(n, 1) * 2});
  };
  grow(d_tokens_, tokens);
  grow(d_positions_, tokens);
  grow(d_slots_, tokens);
  grow(d_query_start_, seqs + 1);
  grow(d_context_lens_, seqs);
  grow(d_block_tables_, seqs * max_blocks);
  grow(d_logit_rows_, logit_rows);
  const int64_t vocab = model_.config().vocab_size;
  if (!d_logits_.defined() || d_logits_.dim(0) < logit_rows)
    d_logits_ = backend_.alloc(DType::kF32, {std::max<int64_t>(logit_rows, 1) * 2, vocab});
}

std::span<const float> ModelRunner::run(std::span<const ScheduledSeq> seqs,
                                        std::vector<int>& first_row) {
  const Tensor logits = forward(seqs, first_row);
  h_logits_.resize(size_t(logits.rows() * logits.cols()));
  if (logits.rows() > 0) backend_.download_f32(logits, h_logits_.data());
  return {h_logits_.data(), h_logits_.size()};
}

std::span<const float> ModelRunner::download_rows(const Tensor& logits, std::span<const int> rows) {
  const size_t vocab = size_t(logits.cols());
  h_logits_.resize(rows.size() * vocab);
  // One copy per run of consecutive rows.
  for (size_t i = 0; i < rows.size();) {
    size_t j = i + 1;
    while (j < rows.size() && rows[j] == rows[j - 1] + 1) ++j;
    TESSERA_CHECK(rows[i] >= 0 && rows[j - 1] < logits.rows());
    backend_.download_f32(logits.slice_rows(rows[i], rows[j - 1] + 1),
                          h_logits_.data() + i * vocab);
    i = j;
  }
  return {h_logits_.data(), h_logits_.size()};
}

bool ModelRunner::chained(std::span<const ScheduledSeq> seqs, const Tensor* sampled) {
  if (!sampled) return false;
  for (const ScheduledSeq& s : seqs)
    TESSERA_CHECK(s.sampled_index >= 0 && s.sampled_index < sampled->numel() && s.num_new == 1);
  return true;
}

void ModelRunner::gather_sampled(const Tensor& sampled, void* tokens) {
  const int64_t n = int64_t(h_sampled_index_.size());
  if (!d_sampled_index_.defined() || d_sampled_index_.numel() < n)
    d_sampled_index_ = backend_.alloc(DType::kI32, {std::max<int64_t>(n, 1) * 2});
  backend_.upload_i32(h_sampled_index_.data(), n, d_sampled_index_);
  Tensor index(d_sampled_index_.data(), DType::kI32, {n}, backend_.device());
  Tensor out(tokens, DType::kI32, {n, 1}, backend_.device());
  backend_.gather_rows(sampled.reshape({sampled.numel(), 1}), index, out);
}

Tensor ModelRunner::forward(std::span<const ScheduledSeq> seqs, std::vector<int>& first_row,
                            const Tensor* sampled) {
  Tensor graph_logits;
  if (graph_max_batch_ > 0 && run_graph(seqs, first_row, sampled, graph_logits))
    return graph_logits;
  const bool from_sampled = chained(seqs, sampled);
  const int bs = kv_shape_.block_size;
  h_tokens_.clear();
  h_positions_.clear();
  h_slots_.clear();
  h_query_start_.assign(1, 0);
  h_context_lens_.clear();
  h_logit_rows_.clear();
  h_sampled_index_.clear();
  first_row.assign(seqs.size(), -1);
  int max_blocks = 1;
  for (const auto& s : seqs) max_blocks = std::max<int>(max_blocks, int(s.block_table.size()));
  h_block_tables_.assign(seqs.size() * size_t(max_blocks), 0);

  for (size_t i = 0; i < seqs.size(); ++i) {
    const ScheduledSeq& s = seqs[i];
    const int end = s.num_computed + s.num_new;
    TESSERA_CHECK(s.num_new > 0 && end <= int(s.tokens.size()) + (from_sampled ? 1 : 0));
    TESSERA_CHECK(int64_t(s.block_table.size()) * bs >= end);
    const int row0 = int(h_tokens_.size());
    if (from_sampled) h_sampled_index_.push_back(s.sampled_index);
    for (int p = s.num_computed; p < end; ++p) {
      h_tokens_.push_back(from_sampled ? 0 : s.tokens[p]);
      h_positions_.push_back(p);
      h_slots_.push_back(s.block_table[p / bs] * bs + p % bs);
    }
    if (s.want_all_logits) {
      first_row[i] = int(h_logit_rows_.size());
      for (int r = 0; r < s.num_new; ++r) h_logit_rows_.push_back(row0 + r);
    } else if (s.want_logits) {
      first_row[i] = int(h_logit_rows_.size());
      h_logit_rows_.push_back(row0 + s.num_new - 1);
    }
    h_query_start_.push_back(int(h_tokens_.size()));
    h_context_lens_.push_back(end);
    std::copy(s.block_table.begin(), s.block_table.end(),
              h_block_tables_.begin() + i * size_t(max_blocks));
  }

  const int64_t T = int64_t(h_tokens_.size()), S = int64_t(seqs.size());
  const int64_t L = int64_t(h_logit_rows_.size());
  ensure_capacity(T, S, max_blocks, std::max<int64_t>(L, 1));
  if (from_sampled)
    gather_sampled(*sampled, d_tokens_.data());
  else
    backend_.upload_i32(h_tokens_.data(), T, d_tokens_);
  backend_.upload_i32(h_positions_.data(), T, d_positions_);
  backend_.upload_i32(h_slots_.data(), T, d_slots_);
  backend_.upload_i32(h_query_start_.data(), S + 1, d_query_start_);
  backend_.upload_i32(h_context_lens_.data(), S, d_context_lens_);
  backend_.upload_i32(h_block_tables_.data(), S * max_blocks, d_block_tables_);
  backend_.upload_i32(h_logit_rows_.data(), L, d_logit_rows_);

  ForwardInput in;
  in.token_ids = Tensor(d_tokens_.data(), DType::kI32, {T}, backend_.device());
  in.positions = Tensor(d_positions_.data(), DType::kI32, {T}, backend_.device());
  in.logits_rows = Tensor(d_logit_rows_.data(), DType::kI32, {L}, backend_.device());
  in.attn.num_seqs = int(S);
  in.attn.num_tokens = int(T);
  in.attn.query_start = d_query_start_.data_as<int32_t>();
  in.attn.context_lens = d_context_lens_.data_as<int32_t>();
  in.attn.block_tables = d_block_tables_.data_as<int32_t>();
  in.attn.max_blocks_per_seq = max_blocks;
  in.attn.slot_mapping = d_slots_.data_as<int32_t>();
  in.attn.positions = d_positions_.data_as<int32_t>();

  Tensor logits = d_logits_.slice_rows(0, L);
  model_.forward(in, kv_cache_, logits);
  return logits;
}

void ModelRunner::copy_blocks(std::span<const std::pair<int32_t, int32_t>> src_dst) {
  for (auto& layer : kv_cache_) {
    for (Tensor* t : {&layer.k, &layer.v}) {
      const size_t block_bytes = t->nbytes() / size_t(t->dim(0));
      for (auto [src, dst] : src_dst)
        backend_.copy(static_cast<char*>(t->data()) + size_t(dst) * block_bytes,
                      static_cast<char*>(t->data()) + size_t(src) * block_bytes, block_bytes);
    }
  }
}

}  // namespace tessera
