// AVX2/FMA kernels for float weights (F32, F16, BF16).
#include "quant_avx2_common.h"

namespace tessera::cpu::detail {

KernelInfo avx2_float_kernel(DType type) { return {}; }

}  // namespace tessera::cpu::detail
