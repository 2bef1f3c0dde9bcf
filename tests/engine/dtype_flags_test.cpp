// --dtype and --kv-cache-dtype: which element type each name gives on which
// device, and the one-line errors for names a device does not compute in.
// No GPU needed: only the flag logic runs.
#include "../../src/engine/dtype_flags.h"

#include <gtest/gtest.h>

#include "tessera/core/error.h"

namespace tessera {
namespace {

EngineConfig with(const std::string& device, const std::string& dtype) {
  EngineConfig c;
  c.device = device;
  c.dtype = dtype;
  return c;
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "not one line: " << e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::kInternal;
}

TEST(DtypeFlags, AutoIsFloat32OnTheCpuAndBfloat16OnCuda) {
  EXPECT_EQ(resolve_dtype(with("cpu", "auto")), DType::kF32);
  EXPECT_EQ(resolve_dtype(with("cpu", "")), DType::kF32);
  EXPECT_EQ(resolve_dtype(with("cuda", "auto")), DType::kBF16);
}

TEST(DtypeFlags, VllmNamesAndShortNames) {
  for (const char* name : {"bfloat16", "bf16"})
    EXPECT_EQ(resolve_dtype(with("cuda", name)), DType::kBF16) << name;
  for (const char* name : {"float16", "half", "fp16", "f16"})
    EXPECT_EQ(resolve_dtype(with("cuda", name)), DType::kF16) << name;
  for (const char* name : {"float32", "float", "fp32", "f32"})
    EXPECT_EQ(resolve_dtype(with("cpu", name)), DType::kF32) << name;
}

TEST(DtypeFlags, TypesADeviceDoesNotComputeInAreRefused) {
  for (const char* name : {"float16", "half", "bfloat16"})
    EXPECT_EQ(kind_of([&] { resolve_dtype(with("cpu", name)); }), ErrorKind::kInvalidArgument)
        << name;
  EXPECT_EQ(kind_of([] { resolve_dtype(with("cuda", "float32")); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([] { resolve_dtype(with("cuda", "float8")); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([] { resolve_dtype(with("tpu", "auto")); }), ErrorKind::kInvalidArgument);
}

TEST(DtypeFlags, KvCacheFollowsTheActivationsOnCuda) {
  EngineConfig c;
  EXPECT_EQ(kv_cache_dtype(c, Device::kCUDA, DType::kF16), DType::kF16);
  EXPECT_EQ(kv_cache_dtype(c, Device::kCUDA, DType::kBF16), DType::kBF16);
  EXPECT_EQ(kv_cache_dtype(c, Device::kCPU, DType::kF32), DType::kF32);
  c.kv_cache_dtype = "f16";
  EXPECT_EQ(kv_cache_dtype(c, Device::kCUDA, DType::kF16), DType::kF16);
  EXPECT_EQ(kv_cache_dtype(c, Device::kCPU, DType::kF32), DType::kF16);  // the CPU converts
  // On CUDA the cache is kept in the activation type.
  EXPECT_EQ(kind_of([&] { kv_cache_dtype(c, Device::kCUDA, DType::kBF16); }),
            ErrorKind::kInvalidArgument);
  c.kv_cache_dtype = "f32";
  EXPECT_EQ(kind_of([&] { kv_cache_dtype(c, Device::kCUDA, DType::kF16); }),
            ErrorKind::kInvalidArgument);
  c.kv_cache_dtype = "q4";
  EXPECT_EQ(kind_of([&] { kv_cache_dtype(c, Device::kCPU, DType::kF32); }),
            ErrorKind::kInvalidArgument);
}

// A flag error comes first, before the model is looked for.
TEST(DtypeFlags, EngineRefusesBeforeLoading) {
  EngineConfig c = with("cpu", "float16");
  c.model = "/nonexistent/model.gguf";
  EXPECT_EQ(kind_of([&] { Engine::create(c); }), ErrorKind::kInvalidArgument);
  c = with("cuda", "bfloat16");
  c.model = "/nonexistent/model.gguf";
  c.kv_cache_dtype = "f16";
  EXPECT_EQ(kind_of([&] { Engine::create(c); }), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace tessera
