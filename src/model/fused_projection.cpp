#include "fused_projection.h"

#include <cstring>

#include "tessera/core/error.h"

namespace tessera {

FusedProjection::FusedProjection(Backend& backend, const std::vector<Tensor>& weights) {
  TESSERA_CHECK(!weights.empty());
  bool same_dtype = true;
  offsets_.push_back(0);
  for (const Tensor& w : weights) {
    TESSERA_CHECK(w.cols() == weights[0].cols());
    same_dtype = same_dtype && w.dtype() == weights[0].dtype() && w.contiguous();
    total_ += w.rows();
    offsets_.push_back(total_);
  }
  if (weights.size() > 1 && same_dtype) {
    // Rows of a weight are independent (quantization blocks run along a row),
    // so stacking rows of quantized tensors is a plain byte copy.
    Tensor host = Tensor::empty(weights[0].dtype(), {total_, weights[0].cols()});
    char* dst = static_cast<char*>(host.data());
    for (const Tensor& w : weights) {
      std::memcpy(dst, w.data(), w.nbytes());
      dst += w.nbytes();
    }
    fused_ = backend.load_weight(host);
  } else {
    for (const Tensor& w : weights) weights_.push_back(backend.load_weight(w));
  }
}

size_t FusedProjection::nbytes() const {
  size_t n = fused_.defined() ? fused_.nbytes() : 0;
  for (const Tensor& w : weights_) n += w.nbytes();
  return n;
}

void FusedProjection::apply(Backend& backend, const Tensor& x, Tensor& out) const {
  if (fused_.defined()) {
    backend.matmul(x, fused_, out);
    return;
  }
  std::vector<Tensor> parts = split(out);
  for (size_t i = 0; i < weights_.size(); ++i) backend.matmul(x, weights_[i], parts[i]);
}

std::vector<Tensor> FusedProjection::split(const Tensor& out) const {
  std::vector<Tensor> parts;
  for (size_t i = 0; i + 1 < offsets_.size(); ++i)
    parts.push_back(out.slice_cols(offsets_[i], offsets_[i + 1]));
  return parts;
}

}  // namespace tessera
