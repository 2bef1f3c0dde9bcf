// Memory for packed weights on 2 MiB pages. Decode streams every weight once
// per token; on 4 KiB pages the TLB misses of that stream cost ~20% of the
// step (measured with bench_matmul_cpu). Weights are much smaller than 2 MiB
// in small models, so they are carved out of shared 32 MiB chunks instead of
// each being rounded up to whole huge pages; a chunk is freed when the last
// weight in it goes.
#include <sys/mman.h>

#include <cstdlib>
#include <mutex>

#include "f32act_internal.h"
#include "tessera/core/error.h"

namespace tessera::cpu::detail::f32act {
namespace {

constexpr size_t kHuge = size_t(2) << 20;
constexpr size_t kChunk = size_t(32) << 20;

struct Chunk {
  uint8_t* base = nullptr;
  size_t size = 0, used = 0;
  int live = 0;
};

std::mutex g_mutex;
Chunk* g_current = nullptr;  // chunk new buffers are carved from

Chunk* new_chunk(size_t bytes) {
  const size_t size = (bytes + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, size);
  if (!p)
    fail(ErrorKind::kResourceExhausted, "out of host memory packing weights ({} bytes)", size);
  madvise(p, size, MADV_HUGEPAGE);  // a hint: without it the pages are 4 KiB
  return new Chunk{static_cast<uint8_t*>(p), size, 0, 0};
}

void free_chunk(Chunk* c) {
  std::free(c->base);
  delete c;
}

}  // namespace

PackedBuffer::PackedBuffer(size_t bytes) {
  bytes = (bytes + 63) / 64 * 64;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (bytes > kChunk / 4) {
    chunk_ = new_chunk(bytes);
  } else {
    if (!g_current || g_current->used + bytes > g_current->size) {
      if (g_current && g_current->live == 0) free_chunk(g_current);
      g_current = new_chunk(kChunk);
    }
    chunk_ = g_current;
  }
  Chunk* c = static_cast<Chunk*>(chunk_);
  data_ = c->base + c->used;
  c->used += bytes;
  ++c->live;
}

PackedBuffer::~PackedBuffer() {
  if (!chunk_) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  Chunk* c = static_cast<Chunk*>(chunk_);
  if (--c->live > 0) return;
  if (c == g_current)
    c->used = 0;  // empty: carve from its start again
  else
    free_chunk(c);
}

}  // namespace tessera::cpu::detail::f32act
