// 16-bit GEMMs through cuBLASLt: out[M, N] = x[M, K] · w[N, K]^T, x and w
// bf16 or fp16 (CUDA_R_16BF / CUDA_R_16F), fp32 accumulation, out in the
// inputs' type or fp32. The algorithm for each shape (and element type and
// the alignment of its pointers) is chosen once by cuBLASLt's heuristic and
// cached with its descriptors, so a repeated shape costs one cublasLtMatmul.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <compare>
#include <cstdint>
#include <map>

#include "kernels.h"

namespace tessera::cuda {

class LtGemm {
 public:
  LtGemm(cudaStream_t stream, void* workspace, size_t workspace_bytes);
  ~LtGemm();
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  // Strides in elements (row-major rows). Throws Error on a cuBLASLt failure
  // or when no algorithm exists for the shape.
  void run(Elem elem, const void* x, int64_t ldx, const void* w, int64_t ldw, void* out,
           int64_t ldo, bool out_f32, int64_t M, int64_t N, int64_t K);

 private:
  struct Key {
    int64_t m, n, k, ldx, ldw, ldo;
    Elem elem;
    bool out_f32;
    int align_x, align_w, align_o;
    auto operator<=>(const Key&) const = default;
  };
  struct Plan {
    cublasLtMatmulDesc_t op = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  const Plan& plan_for(const Key& key);

  cudaStream_t stream_;
  void* workspace_;
  size_t workspace_bytes_;
  cublasLtHandle_t handle_ = nullptr;
  std::map<Key, Plan> plans_;
};

}  // namespace tessera::cuda
