#include <random>

#include "tessera/engine/sampler.h"

namespace tessera {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> key) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // the key advances before every round but the first
      key[0] += kWeyl0;
      key[1] += kWeyl1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ key[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ key[1], static_cast<uint32_t>(p0)};
  }
  return c;
}

double RequestRng::next_uniform() {
  const auto lo = [](uint64_t v) { return static_cast<uint32_t>(v); };
  const auto hi = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  const auto r =
      philox4x32({lo(counter_), hi(counter_), lo(stream_), hi(stream_)}, {lo(seed_), hi(seed_)});
  ++counter_;
  const uint64_t bits = ((static_cast<uint64_t>(r[0]) << 32) | r[1]) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

RequestRng RequestRng::for_request(const SamplingParams& params, uint64_t stream,
                                   SeedGenerator* seeds) {
  if (params.seed) return RequestRng(static_cast<uint64_t>(*params.seed), stream);
  return RequestRng(seeds ? seeds->next() : draw_random_seed(), stream);
}

uint64_t SeedGenerator::next() {
  uint64_t z =
      state_.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t draw_random_seed() {
  static SeedGenerator global([] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }());
  return global.next();
}

}  // namespace tessera
