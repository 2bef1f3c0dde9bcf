// Broken and hostile GGUF images: each must raise Error(kBadFile) with a
// useful reason, and none may crash or read out of bounds (run this suite
// under -DTESSERA_SANITIZE=ON to check the latter).
#include <gtest/gtest.h>

#include <string>

#include "tessera/core/error.h"
#include "tessera/formats/gguf.h"
#include "test_util.h"

namespace tessera {
namespace {

using testing::Bytes;

// Touches everything a successful parse exposes, so the sanitizers see any
// dangling or out-of-range view.
uint64_t walk(const gguf::File& file) {
  uint64_t sum = 0;
  for (const auto& [key, value] : file.metadata()) {
    sum += key.size();
    if (const auto* s = value.as_string()) sum += s->size();
    if (const auto* a = value.as_array()) sum += a->size();
  }
  for (const gguf::TensorInfo& info : file.tensors()) {
    if (!info.supported) continue;
    Tensor t = file.tensor(info);
    const auto* p = static_cast<const uint8_t*>(t.data());
    for (size_t i = 0; i < t.nbytes(); ++i) sum += p[i];
  }
  return sum;
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    walk(*gguf::File::parse(bytes.data(), bytes.size(), nullptr, "x.gguf"));
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadFile) << e.what();
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("x.gguf: ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  return "";
}

#define EXPECT_BAD(bytes, fragment)                                               \
  do {                                                                            \
    const std::string msg_ = parse_error(bytes);                                  \
    EXPECT_NE(msg_.find(fragment), std::string::npos) << "got: '" << msg_ << "'"; \
  } while (0)

TEST(GgufHostile, EveryTruncationFails) {
  const std::vector<uint8_t> full = testing::read_bytes(testing::fixture("all_types_v3.gguf"));
  const auto ref = testing::read_json(testing::fixture("all_types_v3.json"));
  const size_t data_end = ref["data_end"];
  ASSERT_GT(full.size(), data_end);
  for (size_t n = 0; n < full.size(); ++n) {
    // A copy of exactly n bytes, so ASan catches any read past the end.
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < data_end) {
      EXPECT_NE(parse_error(cut), "") << "truncated at " << n << " was accepted";
    } else {  // only trailing padding is missing: still a complete file
      EXPECT_EQ(parse_error(cut), "") << n;
    }
  }
}

TEST(GgufHostile, CorruptBytesNeverCrash) {
  const std::vector<uint8_t> full = testing::read_bytes(testing::fixture("all_types_v3.gguf"));
  const auto ref = testing::read_json(testing::fixture("all_types_v3.json"));
  const size_t header_end = ref["data_offset"];
  int rejected = 0, accepted = 0;
  for (size_t i = 0; i < header_end; ++i) {
    for (int variant = 0; variant < 4; ++variant) {
      std::vector<uint8_t> bad = full;
      const uint8_t b = bad[i];
      bad[i] = variant == 0 ? 0x00 : variant == 1 ? 0xff : variant == 2 ? b ^ 1 : b ^ 0x80;
      if (bad[i] == b) continue;
      try {
        walk(*gguf::File::parse(bad.data(), bad.size()));
        ++accepted;
      } catch (const Error& e) {
        // Unsupported tensor types come back as kUnsupported from tensor(); walk skips them.
        EXPECT_EQ(e.kind(), ErrorKind::kBadFile) << "offset " << i << ": " << e.what();
        ++rejected;
      }
    }
  }
  // Most header bytes matter; values inside strings and numbers do not.
  EXPECT_GT(rejected, 1000);
  EXPECT_GT(accepted, 100);
}

TEST(GgufHostile, Preamble) {
  EXPECT_BAD(std::vector<uint8_t>{}, "truncated: the magic needs 4 bytes");
  EXPECT_BAD(Bytes().raw("GGML").u32(3).data, "not a GGUF file (starts with 47 47 4d 4c");
  EXPECT_BAD(Bytes().raw("GGUF").data, "truncated: the version");
  EXPECT_BAD(Bytes().header(1, 0, 0).data, "GGUF v1 is not supported");
  EXPECT_BAD(Bytes().raw("GGUF").u32(3u << 24).u64(0).u64(0).data, "big-endian");
  EXPECT_BAD(Bytes().header(4, 0, 0).data, "unsupported GGUF version 4");
  EXPECT_BAD(Bytes().header(3, 0, 1ull << 40).data, "metadata count 1099511627776 does not fit");
  EXPECT_BAD(Bytes().header(3, 1ull << 62, 0).data, "exceeds the limit");
  EXPECT_BAD(Bytes().header(3, 1000, 0).zeros(100).data, "tensor count 1000 does not fit");
  EXPECT_EQ(parse_error(Bytes().header(3, 0, 0).data), "");  // empty but valid
}

TEST(GgufHostile, StringsAndKeys) {
  EXPECT_BAD(Bytes().header(3, 0, 1).u64(1ull << 63).zeros(8).data, "a metadata key is");
  EXPECT_BAD(Bytes().header(3, 0, 1).str("k").u32(8).u64(1ull << 62).zeros(8).data,
             "k is 4611686018427387904 bytes long");
  EXPECT_BAD(Bytes().header(3, 0, 1).str("k").u32(8).u64(100).raw("short").data,
             "truncated: k needs 100 bytes");
  EXPECT_BAD(Bytes().header(3, 0, 1).str("").u32(4).u32(0).data, "empty metadata key");
  EXPECT_BAD(Bytes().header(3, 0, 2).kv_u32("a", 1).kv_u32("a", 2).data,
             "metadata key 'a' appears twice");
  EXPECT_BAD(Bytes().header(3, 0, 1).str("k").u32(13).u64(0).data, "'k' has unknown value type 13");
  EXPECT_BAD(Bytes().header(3, 0, 1).str("k").u32(7).put<uint8_t>(2).zeros(8).data, "bool value 2");
}

TEST(GgufHostile, Arrays) {
  auto array_kv = [](uint32_t elem, uint64_t count) {
    return std::move(Bytes().header(3, 0, 1).str("arr").u32(9).u32(elem).u64(count));
  };
  EXPECT_BAD(array_kv(4, 1ull << 40).zeros(64).data, "'arr' declares 1099511627776 array");
  EXPECT_BAD(array_kv(4, 1ull << 20).zeros(64).data, "truncated: arr needs 4194304 bytes");
  EXPECT_BAD(array_kv(8, 1000).zeros(64).data, "truncated");
  EXPECT_BAD(array_kv(99, 1).zeros(64).data, "'arr' has arrays of unknown type 99");
  // An empty array is fine.
  Bytes empty = array_kv(8, 0);
  auto file = gguf::File::parse(empty.data.data(), empty.data.size());
  EXPECT_TRUE(file->get_string_array("arr").empty());
  EXPECT_EQ(file->find("arr")->as_array()->size(), 0u);

  // Nesting deeper than the limit.
  Bytes deep = Bytes().header(3, 0, 1).str("deep").u32(9);
  for (int i = 0; i < gguf::kMaxArrayDepth; ++i) deep.u32(9).u64(1);
  deep.u32(4).u64(1).u32(7);
  EXPECT_BAD(deep.data, "'deep' nests arrays deeper than 8");
  Bytes ok = Bytes().header(3, 0, 1).str("deep").u32(9);
  for (int i = 0; i < gguf::kMaxArrayDepth - 1; ++i) ok.u32(9).u64(1);
  ok.u32(4).u64(1).u32(7);
  EXPECT_EQ(parse_error(ok.data), "");

  // The limit on all values together: two arrays that each fit alone.
  const uint64_t half = gguf::kMaxMetadataValues / 2 + 1;
  Bytes two = Bytes().header(3, 0, 2);
  two.str("a").u32(9).u32(0).u64(half).zeros(half);
  two.str("b").u32(9).u32(0).u64(half).zeros(half);
  EXPECT_BAD(two.data, "'b' declares");
}

TEST(GgufHostile, Alignment) {
  auto with = [](Bytes value) {
    Bytes b = Bytes().header(3, 0, 1).str("general.alignment");
    b.data.insert(b.data.end(), value.data.begin(), value.data.end());
    return b.data;
  };
  EXPECT_BAD(with(Bytes().u32(4).u32(0)), "general.alignment 0 is not a power of two");
  EXPECT_BAD(with(Bytes().u32(4).u32(48)), "general.alignment 48 is not a power of two");
  EXPECT_BAD(with(Bytes().u32(4).u32(1u << 30)), "is not a power of two up to");
  EXPECT_BAD(with(Bytes().u32(8).str("32")), "general.alignment is string, expected an integer");
  EXPECT_EQ(parse_error(with(Bytes().u32(4).u32(256))), "");
}

// One F32 tensor of `dims` at `offset`, with `data_bytes` of data after the
// 32-byte-aligned header.
std::vector<uint8_t> one_tensor(std::vector<uint64_t> dims, uint32_t type, uint64_t offset,
                                size_t data_bytes) {
  Bytes b = Bytes().header(3, 1, 0).tensor_info("t", std::move(dims), type, offset);
  b.pad_to(32).zeros(data_bytes);
  return b.data;
}

TEST(GgufHostile, TensorInfos) {
  EXPECT_EQ(parse_error(one_tensor({4, 2}, 0, 0, 32)), "");
  EXPECT_BAD(one_tensor({}, 0, 0, 32), "tensor 't' has 0 dims");
  EXPECT_BAD(one_tensor({1, 1, 1, 1, 1}, 0, 0, 32), "tensor 't' has 5 dims");
  EXPECT_BAD(one_tensor({1ull << 32, 1ull << 32}, 0, 0, 32), "tensor 't' has too many elements");
  EXPECT_BAD(one_tensor({1ull << 63}, 0, 0, 32), "tensor 't' has too many elements");
  // A zero dim must not hide an overflow in the others (the row count would wrap).
  EXPECT_BAD(one_tensor({0, 1ull << 33, 1ull << 33}, 0, 0, 32), "tensor 't' has too many elements");
  EXPECT_EQ(parse_error(one_tensor({4, 0, 2}, 0, 0, 32)), "");
  EXPECT_BAD(one_tensor({1ull << 61}, 0, 0, 32), "'t' (9223372036854775808 bytes");
  EXPECT_BAD(one_tensor({31, 2}, 3, 0, 64), "row of 31 elements is not a multiple of the Q4_1");
  EXPECT_BAD(one_tensor({4, 2}, 0, 16, 64), "'t' at data offset 16 is not aligned to 32");
  EXPECT_BAD(one_tensor({4, 2}, 0, 0, 31), "'t' (32 bytes at data offset 0) lies outside");
  EXPECT_BAD(one_tensor({4, 2}, 0, ~uint64_t{31}, 64), "lies outside");
  EXPECT_BAD(Bytes().header(3, 1, 0).str("").u32(1).u64(1).u32(0).u64(0).zeros(32).data,
             "empty tensor name");
  // Two tensors that share bytes, and two with one name.
  Bytes overlap = Bytes().header(3, 2, 0);
  overlap.tensor_info("a", {16}, 0, 0).tensor_info("b", {8}, 0, 32).pad_to(32).zeros(96);
  EXPECT_BAD(overlap.data, "tensors 'a' and 'b' overlap");
  Bytes twice = Bytes().header(3, 2, 0);
  twice.tensor_info("a", {8}, 0, 0).tensor_info("a", {8}, 0, 32).pad_to(32).zeros(64);
  EXPECT_BAD(twice.data, "tensor 'a' appears twice");
}

TEST(GgufHostile, UnknownGgmlTypeIsRecordedNotFatal) {
  std::vector<uint8_t> bytes = one_tensor({8}, 1000, 0, 32);
  auto file = gguf::File::parse(bytes.data(), bytes.size(), nullptr, "x.gguf");
  const gguf::TensorInfo& info = file->tensors().at(0);
  EXPECT_FALSE(info.supported);
  EXPECT_EQ(info.type_name, "type 1000");
  try {
    file->tensor(info);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
    EXPECT_NE(std::string(e.what()).find("'t' has GGML type type 1000"), std::string::npos);
  }
  // Still must start inside the file.
  EXPECT_BAD(one_tensor({8}, 1000, 32, 32), "starts past the end");
  EXPECT_BAD(one_tensor({8}, 1000, 64, 32), "lies outside");
}

}  // namespace
}  // namespace tessera
