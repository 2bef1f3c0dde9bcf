// parallel_for on a pool of our own threads rather than OpenMP teams: work is
// claimed in blocks from one atomic counter (so uneven blocks, like attention
// over prompts of different lengths, still keep every thread busy), and idle
// threads spin only briefly before sleeping. OpenMP's default spin of
// hundreds of thousands of iterations at every barrier made a 2-thread engine
// several times slower than 1 thread whenever other work shared the cores.
#include "tessera/core/parallel.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TESSERA_PAUSE() _mm_pause()
#else
#define TESSERA_PAUSE() ((void)0)
#endif

namespace tessera {
namespace {

int default_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, int(std::thread::hardware_concurrency()));
}

std::atomic<int> g_threads{0};

// About 50 to 100 microseconds of pause instructions: long enough to catch
// the next op of a forward pass, short enough not to steal a busy core.
constexpr int kSpins = 2000;

thread_local bool t_in_pool_work = false;

using Fn = std::function<void(int64_t, int64_t)>;

class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker(); });
  }
  ~Pool() {
    {
      std::lock_guard lock(sleep_mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int threads() const { return int(workers_.size()) + 1; }

  // Runs blocks [0, nblocks) of `block` elements each (the last one short).
  void run(int64_t n, int64_t block, const Fn& fn) {
    const int64_t nblocks = (n + block - 1) / block;
    // Close the claim word before the parameters change. A worker may have
    // read the previous job's exhausted word (job, nblocks) and not yet its
    // parameters: were the new ones stored while the word still held that
    // value, it would see the new, larger nblocks, win its claim against
    // the old word, run a block of the new job and count it there, and this
    // call would return with one block still running. The closing id (odd)
    // has no blocks; a claim against the old word now fails. The parameters
    // are stored with release and read with acquire, so whoever reads a new
    // one also sees the closed word.
    job_ += 2;
    work_.store((uint64_t(job_ - 1) << 32) | kClosed, std::memory_order_seq_cst);
    fn_.store(&fn, std::memory_order_release);
    n_.store(n, std::memory_order_release);
    block_.store(block, std::memory_order_release);
    nblocks_.store(nblocks, std::memory_order_release);
    done_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    work_.store(uint64_t(job_) << 32, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard lock(sleep_mu_);  // orders the notify after their wait
      wake_.notify_all();
    }
    const int64_t mine = claim_and_run(job_);
    int64_t done = done_.fetch_add(mine, std::memory_order_acq_rel) + mine;
    for (int spin = 0; done < nblocks; ++spin) {
      if (spin < kSpins)
        TESSERA_PAUSE();
      else
        sched_yield();  // a worker may be waiting for this core
      done = done_.load(std::memory_order_acquire);
    }
    // Every block has finished (or thrown), so nothing still uses fn.
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Claims blocks of job `job` until none are left; returns how many ran.
  int64_t claim_and_run(uint32_t job) {
    int64_t ran = 0;
    t_in_pool_work = true;
    for (;;) {
      uint64_t w = work_.load(std::memory_order_acquire);
      if (uint32_t(w >> 32) != job) break;
      const int64_t idx = int64_t(w & 0xffffffffu);
      // Read before the claim; valid once the claim succeeds, since the job
      // cannot finish while one of its blocks is unclaimed, and the next
      // job closes the word before it changes them (run).
      const int64_t nblocks = nblocks_.load(std::memory_order_acquire);
      const int64_t n = n_.load(std::memory_order_acquire);
      const int64_t block = block_.load(std::memory_order_acquire);
      const Fn* fn = fn_.load(std::memory_order_acquire);
      if (idx >= nblocks) break;  // also the closed word
      if (!work_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
      try {
        (*fn)(idx * block, std::min(n, (idx + 1) * block));
      } catch (...) {  // the caller rethrows the first one once all blocks are done
        std::lock_guard lock(error_mu_);
        if (!error_) error_ = std::current_exception();
      }
      ++ran;
    }
    t_in_pool_work = false;
    return ran;
  }

  void worker() {
    uint32_t seen = 0;
    for (;;) {
      uint32_t job = uint32_t(work_.load(std::memory_order_acquire) >> 32);
      for (int spin = 0; job == seen && spin < kSpins; ++spin) {
        TESSERA_PAUSE();
        job = uint32_t(work_.load(std::memory_order_acquire) >> 32);
      }
      if (job == seen) {
        std::unique_lock lock(sleep_mu_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] {
          return stop_ || uint32_t(work_.load(std::memory_order_seq_cst) >> 32) != seen;
        });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        if (stop_) return;
        continue;
      }
      seen = job;
      const int64_t ran = claim_and_run(job);
      if (ran > 0) done_.fetch_add(ran, std::memory_order_acq_rel);
    }
  }

  static constexpr uint64_t kClosed = 0xffffffffu;  // block index of a closed word
  std::vector<std::thread> workers_;
  uint32_t job_ = 0;                    // caller side only (under the run mutex); even ids are jobs
  std::atomic<uint64_t> work_{0};       // job id << 32 | next block to claim
  std::atomic<const Fn*> fn_{nullptr};  // the current job's parameters
  std::atomic<int64_t> n_{0}, block_{1}, nblocks_{0};
  std::atomic<int64_t> done_{0};  // blocks of the current job finished
  std::mutex error_mu_;
  std::exception_ptr error_;  // first exception of the current job
  std::mutex sleep_mu_;
  std::condition_variable wake_;
  std::atomic<int> sleepers_{0};
  bool stop_ = false;
};

std::mutex g_pool_mu;  // one job at a time; other callers run inline
std::unique_ptr<Pool> g_pool;

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
  if (threads <= 1 || t_in_pool_work) {
    fn(0, n);
    return;
  }
  std::unique_lock lock(g_pool_mu, std::try_to_lock);
  if (!lock.owns_lock()) {  // another thread's loop has the pool
    fn(0, n);
    return;
  }
  if (!g_pool || g_pool->threads() != num_threads()) {
    g_pool.reset();
    g_pool = std::make_unique<Pool>(num_threads());
  }
  // About four blocks per thread: uneven blocks balance out, and each call
  // of fn still gets a long run (kernels set up per call).
  const int64_t per_block = std::max<int64_t>(1, (chunks + 4 * threads - 1) / (4 * threads));
  g_pool->run(n, per_block * grain, fn);
}

}  // namespace tessera
