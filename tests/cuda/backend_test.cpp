// The CUDA backend's plumbing: weight upload from every host dtype into bf16
// and fp16 backends, the caching allocator, the pinned upload ring, errors
// as tessera::Error.
#include <cmath>

#include "cuda_test_util.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"

namespace tessera::cuda_test {
namespace {

TEST(CudaBackend, ReportsItself) {
  Backend& b = backend();
  EXPECT_EQ(b.device(), Device::kCUDA);
  EXPECT_EQ(b.activation_dtype(), DType::kBF16);
  EXPECT_TRUE(cuda::is_cuda_backend(b));
  const cuda::DeviceInfo info = cuda::device_info(b);
  EXPECT_GT(info.sm_count, 0);
  EXPECT_GE(info.cc_major, 8);
  std::unique_ptr<Backend> cpu = make_cpu_backend();
  EXPECT_FALSE(cuda::is_cuda_backend(*cpu));
  EXPECT_THROW(cuda::stream(*cpu), Error);
  EXPECT_EQ(fp16_backend().activation_dtype(), DType::kF16);
  try {
    make_cuda_backend(0, DType::kF32);
    FAIL() << "an F32 CUDA backend was made";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
  }
}

// Host weights of every float dtype become the backend's type, rounded to
// nearest even once (from the value the host tensor holds).
TEST(CudaBackend, LoadWeightConvertsEveryFloatDtype) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  const int64_t rows = 37, cols = 96;
  for (Backend* b : {static_cast<Backend*>(&backend()), &fp16_backend()}) {
    const DType target = b->activation_dtype();
    for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
      Tensor host = Tensor::empty(dt, {rows, cols});
      std::vector<float> want(size_t(rows * cols));
      for (size_t i = 0; i < want.size(); ++i) {
        const float x = dist(rng);
        float held = x;
        if (dt == DType::kF16) {
          host.data_as<uint16_t>()[i] = f32_to_fp16(x);
          held = fp16_to_f32(f32_to_fp16(x));
        } else if (dt == DType::kBF16) {
          host.data_as<uint16_t>()[i] = f32_to_bf16(x);
          held = bf16_to_f32(f32_to_bf16(x));
        } else {
          host.data_as<float>()[i] = x;
        }
        want[i] = round_to(held, target);
      }
      Tensor dev = b->load_weight(host);
      EXPECT_EQ(dev.device(), Device::kCUDA);
      EXPECT_EQ(dev.dtype(), target);
      EXPECT_EQ(dev.shape(), host.shape());
      std::vector<float> got(want.size());
      b->download_f32(dev, got.data());
      EXPECT_EQ(got, want) << dtype_name(dt) << " -> " << dtype_name(target);
    }
  }
}

// Beyond fp16's range a weight becomes ±inf (as .to(torch.float16) makes
// it); the load warns but does not fail.
TEST(CudaBackend, LoadWeightIntoFp16SaturatesToInfinity) {
  Tensor host = Tensor::empty(DType::kF32, {1, 4});
  const float values[] = {1e5f, -7e4f, 65504.0f, -3.0f};
  std::memcpy(host.data(), values, sizeof values);
  Tensor dev = fp16_backend().load_weight(host);
  std::vector<float> got(4);
  fp16_backend().download_f32(dev, got.data());
  EXPECT_EQ(got, (std::vector<float>{INFINITY, -INFINITY, 65504.0f, -3.0f}));
}

TEST(CudaBackend, LoadWeightDequantizesGgufBlocks) {
  // Q8_0: per 32 elements an fp16 scale and 32 int8 values.
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  const int64_t rows = 5, cols = 64;
  Tensor host = Tensor::empty(DType::kQ8_0, {rows, cols});
  std::vector<float> values;
  auto* bytes = static_cast<uint8_t*>(host.data());
  for (int64_t b = 0; b < rows * cols / 32; ++b) {
    const float scale = 0.01f * float(1 + rng() % 50);
    const uint16_t h = f32_to_fp16(scale);
    std::memcpy(bytes + b * 34, &h, 2);
    for (int i = 0; i < 32; ++i) {
      const int8_t q = int8_t(int(rng() % 255) - 127);
      bytes[b * 34 + 2 + i] = uint8_t(q);
      values.push_back(fp16_to_f32(h) * float(q));
    }
  }
  for (Backend* b : {static_cast<Backend*>(&backend()), &fp16_backend()}) {
    std::vector<float> want(values.size()), got(values.size());
    for (size_t i = 0; i < values.size(); ++i) want[i] = round_to(values[i], b->activation_dtype());
    b->download_f32(b->load_weight(host), got.data());
    EXPECT_EQ(got, want) << dtype_name(b->activation_dtype());
  }
}

TEST(CudaBackend, AllocatorReusesFreedBlocks) {
  cuda::release_cached_memory(backend());
  const cuda::MemoryStats before = cuda::memory_stats(backend());
  void* first = nullptr;
  {
    Tensor t = backend().alloc(DType::kBF16, {1024, 1024});
    first = t.data();
    EXPECT_GE(cuda::memory_stats(backend()).in_use, before.in_use + (size_t(2) << 20));
  }
  EXPECT_GE(cuda::memory_stats(backend()).cached, size_t(2) << 20);
  Tensor again = backend().alloc(DType::kBF16, {1000, 1024});  // fits the cached block
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(download(again), std::vector<float>(1000 * 1024, 0.0f));  // zero-filled
}

TEST(CudaBackend, OutOfMemoryIsAnError) {
  try {
    backend().alloc(DType::kF32, {int64_t(1) << 40});  // 4 TiB
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kResourceExhausted) << e.what();
  }
  // The backend still works afterwards.
  Tensor t = upload({1.0f, 2.0f}, {1, 2});
  EXPECT_EQ(download(t), (std::vector<float>{1.0f, 2.0f}));
}

TEST(CudaBackend, UploadRingWrapsWithoutCorruption) {
  // Many uploads in flight (each lands in its own device buffer) across
  // several wraps of the 4 MiB staging ring.
  std::vector<Tensor> bufs;
  std::vector<std::vector<int32_t>> want;
  for (int i = 0; i < 40; ++i) {
    std::vector<int32_t> v(size_t(100000 + 977 * i));
    for (size_t j = 0; j < v.size(); ++j) v[j] = int32_t(j * 7 + size_t(i));
    Tensor t = backend().alloc(DType::kI32, {int64_t(v.size())});
    backend().upload_i32(v.data(), int64_t(v.size()), t);
    bufs.push_back(t);
    want.push_back(std::move(v));
  }
  // An upload bigger than the ring.
  std::vector<int32_t> big(size_t(3) << 20);
  for (size_t j = 0; j < big.size(); ++j) big[j] = int32_t(j ^ 0x5a5a);
  Tensor tb = backend().alloc(DType::kI32, {int64_t(big.size())});
  backend().upload_i32(big.data(), int64_t(big.size()), tb);
  bufs.push_back(tb);
  want.push_back(big);
  backend().synchronize();
  for (size_t i = 0; i < bufs.size(); ++i) {
    std::vector<int32_t> got(want[i].size());
    ASSERT_EQ(cudaMemcpy(got.data(), bufs[i].data(), got.size() * 4, cudaMemcpyDeviceToHost),
              cudaSuccess);
    ASSERT_EQ(got, want[i]) << "upload " << i;
  }
}

TEST(CudaBackend, CopyDevice) {
  const uint32_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 rng(seed);
  for (auto [offset, bytes] :
       {std::pair<size_t, size_t>{0, size_t(48) << 20}, {0, 1000016}, {2, 77}, {16, 3}}) {
    const auto src_h = random_bf16(bytes / 2 + 16, rng);
    Tensor src = upload(src_h, {int64_t(src_h.size())});
    Tensor dst = backend().alloc(DType::kBF16, {int64_t(src_h.size())});
    poison(dst);
    char* d = static_cast<char*>(dst.data()) + offset;
    const char* s = static_cast<const char*>(src.data()) + offset;
    cuda::copy_device(backend(), d, s, bytes);
    std::vector<uint8_t> a(bytes), b(bytes);
    backend().synchronize();
    ASSERT_EQ(cudaMemcpy(a.data(), d, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(b.data(), s, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(a, b) << bytes << " bytes at offset " << offset;
    uint8_t after = 0;
    ASSERT_EQ(cudaMemcpy(&after, d + bytes, 1, cudaMemcpyDeviceToHost), cudaSuccess);
    EXPECT_EQ(after, 0xff) << "wrote past the end";
  }
}

TEST(CudaBackend, RejectsHostTensorsInOps) {
  Tensor host = Tensor::empty(DType::kBF16, {2, 8});
  Tensor dev = backend().alloc(DType::kBF16, {2, 8});
  EXPECT_THROW(backend().add(dev, host), Error);
}

}  // namespace
}  // namespace tessera::cuda_test
