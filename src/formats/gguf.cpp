// GGUF parsing. Layout (little-endian): magic "GGUF", u32 version, u64 tensor
// count, u64 metadata count, the metadata (key string, u32 value type, value),
// the tensor infos (name, u32 n_dims, u64 dims innermost first, u32 GGML type,
// u64 offset), padding to `general.alignment`, then the tensor data.
#include "tessera/formats/gguf.h"

#include <algorithm>
#include <cstring>

#include "element_count.h"
#include "tessera/core/error.h"
#include "tessera/formats/ggml_types.h"

namespace tessera::gguf {
namespace {

constexpr uint8_t kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint64_t kMaxKeyBytes = 65535;  // the spec's limit on key length
constexpr uint64_t kMaxTensorNameBytes = 4096;
constexpr uint64_t kMaxAlignment = uint64_t{1} << 24;
constexpr uint64_t kDefaultAlignment = 32;

// Smallest encoding of one array element of each type, so an array's count
// can be checked against the bytes left before anything is allocated.
uint64_t min_encoded_bytes(ValueType t) {
  switch (t) {
    case ValueType::kU8:
    case ValueType::kI8:
    case ValueType::kBool:
      return 1;
    case ValueType::kU16:
    case ValueType::kI16:
      return 2;
    case ValueType::kU32:
    case ValueType::kI32:
    case ValueType::kF32:
      return 4;
    case ValueType::kU64:
    case ValueType::kI64:
    case ValueType::kF64:
    case ValueType::kString:  // u64 length
      return 8;
    case ValueType::kArray:  // u32 type + u64 count
      return 12;
  }
  return 1;
}

bool is_valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kF64); }

}  // namespace

// Reads the header of one GGUF image; every read is bounds-checked.
class Parser {
 public:
  Parser(const uint8_t* data, size_t size, std::string name)
      : data_(data), size_(size), name_(std::move(name)) {}

  std::shared_ptr<File> run(std::shared_ptr<void> keep_alive) {
    std::shared_ptr<File> file(new File());
    file->path_ = name_;
    file->data_ = data_;
    file->size_ = size_;
    file->keep_alive_ = std::move(keep_alive);

    read_preamble(*file);
    const uint64_t tensor_count = read<uint64_t>("the tensor count");
    const uint64_t kv_count = read<uint64_t>("the metadata count");
    // Each metadata entry takes >= 14 bytes (key length, 1-byte key, type,
    // 1-byte value), each tensor info >= 33.
    if (kv_count > left() / 14) bad("metadata count {} does not fit in the file", kv_count);
    if (tensor_count > kMaxTensors) bad("tensor count {} exceeds the limit", tensor_count);
    if (tensor_count > left() / 33) bad("tensor count {} does not fit in the file", tensor_count);

    for (uint64_t i = 0; i < kv_count; ++i) read_metadata_entry(*file);
    read_alignment(*file);
    file->tensors_.reserve(tensor_count);
    for (uint64_t i = 0; i < tensor_count; ++i) read_tensor_info(*file);
    place_data_section(*file);
    return file;
  }

 private:
  template <typename... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> format, Args&&... args) const {
    fail(ErrorKind::kBadFile, "{}: {}", name_, fmt::format(format, std::forward<Args>(args)...));
  }

  uint64_t left() const { return size_ - pos_; }

  void need(uint64_t n, std::string_view what) const {
    if (n > left())
      bad("truncated: {} needs {} bytes at offset {}, {} left", what, n, pos_, left());
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what, uint64_t max_bytes) {
    const uint64_t len = read<uint64_t>(what);
    if (len > max_bytes) bad("{} is {} bytes long (limit {})", what, len, max_bytes);
    need(len, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

  void read_preamble(File& file) {
    need(4, "the magic");
    if (std::memcmp(data_, kMagic, 4) != 0) {
      bad("not a GGUF file (starts with {:02x} {:02x} {:02x} {:02x}, expected \"GGUF\")", data_[0],
          data_[1], data_[2], data_[3]);
    }
    pos_ = 4;
    const uint32_t version = read<uint32_t>("the version");
    if (version == 1)
      bad("GGUF v1 is not supported (only v2 and v3; re-convert the model with current tools)");
    if ((version & 0xffffu) == 0 && version != 0) bad("big-endian GGUF files are not supported");
    if (version != 2 && version != 3) bad("unsupported GGUF version {} (supported: 2, 3)", version);
    file.version_ = version;
  }

  void count_value(const std::string& key) {
    if (++values_ > kMaxMetadataValues)
      bad("metadata holds more than {} values (at key '{}')", kMaxMetadataValues, key);
  }

  Value read_value(ValueType type, const std::string& key, int depth) {
    count_value(key);
    Value value;
    value.type = type;
    switch (type) {
      case ValueType::kU8:
        value.v = uint64_t{read<uint8_t>(key)};
        break;
      case ValueType::kI8:
        value.v = int64_t{read<int8_t>(key)};
        break;
      case ValueType::kU16:
        value.v = uint64_t{read<uint16_t>(key)};
        break;
      case ValueType::kI16:
        value.v = int64_t{read<int16_t>(key)};
        break;
      case ValueType::kU32:
        value.v = uint64_t{read<uint32_t>(key)};
        break;
      case ValueType::kI32:
        value.v = int64_t{read<int32_t>(key)};
        break;
      case ValueType::kU64:
        value.v = read<uint64_t>(key);
        break;
      case ValueType::kI64:
        value.v = read<int64_t>(key);
        break;
      case ValueType::kF32:
        value.v = double{read<float>(key)};
        break;
      case ValueType::kF64:
        value.v = read<double>(key);
        break;
      case ValueType::kBool: {
        const uint8_t b = read<uint8_t>(key);
        if (b > 1) bad("key '{}' holds bool value {} (expected 0 or 1)", key, b);
        value.v = b == 1;
        break;
      }
      case ValueType::kString:
        value.v = read_string(key, kMaxStringBytes);
        break;
      case ValueType::kArray:
        value.v = read_array(value, key, depth);
        break;
    }
    return value;
  }

  Array read_array(Value& value, const std::string& key, int depth) {
    if (depth >= kMaxArrayDepth) bad("key '{}' nests arrays deeper than {}", key, kMaxArrayDepth);
    const uint32_t raw_type = read<uint32_t>(key);
    if (!is_valid_value_type(raw_type))
      bad("key '{}' has arrays of unknown type {}", key, raw_type);
    value.elem_type = static_cast<ValueType>(raw_type);
    const uint64_t count = read<uint64_t>(key);
    if (count > kMaxMetadataValues - values_)
      bad("key '{}' declares {} array elements (limit {} values in all)", key, count,
          kMaxMetadataValues);
    // count <= 2^22 and min size <= 12: no overflow.
    need(count * min_encoded_bytes(value.elem_type), key);
    Array items;
    items.reserve(count);
    for (uint64_t i = 0; i < count; ++i)
      items.push_back(read_value(value.elem_type, key, depth + 1));
    return items;
  }

  void read_metadata_entry(File& file) {
    std::string key = read_string("a metadata key", kMaxKeyBytes);
    if (key.empty()) bad("empty metadata key at offset {}", pos_ - 8);
    const uint32_t raw_type = read<uint32_t>(key);
    if (!is_valid_value_type(raw_type)) bad("key '{}' has unknown value type {}", key, raw_type);
    Value value = read_value(static_cast<ValueType>(raw_type), key, 0);
    if (!file.metadata_.emplace(key, std::move(value)).second)
      bad("metadata key '{}' appears twice", key);
  }

  void read_alignment(File& file) {
    const Value* v = file.find("general.alignment");
    if (!v) {
      file.alignment_ = kDefaultAlignment;
      return;
    }
    const std::optional<int64_t> a = v->as_int();
    if (!a) bad("general.alignment is {}, expected an integer", value_type_name(v->type));
    if (*a <= 0 || static_cast<uint64_t>(*a) > kMaxAlignment || (*a & (*a - 1)) != 0)
      bad("general.alignment {} is not a power of two up to {}", *a, kMaxAlignment);
    file.alignment_ = static_cast<uint64_t>(*a);
  }

  void read_tensor_info(File& file) {
    TensorInfo info;
    info.name = read_string("a tensor name", kMaxTensorNameBytes);
    const std::string& name = info.name;
    if (name.empty()) bad("empty tensor name at offset {}", pos_ - 8);
    const uint32_t n_dims = read<uint32_t>(name);
    if (n_dims < 1 || n_dims > 4) bad("tensor '{}' has {} dims (1 to 4 supported)", name, n_dims);
    info.shape.resize(n_dims);
    formats::ElementCount elements;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = read<uint64_t>(name);
      if (!elements.add(n)) bad("tensor '{}' has too many elements", name);
      info.shape[n_dims - 1 - d] = static_cast<int64_t>(n);
    }
    const uint64_t numel = elements.count();
    info.num_elements = static_cast<int64_t>(numel);
    info.ggml_type = read<uint32_t>(name);
    info.type_name = ggml_type_name(info.ggml_type);
    info.offset = read<uint64_t>(name);

    if (const GgmlTypeInfo* t = ggml_type_info(info.ggml_type)) {
      const uint64_t inner = static_cast<uint64_t>(info.shape.back());
      if (inner % t->block_size != 0)
        bad("tensor '{}': row of {} elements is not a multiple of the {} block size {}", name,
            inner, t->name, t->block_size);
      // numel / block_size * type_size <= numel * 4.5: fits for numel < 2^63 / 5.
      if (__builtin_mul_overflow(numel / t->block_size, uint64_t(t->type_size), &info.nbytes))
        bad("tensor '{}' is too large", name);
    }
    const std::optional<DType> dtype = dtype_from_ggml(info.ggml_type);
    info.supported = dtype.has_value();
    if (dtype) info.dtype = *dtype;

    if (!file.tensor_index_.emplace(name, file.tensors_.size()).second)
      bad("tensor '{}' appears twice", name);
    file.tensors_.push_back(std::move(info));
  }

  // The data section starts at the first aligned offset after the header;
  // every tensor must sit at an aligned offset inside the file, and no two
  // may overlap.
  void place_data_section(File& file) {
    const uint64_t a = file.alignment_;
    uint64_t start = pos_;
    if (start % a != 0 && __builtin_add_overflow(start, a - start % a, &start))
      bad("data section offset overflows");
    file.data_offset_ = start;

    std::vector<const TensorInfo*> by_offset;
    by_offset.reserve(file.tensors_.size());
    for (const TensorInfo& t : file.tensors_) {
      if (t.offset % a != 0)
        bad("tensor '{}' at data offset {} is not aligned to {}", t.name, t.offset, a);
      uint64_t end = 0;
      if (__builtin_add_overflow(start, t.offset, &end) ||
          __builtin_add_overflow(end, t.nbytes, &end) || end > size_) {
        bad("tensor '{}' ({} bytes at data offset {}) lies outside the {}-byte file", t.name,
            t.nbytes, t.offset, size_);
      }
      // An unknown-size tensor must at least start inside the file.
      if (t.nbytes == 0 && start + t.offset >= size_ && t.num_elements > 0)
        bad("tensor '{}' starts past the end of the file", t.name);
      by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorInfo* x, const TensorInfo* y) { return x->offset < y->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const TensorInfo& prev = *by_offset[i - 1];
      if (prev.offset + prev.nbytes > by_offset[i]->offset)
        bad("tensors '{}' and '{}' overlap", prev.name, by_offset[i]->name);
    }
  }

  const uint8_t* data_;
  size_t size_;
  std::string name_;
  size_t pos_ = 0;
  uint64_t values_ = 0;
};

std::shared_ptr<File> File::open(const std::string& path) {
  std::shared_ptr<MappedFile> mapped = MappedFile::open(path);
  const uint8_t* data = mapped->data();
  const size_t size = mapped->size();
  return Parser(data, size, path).run(std::move(mapped));
}

std::shared_ptr<File> File::parse(const uint8_t* data, size_t size,
                                  std::shared_ptr<void> keep_alive, std::string name) {
  return Parser(data, size, std::move(name)).run(std::move(keep_alive));
}

const Value* File::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Tensor File::tensor(const TensorInfo& info) const {
  const TensorInfo* own = find_tensor(info.name);
  TESSERA_CHECK(own == &info);
  if (!info.supported) {
    fail(ggml_type_info(info.ggml_type) ? ErrorKind::kUnsupported : ErrorKind::kBadFile,
         "{}: tensor '{}' has GGML type {}, which tessera does not support", path_, info.name,
         info.type_name);
  }
  void* p = const_cast<uint8_t*>(data_ + data_offset_ + info.offset);
  return Tensor(p, info.dtype, info.shape, Device::kCPU, keep_alive_);
}

Tensor File::tensor(const std::string& name) const {
  const TensorInfo* info = find_tensor(name);
  if (!info) fail(ErrorKind::kBadFile, "{}: no tensor named '{}'", path_, name);
  return tensor(*info);
}

}  // namespace tessera::gguf
