#include "device_allocator.h"

#include <cuda_runtime.h>

#include "cuda_check.h"

namespace tessera::cuda {
namespace {

// Small requests round to 512 bytes, large ones to 2 MiB, so that buffers
// that grow a little (workspaces, per-step batches) find their old block.
size_t round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20;
  if (bytes < (size_t(1) << 20)) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

}  // namespace

std::shared_ptr<DeviceAllocator> DeviceAllocator::create(int device) {
  return std::shared_ptr<DeviceAllocator>(new DeviceAllocator(device));
}

DeviceAllocator::~DeviceAllocator() {
  // Only cached blocks can be left: live ones hold a reference to us.
  cudaSetDevice(device_);
  for (auto& [size, ptr] : free_) cudaFree(ptr);
}

std::shared_ptr<void> DeviceAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes == 0 ? 1 : bytes);
  void* ptr = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Reuse the smallest cached block that fits without wasting over half.
    auto it = free_.lower_bound(size);
    if (it != free_.end() && it->first <= 2 * size) {
      ptr = it->second;
      cached_ -= it->first;
      in_use_ += it->first;
      free_.erase(it);
    } else {
      TESSERA_CUDA_CHECK(cudaSetDevice(device_));
      cudaError_t err = cudaMalloc(&ptr, size);
      if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();  // clear the sticky-free error state
        release_cached_locked();
        err = cudaMalloc(&ptr, size);
      }
      if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        size_t free_bytes = 0, total = 0;
        cudaMemGetInfo(&free_bytes, &total);
        fail(ErrorKind::kResourceExhausted,
             "CUDA device {} is out of memory allocating {} bytes ({} in use by tessera, {} free "
             "of {})",
             device_, size, in_use_, free_bytes, total);
      }
      TESSERA_CUDA_CHECK(err);
      sizes_[ptr] = size;
      in_use_ += size;
    }
    if (in_use_ > peak_) peak_ = in_use_;
  }
  auto self = shared_from_this();
  return std::shared_ptr<void>(ptr, [self](void* p) { self->give_back(p); });
}

void DeviceAllocator::give_back(void* ptr) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t size = sizes_.at(ptr);
  in_use_ -= size;
  cached_ += size;
  free_.emplace(size, ptr);
}

void DeviceAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mu_);
  release_cached_locked();
}

void DeviceAllocator::release_cached_locked() {
  cudaSetDevice(device_);
  // cudaFree waits for the device; cached blocks may still be the target of
  // queued work, which finishes first.
  for (auto& [size, ptr] : free_) {
    cudaFree(ptr);
    sizes_.erase(ptr);
  }
  free_.clear();
  cached_ = 0;
}

size_t DeviceAllocator::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}
size_t DeviceAllocator::cached() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}
size_t DeviceAllocator::peak_in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}
void DeviceAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  peak_ = in_use_;
}

}  // namespace tessera::cuda
