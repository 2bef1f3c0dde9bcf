// Data-parallel loops for the CPU kernels. One place decides how threads are
// used, so kernels stay free of threading details.
#pragma once

#include <cstdint>
#include <functional>

namespace tessera {

// Threads the CPU kernels use (default: physical cores the process may use).
int num_threads();
void set_num_threads(int n);

// Calls fn(begin, end) on disjoint chunks covering [0, n), spread over the
// threads; chunk boundaries are multiples of `grain`. Work assignment never
// changes results: each output element is computed by exactly one call.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace tessera
