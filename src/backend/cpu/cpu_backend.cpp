#include <cstring>

#include "ops_kernels.h"
#include "tessera/backend/backend.h"
#include "tessera/backend/quant.h"
#include "tessera/core/error.h"
#include "tessera/core/half.h"

namespace tessera {
namespace {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::kCPU; }
  DType activation_dtype() const override { return DType::kF32; }

  Tensor alloc(DType dtype, std::vector<int64_t> shape) override {
    return Tensor::empty(dtype, std::move(shape));
  }
  Tensor load_weight(const Tensor& host) override {
    // Norm weights (1-D) are read as F32 by the norm ops; HF checkpoints
    // (and dummy weights) store them in BF16 or F16.
    if (host.ndim() == 1 && (host.dtype() == DType::kBF16 || host.dtype() == DType::kF16) &&
        host.contiguous()) {
      Tensor out = Tensor::empty(DType::kF32, host.shape());
      const auto* in = host.data_as<uint16_t>();
      float* dst = out.data_as<float>();
      const bool bf16 = host.dtype() == DType::kBF16;
      for (int64_t i = 0; i < host.numel(); ++i)
        dst[i] = bf16 ? bf16_to_f32(in[i]) : fp16_to_f32(in[i]);
      return out;
    }
    return cpu::prepare_weight(host);
  }

  std::vector<KvLayer> alloc_kv_cache(const KvCacheShape& s) override {
    if (s.dtype != DType::kF32 && s.dtype != DType::kF16 && s.dtype != DType::kBF16)
      fail(ErrorKind::kUnsupported,
           "the CPU backend keeps the KV cache in F32, F16 or BF16, not {}", dtype_name(s.dtype));
    std::vector<KvLayer> layers(s.num_layers);
    const std::vector<int64_t> shape = {s.num_blocks, s.num_kv_heads, s.block_size, s.head_dim};
    for (auto& layer : layers) {
      layer.k = Tensor::empty(s.dtype, shape);
      layer.v = Tensor::empty(s.dtype, shape);
    }
    return layers;
  }

  void upload_i32(const int32_t* host, int64_t n, Tensor& dst) override {
    TESSERA_CHECK(dst.dtype() == DType::kI32 && dst.numel() >= n);
    std::memcpy(dst.data(), host, size_t(n) * sizeof(int32_t));
  }
  void download_f32(const Tensor& src, float* host) override {
    TESSERA_CHECK(src.dtype() == DType::kF32);
    for (int64_t r = 0; r < src.rows(); ++r)
      std::memcpy(host + r * src.cols(), src.row_ptr(r), size_t(src.cols()) * sizeof(float));
  }

  void copy(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }

  void embedding(const Tensor& table, const Tensor& ids, Tensor& out) override {
    cpu::embedding(table, ids, out);
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out) override {
    cpu::rms_norm(x, w, eps, out);
  }
  void add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                    Tensor& out) override {
    cpu::add_rms_norm(residual, x, w, eps, out);
  }
  void matmul(const Tensor& x, const Tensor& w, Tensor& out) override {
    TESSERA_CHECK(x.dtype() == DType::kF32 && out.dtype() == DType::kF32);
    TESSERA_CHECK(x.cols() == w.cols() && out.cols() == w.rows() && out.rows() == x.rows());
    cpu::matmul(x.data_as<float>(), x.rows(), int64_t(x.row_stride() / sizeof(float)), w,
                out.data_as<float>(), int64_t(out.row_stride() / sizeof(float)));
  }
  void rope(Tensor& q, Tensor& k, const Tensor& positions, const RopeParams& p) override {
    cpu::rope(q, k, positions, p);
  }
  void write_kv(const Tensor& k, const Tensor& v, const AttentionMeta& meta,
                KvLayer& cache) override {
    cpu::write_kv(k, v, meta, cache);
  }
  void paged_attention(const Tensor& q, const KvLayer& cache, const AttentionMeta& meta,
                       int num_heads, int num_kv_heads, float scale, Tensor& out) override {
    cpu::paged_attention(q, cache, meta, num_heads, num_kv_heads, scale, out);
  }
  void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out) override {
    cpu::silu_mul(gate, up, out);
  }
  void add(Tensor& x, const Tensor& y) override { cpu::add(x, y); }
  void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) override {
    cpu::gather_rows(x, rows, out);
  }
  void synchronize() override {}
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

#ifndef TESSERA_WITH_CUDA
std::unique_ptr<Backend> make_cuda_backend(int, DType) {
  fail(ErrorKind::kUnsupported,
       "this tessera was built without CUDA (configure with nvcc present)");
}
#endif

}  // namespace tessera
