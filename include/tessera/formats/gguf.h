// GGUF (v2, v3) reader over a memory-mapped file. Every offset and size is
// checked against the file: a truncated or hostile file raises
// Error(kBadFile, "<path>: <reason>"); nothing reads out of bounds, and
// limits on counts and lengths keep a hostile header from making us allocate
// more than a few hundred MB.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tessera/core/mapped_file.h"
#include "tessera/core/tensor.h"

namespace tessera::gguf {

enum class ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// Printable name of a value type ("u32", "string", "array", ...).
const char* value_type_name(ValueType t);

struct Value;
using Array = std::vector<Value>;
// Scalars widen to int64/uint64/double; the original type stays in `type`.
struct Value {
  ValueType type = ValueType::kU8;
  ValueType elem_type = ValueType::kU8;  // for arrays
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v;

  std::optional<int64_t> as_int() const;   // any integer type (u64 > INT64_MAX: nullopt)
  std::optional<double> as_float() const;  // any numeric type
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;
  const Array* as_array() const;
};

// Caps on what a header may declare (real models stay far below them).
inline constexpr uint64_t kMaxStringBytes = uint64_t{64} << 20;
inline constexpr uint64_t kMaxMetadataValues = uint64_t{1} << 22;  // all values, array elements too
inline constexpr int kMaxArrayDepth = 8;
inline constexpr uint64_t kMaxTensors = uint64_t{1} << 20;

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // GGUF order reversed: shape.back() is the innermost dim
  uint32_t ggml_type = 0;
  std::string type_name;  // "Q4_1"; "type 1234" for an id GGML does not define
  // False when tessera has no DType for ggml_type: `dtype` is then
  // meaningless and File::tensor() throws. Such tensors are fine as long as
  // nothing uses them.
  bool supported = true;
  DType dtype = DType::kF32;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t nbytes = 0;  // 0 when the type's size is unknown
  int64_t num_elements = 0;
};

class File {
 public:
  static std::shared_ptr<File> open(const std::string& path);
  // Parses bytes someone else owns (tests, fuzzing); `keep_alive` holds them.
  // `name` prefixes error messages in place of the path.
  static std::shared_ptr<File> parse(const uint8_t* data, size_t size,
                                     std::shared_ptr<void> keep_alive = nullptr,
                                     std::string name = "<memory>");

  const std::string& path() const { return path_; }
  size_t file_size() const { return size_; }
  uint64_t data_offset() const { return data_offset_; }  // where tensor data starts
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::map<std::string, Value>& metadata() const { return metadata_; }
  const Value* find(const std::string& key) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;
  // A view of the tensor's bytes in the mapping (row-major, innermost last).
  // Throws Error(kUnsupported) for a GGML type tessera has no DType for and
  // Error(kBadFile) for an id GGML does not define.
  Tensor tensor(const TensorInfo& info) const;
  // By name; Error(kBadFile) naming the tensor when it is absent.
  Tensor tensor(const std::string& name) const;

  // Typed metadata lookups: nullopt when absent; Error(kBadFile) when the
  // key is present with the wrong type.
  std::optional<int64_t> get_int(const std::string& key) const;
  std::optional<double> get_float(const std::string& key) const;
  std::optional<bool> get_bool(const std::string& key) const;
  std::optional<std::string> get_string(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;  // empty if absent
  std::vector<int64_t> get_int_array(const std::string& key) const;
  std::vector<double> get_float_array(const std::string& key) const;

 private:
  File() = default;
  friend class Parser;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint64_t data_offset_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, Value> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
  std::shared_ptr<void> keep_alive_;
};

}  // namespace tessera::gguf
