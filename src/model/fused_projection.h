// Several projections of the same input (q/k/v, gate/up) as one matmul when
// their weights share a dtype: the input is read (and, on the CPU, quantized)
// once, and the backend runs one larger GEMM. Outputs are column views of one
// buffer. Mixed dtypes (e.g. Q4_K_M files) fall back to one matmul each.
#pragma once

#include <vector>

#include "tessera/backend/backend.h"

namespace tessera {

class FusedProjection {
 public:
  FusedProjection() = default;
  FusedProjection(Backend& backend, const std::vector<Tensor>& weights);

  int64_t out_features() const { return total_; }
  size_t nbytes() const;
  // out is [T, out_features()]; parts() gives the column views of each output.
  void apply(Backend& backend, const Tensor& x, Tensor& out) const;
  std::vector<Tensor> split(const Tensor& out) const;

 private:
  Tensor fused_;                  // defined when fused
  std::vector<Tensor> weights_;   // otherwise one per projection
  std::vector<int64_t> offsets_;  // column offset of each part, plus the total
  int64_t total_ = 0;
};

}  // namespace tessera
