#include "tessera/model/model.h"

#include "llama.h"
#include "tessera/core/error.h"
#include "tessera/model/weight_source.h"

namespace tessera {

std::unique_ptr<Model> Model::load(const WeightSource& source, Backend& backend) {
  const std::string& arch = source.config().architecture;
  // Architectures that are Llama in all that the forward pass sees.
  if (arch == "llama" || arch == "mistral") return std::make_unique<LlamaModel>(source, backend);
  fail(ErrorKind::kUnsupported, "model architecture '{}' is not supported (supported: llama)",
       arch);
}

}  // namespace tessera
