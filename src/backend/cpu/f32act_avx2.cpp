#include "f32act_internal.h"
namespace tessera::cpu::detail::f32act {
RegionKernel avx2_region(DType) { return nullptr; }
}  // namespace tessera::cpu::detail::f32act
