// Finds a model by short name or path and serves its weights under the
// canonical (GGUF) names, from a GGUF file or an HF safetensors folder.
#include "tessera/model/weight_source.h"

#include <cstdlib>
#include <filesystem>

#include "tessera/core/error.h"
#include "tessera/core/mapped_file.h"
#include "tessera/formats/gguf.h"
#include "tessera/formats/hf_names.h"
#include "tessera/formats/safetensors.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;

struct ShortName {
  const char* name;
  const char* file;
};
// Models scripts/fetch-model.sh knows how to fetch.
constexpr ShortName kShortNames[] = {
    {"smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf"},
};

std::string known_short_names() {
  std::string s;
  for (const ShortName& n : kShortNames) s += (s.empty() ? "" : ", ") + std::string(n.name);
  return s;
}

// The embedding's row count is the logits width: it must match the config.
void check_vocab(const WeightSource& source) {
  const WeightInfo* embd = source.find("token_embd.weight");
  if (embd && embd->shape.size() == 2 && embd->shape[0] != source.config().vocab_size)
    fail(ErrorKind::kBadFile, "{}: token_embd.weight has {} rows but vocab_size is {}",
         source.path(), embd->shape[0], source.config().vocab_size);
}

class GgufSource : public WeightSource {
 public:
  explicit GgufSource(const std::string& path) {
    file_ = gguf::File::open(path);
    format_ = Format::kGguf;
    path_ = path;
    file_bytes_ = file_->file_size();
    config_ = config_from_gguf(*file_);
    for (const gguf::TensorInfo& t : file_->tensors()) {
      add_tensor(
          {t.name, t.name, t.type_name, t.supported, t.dtype, t.shape, t.num_elements, t.nbytes});
    }
    check_vocab(*this);
  }

  Tensor tensor(const std::string& name) const override { return file_->tensor(name); }
  std::shared_ptr<const gguf::File> gguf_file() const override { return file_; }

 private:
  std::shared_ptr<gguf::File> file_;
};

std::string read_text(const std::string& path) {
  std::shared_ptr<MappedFile> f = MappedFile::open(path);
  if (f->size() > (size_t{16} << 20)) fail(ErrorKind::kBadFile, "{}: too large", path);
  return std::string(reinterpret_cast<const char*>(f->data()), f->size());
}

class HfSource : public WeightSource {
 public:
  explicit HfSource(const std::string& folder) {
    format_ = Format::kHfFolder;
    path_ = folder;
    hf_folder_ = folder;
    const fs::path dir(folder);
    const fs::path config = dir / "config.json";
    if (!fs::is_regular_file(config))
      fail(ErrorKind::kNotFound, "{}: no config.json in this folder (an HF model folder needs one)",
           folder);
    config_ = config_from_hf_json(read_text(config.string()), config.string());

    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::is_regular_file(index)) {
      set_ = safetensors::TensorSet::open(index.string());
    } else if (fs::is_regular_file(single)) {
      set_ = safetensors::TensorSet::open(single.string());
    } else {
      fail(ErrorKind::kNotFound, "{}: neither model.safetensors nor model.safetensors.index.json",
           folder);
    }
    file_bytes_ = set_->total_file_bytes();
    for (const safetensors::TensorSet::Entry& e : set_->tensors()) {
      const safetensors::TensorInfo& t = *e.info;
      const std::string canonical = hf::canonical_name(t.name).value_or(t.name);
      int64_t numel = 1;
      for (int64_t d : t.shape) numel *= d;  // checked against the byte size by the reader
      stored_name_[canonical] = t.name;
      add_tensor(
          {canonical, t.name, t.dtype_name, t.supported, t.dtype, t.shape, numel, t.end - t.begin});
    }
    check_vocab(*this);
  }

  Tensor tensor(const std::string& name) const override {
    auto it = stored_name_.find(name);
    if (it == stored_name_.end())
      fail(ErrorKind::kBadFile, "{}: no tensor '{}' (HF name {})", path_, name,
           hf::hf_name(name).value_or("unknown"));
    return set_->tensor(it->second);
  }

 private:
  std::shared_ptr<safetensors::TensorSet> set_;
  std::map<std::string, std::string> stored_name_;  // canonical -> stored
};

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::string WeightSource::models_dir() {
  const char* env = std::getenv("TESSERA_MODELS");
  if (env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/tessera/models";
}

std::string WeightSource::resolve(const std::string& model) {
  if (model.empty()) fail(ErrorKind::kInvalidArgument, "no model given");
  std::error_code ec;
  if (fs::exists(model, ec)) return model;
  for (const ShortName& n : kShortNames) {
    if (model != n.name) continue;
    const std::string path = models_dir() + "/" + n.file;
    if (!fs::exists(path, ec))
      fail(ErrorKind::kNotFound,
           "model '{}' is not downloaded (looked for {}); scripts/fetch-model.sh {} fetches it",
           model, path, model);
    return path;
  }
  if (model.find('/') != std::string::npos || has_suffix(model, ".gguf"))
    fail(ErrorKind::kNotFound, "no such model file or folder: {}", model);
  fail(ErrorKind::kNotFound,
       "unknown model '{}' (known names: {}; or give a .gguf file or an HF folder); "
       "scripts/fetch-model.sh fetches the default",
       model, known_short_names());
}

std::unique_ptr<WeightSource> WeightSource::open(const std::string& model) {
  const std::string path = resolve(model);
  if (fs::is_directory(path)) return std::make_unique<HfSource>(path);
  if (has_suffix(path, ".safetensors") || has_suffix(path, ".json"))
    fail(ErrorKind::kInvalidArgument,
         "{}: give the HF model folder (with config.json), not one of its files", path);
  return std::make_unique<GgufSource>(path);
}

void WeightSource::add_tensor(WeightInfo info) {
  const std::string name = info.name;
  if (!index_.emplace(name, tensors_.size()).second)
    fail(ErrorKind::kBadFile, "{}: two tensors map to '{}'", path_, name);
  tensors_.push_back(std::move(info));
}

bool WeightSource::has_tensor(const std::string& name) const { return index_.count(name) != 0; }

const WeightInfo* WeightSource::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::vector<std::string> WeightSource::missing_tensors() const {
  std::vector<std::string> wanted = {"token_embd.weight", "output_norm.weight"};
  if (!config_.tie_word_embeddings) wanted.push_back("output.weight");
  for (int l = 0; l < config_.num_layers; ++l) {
    for (const char* t : {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                          "ffn_gate", "ffn_up", "ffn_down"})
      wanted.push_back(fmt::format("blk.{}.{}.weight", l, t));
  }
  std::vector<std::string> missing;
  for (const std::string& name : wanted)
    if (!has_tensor(name)) missing.push_back(name);
  return missing;
}

}  // namespace tessera
