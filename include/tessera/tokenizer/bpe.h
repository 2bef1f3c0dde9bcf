// The BPE merge loop: adjacent symbol pairs merge, lowest rank first and
// leftmost first among equal ranks, until no pair has a rule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera::tokenizer {

class MergeTable {
 public:
  struct Rule {
    int32_t rank;
    int32_t merged;
  };

  // The first rule added for a pair wins, like a merges list read in order.
  void add(int32_t left, int32_t right, int32_t rank, int32_t merged);
  const Rule* find(int32_t left, int32_t right) const;
  size_t size() const { return size_; }
  void reserve(size_t rules);

  // Merges `symbols` in place. Negative ids never merge (pieces the
  // vocabulary lacks). Scratch space is per thread: no allocation once warm.
  void merge(std::vector<int32_t>& symbols) const;

 private:
  // Open addressing on (left, right): the merge loop's hot lookup.
  struct Slot {
    uint64_t key = kEmpty;
    Rule rule{0, 0};
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t slot_of(uint64_t key) const;
  void grow();

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace tessera::tokenizer
