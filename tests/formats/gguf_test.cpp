// The GGUF reader against files written by gguf-py (tests/data/formats,
// made by make_gguf_fixtures.py) and against the default model, whose facts
// come from gguf-py's reader (make_smollm2_reference.py).
#include "tessera/formats/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "tessera/core/error.h"
#include "tessera/formats/ggml_types.h"
#include "test_util.h"

namespace tessera {
namespace {

using nlohmann::json;
using testing::fixture;

gguf::ValueType type_from_name(const std::string& n) {
  static const std::map<std::string, gguf::ValueType> names = {
      {"uint8", gguf::ValueType::kU8},      {"int8", gguf::ValueType::kI8},
      {"uint16", gguf::ValueType::kU16},    {"int16", gguf::ValueType::kI16},
      {"uint32", gguf::ValueType::kU32},    {"int32", gguf::ValueType::kI32},
      {"float32", gguf::ValueType::kF32},   {"bool", gguf::ValueType::kBool},
      {"string", gguf::ValueType::kString}, {"array", gguf::ValueType::kArray},
      {"uint64", gguf::ValueType::kU64},    {"int64", gguf::ValueType::kI64},
      {"float64", gguf::ValueType::kF64},
  };
  return names.at(n);
}

// Compares a parsed scalar with the JSON value gguf-py wrote.
void expect_scalar(const gguf::Value& v, gguf::ValueType type, const json& want,
                   const std::string& where) {
  ASSERT_EQ(v.type, type) << where;
  switch (type) {
    case gguf::ValueType::kU8:
    case gguf::ValueType::kU16:
    case gguf::ValueType::kU32:
    case gguf::ValueType::kU64:
      ASSERT_TRUE(std::holds_alternative<uint64_t>(v.v)) << where;
      EXPECT_EQ(std::get<uint64_t>(v.v), want.get<uint64_t>()) << where;
      break;
    case gguf::ValueType::kI8:
    case gguf::ValueType::kI16:
    case gguf::ValueType::kI32:
    case gguf::ValueType::kI64:
      EXPECT_EQ(v.as_int(), want.get<int64_t>()) << where;
      break;
    case gguf::ValueType::kF32:
    case gguf::ValueType::kF64:
      EXPECT_EQ(v.as_float(), want.get<double>()) << where;
      break;
    case gguf::ValueType::kBool:
      EXPECT_EQ(v.as_bool(), want.get<bool>()) << where;
      break;
    case gguf::ValueType::kString:
      ASSERT_NE(v.as_string(), nullptr) << where;
      EXPECT_EQ(*v.as_string(), want.get<std::string>()) << where;
      break;
    case gguf::ValueType::kArray:
      FAIL() << "not a scalar: " << where;
  }
}

// `want` is {"type": "array", "elem": ..., "value": [...]} with nested
// arrays given the same way.
void expect_array(const gguf::Value& v, const json& want, const std::string& where) {
  ASSERT_EQ(v.type, gguf::ValueType::kArray) << where;
  const gguf::Array* items = v.as_array();
  ASSERT_NE(items, nullptr) << where;
  const gguf::ValueType elem = type_from_name(want["elem"]);
  EXPECT_EQ(v.elem_type, elem) << where;
  ASSERT_EQ(items->size(), want["value"].size()) << where;
  for (size_t i = 0; i < items->size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (elem == gguf::ValueType::kArray)
      expect_array((*items)[i], want["value"][i], at);
    else
      expect_scalar((*items)[i], elem, want["value"][i], at);
  }
}

void expect_matches_reference(const gguf::File& file, const json& ref) {
  EXPECT_EQ(file.alignment(), ref["alignment"].get<uint64_t>());
  EXPECT_EQ(file.data_offset(), ref["data_offset"].get<uint64_t>());
  EXPECT_EQ(file.metadata().size(), ref["metadata"].size());
  for (const auto& [key, want] : ref["metadata"].items()) {
    const gguf::Value* v = file.find(key);
    ASSERT_NE(v, nullptr) << key;
    if (want["type"] == "array")
      expect_array(*v, want, key);
    else
      expect_scalar(*v, type_from_name(want["type"]), want["value"], key);
  }
  ASSERT_EQ(file.tensors().size(), ref["tensors"].size());
  for (const json& want : ref["tensors"]) {
    const std::string name = want["name"];
    const gguf::TensorInfo* info = file.find_tensor(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->shape, want["shape"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(info->ggml_type, want["ggml_type"].get<uint32_t>()) << name;
    EXPECT_EQ(info->type_name, want["type_name"].get<std::string>()) << name;
    EXPECT_EQ(info->offset, want["offset"].get<uint64_t>()) << name;
    EXPECT_EQ(info->nbytes, want["nbytes"].get<uint64_t>()) << name;
    if (!info->supported) continue;
    Tensor t = file.tensor(*info);
    EXPECT_EQ(t.shape(), info->shape) << name;
    EXPECT_EQ(t.nbytes(), info->nbytes) << name;
    if (want["bytes_hex"].is_string()) {
      const std::string hex = want["bytes_hex"];
      const auto* bytes = static_cast<const uint8_t*>(t.data());
      std::string got;
      for (size_t i = 0; i < t.nbytes(); ++i) got += fmt::format("{:02x}", bytes[i]);
      EXPECT_EQ(got, hex) << name;
    }
  }
}

TEST(Gguf, ReadsEveryValueTypeV3) {
  auto file = gguf::File::open(fixture("all_types_v3.gguf"));
  EXPECT_EQ(file->version(), 3u);
  expect_matches_reference(*file, testing::read_json(fixture("all_types_v3.json")));
}

TEST(Gguf, ReadsV2) {
  auto file = gguf::File::open(fixture("all_types_v2.gguf"));
  EXPECT_EQ(file->version(), 2u);
  expect_matches_reference(*file, testing::read_json(fixture("all_types_v3.json")));
}

TEST(Gguf, RejectsV1WithAClearMessage) {
  std::vector<uint8_t> bytes = testing::read_bytes(fixture("all_types_v3.gguf"));
  bytes[4] = 1;
  try {
    gguf::File::parse(bytes.data(), bytes.size(), nullptr, "old.gguf");
    FAIL() << "v1 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
    EXPECT_NE(std::string(e.what()).find("old.gguf: GGUF v1 is not supported"), std::string::npos)
        << e.what();
  }
}

TEST(Gguf, TypedLookups) {
  auto file = gguf::File::open(fixture("all_types_v3.gguf"));
  EXPECT_EQ(file->get_int("test.u32"), 4000000000);
  EXPECT_EQ(file->get_int("test.i8"), -100);
  EXPECT_EQ(file->get_float("test.f32"), 3.25);
  EXPECT_EQ(file->get_float("test.u16"), 65000.0);  // integers widen to numbers
  EXPECT_EQ(file->get_bool("test.bool_true"), true);
  EXPECT_EQ(file->get_string("test.string"), "hello");
  EXPECT_EQ(file->get_string("test.string_nul"), std::string("a\0b", 3));
  EXPECT_EQ(file->get_string_array("test.arr_string"),
            (std::vector<std::string>{"a", "", "ünï", "<|im_end|>"}));
  EXPECT_EQ(file->get_int_array("test.arr_i32"),
            (std::vector<int64_t>{-2147483648LL, 2147483647LL, 7}));
  EXPECT_EQ(file->get_float_array("test.arr_f32").size(), 3u);
  // Absent keys.
  EXPECT_EQ(file->get_int("no.such.key"), std::nullopt);
  EXPECT_TRUE(file->get_string_array("no.such.key").empty());
  // A u64 above INT64_MAX is not an int64.
  EXPECT_THROW(file->get_int("test.u64"), Error);
  // Present with the wrong type: kBadFile naming the key.
  try {
    file->get_int("test.string");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
    EXPECT_NE(std::string(e.what()).find("'test.string' is string, expected an integer"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(file->get_string_array("test.arr_i32"), Error);
  EXPECT_THROW(file->get_int_array("test.arr_string"), Error);
  EXPECT_THROW(file->get_bool("test.u8"), Error);
}

TEST(Gguf, UnsupportedTypeFailsOnlyWhenUsed) {
  auto file = gguf::File::open(fixture("all_types_v3.gguf"));
  const gguf::TensorInfo* info = file->find_tensor("t.q5_0");
  ASSERT_NE(info, nullptr);
  EXPECT_FALSE(info->supported);
  EXPECT_EQ(info->type_name, "Q5_0");
  try {
    file->tensor(*info);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("'t.q5_0' has GGML type Q5_0"), std::string::npos);
  }
  try {
    file->tensor("t.missing");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
    EXPECT_NE(std::string(e.what()).find("no tensor named 't.missing'"), std::string::npos);
  }
}

TEST(Gguf, TensorValuesAreTheMappedBytes) {
  auto file = gguf::File::open(fixture("all_types_v3.gguf"));
  Tensor t = file->tensor("t.i32");
  EXPECT_EQ(t.dtype(), DType::kI32);
  ASSERT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data_as<int32_t>()[i], i);
  Tensor q = file->tensor("t.q4_1");
  EXPECT_EQ(q.dtype(), DType::kQ4_1);
  EXPECT_EQ(q.row_stride(), 20u);
  // The tensor keeps the mapping alive after the file object is gone.
  file.reset();
  EXPECT_EQ(t.data_as<int32_t>()[5], 5);
}

TEST(Gguf, TypeTableMatchesGgufPy) {
  const json ref = testing::read_json(fixture("ggml_types.json"));
  for (const auto& [id, want] : ref.items()) {
    const gguf::GgmlTypeInfo* t = gguf::ggml_type_info(static_cast<uint32_t>(std::stoul(id)));
    ASSERT_NE(t, nullptr) << want["name"];
    EXPECT_EQ(t->name, want["name"].get<std::string>());
    EXPECT_EQ(t->block_size, want["block_size"].get<int>()) << t->name;
    EXPECT_EQ(t->type_size, want["type_size"].get<int>()) << t->name;
    // Where tessera has a DType, its layout must agree too.
    if (auto d = dtype_from_ggml(t->id)) {
      EXPECT_EQ(dtype_info(*d).block_size, t->block_size) << t->name;
      EXPECT_EQ(dtype_info(*d).block_bytes, t->type_size) << t->name;
    }
  }
  EXPECT_EQ(gguf::ggml_type_name(9999), "type 9999");
}

// Facts about the default model, as gguf-py's reader sees them.
TEST(Gguf, DefaultModelMatchesGgufPy) {
  const std::string path = testing::default_model_path();
  if (path.empty()) GTEST_SKIP() << "default model not fetched (scripts/fetch-model.sh)";
  const json ref = testing::read_json(fixture("smollm2_reference.json"));
  auto file = gguf::File::open(path);
  EXPECT_EQ(file->version(), ref["version"].get<uint32_t>());
  EXPECT_EQ(file->alignment(), ref["alignment"].get<uint64_t>());
  EXPECT_EQ(file->data_offset(), ref["data_offset"].get<uint64_t>());
  EXPECT_EQ(file->file_size(), ref["file_size"].get<uint64_t>());
  EXPECT_EQ(file->metadata().size(), ref["kv_count"].get<size_t>());
  for (const auto& [key, want] : ref["scalars"].items()) {
    const gguf::Value* v = file->find(key);
    ASSERT_NE(v, nullptr) << key;
    expect_scalar(*v, type_from_name(want["type"]), want["value"], key);
  }
  for (const auto& [key, want] : ref["arrays"].items()) {
    const gguf::Value* v = file->find(key);
    ASSERT_NE(v, nullptr) << key;
    ASSERT_EQ(v->type, gguf::ValueType::kArray);
    EXPECT_EQ(v->elem_type, type_from_name(want["elem"])) << key;
    const gguf::Array& items = *v->as_array();
    ASSERT_EQ(items.size(), want["count"].get<size_t>()) << key;
    const json& head = want["head"];
    const json& tail = want["tail"];
    for (size_t i = 0; i < head.size(); ++i)
      expect_scalar(items[i], v->elem_type, head[i], key + " head");
    for (size_t i = 0; i < tail.size(); ++i)
      expect_scalar(items[items.size() - tail.size() + i], v->elem_type, tail[i], key + " tail");
  }
  ASSERT_EQ(file->tensors().size(), ref["tensors"].size());
  for (size_t i = 0; i < file->tensors().size(); ++i) {
    const gguf::TensorInfo& info = file->tensors()[i];
    const json& want = ref["tensors"][i];
    EXPECT_EQ(info.name, want["name"].get<std::string>());
    EXPECT_EQ(info.shape, want["shape"].get<std::vector<int64_t>>()) << info.name;
    EXPECT_EQ(info.type_name, want["type"].get<std::string>()) << info.name;
    EXPECT_EQ(info.offset, want["offset"].get<uint64_t>()) << info.name;
    EXPECT_EQ(info.nbytes, want["nbytes"].get<uint64_t>()) << info.name;
  }
  // Content checks: FNV-1a of a few tensors' bytes.
  for (const auto& [name, want] : ref["fnv1a64"].items()) {
    Tensor t = file->tensor(name);
    uint64_t h = 0xcbf29ce484222325ull;
    const auto* p = static_cast<const uint8_t*>(t.data());
    for (size_t i = 0; i < t.nbytes(); ++i) h = (h ^ p[i]) * 0x100000001b3ull;
    EXPECT_EQ(h, want.get<uint64_t>()) << name;
  }
}

}  // namespace
}  // namespace tessera
