// libFuzzer entry for the safetensors reader: any input must parse or raise
// tessera::Error, and every tensor of a parsed file must lie in the input.
#include <cstddef>
#include <cstdint>

#include "tessera/core/error.h"
#include "tessera/formats/safetensors.h"

using namespace tessera;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::shared_ptr<safetensors::File> file;
  try {
    file = safetensors::File::parse(data, size);
  } catch (const Error&) {
    return 0;
  }
  volatile uint64_t sink = 0;
  for (const safetensors::TensorInfo& info : file->tensors()) {
    try {
      Tensor t = file->tensor(info);
      const auto* p = static_cast<const uint8_t*>(t.data());
      if (t.nbytes() > 0) sink = sink + p[0] + p[t.nbytes() - 1];
    } catch (const Error&) {
    }
  }
  return 0;
}
