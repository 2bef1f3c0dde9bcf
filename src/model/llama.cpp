// The Llama family (Llama 2/3, SmolLM2, Mistral without sliding window):
// RMSNorm, rotary embeddings, grouped-query attention, SwiGLU MLP, tied or
// separate output head. Written once against the Backend ops.
#include "llama.h"

#include <cmath>

#include "tessera/core/error.h"
#include "tessera/model/weight_source.h"

namespace tessera {

LlamaModel::LlamaModel(const WeightSource& source, Backend& backend)
    : config_(source.config()), backend_(backend) {
  auto load = [&](const std::string& name) {
    Tensor t = backend_.load_weight(source.tensor(name));
    bytes_ += t.nbytes();
    return t;
  };
  const int64_t d = config_.hidden_size;
  const int64_t q_dim = int64_t(config_.num_heads) * config_.head_dim;
  const int64_t kv_dim = int64_t(config_.num_kv_heads) * config_.head_dim;
  auto expect = [&](const Tensor& t, int64_t rows, int64_t cols, const std::string& name) {
    if (t.rows() != rows || t.cols() != cols)
      fail(ErrorKind::kBadFile, "tensor {} has shape {} but the config implies [{}, {}]", name,
           t.describe(), rows, cols);
  };

  token_embd_ = backend_.load_weight(source.tensor("token_embd.weight"));
  expect(token_embd_, config_.vocab_size, d, "token_embd.weight");
  output_norm_ = load("output_norm.weight");
  if (source.has_tensor("output.weight")) {
    output_ = load("output.weight");
    expect(output_, config_.vocab_size, d, "output.weight");
  } else {
    output_ = token_embd_;  // tied embeddings
    bytes_ += output_.nbytes();
  }
  for (int l = 0; l < config_.num_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer layer;
    Tensor wq = source.tensor(p + "attn_q.weight"), wk = source.tensor(p + "attn_k.weight");
    Tensor wv = source.tensor(p + "attn_v.weight"), wg = source.tensor(p + "ffn_gate.weight");
    Tensor wu = source.tensor(p + "ffn_up.weight");
    expect(wq, q_dim, d, p + "attn_q.weight");
    expect(wk, kv_dim, d, p + "attn_k.weight");
    expect(wv, kv_dim, d, p + "attn_v.weight");
    expect(wg, config_.intermediate_size, d, p + "ffn_gate.weight");
    expect(wu, config_.intermediate_size, d, p + "ffn_up.weight");
    layer.attn_norm = load(p + "attn_norm.weight");
    layer.qkv = FusedProjection(backend_, {wq, wk, wv});
    layer.wo = load(p + "attn_output.weight");
    layer.ffn_norm = load(p + "ffn_norm.weight");
    layer.gate_up = FusedProjection(backend_, {wg, wu});
    layer.w_down = load(p + "ffn_down.weight");
    expect(layer.wo, d, q_dim, p + "attn_output.weight");
    expect(layer.w_down, d, config_.intermediate_size, p + "ffn_down.weight");
    bytes_ += layer.qkv.nbytes() + layer.gate_up.nbytes();
    layers_.push_back(std::move(layer));
  }
}

void LlamaModel::reserve(int64_t tokens, int64_t logit_rows) {
  if (tokens > ws_tokens_) {
    const int64_t d = config_.hidden_size, f = config_.intermediate_size;
    const int64_t q_dim = int64_t(config_.num_heads) * config_.head_dim;
    const int64_t kv_dim = int64_t(config_.num_kv_heads) * config_.head_dim;
    const DType act = backend_.activation_dtype();
    ws_.x = backend_.alloc(act, {tokens, d});
    ws_.h = backend_.alloc(act, {tokens, d});
    ws_.qkv = backend_.alloc(act, {tokens, q_dim + 2 * kv_dim});
    ws_.attn = backend_.alloc(act, {tokens, q_dim});
    ws_.proj = backend_.alloc(act, {tokens, d});
    ws_.gate_up = backend_.alloc(act, {tokens, 2 * f});
    ws_.act = backend_.alloc(act, {tokens, f});
    ws_tokens_ = tokens;
    ++ws_epoch_;
  }
  if (logit_rows > ws_logit_rows_) {
    const DType act = backend_.activation_dtype();
    ws_.last_x = backend_.alloc(act, {logit_rows, config_.hidden_size});
    ws_.last_proj = backend_.alloc(act, {logit_rows, config_.hidden_size});
    ws_.last_h = backend_.alloc(act, {logit_rows, config_.hidden_size});
    ws_logit_rows_ = logit_rows;
    ++ws_epoch_;
  }
}

void LlamaModel::forward(const ForwardInput& in, std::vector<KvLayer>& kv_cache, Tensor& logits) {
  const int64_t T = in.token_ids.numel(), L = in.logits_rows.numel();
  TESSERA_CHECK(T == in.attn.num_tokens && T > 0);
  TESSERA_CHECK(kv_cache.size() == layers_.size());
  TESSERA_CHECK(logits.rows() == L && logits.cols() == config_.vocab_size);
  reserve(T, L);
  auto rows = [T](const Tensor& t) { return t.slice_rows(0, T); };
  Tensor x = rows(ws_.x), h = rows(ws_.h), qkv = rows(ws_.qkv), attn = rows(ws_.attn);
  Tensor proj = rows(ws_.proj), gate_up = rows(ws_.gate_up), act = rows(ws_.act);
  const float eps = config_.rms_norm_eps;
  const float scale = 1.0f / std::sqrt(float(config_.head_dim));

  backend_.embedding(token_embd_, in.token_ids, x);
  for (size_t l = 0; l < layers_.size(); ++l) {
    const Layer& w = layers_[l];
    // The previous layer's MLP output joins the residual stream here.
    if (l == 0)
      backend_.rms_norm(x, w.attn_norm, eps, h);
    else
      backend_.add_rms_norm(x, proj, w.attn_norm, eps, h);
    w.qkv.apply(backend_, h, qkv);
    std::vector<Tensor> qkv_parts = w.qkv.split(qkv);
    Tensor &q = qkv_parts[0], &k = qkv_parts[1], &v = qkv_parts[2];
    backend_.rope_write_kv(q, k, v, in.positions, config_.rope, in.attn, kv_cache[l]);
    backend_.paged_attention(q, kv_cache[l], in.attn, config_.num_heads, config_.num_kv_heads,
                             scale, attn);
    backend_.matmul(attn, w.wo, proj);
    backend_.add_rms_norm(x, proj, w.ffn_norm, eps, h);
    w.gate_up.apply(backend_, h, gate_up);
    std::vector<Tensor> gu = w.gate_up.split(gate_up);
    backend_.silu_mul(gu[0], gu[1], act);
    backend_.matmul(act, w.w_down, proj);
  }
  if (L == 0) return;  // a prefill chunk that does not finish its prompt
  // Only the rows that need logits go through the final norm and the head.
  Tensor last_x = ws_.last_x.slice_rows(0, L), last_proj = ws_.last_proj.slice_rows(0, L);
  Tensor last_h = ws_.last_h.slice_rows(0, L);
  backend_.gather_rows(x, in.logits_rows, last_x);
  backend_.gather_rows(proj, in.logits_rows, last_proj);
  backend_.add_rms_norm(last_x, last_proj, output_norm_, eps, last_h);
  backend_.matmul(last_h, output_, logits);
}

}  // namespace tessera
