#include "tessera/tokenizer/bpe.h"

#include <algorithm>

namespace tessera::tokenizer {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
}

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

struct Candidate {
  int32_t rank;
  int32_t pos;  // index of the left symbol
  int32_t left, right, merged;
};

// std heap is a max-heap: "greater" puts the lowest (rank, pos) on top.
bool later(const Candidate& a, const Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
}

struct Scratch {
  std::vector<int32_t> next, prev;
  std::vector<Candidate> heap;
};

}  // namespace

size_t MergeTable::slot_of(uint64_t key) const {
  const size_t mask = slots_.size() - 1;
  size_t i = mix(key) & mask;
  while (slots_[i].key != kEmpty && slots_[i].key != key) i = (i + 1) & mask;
  return i;
}

void MergeTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<size_t>(64, old.size() * 2), Slot{});
  for (const Slot& s : old)
    if (s.key != kEmpty) slots_[slot_of(s.key)] = s;
}

void MergeTable::reserve(size_t rules) {
  size_t want = 64;
  while (want < rules * 2) want *= 2;
  if (want > slots_.size()) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(want, Slot{});
    for (const Slot& s : old)
      if (s.key != kEmpty) slots_[slot_of(s.key)] = s;
  }
}

void MergeTable::add(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = pair_key(left, right);
  Slot& slot = slots_[slot_of(key)];
  if (slot.key == key) return;
  slot.key = key;
  slot.rule = {rank, merged};
  ++size_;
}

const MergeTable::Rule* MergeTable::find(int32_t left, int32_t right) const {
  if (slots_.empty() || left < 0 || right < 0) return nullptr;
  const Slot& slot = slots_[slot_of(pair_key(left, right))];
  return slot.key == kEmpty ? nullptr : &slot.rule;
}

void MergeTable::merge(std::vector<int32_t>& symbols) const {
  const int32_t n = static_cast<int32_t>(symbols.size());
  if (n < 2) return;
  thread_local Scratch scratch;
  auto& next = scratch.next;
  auto& prev = scratch.prev;
  auto& heap = scratch.heap;
  next.resize(n);
  prev.resize(n);
  heap.clear();
  auto push = [&](int32_t pos, int32_t right_pos) {
    if (const Rule* rule = find(symbols[pos], symbols[right_pos])) {
      heap.push_back({rule->rank, pos, symbols[pos], symbols[right_pos], rule->merged});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i < n; ++i) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  for (int32_t i = 0; i + 1 < n; ++i) push(i, i + 1);

  constexpr int32_t kGone = INT32_MIN;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate c = heap.back();
    heap.pop_back();
    // A symbol only ever grows, so matching ids mean the pair is unchanged.
    if (symbols[c.pos] != c.left) continue;
    const int32_t right = next[c.pos];
    if (right < 0 || symbols[right] != c.right) continue;
    symbols[c.pos] = c.merged;
    symbols[right] = kGone;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    if (prev[c.pos] >= 0) push(prev[c.pos], c.pos);
    if (next[c.pos] >= 0) push(c.pos, next[c.pos]);
  }
  symbols.erase(std::remove(symbols.begin(), symbols.end(), kGone), symbols.end());
}

}  // namespace tessera::tokenizer
