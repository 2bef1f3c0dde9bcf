#include "cublaslt_gemm.h"

#include "cuda_check.h"

namespace tessera::cuda {
namespace {

// Largest power of two (up to 256) dividing the address: cuBLASLt assumes
// 256-byte aligned operands unless told otherwise.
int alignment_of(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  int a = 256;
  while (a > 1 && v % uintptr_t(a) != 0) a /= 2;
  return a;
}

}  // namespace

LtGemm::LtGemm(cudaStream_t stream, void* workspace, size_t workspace_bytes)
    : stream_(stream), workspace_(workspace), workspace_bytes_(workspace_bytes) {
  TESSERA_CUBLAS_CHECK(cublasLtCreate(&handle_));
}

LtGemm::~LtGemm() {
  for (auto& [key, plan] : plans_) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
    cublasLtMatmulDescDestroy(plan.op);
  }
  if (handle_) cublasLtDestroy(handle_);
}

const LtGemm::Plan& LtGemm::plan_for(const Key& key) {
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  // Column-major view of the row-major product: out^T[N, M] = w[N, K] · x^T[K, M],
  // i.e. A = w stored as K x N (ld = ldw) used transposed, B = x stored as
  // K x M (ld = ldx), C = out stored as N x M (ld = ldo).
  Plan plan;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA,
                                                      &trans_a, sizeof(trans_a)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB,
                                                      &trans_b, sizeof(trans_b)));
  const cudaDataType_t in = key.elem == Elem::kF16 ? CUDA_R_16F : CUDA_R_16BF;
  TESSERA_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&plan.a, in, uint64_t(key.k), uint64_t(key.n), key.ldw));
  TESSERA_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&plan.b, in, uint64_t(key.k), uint64_t(key.m), key.ldx));
  TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan.c, key.out_f32 ? CUDA_R_32F : in,
                                                  uint64_t(key.n), uint64_t(key.m), key.ldo));

  cublasLtMatmulPreference_t pref = nullptr;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  auto set_pref = [&](cublasLtMatmulPreferenceAttributes_t attr, const auto& value) {
    TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)));
  };
  const uint64_t ws = workspace_bytes_;
  const uint32_t ax = uint32_t(key.align_x), aw = uint32_t(key.align_w), ao = uint32_t(key.align_o);
  set_pref(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws);
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, aw);
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, ax);
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, ao);
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, ao);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, plan.op, plan.a, plan.b, plan.c,
                                                           plan.c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0) {
    cublasLtMatrixLayoutDestroy(plan.a);
    cublasLtMatrixLayoutDestroy(plan.b);
    cublasLtMatrixLayoutDestroy(plan.c);
    cublasLtMatmulDescDestroy(plan.op);
    fail(ErrorKind::kUnsupported,
         "cuBLASLt has no {} algorithm for M={} N={} K={} (lds {} {} {}, alignments {} {} {}): {}",
         key.elem == Elem::kF16 ? "fp16" : "bf16", key.m, key.n, key.k, key.ldx, key.ldw, key.ldo,
         key.align_x, key.align_w, key.align_o, cublasGetStatusString(st));
  }
  plan.algo = result.algo;
  return plans_.emplace(key, plan).first->second;
}

void LtGemm::run(Elem elem, const void* x, int64_t ldx, const void* w, int64_t ldw, void* out,
                 int64_t ldo, bool out_f32, int64_t M, int64_t N, int64_t K) {
  if (M == 0 || N == 0) return;
  const Key key{
      M, N, K, ldx, ldw, ldo, elem, out_f32, alignment_of(x), alignment_of(w), alignment_of(out)};
  const Plan& plan = plan_for(key);
  const float alpha = 1.0f, beta = 0.0f;
  TESSERA_CUBLAS_CHECK(cublasLtMatmul(handle_, plan.op, &alpha, w, plan.a, x, plan.b, &beta, out,
                                      plan.c, out, plan.c, &plan.algo, workspace_, workspace_bytes_,
                                      stream_));
}

}  // namespace tessera::cuda
