// The safetensors reader against files checked with the safetensors package
// (make_safetensors_fixtures.py, gguf_to_hf.py), and against broken ones.
#include "tessera/formats/safetensors.h"

#include <gtest/gtest.h>

#include "tessera/core/error.h"
#include "tessera/core/half.h"
#include "test_util.h"

namespace tessera {
namespace {

using testing::fixture;

float element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kF32:
      return t.data_as<float>()[i];
    case DType::kF16:
      return fp16_to_f32(t.data_as<uint16_t>()[i]);
    case DType::kBF16:
      return bf16_to_f32(t.data_as<uint16_t>()[i]);
    default:
      ADD_FAILURE() << "unexpected dtype";
      return 0;
  }
}

TEST(Safetensors, ReadsMixedFile) {
  const auto ref = testing::read_json(fixture("mixed.json"));
  auto file = safetensors::File::open(fixture("mixed.safetensors"));
  EXPECT_EQ(file->metadata(), (ref["metadata"].get<std::map<std::string, std::string>>()));
  ASSERT_EQ(file->tensors().size(), ref["tensors"].size());
  for (const auto& want : ref["tensors"]) {
    const std::string name = want["name"];
    const safetensors::TensorInfo* info = file->find(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->dtype_name, want["dtype"].get<std::string>());
    EXPECT_EQ(info->shape, want["shape"].get<std::vector<int64_t>>()) << name;
    if (info->dtype_name == "I64") {
      EXPECT_FALSE(info->supported);
      try {
        file->tensor(*info);
        FAIL();
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
        EXPECT_NE(std::string(e.what()).find("'d.i64' has dtype I64"), std::string::npos);
      }
      continue;
    }
    Tensor t = file->tensor(*info);
    const auto values = want["values"].get<std::vector<double>>();
    ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size())) << name;
    for (size_t i = 0; i < values.size(); ++i)
      EXPECT_EQ(element(t, static_cast<int64_t>(i)), static_cast<float>(values[i])) << name << i;
  }
}

TEST(Safetensors, EveryTruncationFails) {
  const std::vector<uint8_t> full = testing::read_bytes(fixture("mixed.safetensors"));
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(safetensors::File::parse(cut.data(), cut.size()), Error) << n;
  }
}

TEST(Safetensors, CorruptHeaderNeverCrashes) {
  const std::vector<uint8_t> full = testing::read_bytes(fixture("mixed.safetensors"));
  uint64_t header_len = 0;
  std::memcpy(&header_len, full.data(), 8);
  int accepted = 0;
  for (size_t i = 0; i < 8 + header_len; ++i) {
    for (uint8_t v : {uint8_t{0}, uint8_t{0xff}, uint8_t{'9'}, uint8_t{'"'}, uint8_t{']'}}) {
      std::vector<uint8_t> bad = full;
      bad[i] = v;
      try {
        auto file = safetensors::File::parse(bad.data(), bad.size());
        for (const auto& info : file->tensors())
          if (info.supported) (void)file->tensor(info).nbytes();
        ++accepted;
      } catch (const Error& e) {
        EXPECT_TRUE(e.kind() == ErrorKind::kBadFile || e.kind() == ErrorKind::kUnsupported);
      }
    }
  }
  EXPECT_GT(accepted, 0);
}

// The header padded with spaces so the data starts 8-aligned, as writers do.
std::vector<uint8_t> with_header(std::string json, size_t data_bytes = 16) {
  json.append((8 - json.size() % 8) % 8, ' ');
  testing::Bytes b;
  b.u64(json.size()).raw(json).zeros(data_bytes);
  return b.data;
}

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    auto file = safetensors::File::parse(bytes.data(), bytes.size(), nullptr, "m.safetensors");
    for (const auto& info : file->tensors()) file->tensor(info);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, HostileHeaders) {
  auto expect = [](const std::vector<uint8_t>& bytes, const std::string& fragment) {
    const std::string msg = error_of(bytes);
    EXPECT_NE(msg.find(fragment), std::string::npos) << "got '" << msg << "'";
  };
  testing::Bytes huge;
  huge.u64(1ull << 62).zeros(16);
  expect(huge.data, "header length 4611686018427387904 exceeds");
  testing::Bytes short_header;
  short_header.u64(100).raw("{}");
  expect(short_header.data, "truncated: header length 100 but only 2 bytes follow");
  expect(with_header("{\"a\": "), "not valid JSON");
  expect(with_header("[1, 2]"), "not a JSON object");
  expect(with_header(R"({"t": 5})"), "entry of tensor 't' is not an object");
  expect(with_header(R"({"t": {"shape": [1], "data_offsets": [0, 4]}})"), "'t' has no dtype");
  expect(with_header(R"({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})"),
         "shape entry that is not a size");
  expect(with_header(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})"),
         "lie outside");
  expect(with_header(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 400]}})"),
         "bytes [0, 400) lie outside the 16-byte data buffer");
  expect(with_header(R"({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})"),
         "'t' is 3 F32[[3]] elements but spans 8 bytes");
  expect(with_header(R"({"t": {"dtype": "F32", "shape": [4294967296, 4294967296],
                            "data_offsets": [0, 8]}})"),
         "too many elements");
  expect(with_header(R"({"t": {"dtype": "F32", "shape": [0, 4294967296, 4294967296],
                            "data_offsets": [0, 0]}})"),
         "too many elements");
  expect(with_header(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})"),
         "no [begin, end] data_offsets");
  expect(with_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})"),
         "tensors 'a' and 'b' overlap");
  expect(with_header(R"({"__metadata__": {"k": 1}})"), "__metadata__ value of 'k'");
  expect(with_header(R"({"t": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}})"),
         "not aligned");
  expect(with_header(R"({"t": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})"),
         "has dtype F8_E4M3 (supported: F32, F16, BF16)");
  EXPECT_EQ(error_of(with_header(R"({"t": {"dtype": "BF16", "shape": [2, 4],
                                           "data_offsets": [0, 16]}})")),
            "");
}

TEST(Safetensors, ShardedSet) {
  auto set =
      safetensors::TensorSet::open(fixture("tiny_llama_hf_sharded/model.safetensors.index.json"));
  EXPECT_EQ(set->files().size(), 3u);
  EXPECT_EQ(set->tensors().size(), 21u);
  Tensor t = set->tensor("model.layers.1.mlp.down_proj.weight");
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{32, 64}));
  EXPECT_THROW(set->tensor("nope"), Error);
}

TEST(Safetensors, BadIndexes) {
  testing::TempDir dir;
  auto open_index = [&](const std::string& text) -> std::string {
    testing::write_bytes(dir.file("index.json"), std::vector<uint8_t>(text.begin(), text.end()));
    try {
      safetensors::TensorSet::open(dir.file("index.json"));
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  // A shard holding one tensor "x".
  testing::write_bytes(
      dir.file("s1.safetensors"),
      with_header(R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 8));
  EXPECT_EQ(open_index(R"({"weight_map": {"x": "s1.safetensors"}})"), "");
  EXPECT_NE(open_index("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(open_index(R"({"metadata": {}})").find("no \"weight_map\""), std::string::npos);
  EXPECT_NE(open_index(R"({"weight_map": {"x": "../s1.safetensors"}})").find("not a file name"),
            std::string::npos);
  EXPECT_NE(
      open_index(R"({"weight_map": {"y": "s1.safetensors"}})").find("tensor 'y' is mapped to"),
      std::string::npos);
  EXPECT_NE(open_index(R"({"weight_map": {"x": "missing.safetensors"}})").find("cannot open"),
            std::string::npos);
  // The same tensor in two shards.
  testing::write_bytes(dir.file("s2.safetensors"),
                       with_header(R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                       "z": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                                   16));
  EXPECT_NE(open_index(R"({"weight_map": {"x": "s1.safetensors", "z": "s2.safetensors"}})")
                .find("stored twice"),
            std::string::npos);
}

}  // namespace
}  // namespace tessera
