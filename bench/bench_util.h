// Small helpers shared by the benchmark programs: the machine's name, the
// date, a memory-bandwidth probe and a timer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

namespace tessera::bench {

inline std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

inline std::string today() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best-of-5 memcpy of a buffer far larger than the caches, bytes read plus
// written per second: the ceiling for streaming weights.
inline double copy_bandwidth() {
  const size_t n = size_t(512) << 20;
  std::vector<char> a(n, 1), b(n, 2);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(b.data(), a.data(), n);
    best = std::max(best, 2.0 * double(n) / seconds_since(t0));
    std::swap(a, b);
  }
  return best;
}

}  // namespace tessera::bench
