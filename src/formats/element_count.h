#pragma once
// Counts a tensor's elements from untrusted file dims. The product of the
// nonzero dims must fit too: a single zero dim makes the count 0, yet code that
// multiplies the leading dims (a row count, a stride) would still overflow.
#include <cstdint>

namespace tessera::formats {

class ElementCount {
 public:
  // False when `dim` makes the count (or the product of the nonzero dims)
  // exceed INT64_MAX.
  bool add(uint64_t dim) {
    constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
    if (dim > kMax) return false;
    if (dim != 0 && (__builtin_mul_overflow(extent_, dim, &extent_) || extent_ > kMax))
      return false;
    count_ *= dim;  // count_ <= extent_, so no overflow
    return true;
  }
  uint64_t count() const { return count_; }

 private:
  uint64_t count_ = 1;
  uint64_t extent_ = 1;
};

}  // namespace tessera::formats
