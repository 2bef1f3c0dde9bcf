// AVX-512 VNNI matmul kernels.
#include <immintrin.h>

#include "quant_internal.h"

namespace tessera::cpu::detail {

KernelInfo avx512_kernel(DType type) { return {}; }

}  // namespace tessera::cpu::detail
