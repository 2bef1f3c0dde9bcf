#include "cuda_check.h"

namespace tessera::cuda {

void fail_cuda(cudaError_t err, const char* call, const char* file, int line) {
  const ErrorKind kind =
      err == cudaErrorMemoryAllocation ? ErrorKind::kResourceExhausted : ErrorKind::kInternal;
  fail(kind, "CUDA call {} failed: {} ({}) at {}:{}", call, cudaGetErrorString(err),
       cudaGetErrorName(err), file, line);
}

void fail_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  const ErrorKind kind =
      status == CUBLAS_STATUS_ALLOC_FAILED ? ErrorKind::kResourceExhausted : ErrorKind::kInternal;
  fail(kind, "cuBLASLt call {} failed: {} at {}:{}", call, cublasGetStatusString(status), file,
       line);
}

}  // namespace tessera::cuda
