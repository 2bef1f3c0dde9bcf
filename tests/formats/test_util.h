// Helpers shared by the formats tests: fixture paths, whole-file reads, and
// a little GGUF writer for hand-made (often broken) files.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::testing {

inline std::string fixture(const std::string& name) {
  return std::string(TESSERA_SOURCE_DIR) + "/tests/data/formats/" + name;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

// The default model, or "" when it has not been fetched.
inline std::string default_model_path() {
  const char* env = std::getenv("TESSERA_MODELS");
  std::string dir = env && *env ? env
                                : std::string(std::getenv("HOME") ? std::getenv("HOME") : "") +
                                      "/.cache/tessera/models";
  std::string path = dir + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  return std::filesystem::exists(path) ? path : "";
}

// A fresh temporary directory, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tessera-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Little-endian byte writer for hand-made GGUF images.
class Bytes {
 public:
  template <typename T>
  Bytes& put(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    data.insert(data.end(), b, b + sizeof(T));
    return *this;
  }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    data.insert(data.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const std::string& s) {
    data.insert(data.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& pad_to(size_t alignment) {
    while (data.size() % alignment) data.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    data.insert(data.end(), n, 0);
    return *this;
  }
  // "GGUF", version, counts.
  Bytes& header(uint32_t version, uint64_t tensors, uint64_t kvs) {
    return raw("GGUF").u32(version).u64(tensors).u64(kvs);
  }
  // Key + u32 value (type 4).
  Bytes& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
  Bytes& kv_string(const std::string& key, const std::string& v) { return str(key).u32(8).str(v); }
  // name, dims (innermost first), type, offset
  Bytes& tensor_info(const std::string& name, std::vector<uint64_t> dims, uint32_t type,
                     uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) u64(d);
    return u32(type).u64(offset);
  }

  std::vector<uint8_t> data;
};

}  // namespace tessera::testing
