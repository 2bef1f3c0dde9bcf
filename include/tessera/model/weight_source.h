// Where a model's config and weights come from: a GGUF file, an HF folder
// (config.json + model.safetensors or a sharded model.safetensors.index.json),
// or random ("dummy") weights for the shapes a config.json describes.
// Tensors are named the GGUF way whatever the source (token_embd.weight,
// blk.N.attn_q.weight, ...; output.weight is absent when embeddings are
// tied), and are views of the memory-mapped files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tessera/core/tensor.h"
#include "tessera/model/model_config.h"

namespace tessera {

namespace gguf {
class File;
}

struct WeightInfo {
  std::string name;         // canonical (GGUF) name
  std::string stored_name;  // as in the file (the HF name for HF folders)
  std::string type_name;    // "Q4_1", "BF16", "I64", ...
  bool supported = true;    // false: tensor(name) throws Error(kUnsupported)
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // outermost first
  int64_t num_elements = 0;
  uint64_t nbytes = 0;
};

class WeightSource {
 public:
  enum class Format { kGguf, kHfFolder, kDummy };

  // `model` is a short name (smollm2-135m, looked up in $TESSERA_MODELS or
  // ~/.cache/tessera/models), a .gguf file, or an HF folder. Unknown names
  // and missing files: Error(kNotFound) saying where it looked; malformed
  // files: Error(kBadFile).
  static std::unique_ptr<WeightSource> open(const std::string& model);
  // Random BF16 weights (like vLLM's --load-format dummy) for the model an
  // HF config.json describes: `model` is that file or a folder holding one.
  // Each tensor is made when asked for (values uniform with standard
  // deviation 0.02, the same for the same name every time; norm weights 1),
  // so the host never holds the whole model. See dummy_weights.cpp.
  static std::unique_ptr<WeightSource> open_dummy(const std::string& model);
  // The file or folder `model` names (the same lookup open() does).
  static std::string resolve(const std::string& model);
  // $TESSERA_MODELS, or ~/.cache/tessera/models.
  static std::string models_dir();

  virtual ~WeightSource() = default;

  Format format() const { return format_; }
  const std::string& path() const { return path_; }  // the .gguf file or the folder
  const ModelConfig& config() const { return config_; }

  bool has_tensor(const std::string& name) const;
  // Error(kBadFile) naming the tensor when absent; Error(kUnsupported) when
  // its type is one tessera cannot use.
  virtual Tensor tensor(const std::string& name) const = 0;
  const std::vector<WeightInfo>& tensors() const { return tensors_; }
  const WeightInfo* find(const std::string& name) const;
  // Tensors the config's layout needs that the source lacks (empty when
  // complete), for `info` and early error messages.
  std::vector<std::string> missing_tensors() const;

  // Bytes on disk of the weight files.
  uint64_t file_bytes() const { return file_bytes_; }
  // The GGUF file (tokenizer.ggml.* metadata lives there); null for folders.
  virtual std::shared_ptr<const gguf::File> gguf_file() const { return nullptr; }
  // The HF folder (tokenizer.json, tokenizer_config.json); empty for GGUF.
  const std::string& hf_folder() const { return hf_folder_; }

 protected:
  WeightSource() = default;
  void add_tensor(WeightInfo info);

  Format format_ = Format::kGguf;
  std::string path_;
  std::string hf_folder_;
  ModelConfig config_;
  uint64_t file_bytes_ = 0;

 private:
  std::vector<WeightInfo> tensors_;
  std::map<std::string, size_t> index_;  // name -> tensors_ index
};

}  // namespace tessera
