// AVX2 kernels for the k-quants (Q4_K, Q5_K, Q6_K).
#include "quant_avx2_common.h"

namespace tessera::cpu::detail {

KernelInfo avx2_kquant_kernel(DType type) { return {}; }

}  // namespace tessera::cpu::detail
