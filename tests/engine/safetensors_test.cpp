// Pins engine/safetensors.cpp: what a valid file reads as, that every malformed header is
// refused with an error naming file and tensor, and sharded checkpoints through the index.
#include "engine/safetensors.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/engine/hf_checkpoint.hpp"

namespace ragent::engine {
namespace {

using model_testing::TempDir;
using model_testing::write_bytes;
using model_testing::write_text;

// A file with `header` as its JSON and `data_bytes` bytes (0, 1, 2, ...) after it.
std::vector<std::byte> raw_file(const std::string& header, size_t data_bytes) {
  std::vector<std::byte> out(8 + header.size() + data_bytes);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) out[8 + header.size() + i] = static_cast<std::byte>(i);
  return out;
}

// The EngineError message of parsing `bytes` as file "f.safetensors"; "" when it parses.
std::string parse_error(const std::vector<std::byte>& bytes) {
  try {
    SafetensorsFile::parse(bytes, "f.safetensors");
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::byte> span_bytes(std::initializer_list<uint8_t> values) {
  std::vector<std::byte> out;
  for (uint8_t v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST(Safetensors, DTypeNamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(SafetensorsDType::U64); ++i) {
    auto dtype = static_cast<SafetensorsDType>(i);
    EXPECT_EQ(parse_safetensors_dtype(safetensors_dtype_name(dtype)), dtype);
  }
  EXPECT_EQ(safetensors_dtype_bytes(SafetensorsDType::BF16), 2u);
  EXPECT_EQ(safetensors_dtype_bytes(SafetensorsDType::F32), 4u);
  EXPECT_EQ(safetensors_dtype_bytes(SafetensorsDType::I64), 8u);
  EXPECT_FALSE(parse_safetensors_dtype("bf16"));
}

TEST(Safetensors, ReadsWhatTheWriterWrote) {
  SafetensorsWriter w;
  std::vector<std::byte> a = span_bytes({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});  // 2x3 BF16
  std::vector<std::byte> b = span_bytes({0xaa, 0xbb, 0xcc, 0xdd});                 // scalar F32
  w.add_tensor("a.weight", SafetensorsDType::BF16, {2, 3}, a);
  w.add_tensor("b", SafetensorsDType::F32, {}, b);
  w.add_tensor("empty", SafetensorsDType::F16, {0, 4}, {});
  w.set_metadata("format", "pt");
  std::vector<std::byte> bytes = w.to_bytes();

  SafetensorsFile f = SafetensorsFile::parse(bytes, "mem");
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.data_offset() % 8, 0u);
  const SafetensorsTensor* ta = f.find("a.weight");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->dtype, SafetensorsDType::BF16);
  EXPECT_EQ(ta->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ta->element_count(), 6);
  EXPECT_EQ(ta->nbytes(), 12u);
  EXPECT_EQ(ta->data, bytes.data() + f.data_offset() + ta->begin);
  EXPECT_EQ(std::memcmp(ta->data, a.data(), a.size()), 0);
  const SafetensorsTensor* tb = f.find("b");
  ASSERT_NE(tb, nullptr);
  EXPECT_TRUE(tb->shape.empty());
  EXPECT_EQ(tb->element_count(), 1);
  EXPECT_EQ(std::memcmp(tb->data, b.data(), 4), 0);
  EXPECT_EQ(f.find("empty")->nbytes(), 0u);
  EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(Safetensors, OpenMapsTheFileInPlace) {
  TempDir dir;
  SafetensorsWriter w;
  std::vector<std::byte> a = span_bytes({1, 2, 3, 4, 5, 6, 7, 8});
  w.add_tensor("x", SafetensorsDType::F32, {2}, a);
  w.write(dir.path() / "m.safetensors");
  SafetensorsFile f = SafetensorsFile::open(dir.path() / "m.safetensors");
  EXPECT_EQ(f.file_size(), std::filesystem::file_size(dir.path() / "m.safetensors"));
  EXPECT_EQ(model_testing::mapped_path_of(f.find("x")->data), (dir.path() / "m.safetensors").string());
  EXPECT_EQ(std::memcmp(f.find("x")->data, a.data(), a.size()), 0);
}

TEST(Safetensors, AcceptsHeaderPaddedWithSpaces) {
  auto bytes = raw_file(R"({"t":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}     )", 3);
  EXPECT_EQ(parse_error(bytes), "");
}

TEST(Safetensors, RejectsFileShorterThanHeaderLength) {
  EXPECT_NE(parse_error(span_bytes({1, 2, 3})).find("f.safetensors: file is 3 bytes"), std::string::npos);
}

TEST(Safetensors, RejectsHeaderPastEndOfFile) {
  auto bytes = raw_file(R"({})", 0);
  bytes[0] = static_cast<std::byte>(200);
  std::string e = parse_error(bytes);
  EXPECT_NE(e.find("f.safetensors: header length 200 runs past the end"), std::string::npos) << e;
}

TEST(Safetensors, RejectsHugeHeaderLength) {
  auto bytes = raw_file(R"({})", 0);
  bytes[7] = static_cast<std::byte>(1);
  EXPECT_NE(parse_error(bytes).find("exceeds the limit"), std::string::npos);
}

TEST(Safetensors, RejectsBadJson) {
  std::string e = parse_error(raw_file(R"({"t": {"dtype": )", 0));
  EXPECT_NE(e.find("f.safetensors: header (bytes 8..24) is not valid JSON"), std::string::npos) << e;
  EXPECT_NE(parse_error(raw_file(R"([1, 2])", 0)).find("does not start with '{'"), std::string::npos);
}

TEST(Safetensors, RejectsUnknownDtype) {
  std::string e = parse_error(raw_file(R"({"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", 1));
  EXPECT_NE(e.find("f.safetensors: tensor 'w': unknown dtype 'Q4'"), std::string::npos) << e;
}

TEST(Safetensors, RejectsOffsetsPastEndOfFile) {
  std::string e = parse_error(raw_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
  EXPECT_NE(e.find("tensor 'w': data_offsets [0, 16)"), std::string::npos) << e;
  EXPECT_NE(e.find("run past the end of the file"), std::string::npos) << e;
}

TEST(Safetensors, RejectsOverlappingTensors) {
  std::string e = parse_error(raw_file(
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      12));
  EXPECT_NE(e.find("tensor 'b': data_offsets [4, 12)"), std::string::npos) << e;
  EXPECT_NE(e.find("overlap tensor 'a'"), std::string::npos) << e;
}

TEST(Safetensors, RejectsHolesAndTrailingBytes) {
  std::string hole = parse_error(raw_file(
      R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})", 6));
  EXPECT_NE(hole.find("tensor 'b'"), std::string::npos) << hole;
  EXPECT_NE(hole.find("hole of 2 bytes"), std::string::npos) << hole;
  std::string tail = parse_error(raw_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 5));
  EXPECT_NE(tail.find("3 bytes after the last tensor"), std::string::npos) << tail;
}

TEST(Safetensors, RejectsDtypeShapeMismatch) {
  std::string e = parse_error(raw_file(R"({"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})", 8));
  EXPECT_NE(e.find("tensor 'w': data_offsets [0, 8)"), std::string::npos) << e;
  EXPECT_NE(e.find("hold 8 bytes but dtype BF16 and shape need 12"), std::string::npos) << e;
}

TEST(Safetensors, RejectsMalformedEntries) {
  auto err = [](const std::string& header) { return parse_error(raw_file(header, 4)); };
  EXPECT_NE(err(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[4,0]}})").find("end is before begin"), std::string::npos);
  EXPECT_NE(err(R"({"w":{"dtype":"U8","shape":[-4],"data_offsets":[0,4]}})").find("tensor 'w': shape must hold"), std::string::npos);
  EXPECT_NE(err(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0]}})").find("two integers"), std::string::npos);
  EXPECT_NE(err(R"({"w":{"shape":[4],"data_offsets":[0,4]}})").find("'dtype'"), std::string::npos);
  EXPECT_NE(err(R"({"w":[1]})").find("tensor 'w': entry is not an object"), std::string::npos);
  EXPECT_NE(err(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})")
                .find("shape is too large"), std::string::npos);
  EXPECT_NE(err(R"({"__metadata__":{"k":1},"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})")
                .find("'__metadata__' key 'k' is not a string"), std::string::npos);
  EXPECT_NE(err(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})")
                .find("header key 'w' appears twice"), std::string::npos);
}

TEST(Safetensors, OpenNamesTheFile) {
  TempDir dir;
  write_bytes(dir.path() / "bad.safetensors", raw_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8));
  try {
    SafetensorsFile::open(dir.path() / "bad.safetensors");
    FAIL() << "expected an error";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find((dir.path() / "bad.safetensors").string() + ": tensor 'w'"), std::string::npos);
  }
  EXPECT_THROW(SafetensorsFile::open(dir.path() / "absent.safetensors"), EngineError);
  write_bytes(dir.path() / "empty.safetensors", {});
  EXPECT_THROW(SafetensorsFile::open(dir.path() / "empty.safetensors"), EngineError);
}

TEST(SafetensorsCheckpoint, OpensSingleFileAndDirectory) {
  TempDir dir;
  auto written = model_testing::write_checkpoint(dir.path(), {{"a", {2, 3}}, {"b", {5}}}, SafetensorsDType::F32);
  for (const auto& path : {dir.path(), dir.path() / "model.safetensors"}) {
    SafetensorsCheckpoint c = SafetensorsCheckpoint::open(path);
    EXPECT_EQ(c.path(), dir.path() / "model.safetensors");
    ASSERT_EQ(c.tensors().size(), 2u);
    ASSERT_NE(c.find("a"), nullptr);
    EXPECT_EQ(std::memcmp(c.find("a")->data, written.at("a").bytes.data(), 24), 0);
    EXPECT_EQ(c.shard_path_of(*c.find("b")), dir.path() / "model.safetensors");
  }
}

TEST(SafetensorsCheckpoint, OpensShardsThroughIndex) {
  TempDir dir;
  auto written = model_testing::write_checkpoint(dir.path(), {{"a", {4}}, {"b", {2, 2}}, {"c", {3}}},
                                                 SafetensorsDType::BF16, 2);
  SafetensorsCheckpoint c = SafetensorsCheckpoint::open(dir.path());
  EXPECT_EQ(c.path(), dir.path() / "model.safetensors.index.json");
  ASSERT_EQ(c.shards().size(), 2u);
  for (const char* name : {"a", "b", "c"}) {
    const SafetensorsTensor* t = c.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(c.shard_path_of(*t), dir.path() / written.at(name).shard);
    EXPECT_EQ(model_testing::mapped_path_of(t->data), (dir.path() / written.at(name).shard).string());
    EXPECT_EQ(std::memcmp(t->data, written.at(name).bytes.data(), t->nbytes()), 0);
  }
}

std::string checkpoint_error(const std::filesystem::path& path) {
  try {
    SafetensorsCheckpoint::open(path);
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

TEST(SafetensorsCheckpoint, RejectsBadIndex) {
  TempDir dir;
  model_testing::write_checkpoint(dir.path(), {{"a", {4}}, {"b", {4}}}, SafetensorsDType::F32, 2);
  const auto index = dir.path() / "model.safetensors.index.json";

  write_text(index, R"({"weight_map":{"a":"model-00001-of-00002.safetensors","zz":"model-00002-of-00002.safetensors"}})");
  std::string e = checkpoint_error(dir.path());
  EXPECT_NE(e.find(index.string() + ": weight_map puts tensor 'zz' in"), std::string::npos) << e;

  write_text(index, R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})");
  EXPECT_NE(checkpoint_error(dir.path()).find("not a file name in the index's directory"), std::string::npos);

  write_text(index, R"({"weight_map":{"a":"missing.safetensors"}})");
  e = checkpoint_error(dir.path());
  EXPECT_NE(e.find((dir.path() / "missing.safetensors").string() + ": cannot open"), std::string::npos) << e;

  write_text(index, R"({"metadata":{}})");
  EXPECT_NE(checkpoint_error(dir.path()).find("missing object 'weight_map'"), std::string::npos);

  write_text(index, R"({"weight_map":)");
  EXPECT_NE(checkpoint_error(dir.path()).find("not a JSON object"), std::string::npos);
}

TEST(SafetensorsCheckpoint, RejectsDirectoryWithoutCheckpoint) {
  TempDir dir;
  EXPECT_NE(checkpoint_error(dir.path()).find("neither model.safetensors.index.json nor model.safetensors"),
            std::string::npos);
}

}  // namespace
}  // namespace ragent::engine
