// libFuzzer entry for the GGUF reader: any input must parse or raise
// tessera::Error; what parses must be safe to walk, and the config reader
// must cope with whatever metadata it holds.
#include <cstddef>
#include <cstdint>

#include "tessera/core/error.h"
#include "tessera/formats/gguf.h"
#include "tessera/model/model_config.h"

using namespace tessera;

namespace {

uint64_t walk_value(const gguf::Value& v) {
  uint64_t sum = static_cast<uint64_t>(v.type);
  if (auto i = v.as_int()) sum += static_cast<uint64_t>(*i);
  if (auto f = v.as_float()) sum += *f != 0.0;
  if (const std::string* s = v.as_string()) sum += s->size();
  if (const gguf::Array* a = v.as_array())
    for (const gguf::Value& item : *a) sum += walk_value(item);
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<gguf::File> file;
  try {
    file = gguf::File::parse(data, size);
  } catch (const Error&) {
    return 0;
  }
  volatile uint64_t sink = 0;
  for (const auto& [key, value] : file->metadata()) sink = sink + walk_value(value);
  for (const gguf::TensorInfo& info : file->tensors()) {
    try {
      Tensor t = file->tensor(info);
      const auto* p = static_cast<const uint8_t*>(t.data());
      if (t.nbytes() > 0) sink = sink + p[0] + p[t.nbytes() - 1];
    } catch (const Error&) {
    }
  }
  try {
    ModelConfig config = config_from_gguf(*file);
    sink = sink + static_cast<uint64_t>(config.vocab_size);
  } catch (const Error&) {
  }
  return 0;
}
