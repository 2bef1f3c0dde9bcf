// Whether kernel launches use programmatic dependent launch (launch.cuh).
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace tessera::cuda {
namespace {

int detect() {
  const char* env = std::getenv("TESSERA_CUDA_PDL");
  if (env != nullptr && std::strcmp(env, "0") == 0) return 0;
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    cudaGetLastError();  // leave no sticky error for the caller's next check
    return 0;
  }
  return major >= 9 ? 1 : 0;
}

// -1: not decided yet.
std::atomic<int> g_pdl{-1};

}  // namespace

bool pdl_enabled() {
  int v = g_pdl.load(std::memory_order_relaxed);
  if (v < 0) {
    v = detect();
    g_pdl.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

void set_pdl_enabled(bool on) { g_pdl.store(on ? 1 : 0, std::memory_order_relaxed); }

}  // namespace tessera::cuda
