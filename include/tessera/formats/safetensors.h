// safetensors reader: one file (8-byte header length, JSON header, data), or
// a sharded set named by model.safetensors.index.json. Tensors are views of
// the memory-mapped files. Every offset and shape is checked against the
// file; a malformed one raises Error(kBadFile, "<path>: <reason>").
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/mapped_file.h"
#include "tessera/core/tensor.h"

namespace tessera::safetensors {

// The header may not be larger than this (the format's own limit).
inline constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

struct TensorInfo {
  std::string name;
  std::string dtype_name;  // as in the file: "F32", "BF16", "I64", ...
  // False for dtypes other than F32/F16/BF16: `dtype` is then meaningless
  // and tensor() throws Error(kUnsupported).
  bool supported = true;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte range in the data buffer (after the header)
  uint64_t end = 0;
};

class File {
 public:
  static std::shared_ptr<File> open(const std::string& path);
  // Parses bytes someone else owns; `name` stands in for the path in errors.
  static std::shared_ptr<File> parse(const uint8_t* data, size_t size,
                                     std::shared_ptr<void> keep_alive = nullptr,
                                     std::string name = "<memory>");

  const std::string& path() const { return path_; }
  size_t file_size() const { return size_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // A view into the mapping; Error(kUnsupported) for other dtypes.
  Tensor tensor(const TensorInfo& info) const;
  // The "__metadata__" string map.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  File() = default;
  friend class HeaderParser;
  std::string path_;
  const uint8_t* data_ = nullptr;  // start of the data buffer
  size_t size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::shared_ptr<void> keep_alive_;
};

// All tensors of a model stored as one file or as shards.
class TensorSet {
 public:
  // `path` is a .safetensors file or a model.safetensors.index.json whose
  // weight_map names shards in the same folder.
  static std::shared_ptr<TensorSet> open(const std::string& path);

  struct Entry {
    const File* file;
    const TensorInfo* info;
  };
  // In file order, shard by shard.
  const std::vector<Entry>& tensors() const { return entries_; }
  const Entry* find(const std::string& name) const;
  // Error(kBadFile) naming the tensor when absent.
  Tensor tensor(const std::string& name) const;
  const std::vector<std::shared_ptr<File>>& files() const { return files_; }
  uint64_t total_file_bytes() const;

 private:
  std::vector<std::shared_ptr<File>> files_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;
  std::string path_;
};

}  // namespace tessera::safetensors
