#include "tessera/core/parallel.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <atomic>

namespace tessera {
namespace {

int default_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, omp_get_num_procs());
}

std::atomic<int> g_threads{0};

}  // namespace

int num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    n = default_threads();
    g_threads.store(n, std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) { g_threads.store(std::max(1, n), std::memory_order_relaxed); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t chunks = (n + grain - 1) / grain;
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), chunks));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  // Static split: thread t gets a contiguous run of chunks.
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int64_t c0 = chunks * t / threads, c1 = chunks * (t + 1) / threads;
    const int64_t b = c0 * grain, e = std::min(n, c1 * grain);
    if (b < e) fn(b, e);
  }
}

}  // namespace tessera
