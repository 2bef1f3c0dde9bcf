// Every CUDA runtime and cuBLASLt call goes through one of these: a failure
// becomes a tessera::Error naming the call, the error string and the place.
// Host code only (.cpp files): error.h pulls in fmt, which stays out of nvcc.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "tessera/core/error.h"

namespace tessera::cuda {

[[noreturn]] void fail_cuda(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t status, const char* call, const char* file, int line);

}  // namespace tessera::cuda

#define TESSERA_CUDA_CHECK(call)                                                \
  do {                                                                          \
    const cudaError_t tessera_cuda_err_ = (call);                               \
    if (tessera_cuda_err_ != cudaSuccess)                                       \
      ::tessera::cuda::fail_cuda(tessera_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define TESSERA_CUBLAS_CHECK(call)                                                 \
  do {                                                                             \
    const cublasStatus_t tessera_cublas_st_ = (call);                              \
    if (tessera_cublas_st_ != CUBLAS_STATUS_SUCCESS)                               \
      ::tessera::cuda::fail_cublas(tessera_cublas_st_, #call, __FILE__, __LINE__); \
  } while (0)
