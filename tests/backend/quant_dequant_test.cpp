// Reference dequantizers vs the `gguf` Python package, bit for bit. The
// fixture comes from scripts/make_dequant_reference.py; the pytest
// tests/python/test_dequant_fresh.py makes a fresh one and points
// TESSERA_DEQUANT_FIXTURE at it.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "tessera/backend/quant.h"
#include "tessera/core/error.h"

namespace tessera {
namespace {

struct Entry {
  DType type;
  uint32_t n;
  std::vector<uint8_t> raw;
  std::vector<float> expected;
};

uint32_t read_u32(const std::vector<uint8_t>& buf, size_t& pos) {
  uint32_t v;
  if (pos + 4 > buf.size()) throw std::runtime_error("fixture truncated");
  std::memcpy(&v, buf.data() + pos, 4);
  pos += 4;
  return v;
}

std::vector<Entry> load_fixture(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (buf.size() < 12 || std::memcmp(buf.data(), "TSDQ", 4) != 0)
    throw std::runtime_error("not a dequant fixture: " + path);
  size_t pos = 4;
  if (read_u32(buf, pos) != 1) throw std::runtime_error("fixture version");
  const uint32_t count = read_u32(buf, pos);
  std::vector<Entry> entries;
  for (uint32_t i = 0; i < count; ++i) {
    Entry e;
    const uint32_t ggml = read_u32(buf, pos);
    const auto type = dtype_from_ggml(ggml);
    if (!type) throw std::runtime_error("unknown ggml type " + std::to_string(ggml));
    e.type = *type;
    e.n = read_u32(buf, pos);
    const uint32_t nbytes = read_u32(buf, pos);
    if (pos + nbytes + size_t(e.n) * 4 > buf.size()) throw std::runtime_error("fixture truncated");
    e.raw.assign(buf.begin() + pos, buf.begin() + pos + nbytes);
    pos += nbytes;
    e.expected.resize(e.n);
    std::memcpy(e.expected.data(), buf.data() + pos, size_t(e.n) * 4);
    pos += size_t(e.n) * 4;
    entries.push_back(std::move(e));
  }
  return entries;
}

void check_entries(const std::vector<Entry>& entries) {
  std::set<DType> seen;
  for (const Entry& e : entries) {
    SCOPED_TRACE(std::string(dtype_name(e.type)));
    seen.insert(e.type);
    ASSERT_EQ(e.raw.size(), row_bytes(e.type, e.n));
    // Whole buffer at once, and row by row in pieces of one block.
    std::vector<float> got(e.n, -12345.0f);
    cpu::dequantize_row(e.type, e.raw.data(), got.data(), e.n);
    size_t mismatches = 0;
    for (uint32_t i = 0; i < e.n; ++i) {
      if (std::bit_cast<uint32_t>(got[i]) != std::bit_cast<uint32_t>(e.expected[i])) {
        if (mismatches++ < 5)
          ADD_FAILURE() << "element " << i << ": got " << got[i] << " expected " << e.expected[i];
      }
    }
    EXPECT_EQ(mismatches, 0u);
    const int block = dtype_info(e.type).block_size, bytes = dtype_info(e.type).block_bytes;
    std::vector<float> one(block);
    for (uint32_t b = 0; b < e.n / block; b += 7) {
      cpu::dequantize_row(e.type, e.raw.data() + size_t(b) * bytes, one.data(), block);
      EXPECT_EQ(std::memcmp(one.data(), e.expected.data() + size_t(b) * block, block * 4), 0)
          << "block " << b;
    }
  }
  const std::set<DType> all = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                               DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  EXPECT_EQ(seen, all);
}

TEST(DequantReference, MatchesGgufBitExact) {
  check_entries(load_fixture(std::string(TESSERA_SOURCE_DIR) + "/tests/data/dequant_ref.bin"));
}

// Used by tests/python/test_dequant_fresh.py with freshly generated blocks.
TEST(DequantReference, FixtureFromEnvironment) {
  const char* path = std::getenv("TESSERA_DEQUANT_FIXTURE");
  if (!path) GTEST_SKIP() << "TESSERA_DEQUANT_FIXTURE not set";
  check_entries(load_fixture(path));
}

TEST(DequantReference, RejectsPartialBlocks) {
  std::vector<uint8_t> raw(64);
  std::vector<float> out(64);
  EXPECT_THROW(cpu::dequantize_row(DType::kQ4_0, raw.data(), out.data(), 31), Error);
  EXPECT_THROW(cpu::dequantize_row(DType::kI32, raw.data(), out.data(), 4), Error);
}

}  // namespace
}  // namespace tessera
