// AVX2/FMA matmul kernels.
#include <immintrin.h>

#include "quant_internal.h"

namespace tessera::cpu::detail {

KernelInfo avx2_kernel(DType type) { return {}; }

}  // namespace tessera::cpu::detail
