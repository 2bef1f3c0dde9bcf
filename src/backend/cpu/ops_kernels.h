// CPU implementations of the backend ops (float32 activations). Each op is in
// its own ops_<name>.cpp; CpuBackend (cpu_backend.cpp) only forwards to them.
#pragma once

#include "tessera/backend/backend.h"

namespace tessera::cpu {

void embedding(const Tensor& table, const Tensor& ids, Tensor& out);
void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out);
void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out);
void rope(Tensor& q, Tensor& k, const Tensor& positions, const RopeParams& p);
void write_kv(const Tensor& k, const Tensor& v, const AttentionMeta& meta, KvLayer& cache);
void paged_attention(const Tensor& q, const KvLayer& cache, const AttentionMeta& meta,
                     int num_heads, int num_kv_heads, float scale, Tensor& out);
void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out);
void add(Tensor& x, const Tensor& y);
void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out);

// Rotary inverse frequencies (rotary_dim / 2 of them) with the scaling of p
// applied, computed like transformers does (float32).
std::vector<float> rope_inv_freq(const RopeParams& p);

}  // namespace tessera::cpu
