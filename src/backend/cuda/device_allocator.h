// The CUDA backend's one source of device memory: cudaMalloc'd blocks, handed
// out as shared_ptr owners whose deleters put the block back in a cache for
// reuse instead of calling cudaFree (which synchronizes the device). Blocks
// are only ever used on the backend's one stream, so a block freed by the
// host and reused by a later op is ordered by that stream.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace tessera::cuda {

class DeviceAllocator : public std::enable_shared_from_this<DeviceAllocator> {
 public:
  static std::shared_ptr<DeviceAllocator> create(int device);
  ~DeviceAllocator();
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  // At least `bytes` bytes, 256-byte aligned. Throws Error(kResourceExhausted)
  // when the device is out of memory even after the cache is emptied.
  std::shared_ptr<void> allocate(size_t bytes);
  void release_cached();

  size_t in_use() const;
  size_t cached() const;
  size_t peak_in_use() const;
  void reset_peak();

 private:
  explicit DeviceAllocator(int device) : device_(device) {}
  void give_back(void* ptr);
  void release_cached_locked();

  int device_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> free_;        // cached blocks by size
  std::unordered_map<void*, size_t> sizes_;  // every block we own
  size_t in_use_ = 0, cached_ = 0, peak_ = 0;
};

}  // namespace tessera::cuda
