// safetensors: u64 little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {...}}), then the data buffer the offsets point into.
#include "tessera/formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "element_count.h"
#include "tessera/core/error.h"

namespace tessera::safetensors {
namespace {

using nlohmann::json;

// Bytes per element of the dtypes the format defines; 0 for sub-byte or
// unknown ones (their sizes are not checked, and they cannot be used).
uint64_t element_bytes(const std::string& dtype) {
  static const std::map<std::string, uint64_t> sizes = {
      {"F64", 8},  {"F32", 4},     {"F16", 2},     {"BF16", 2},    {"I64", 8}, {"I32", 4},
      {"I16", 2},  {"I8", 1},      {"U64", 8},     {"U32", 4},     {"U16", 2}, {"U8", 1},
      {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1},
  };
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

std::optional<DType> tessera_dtype(const std::string& dtype) {
  if (dtype == "F32") return DType::kF32;
  if (dtype == "F16") return DType::kF16;
  if (dtype == "BF16") return DType::kBF16;
  return std::nullopt;
}

}  // namespace

class HeaderParser {
 public:
  HeaderParser(const uint8_t* data, size_t size, std::string name)
      : data_(data), size_(size), name_(std::move(name)) {}

  std::shared_ptr<File> run(std::shared_ptr<void> keep_alive) {
    std::shared_ptr<File> file(new File());
    file->path_ = name_;
    file->size_ = size_;
    file->keep_alive_ = std::move(keep_alive);
    if (size_ < 8) bad("truncated: {} bytes, too short for the header length", size_);
    uint64_t header_len = 0;
    std::memcpy(&header_len, data_, 8);
    if (header_len > kMaxHeaderBytes)
      bad("header length {} exceeds the {}-byte limit", header_len, kMaxHeaderBytes);
    if (header_len > size_ - 8)
      bad("truncated: header length {} but only {} bytes follow", header_len, size_ - 8);
    const uint64_t buffer_bytes = size_ - 8 - header_len;
    file->data_ = data_ + 8 + header_len;

    const char* begin = reinterpret_cast<const char*>(data_ + 8);
    json header = json::parse(begin, begin + header_len, nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded()) bad("header is not valid JSON");
    if (!header.is_object()) bad("header is not a JSON object");

    for (auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        read_metadata(*file, value);
        continue;
      }
      file->index_.emplace(key, file->tensors_.size());
      file->tensors_.push_back(read_entry(key, value, buffer_bytes));
    }
    check_no_overlap(*file);
    return file;
  }

 private:
  template <typename... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> format, Args&&... args) const {
    fail(ErrorKind::kBadFile, "{}: {}", name_, fmt::format(format, std::forward<Args>(args)...));
  }

  void read_metadata(File& file, const json& value) {
    if (!value.is_object()) bad("__metadata__ is not an object");
    for (auto& [k, v] : value.items()) {
      if (!v.is_string()) bad("__metadata__ value of '{}' is not a string", k);
      file.metadata_[k] = v.get<std::string>();
    }
  }

  TensorInfo read_entry(const std::string& name, const json& value, uint64_t buffer_bytes) {
    if (!value.is_object()) bad("entry of tensor '{}' is not an object", name);
    TensorInfo info;
    info.name = name;
    auto dtype = value.find("dtype");
    if (dtype == value.end() || !dtype->is_string()) bad("tensor '{}' has no dtype string", name);
    info.dtype_name = dtype->get<std::string>();
    const std::optional<DType> d = tessera_dtype(info.dtype_name);
    info.supported = d.has_value();
    if (d) info.dtype = *d;

    auto shape = value.find("shape");
    if (shape == value.end() || !shape->is_array()) bad("tensor '{}' has no shape array", name);
    if (shape->size() > 8) bad("tensor '{}' has {} dims", name, shape->size());
    formats::ElementCount elements;
    for (const json& dim : *shape) {
      if (!dim.is_number_unsigned()) bad("tensor '{}' has a shape entry that is not a size", name);
      const uint64_t n = dim.get<uint64_t>();
      if (!elements.add(n)) bad("tensor '{}' has too many elements", name);
      info.shape.push_back(static_cast<int64_t>(n));
    }
    const uint64_t numel = elements.count();

    auto offsets = value.find("data_offsets");
    if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
      bad("tensor '{}' has no [begin, end] data_offsets", name);
    info.begin = (*offsets)[0].get<uint64_t>();
    info.end = (*offsets)[1].get<uint64_t>();
    if (info.begin > info.end || info.end > buffer_bytes)
      bad("tensor '{}' bytes [{}, {}) lie outside the {}-byte data buffer", name, info.begin,
          info.end, buffer_bytes);
    if (const uint64_t elem = element_bytes(info.dtype_name)) {
      uint64_t nbytes = 0;
      if (__builtin_mul_overflow(numel, elem, &nbytes) || nbytes != info.end - info.begin)
        bad("tensor '{}' is {} {}[{}] elements but spans {} bytes", name, numel, info.dtype_name,
            shape->dump(), info.end - info.begin);
    }
    return info;
  }

  void check_no_overlap(const File& file) const {
    std::vector<const TensorInfo*> sorted;
    for (const TensorInfo& t : file.tensors_) sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < sorted.size(); ++i)
      if (sorted[i - 1]->end > sorted[i]->begin)
        bad("tensors '{}' and '{}' overlap", sorted[i - 1]->name, sorted[i]->name);
  }

  const uint8_t* data_;
  size_t size_;
  std::string name_;
};

std::shared_ptr<File> File::open(const std::string& path) {
  std::shared_ptr<MappedFile> mapped = MappedFile::open(path);
  const uint8_t* data = mapped->data();
  const size_t size = mapped->size();
  return HeaderParser(data, size, path).run(std::move(mapped));
}

std::shared_ptr<File> File::parse(const uint8_t* data, size_t size,
                                  std::shared_ptr<void> keep_alive, std::string name) {
  return HeaderParser(data, size, std::move(name)).run(std::move(keep_alive));
}

const TensorInfo* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Tensor File::tensor(const TensorInfo& info) const {
  TESSERA_CHECK(find(info.name) == &info);
  if (!info.supported)
    fail(ErrorKind::kUnsupported, "{}: tensor '{}' has dtype {} (supported: F32, F16, BF16)", path_,
         info.name, info.dtype_name);
  if (info.shape.size() > 4)
    fail(ErrorKind::kUnsupported, "{}: tensor '{}' has {} dims (at most 4 supported)", path_,
         info.name, info.shape.size());
  const uint8_t* p = data_ + info.begin;
  // Kernels read elements through typed pointers.
  if (reinterpret_cast<uintptr_t>(p) % dtype_info(info.dtype).block_bytes != 0)
    fail(ErrorKind::kBadFile, "{}: tensor '{}' is not aligned to its element size", path_,
         info.name);
  return Tensor(const_cast<uint8_t*>(p), info.dtype, info.shape, Device::kCPU, keep_alive_);
}

namespace {

json read_index(const std::string& path) {
  std::shared_ptr<MappedFile> mapped = MappedFile::open(path);
  if (mapped->size() > kMaxHeaderBytes)
    fail(ErrorKind::kBadFile, "{}: {} bytes is too large for an index", path, mapped->size());
  const char* text = reinterpret_cast<const char*>(mapped->data());
  json index = json::parse(text, text + mapped->size(), nullptr, false);
  if (index.is_discarded()) fail(ErrorKind::kBadFile, "{}: not valid JSON", path);
  auto map = index.is_object() ? index.find("weight_map") : index.end();
  if (map == index.end() || !map->is_object())
    fail(ErrorKind::kBadFile, "{}: no \"weight_map\" object", path);
  return std::move(*map);
}

// Shard names are plain file names in the index's folder.
void check_shard_name(const std::string& index_path, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos)
    fail(ErrorKind::kBadFile, "{}: shard name '{}' is not a file name in the same folder",
         index_path, name);
}

}  // namespace

std::shared_ptr<TensorSet> TensorSet::open(const std::string& path) {
  auto set = std::make_shared<TensorSet>();
  set->path_ = path;
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    const json map = read_index(path);
    const std::filesystem::path folder = std::filesystem::path(path).parent_path();
    std::map<std::string, size_t> shard_of_name;  // shard file name -> files_ index
    std::set<std::string> names;
    for (auto& [tensor, shard] : map.items()) {
      if (!shard.is_string())
        fail(ErrorKind::kBadFile, "{}: weight_map entry of '{}' is not a file name", path, tensor);
      names.insert(shard.get<std::string>());
    }
    for (const std::string& name : names) {  // sorted: shard order is stable
      check_shard_name(path, name);
      shard_of_name[name] = set->files_.size();
      set->files_.push_back(File::open((folder / name).string()));
    }
    for (auto& [tensor, shard] : map.items()) {
      const File& file = *set->files_[shard_of_name[shard.get<std::string>()]];
      if (!file.find(tensor))
        fail(ErrorKind::kBadFile, "{}: tensor '{}' is mapped to {} but is not in it", path, tensor,
             file.path());
    }
  } else {
    set->files_.push_back(File::open(path));
  }
  for (const auto& file : set->files_) {
    for (const TensorInfo& info : file->tensors()) {
      if (!set->index_.emplace(info.name, set->entries_.size()).second)
        fail(ErrorKind::kBadFile, "{}: tensor '{}' is stored twice (also in {})", file->path(),
             info.name, set->entries_[set->index_[info.name]].file->path());
      set->entries_.push_back({file.get(), &info});
    }
  }
  return set;
}

const TensorSet::Entry* TensorSet::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Tensor TensorSet::tensor(const std::string& name) const {
  const Entry* e = find(name);
  if (!e) fail(ErrorKind::kBadFile, "{}: no tensor named '{}'", path_, name);
  return e->file->tensor(*e->info);
}

uint64_t TensorSet::total_file_bytes() const {
  uint64_t total = 0;
  for (const auto& f : files_) total += f->file_size();
  return total;
}

}  // namespace tessera::safetensors
