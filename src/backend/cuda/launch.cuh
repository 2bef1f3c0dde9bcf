// Kernel launches with programmatic dependent launch (PDL, Hopper and newer).
//
// A decode step is a chain of short, memory-bound kernels. Launched plainly,
// each one starts only after the previous grid has drained, so every boundary
// costs a launch latency plus a ramp-up with the memory system idle. Launched
// with PDL, a kernel's CTAs may start while the previous kernel still runs:
// they do work that depends on nothing earlier (a GEMV issues its weight
// loads) and then wait in `pdl_wait()` until the previous grid has finished
// and its writes are visible.
//
// Rules for a kernel launched through `launch_pdl`: every thread calls
// `pdl_wait()` before it reads anything an earlier kernel wrote or writes
// anything an earlier kernel reads, and no CTA exits before calling it (a
// kernel's completion then implies its predecessor's, so the chain stays
// ordered). `pdl_launch_dependents()` lets the next kernel's CTAs be
// scheduled once every CTA of this one has called it; it never lets the next
// kernel past its own `pdl_wait()` early. Both are no-ops when a kernel was
// launched without the attribute. TESSERA_CUDA_PDL=0 turns the attribute off.
#pragma once

#include <cuda_runtime.h>

#include <utility>

namespace tessera::cuda {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Whether launches carry the PDL attribute: compute capability 9.0 or newer
// and TESSERA_CUDA_PDL not "0" (read once, for the current device).
bool pdl_enabled();
// Tests and benchmarks: force it on or off (the device must support it).
void set_pdl_enabled(bool on);

template <typename... Params, typename... Args>
cudaError_t launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                       cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = attr;
  config.numAttrs = pdl_enabled() ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

}  // namespace tessera::cuda
