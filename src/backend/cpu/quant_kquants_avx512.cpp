// AVX-512 VNNI kernels for the k-quants.
#include "quant_avx512_common.h"

namespace tessera::cpu::detail {

KernelInfo avx512_kquant_kernel(DType type) { return {}; }

}  // namespace tessera::cpu::detail
