#include "cuda_backend.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu/ops_kernels.h"
#include "cuda_check.h"
#include "host_convert.h"
#include "tessera/core/half.h"
#include "tessera/core/log.h"

namespace tessera {
namespace cuda {

void CudaBackend::copy(void* dst, const void* src, size_t bytes) {
  const cudaError_t err = launch_copy(dst, src, bytes, info().sm_count, stream());
  if (err != cudaSuccess) fail_cuda(err, "copy", __FILE__, __LINE__);
}
namespace {

constexpr size_t kGemmWorkspaceBytes = size_t(32) << 20;
constexpr size_t kStagingBytes = size_t(4) << 20;

int64_t stride_elems(const Tensor& t) {
  return int64_t(t.row_stride() / dtype_info(t.dtype()).block_bytes);
}

void check_on_device(const Tensor& t, const char* what) {
  if (t.device() != Device::kCUDA)
    fail(ErrorKind::kInternal, "CUDA backend: {} ({}) is not a device tensor", what, t.describe());
}

// A device tensor of one of the kernels' element types; returns which.
Elem check_16bit(const Tensor& t, const char* what) {
  check_on_device(t, what);
  if (t.dtype() != DType::kBF16 && t.dtype() != DType::kF16)
    fail(ErrorKind::kInternal, "CUDA backend: {} must be BF16 or F16, got {}", what, t.describe());
  return t.dtype() == DType::kF16 ? Elem::kF16 : Elem::kBF16;
}

// A device tensor of the same dtype as `like` (the operands of one op share
// their element type).
void check_like(const Tensor& t, const Tensor& like, const char* what) {
  check_on_device(t, what);
  if (t.dtype() != like.dtype())
    fail(ErrorKind::kInternal, "CUDA backend: {} must be {} like the other operands, got {}", what,
         dtype_name(like.dtype()), t.describe());
}

bool same_rope(const RopeParams& a, const RopeParams& b) {
  return a.head_dim == b.head_dim && a.rotary_dim == b.rotary_dim && a.theta == b.theta &&
         a.scaling == b.scaling && a.style == b.style && a.factor == b.factor &&
         a.low_freq_factor == b.low_freq_factor && a.high_freq_factor == b.high_freq_factor &&
         a.original_max_position == b.original_max_position;
}

}  // namespace

CudaBackend::CudaBackend(int device, DType dtype) : device_(device), dtype_(dtype) {
  if (dtype != DType::kBF16 && dtype != DType::kF16)
    fail(ErrorKind::kInvalidArgument, "the CUDA backend computes in BF16 or F16, not {}",
         dtype_name(dtype));
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    fail(ErrorKind::kUnsupported, "no CUDA device is available ({})",
         err == cudaSuccess ? "0 devices" : cudaGetErrorString(err));
  }
  if (device < 0 || device >= count)
    fail(ErrorKind::kInvalidArgument, "CUDA device {} does not exist ({} present)", device, count);
  TESSERA_CUDA_CHECK(cudaSetDevice(device));
  cudaDeviceProp prop{};
  TESSERA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  info_.name = prop.name;
  info_.index = device;
  info_.sm_count = prop.multiProcessorCount;
  info_.cc_major = prop.major;
  info_.cc_minor = prop.minor;
  info_.total_memory = prop.totalGlobalMem;
  info_.l2_bytes = size_t(prop.l2CacheSize);
  if (prop.major < 8)
    fail(ErrorKind::kUnsupported,
         "CUDA device {} ({}) has compute capability {}.{}; the 16-bit "
         "tensor-core kernels need 8.0 or newer",
         device, info_.name, prop.major, prop.minor);

  TESSERA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  alloc_ = DeviceAllocator::create(device);
  gemm_workspace_ = alloc_->allocate(kGemmWorkspaceBytes);
  gemm_ = std::make_unique<LtGemm>(stream_, gemm_workspace_.get(), kGemmWorkspaceBytes);
  TESSERA_CUDA_CHECK(prepare_attention_kernels());
  TESSERA_CUDA_CHECK(cudaMallocHost(&staging_, kStagingBytes));
  segment_bytes_ = kStagingBytes / kStagingSegments;
  for (cudaEvent_t& e : segment_done_)
    TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  if (const char* env = std::getenv("TESSERA_CUDA_GEMV")) use_gemv_ = std::string(env) != "0";
}

CudaBackend::~CudaBackend() {
  // Nothing may still read the staging buffer or workspaces when they go.
  cudaSetDevice(device_);
  if (stream_) cudaStreamSynchronize(stream_);
  gemm_.reset();
  for (cudaEvent_t e : segment_done_)
    if (e) cudaEventDestroy(e);
  if (staging_) cudaFreeHost(staging_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::check_launch(cudaError_t err, const char* what) {
  if (err != cudaSuccess) fail_cuda(err, what, __FILE__, __LINE__);
}

Tensor CudaBackend::alloc(DType dtype, std::vector<int64_t> shape) {
  const Tensor probe(nullptr, dtype, shape);
  const size_t bytes = probe.nbytes();
  std::shared_ptr<void> mem = alloc_->allocate(bytes);
  TESSERA_CUDA_CHECK(cudaMemsetAsync(mem.get(), 0, bytes, stream_));
  void* ptr = mem.get();
  return Tensor(ptr, dtype, std::move(shape), Device::kCUDA, std::move(mem));
}

Tensor CudaBackend::load_weight(const Tensor& host) {
  if (host.device() == Device::kCUDA) {
    check_16bit(host, "weight");
    return host;
  }
  Tensor out = alloc(dtype_, host.shape());
  const size_t bytes = out.nbytes();
  if (host.dtype() == dtype_ && host.contiguous()) {
    TESSERA_CUDA_CHECK(
        cudaMemcpyAsync(out.data(), host.data(), bytes, cudaMemcpyHostToDevice, stream_));
  } else {
    std::vector<uint16_t> converted(size_t(host.rows() * host.cols()));
    if (const int64_t inf = convert_to_16bit(host, dtype_, converted.data()))
      spdlog::warn("a {} weight {} has {} values beyond fp16's range (±65504); they became ±inf",
                   dtype_name(host.dtype()), host.describe(), inf);
    TESSERA_CUDA_CHECK(
        cudaMemcpyAsync(out.data(), converted.data(), bytes, cudaMemcpyHostToDevice, stream_));
    TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `converted` goes away
    return out;
  }
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the caller may unmap host
  return out;
}

std::vector<KvLayer> CudaBackend::alloc_kv_cache(const KvCacheShape& s) {
  if (s.dtype != DType::kBF16 && s.dtype != DType::kF16)
    fail(ErrorKind::kUnsupported, "the CUDA backend keeps the KV cache in BF16 or F16, not {}",
         dtype_name(s.dtype));
  const std::vector<int64_t> shape = {s.num_blocks, s.num_kv_heads, s.block_size, s.head_dim};
  const size_t per_tensor = Tensor(nullptr, s.dtype, shape).nbytes();
  // One allocation for the whole cache: block copies and memory accounting
  // see one region.
  Tensor all = alloc(s.dtype, {int64_t(s.num_layers) * 2, int64_t(per_tensor / 2)});
  std::vector<KvLayer> layers(size_t(s.num_layers));
  char* base = static_cast<char*>(all.data());
  for (int l = 0; l < s.num_layers; ++l) {
    layers[l].k =
        Tensor(base + (2 * size_t(l)) * per_tensor, s.dtype, shape, Device::kCUDA, all.owner());
    layers[l].v =
        Tensor(base + (2 * size_t(l) + 1) * per_tensor, s.dtype, shape, Device::kCUDA, all.owner());
  }
  return layers;
}

void CudaBackend::upload_i32(const int32_t* host, int64_t n, Tensor& dst) {
  check_on_device(dst, "upload destination");
  TESSERA_CHECK(dst.dtype() == DType::kI32 && dst.numel() >= n && dst.contiguous());
  if (n == 0) return;
  const size_t bytes = size_t(n) * sizeof(int32_t);
  const size_t padded = (bytes + 255) / 256 * 256;
  if (padded > segment_bytes_) {  // larger than a segment: a one-off bigger ring
    TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    TESSERA_CUDA_CHECK(cudaFreeHost(staging_));
    staging_ = nullptr;
    TESSERA_CUDA_CHECK(cudaMallocHost(&staging_, padded * 2 * kStagingSegments));
    segment_bytes_ = padded * 2;
    segment_ = 0;
    staging_head_ = 0;
  } else if (staging_head_ + padded > size_t(segment_ + 1) * segment_bytes_) {
    segment_ = (segment_ + 1) % kStagingSegments;
    staging_head_ = size_t(segment_) * segment_bytes_;
    TESSERA_CUDA_CHECK(cudaEventSynchronize(segment_done_[segment_]));
  }
  char* slot = static_cast<char*>(staging_) + staging_head_;
  std::memcpy(slot, host, bytes);
  TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst.data(), slot, bytes, cudaMemcpyHostToDevice, stream_));
  TESSERA_CUDA_CHECK(cudaEventRecord(segment_done_[segment_], stream_));
  staging_head_ += padded;
}

void CudaBackend::download_f32(const Tensor& src, float* host) {
  check_on_device(src, "download source");
  const int64_t rows = src.rows(), cols = src.cols();
  if (rows == 0 || cols == 0) return;
  if (src.dtype() == DType::kF32) {
    TESSERA_CUDA_CHECK(cudaMemcpy2DAsync(host, size_t(cols) * 4, src.data(), src.row_stride(),
                                         size_t(cols) * 4, size_t(rows), cudaMemcpyDeviceToHost,
                                         stream_));
    TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return;
  }
  const bool fp16 = check_16bit(src, "download source") == Elem::kF16;
  std::vector<uint16_t> raw(size_t(rows * cols));
  TESSERA_CUDA_CHECK(cudaMemcpy2DAsync(raw.data(), size_t(cols) * 2, src.data(), src.row_stride(),
                                       size_t(cols) * 2, size_t(rows), cudaMemcpyDeviceToHost,
                                       stream_));
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  for (size_t i = 0; i < raw.size(); ++i)
    host[i] = fp16 ? fp16_to_f32(raw[i]) : bf16_to_f32(raw[i]);
}

void CudaBackend::embedding(const Tensor& table, const Tensor& ids, Tensor& out) {
  check_on_device(table, "embedding table");
  check_on_device(ids, "token ids");
  check_on_device(out, "embedding output");
  TESSERA_CHECK(table.dtype() == out.dtype() && !is_quantized(table.dtype()));
  TESSERA_CHECK(ids.dtype() == DType::kI32 && out.rows() == ids.numel());
  TESSERA_CHECK(out.cols() == table.cols());
  check_launch(
      launch_gather_rows(table.data(), table.rows(), table.row_stride(), ids.data_as<int32_t>(),
                         ids.numel(), row_bytes(table.dtype(), table.cols()), out.data(),
                         out.row_stride(), stream_),
      "embedding");
}

void CudaBackend::gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) {
  check_on_device(x, "gather source");
  check_on_device(rows, "gather rows");
  check_on_device(out, "gather output");
  TESSERA_CHECK(x.dtype() == out.dtype() && out.cols() == x.cols());
  TESSERA_CHECK(rows.dtype() == DType::kI32 && out.rows() == rows.numel());
  check_launch(
      launch_gather_rows(x.data(), x.rows(), x.row_stride(), rows.data_as<int32_t>(), rows.numel(),
                         row_bytes(x.dtype(), x.cols()), out.data(), out.row_stride(), stream_),
      "gather_rows");
}

void CudaBackend::rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  const Elem elem = check_16bit(x, "rms_norm input");
  check_like(out, x, "rms_norm output");
  check_on_device(weight, "rms_norm weight");
  TESSERA_CHECK(weight.numel() == x.cols() && weight.contiguous());
  TESSERA_CHECK(weight.dtype() == x.dtype() || weight.dtype() == DType::kF32);
  TESSERA_CHECK(out.rows() == x.rows() && out.cols() == x.cols());
  NormArgs a;
  a.x = x.data();
  a.x_stride = stride_elems(x);
  a.weight = weight.data();
  a.weight_f32 = weight.dtype() == DType::kF32;
  a.out = out.data();
  a.out_stride = stride_elems(out);
  a.rows = x.rows();
  a.cols = int(x.cols());
  a.eps = eps;
  check_launch(launch_rms_norm(elem, a, stream_), "rms_norm");
}

void CudaBackend::add_rms_norm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps,
                               Tensor& out) {
  const Elem elem = check_16bit(residual, "residual");
  check_like(x, residual, "add_rms_norm input");
  check_like(out, residual, "add_rms_norm output");
  check_on_device(weight, "rms_norm weight");
  TESSERA_CHECK(weight.numel() == x.cols() && weight.contiguous());
  TESSERA_CHECK(weight.dtype() == x.dtype() || weight.dtype() == DType::kF32);
  TESSERA_CHECK(x.rows() == residual.rows() && x.cols() == residual.cols());
  TESSERA_CHECK(out.rows() == x.rows() && out.cols() == x.cols());
  NormArgs a;
  a.residual = residual.data();
  a.residual_stride = stride_elems(residual);
  a.x = x.data();
  a.x_stride = stride_elems(x);
  a.weight = weight.data();
  a.weight_f32 = weight.dtype() == DType::kF32;
  a.out = out.data();
  a.out_stride = stride_elems(out);
  a.rows = x.rows();
  a.cols = int(x.cols());
  a.eps = eps;
  a.add = true;
  check_launch(launch_rms_norm(elem, a, stream_), "add_rms_norm");
}

void CudaBackend::matmul(const Tensor& x, const Tensor& w, Tensor& out) {
  const Elem elem = check_16bit(x, "matmul input");
  check_like(w, x, "matmul weight");
  check_on_device(out, "matmul output");
  TESSERA_CHECK(out.dtype() == x.dtype() || out.dtype() == DType::kF32);
  TESSERA_CHECK(x.cols() == w.cols() && out.cols() == w.rows() && out.rows() == x.rows());
  TESSERA_CHECK(x.cols() > 0);
  const bool out_f32 = out.dtype() == DType::kF32;
  const int64_t M = x.rows(), N = w.rows(), K = x.cols();
  if (M == 0 || N == 0) return;
  if (use_gemv_ && M <= kGemvMaxRows &&
      gemv_supported(x.data(), stride_elems(x), w.data(), stride_elems(w), int(M), int(K))) {
    check_launch(launch_gemv(elem, x.data(), stride_elems(x), w.data(), stride_elems(w), out.data(),
                             stride_elems(out), out_f32, int(M), int(N), int(K), stream_),
                 "gemv");
    return;
  }
  gemm_->run(elem, x.data(), stride_elems(x), w.data(), stride_elems(w), out.data(),
             stride_elems(out), out_f32, M, N, K);
}

const RopeFreqs& CudaBackend::freqs_for(const RopeParams& p) {
  for (const auto& [params, freqs] : rope_cache_)
    if (same_rope(params, p)) return freqs;
  if (p.rotary_dim <= 0 || p.rotary_dim % 2 != 0 || p.rotary_dim > p.head_dim ||
      p.rotary_dim / 2 > kMaxRotaryPairs)
    fail(ErrorKind::kUnsupported, "CUDA rope: rotary_dim {} (head_dim {}) is not supported",
         p.rotary_dim, p.head_dim);
  RopeFreqs f{};
  const std::vector<float> inv = cpu::rope_inv_freq(p);
  for (size_t i = 0; i < inv.size(); ++i) f.inv_freq[i] = inv[i];
  rope_cache_.emplace_back(p, f);
  return rope_cache_.back().second;
}

void CudaBackend::rope_kv(Tensor* q, Tensor* k, const Tensor* v, const Tensor* positions,
                          const RopeParams* p, const AttentionMeta* meta, KvLayer* cache) {
  RopeKvArgs a;
  const bool do_rope = p != nullptr, do_write = cache != nullptr;
  const Elem elem = check_16bit(*k, "k");
  a.k = k->data();
  a.k_stride = stride_elems(*k);
  a.num_tokens = k->rows();
  a.do_rope = do_rope;
  a.do_write = do_write;
  int head_dim = 0;
  RopeFreqs freqs{};
  if (do_rope) {
    check_like(*q, *k, "q");
    check_on_device(*positions, "positions");
    TESSERA_CHECK(positions->dtype() == DType::kI32 && positions->numel() == k->rows());
    TESSERA_CHECK(q->rows() == k->rows());
    head_dim = p->head_dim;
    TESSERA_CHECK(head_dim > 0 && q->cols() % head_dim == 0 && k->cols() % head_dim == 0);
    a.q = q->data();
    a.q_stride = stride_elems(*q);
    a.q_heads = int(q->cols() / head_dim);
    a.positions = positions->data_as<int32_t>();
    a.rotary_dim = p->rotary_dim;
    a.neox = p->style == RopeParams::Style::kNeox;
    freqs = freqs_for(*p);
  }
  if (do_write) {
    check_like(*v, *k, "v");
    check_like(cache->k, *k, "k cache");
    check_like(cache->v, *k, "v cache");
    const int64_t kv_heads = cache->k.dim(1), block_size = cache->k.dim(2), dim = cache->k.dim(3);
    TESSERA_CHECK(!do_rope || dim == head_dim);
    head_dim = int(dim);
    TESSERA_CHECK(k->cols() == kv_heads * dim && v->cols() == k->cols());
    TESSERA_CHECK(v->rows() == k->rows() && meta->num_tokens == k->rows());
    a.v = v->data();
    a.v_stride = stride_elems(*v);
    a.k_cache = cache->k.data();
    a.v_cache = cache->v.data();
    a.slots = meta->slot_mapping;
    a.block_size = int(block_size);
    a.num_slots = cache->k.dim(0) * block_size;
  }
  a.head_dim = head_dim;
  a.kv_heads = int(k->cols() / head_dim);
  check_launch(launch_rope_kv(elem, a, freqs, stream_), "rope/write_kv");
}

void CudaBackend::rope(Tensor& q, Tensor& k, const Tensor& positions, const RopeParams& p) {
  rope_kv(&q, &k, nullptr, &positions, &p, nullptr, nullptr);
}

void CudaBackend::write_kv(const Tensor& k, const Tensor& v, const AttentionMeta& meta,
                           KvLayer& cache) {
  Tensor k_view = k;  // not modified: no rotation is asked for
  rope_kv(nullptr, &k_view, &v, nullptr, nullptr, &meta, &cache);
}

void CudaBackend::rope_write_kv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& positions,
                                const RopeParams& p, const AttentionMeta& meta, KvLayer& cache) {
  rope_kv(&q, &k, &v, &positions, &p, &meta, &cache);
}

void* CudaBackend::attention_workspace(size_t bytes) {
  if (bytes > attn_workspace_bytes_) {
    attn_workspace_ = alloc_->allocate(bytes);
    attn_workspace_bytes_ = bytes;
    ++workspace_epoch_;
  }
  return attn_workspace_.get();
}

void CudaBackend::paged_attention(const Tensor& q, const KvLayer& cache, const AttentionMeta& meta,
                                  int num_heads, int num_kv_heads, float scale, Tensor& out) {
  const Elem elem = check_16bit(q, "attention q");
  check_like(out, q, "attention output");
  check_like(cache.k, q, "k cache");
  check_like(cache.v, q, "v cache");
  const int head_dim = int(cache.k.dim(3));
  TESSERA_CHECK(cache.k.dim(1) == num_kv_heads);
  TESSERA_CHECK(q.cols() == int64_t(num_heads) * head_dim && out.cols() == q.cols());
  TESSERA_CHECK(q.rows() == meta.num_tokens && out.rows() == meta.num_tokens);
  TESSERA_CHECK(meta.num_seqs <= meta.num_tokens);
  AttentionArgs a;
  a.q = q.data();
  a.q_stride = stride_elems(q);
  a.out = out.data();
  a.out_stride = stride_elems(out);
  a.k_cache = cache.k.data();
  a.v_cache = cache.v.data();
  a.query_start = meta.query_start;
  a.context_lens = meta.context_lens;
  a.block_tables = meta.block_tables;
  a.max_blocks_per_seq = meta.max_blocks_per_seq;
  a.num_seqs = meta.num_seqs;
  a.num_tokens = meta.num_tokens;
  a.num_heads = num_heads;
  a.num_kv_heads = num_kv_heads;
  a.head_dim = head_dim;
  a.block_size = int(cache.k.dim(2));
  a.scale = scale;
  if (const char* why = attention_unsupported(a))
    fail(ErrorKind::kUnsupported, "CUDA paged attention: {}", why);
  int& per_sm = decode_ctas_per_sm_[elem == Elem::kF16][head_dim == 64 ? 0 : 1];
  if (per_sm == 0) per_sm = decode_ctas_per_sm(head_dim, elem);
  const AttentionPlan plan = plan_attention(a, info_.sm_count, per_sm, forced_partition_);
  void* ws = plan.workspace_bytes ? attention_workspace(plan.workspace_bytes) : nullptr;
  check_launch(launch_attention(elem, a, plan, ws, stream_), "paged_attention");
}

void CudaBackend::silu_mul(const Tensor& gate, const Tensor& up, Tensor& out) {
  const Elem elem = check_16bit(gate, "gate");
  check_like(up, gate, "up");
  check_like(out, gate, "silu_mul output");
  TESSERA_CHECK(gate.cols() == up.cols() && out.cols() == gate.cols());
  TESSERA_CHECK(gate.rows() == up.rows() && out.rows() == gate.rows());
  check_launch(launch_silu_mul(elem, gate.data(), stride_elems(gate), up.data(), stride_elems(up),
                               out.data(), stride_elems(out), gate.rows(), gate.cols(), stream_),
               "silu_mul");
}

void CudaBackend::add(Tensor& x, const Tensor& y) {
  const Elem elem = check_16bit(x, "add output");
  check_like(y, x, "add input");
  TESSERA_CHECK(x.rows() == y.rows() && x.cols() == y.cols());
  check_launch(launch_add(elem, x.data(), stride_elems(x), y.data(), stride_elems(y), x.rows(),
                          x.cols(), stream_),
               "add");
}

void CudaBackend::synchronize() { TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

void CudaBackend::fill_uniform(Tensor& t, uint64_t seed, float scale) {
  check_on_device(t, "fill target");
  TESSERA_CHECK(t.contiguous());
  const Elem elem = t.dtype() == DType::kF32 ? Elem::kF32 : check_16bit(t, "fill target");
  check_launch(launch_fill_uniform(t.data(), t.numel(), elem, seed, scale, stream_),
               "fill_uniform");
}

// ---- tessera/backend/cuda.h ----

namespace {

CudaBackend& as_cuda(const Backend& b) {
  auto* c = dynamic_cast<const CudaBackend*>(&b);
  if (!c) fail(ErrorKind::kInvalidArgument, "not a CUDA backend");
  return const_cast<CudaBackend&>(*c);
}

}  // namespace

bool is_cuda_backend(const Backend& backend) {
  return dynamic_cast<const CudaBackend*>(&backend) != nullptr;
}
DeviceInfo device_info(const Backend& backend) { return as_cuda(backend).info(); }
void* stream(Backend& backend) { return as_cuda(backend).stream(); }

MemoryStats memory_stats(const Backend& backend) {
  CudaBackend& b = as_cuda(backend);
  MemoryStats s;
  s.in_use = b.allocator().in_use();
  s.cached = b.allocator().cached();
  s.peak_in_use = b.allocator().peak_in_use();
  TESSERA_CUDA_CHECK(cudaSetDevice(b.info().index));
  TESSERA_CUDA_CHECK(cudaMemGetInfo(&s.device_free, &s.device_total));
  return s;
}
void reset_peak_memory(Backend& backend) { as_cuda(backend).allocator().reset_peak(); }
void release_cached_memory(Backend& backend) { as_cuda(backend).allocator().release_cached(); }
void copy_device(Backend& backend, void* dst, const void* src, size_t bytes) {
  backend.copy(dst, src, bytes);
}
void memcpy_device(Backend& backend, void* dst, const void* src, size_t bytes) {
  TESSERA_CUDA_CHECK(
      cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, as_cuda(backend).stream()));
}

std::shared_ptr<void> capture_graph(Backend& backend, const std::function<void()>& record) {
  cudaStream_t s = as_cuda(backend).stream();
  TESSERA_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t graph = nullptr;
  try {
    record();
  } catch (...) {
    cudaStreamEndCapture(s, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    throw;
  }
  TESSERA_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (err != cudaSuccess) fail_cuda(err, "cudaGraphInstantiate", __FILE__, __LINE__);
  return std::shared_ptr<void>(
      exec, [](void* e) { cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(e)); });
}

void launch_graph(Backend& backend, const std::shared_ptr<void>& graph) {
  TESSERA_CUDA_CHECK(
      cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph.get()), as_cuda(backend).stream()));
}

uint64_t workspace_epoch(const Backend& backend) { return as_cuda(backend).workspace_epoch(); }

void set_gemv_enabled(Backend& backend, bool on) { as_cuda(backend).set_use_gemv(on); }
void fill_uniform(Backend& backend, Tensor& t, uint64_t seed, float scale) {
  as_cuda(backend).fill_uniform(t, seed, scale);
}

}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(int device_index, DType dtype) {
  return std::make_unique<cuda::CudaBackend>(device_index, dtype);
}

}  // namespace tessera
