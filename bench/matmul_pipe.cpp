// cpu::matmul behind a pipe, so Python scripts can run tessera's matmul
// kernels inside a numpy forward pass (tests/python/test_f32act_logits.py
// measures what each activation precision does to a real model's logits).
//
// Protocol on stdin (little-endian, one request after another):
//   "W <name> <dtype> <N> <K>\n" + the weight's bytes (N rows of GGUF blocks)
//       stores weight <name> (prepared with cpu::prepare_weight); no reply.
//   "M <name> <T> <f32|int8>\n" + T*K float32 activations
//       replies T*N float32 outputs on stdout.
//   "Q\n" ends the program.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "tessera/backend/quant.h"
#include "tessera/core/error.h"

namespace {

bool read_exact(void* dst, size_t n) { return std::fread(dst, 1, n, stdin) == n; }

}  // namespace

int main() {
  std::map<std::string, tessera::Tensor> weights;
  char line[256];
  while (std::fgets(line, sizeof line, stdin)) {
    char op = 0, name[32] = {0}, id[128] = {0};
    long a = 0, b = 0;
    if (std::sscanf(line, "W %127s %31s %ld %ld", id, name, &a, &b) == 4) {
      const auto type = tessera::dtype_from_name(name);
      if (!type) {
        std::fprintf(stderr, "unknown dtype %s\n", name);
        return 2;
      }
      tessera::Tensor w = tessera::Tensor::empty(*type, {a, b});
      if (!read_exact(w.data(), w.nbytes())) return 2;
      weights[id] = tessera::cpu::prepare_weight(w);
    } else if (std::sscanf(line, "M %127s %ld %31s", id, &a, name) == 3) {
      const auto it = weights.find(id);
      if (it == weights.end()) return 2;
      const tessera::Tensor& w = it->second;
      const int64_t T = a, N = w.dim(0), K = w.dim(1);
      tessera::cpu::set_activation_precision(std::strcmp(name, "int8") == 0
                                                 ? tessera::cpu::ActivationPrecision::kInt8
                                                 : tessera::cpu::ActivationPrecision::kFloat);
      std::vector<float> x(size_t(T * K)), out(size_t(T * N));
      if (!read_exact(x.data(), x.size() * 4)) return 2;
      try {
        tessera::cpu::matmul(x.data(), T, K, w, out.data(), N);
      } catch (const tessera::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
      }
      std::fwrite(out.data(), 4, out.size(), stdout);
      std::fflush(stdout);
    } else if (std::sscanf(line, " %c", &op) == 1 && op == 'Q') {
      return 0;
    } else {
      std::fprintf(stderr, "bad request: %s", line);
      return 2;
    }
  }
  return 0;
}
