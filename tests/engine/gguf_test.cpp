// Pins engine/gguf.cpp and engine/gguf_writer.cpp: round trips through the writer, and every
// malformed-file check of the reader (each must name file, offset and key or tensor).
#include "engine/gguf.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>

namespace ragent::engine {
namespace {

namespace fs = std::filesystem;

// Raw little-endian GGUF bytes, for files our writer would refuse to produce.
struct RawGguf {
  std::vector<std::byte> bytes;
  template <class T>
  RawGguf& put(T v) {
    std::byte raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    bytes.insert(bytes.end(), raw, raw + sizeof(T));
    return *this;
  }
  RawGguf& str(std::string_view s) {
    put<uint64_t>(s.size());
    for (char c : s) bytes.push_back(static_cast<std::byte>(c));
    return *this;
  }
  RawGguf& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes.clear();
    str_raw("GGUF");
    return put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  }
  RawGguf& str_raw(std::string_view s) {
    for (char c : s) bytes.push_back(static_cast<std::byte>(c));
    return *this;
  }
  RawGguf& tensor_info(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t n : ne) put<uint64_t>(n);
    return put<uint32_t>(type).put<uint64_t>(offset);
  }
  RawGguf& pad_to(size_t alignment) {
    while (bytes.size() % alignment != 0) bytes.push_back(std::byte{0});
    return *this;
  }
  RawGguf& zeros(size_t n) {
    bytes.insert(bytes.end(), n, std::byte{0});
    return *this;
  }
};

// The EngineError message of parsing `bytes`, or "" when it parses.
std::string parse_error(const std::vector<std::byte>& bytes, std::string name = "model.gguf") {
  try {
    GgufFile::parse(bytes, std::move(name));
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

GgufValue u8(uint64_t v) { return {GgufValueType::UINT8, v}; }
GgufValue i64v(int64_t v) { return {GgufValueType::INT64, v}; }
GgufValue str(std::string s) { return {GgufValueType::STRING, std::move(s)}; }

// --- Round trips ----------------------------------------------------------------------------

TEST(GgufRoundTrip, EveryValueTypeAndNestedArrays) {
  GgufWriter w;
  w.set("u8", GgufValue{GgufValueType::UINT8, uint64_t{255}});
  w.set("i8", GgufValue{GgufValueType::INT8, int64_t{-128}});
  w.set("u16", GgufValue{GgufValueType::UINT16, uint64_t{65535}});
  w.set("i16", GgufValue{GgufValueType::INT16, int64_t{-32768}});
  w.set_u32("u32", 4294967295u);
  w.set_i32("i32", -2147483647 - 1);
  w.set("u64", GgufValue{GgufValueType::UINT64, std::numeric_limits<uint64_t>::max()});
  w.set("i64", i64v(std::numeric_limits<int64_t>::min()));
  w.set_f32("f32", 0.15625f);
  w.set("f64", GgufValue{GgufValueType::FLOAT64, 1e300});
  w.set_bool("bool", true);
  w.set_string("str", std::string("h\xc3\xa9llo\0x", 8));
  w.set_string("empty", "");
  w.set_string_array("tokens", {"<s>", "</s>", ""});
  GgufArray inner1{GgufValueType::UINT8, {u8(1), u8(2)}};
  GgufArray inner2{GgufValueType::UINT8, {}};
  w.set_array("nested", GgufArray{GgufValueType::ARRAY, {GgufValue{GgufValueType::ARRAY, inner1},
                                                         GgufValue{GgufValueType::ARRAY, inner2}}});
  w.set_array("empty_array", GgufArray{GgufValueType::INT64, {}});
  w.set_string("str", "replaced");  // setting again replaces in place

  const auto bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse(bytes);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  ASSERT_EQ(f.metadata().size(), 16u);
  EXPECT_EQ(f.metadata()[0].first, "u8");
  EXPECT_EQ(f.metadata()[11].first, "str");
  EXPECT_EQ(f.get_u64("u8"), 255u);
  EXPECT_EQ(f.get_i64("i8"), -128);
  EXPECT_EQ(f.get_u64("u16"), 65535u);
  EXPECT_EQ(f.get_i64("i16"), -32768);
  EXPECT_EQ(f.get_u64("u32"), 4294967295u);
  EXPECT_EQ(f.get_i64("i32"), -2147483648LL);
  EXPECT_EQ(f.get_u64("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get_i64("i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_f64("f32"), 0.15625);
  EXPECT_EQ(f.get_f64("f64"), 1e300);
  EXPECT_EQ(f.get_bool("bool"), true);
  EXPECT_EQ(f.get_string("str"), "replaced");
  EXPECT_EQ(f.get_string("empty"), "");
  EXPECT_EQ(f.find("u32")->type, GgufValueType::UINT32);
  EXPECT_EQ(f.find("f32")->type, GgufValueType::FLOAT32);
  const GgufArray* tokens = f.get_array("tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->values.size(), 3u);
  EXPECT_EQ(tokens->values[1].as_string(), "</s>");
  EXPECT_EQ(tokens->values[2].as_string(), "");
  const GgufArray* nested = f.get_array("nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->element_type, GgufValueType::ARRAY);
  ASSERT_EQ(nested->values.size(), 2u);
  EXPECT_EQ(nested->values[0].as_array().values[1].as_u64(), 2u);
  EXPECT_TRUE(nested->values[1].as_array().values.empty());
  EXPECT_EQ(f.get_array("empty_array")->element_type, GgufValueType::INT64);
  EXPECT_EQ(f.get_string("absent"), std::nullopt);
  EXPECT_EQ(f.get_array("absent"), nullptr);
  EXPECT_TRUE(f.tensors().empty());
  // The writer's bytes are reproduced exactly when writing what we read.
  GgufWriter again;
  for (const auto& [k, v] : f.metadata()) again.set(k, v);
  EXPECT_EQ(again.to_bytes(), bytes);
}

TEST(GgufRoundTrip, EveryTensorTypeAlignedAndInPlace) {
  GgufWriter w;
  w.set_alignment(64);
  std::vector<std::vector<std::byte>> payloads;
  std::vector<std::pair<std::string, GgmlType>> added;
  for (uint32_t id = 0; id < 64; ++id) {
    const auto traits = ggml_type_traits(id);
    if (!traits) continue;
    const std::vector<int64_t> ne = {traits->block_size * 2, 3};
    payloads.push_back(random_bytes(traits->block_bytes * 2 * 3, id));
    const std::string name = "t." + std::string(traits->name);
    w.add_tensor(name, static_cast<GgmlType>(id), ne, payloads.back());
    added.emplace_back(name, static_cast<GgmlType>(id));
  }
  ASSERT_EQ(added.size(), 32u);  // every type in GgmlType
  // A streamed tensor in the same file.
  w.add_tensor("streamed", GgmlType::F32, {5, 1, 1, 2}, [](std::span<std::byte> out) {
    ASSERT_EQ(out.size(), 40u);
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i);
  });
  const auto bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse(bytes);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.get_u64("general.alignment"), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  ASSERT_EQ(f.tensors().size(), added.size() + 1);
  for (size_t i = 0; i < added.size(); ++i) {
    const GgufTensorInfo* t = f.find_tensor(added[i].first);
    ASSERT_NE(t, nullptr) << added[i].first;
    EXPECT_EQ(t->type, added[i].second);
    EXPECT_EQ(t->offset % 64, 0u);
    EXPECT_EQ(t->nbytes, payloads[i].size());
    EXPECT_EQ(t->element_count(), t->ne[0] * 3);
    EXPECT_EQ(t->data, bytes.data() + f.data_offset() + t->offset);  // in place, no copy
    EXPECT_EQ(std::memcmp(t->data, payloads[i].data(), payloads[i].size()), 0) << added[i].first;
  }
  const GgufTensorInfo* s = f.find_tensor("streamed");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->ne, (std::vector<int64_t>{5, 1, 1, 2}));
  EXPECT_EQ(static_cast<int>(s->data[39]), 39);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ragent_gguf_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

using GgufFileIo = TempDir;

TEST_F(GgufFileIo, WriteRenamesIntoPlaceAndOpenMaps) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  std::vector<float> values = {1.0f, 2.0f, 3.0f, 4.0f};
  w.add_tensor("x", GgmlType::F32, {4}, std::as_bytes(std::span(values)));
  const fs::path path = dir_ / "model.gguf";
  w.write(path);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);  // no temp left
  GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.file_size(), fs::file_size(path));
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  float got[4];
  std::memcpy(got, f.find_tensor("x")->data, sizeof got);
  EXPECT_EQ(got[3], 4.0f);
  // Moving keeps the map alive.
  GgufFile moved = std::move(f);
  EXPECT_EQ(moved.tensors().size(), 1u);
}

TEST_F(GgufFileIo, FailingProducerLeavesNoFile) {
  GgufWriter w;
  w.add_tensor("x", GgmlType::F32, {4}, [](std::span<std::byte>) { throw std::runtime_error("boom"); });
  const fs::path path = dir_ / "model.gguf";
  EXPECT_THROW(w.write(path), std::runtime_error);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(GgufFileIo, OpenErrorsNameTheFile) {
  try {
    GgufFile::open(dir_ / "missing.gguf");
    FAIL();
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.gguf: cannot open"), std::string::npos) << e.what();
  }
  std::ofstream(dir_ / "empty.gguf").close();
  try {
    GgufFile::open(dir_ / "empty.gguf");
    FAIL();
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("empty.gguf: offset 0:"), std::string::npos) << e.what();
  }
}

TEST(GgufWriterChecks, RejectsBadTensorsAndValues) {
  GgufWriter w;
  std::vector<std::byte> four(4);
  EXPECT_THROW(w.add_tensor("a", GgmlType::F32, {2}, four), EngineError);         // size mismatch
  EXPECT_THROW(w.add_tensor("a", GgmlType::Q8_0, {16}, four), EngineError);       // not a block multiple
  EXPECT_THROW(w.add_tensor("a", GgmlType::F32, {1, 1, 1, 1, 1}, four), EngineError);
  EXPECT_THROW(w.add_tensor("a", GgmlType::F32, {0}, four), EngineError);
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), GgmlType::F32, {1}, four), EngineError);
  EXPECT_THROW(w.add_tensor("a", static_cast<GgmlType>(4), {1}, four), EngineError);
  w.add_tensor("a", GgmlType::F32, {1}, four);
  EXPECT_THROW(w.add_tensor("a", GgmlType::F32, {1}, four), EngineError);  // duplicate
  EXPECT_THROW(w.set_alignment(48), EngineError);
  EXPECT_THROW(w.set("x", GgufValue{GgufValueType::UINT8, uint64_t{256}}), EngineError);
  EXPECT_THROW(w.set("x", GgufValue{GgufValueType::INT8, int64_t{-129}}), EngineError);
  EXPECT_THROW(w.set("x", GgufValue{GgufValueType::UINT8, std::string("no")}), EngineError);
  EXPECT_THROW(w.set_array("x", GgufArray{GgufValueType::UINT8, {str("mixed")}}), EngineError);
}

// --- Malformed input ------------------------------------------------------------------------

// A small, fully valid file whose last tensor ends exactly at end of file, so every strict
// prefix of it is truncated somewhere that matters.
std::vector<std::byte> small_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string_array("tokenizer.ggml.tokens", {"a", "bc"});
  w.set_array("nested", GgufArray{GgufValueType::ARRAY, {GgufValue{GgufValueType::ARRAY, GgufArray{GgufValueType::INT64, {i64v(-1)}}}}});
  w.set_f32("f", 1.5f);
  std::vector<std::byte> q8(34), f32(128);
  w.add_tensor("blk.0.w", GgmlType::Q8_0, {32}, q8);
  w.add_tensor("blk.0.norm", GgmlType::F32, {32}, f32);
  return w.to_bytes();
}

TEST(GgufMalformed, TruncationAtEveryByteIsAnErrorWithOffset) {
  const auto full = small_file();
  ASSERT_EQ(parse_error(full), "");
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<std::byte> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string err = parse_error(prefix);
    ASSERT_NE(err, "") << "prefix of " << n << " bytes parsed";
    ASSERT_EQ(err.rfind("model.gguf: offset ", 0), 0u) << err;
    ASSERT_NE(err.find("past end of file"), std::string::npos) << err;
  }
}

TEST(GgufMalformed, HugeArrayCountNamesKeyAndOffset) {
  RawGguf f;
  f.header(0, 1).str("tokenizer.ggml.tokens").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(4294967295u);
  f.zeros(64);
  const std::string err = parse_error(f.bytes);
  EXPECT_EQ(err, "model.gguf: offset 61: key 'tokenizer.ggml.tokens': array of 4294967295 strings runs past end of file (size " +
                     std::to_string(f.bytes.size()) + ")");
}

TEST(GgufMalformed, HugeCountsAndLengthsAreRefusedBeforeAllocating) {
  RawGguf f;
  f.header(0, std::numeric_limits<uint64_t>::max());
  EXPECT_NE(parse_error(f.bytes).find("metadata entries run past end of file"), std::string::npos);
  f.header(std::numeric_limits<uint64_t>::max(), 0);
  EXPECT_NE(parse_error(f.bytes).find("tensor infos run past end of file"), std::string::npos);
  f.header(0, 1).put<uint64_t>(std::numeric_limits<uint64_t>::max()).zeros(16);
  EXPECT_NE(parse_error(f.bytes).find("offset 24: metadata entry 0: key of 18446744073709551615 bytes"), std::string::npos)
      << parse_error(f.bytes);
  f.header(0, 1).str("k").put<uint32_t>(8).put<uint64_t>(1u << 30);
  EXPECT_NE(parse_error(f.bytes).find("key 'k': string of 1073741824 bytes runs past end of file"), std::string::npos);
  f.header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(1u << 20).zeros(100);
  EXPECT_NE(parse_error(f.bytes).find("key 'k': array of 1048576 arrays runs past end of file"), std::string::npos);
  f.header(1, 0).str("x").put<uint32_t>(1).zeros(20);
  EXPECT_NE(parse_error(f.bytes).find("tensor 'x': dimension 0 is 0, not positive"), std::string::npos);
}

TEST(GgufMalformed, MetadataValueTotalIsCapped) {
  // 2^25 + 1 one-byte values would fit the file but would take ~1.6 GB once parsed.
  RawGguf f;
  const uint64_t count = (uint64_t{1} << 25) + 1;
  f.header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(0).put<uint64_t>(count).zeros(static_cast<size_t>(count));
  EXPECT_NE(parse_error(f.bytes).find("key 'k': array of 33554433 values takes the metadata past 33554432 values in total"),
            std::string::npos);
}

TEST(GgufMalformed, HeaderChecks) {
  RawGguf f;
  f.header(0, 0);
  f.bytes[0] = std::byte{'X'};
  EXPECT_EQ(parse_error(f.bytes), "model.gguf: offset 0: not a GGUF file (bad magic)");
  f.header(0, 0, 1);
  EXPECT_NE(parse_error(f.bytes).find("offset 4: GGUF version 1 (32-bit counts) is not supported"), std::string::npos);
  f.header(0, 0, 4);
  EXPECT_NE(parse_error(f.bytes).find("unsupported GGUF version 4"), std::string::npos);
  f.header(0, 0, 2);
  EXPECT_EQ(parse_error(f.bytes), "");  // v2 has the same layout as v3
  EXPECT_EQ(GgufFile::parse(f.bytes).version(), 2u);
}

TEST(GgufMalformed, MetadataChecks) {
  RawGguf f;
  f.header(0, 2).str("a").put<uint32_t>(4).put<uint32_t>(1).str("a").put<uint32_t>(4).put<uint32_t>(2);
  EXPECT_EQ(parse_error(f.bytes), "model.gguf: offset 41: key 'a': duplicate key");
  f.header(0, 1).str("a").put<uint32_t>(13).put<uint32_t>(0);
  EXPECT_EQ(parse_error(f.bytes), "model.gguf: offset 33: key 'a': unknown value type 13");
  f.header(0, 1).str("a").put<uint32_t>(9).put<uint32_t>(77).put<uint64_t>(0);
  EXPECT_NE(parse_error(f.bytes).find("key 'a': unknown array element type 77"), std::string::npos);
  // Arrays nested deeper than 8 levels.
  f.header(0, 1).str("deep").put<uint32_t>(9);
  for (int i = 0; i < 12; ++i) f.put<uint32_t>(9).put<uint64_t>(1);
  f.put<uint32_t>(0).put<uint64_t>(0);
  EXPECT_NE(parse_error(f.bytes).find("key 'deep': arrays nested more than 8 deep"), std::string::npos) << parse_error(f.bytes);
}

TEST(GgufMalformed, AlignmentChecks) {
  for (uint32_t bad : {0u, 3u, 48u}) {
    RawGguf f;
    f.header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(bad);
    EXPECT_NE(parse_error(f.bytes).find("offset 53: key 'general.alignment': alignment " + std::to_string(bad) +
                                        " is not a power of two"),
              std::string::npos)
        << parse_error(f.bytes);
  }
  RawGguf f;
  f.header(0, 1).str("general.alignment").put<uint32_t>(8).str("32");
  EXPECT_NE(parse_error(f.bytes).find("alignment must be an integer, found string"), std::string::npos);
  // A tensor offset that is not a multiple of the alignment.
  f.header(1, 0).tensor_info("w", {4}, 0, 16).pad_to(32).zeros(64);
  EXPECT_NE(parse_error(f.bytes).find("tensor 'w': data offset 16 is not a multiple of the alignment 32"), std::string::npos);
  // An int32 alignment is accepted too, and survives a trip through the writer.
  f.header(0, 1).str("general.alignment").put<uint32_t>(5).put<int32_t>(8);
  ASSERT_EQ(parse_error(f.bytes), "");
  {
    const GgufFile read = GgufFile::parse(f.bytes);
    GgufWriter w;
    for (const auto& [k, v] : read.metadata()) w.set(k, v);
    EXPECT_EQ(GgufFile::parse(w.to_bytes()).alignment(), 8u);
  }
  // The same offset is fine with alignment 16.
  f.header(1, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(16).tensor_info("w", {4}, 0, 16).pad_to(16).zeros(32);
  EXPECT_EQ(parse_error(f.bytes), "");
}

TEST(GgufMalformed, TensorInfoChecks) {
  auto one_tensor = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes) {
    RawGguf f;
    f.header(1, 0).tensor_info("blk.0.w", std::move(ne), type, offset).pad_to(32).zeros(data_bytes);
    return parse_error(f.bytes);
  };
  EXPECT_EQ(one_tensor({4}, 0, 0, 16), "");
  EXPECT_EQ(one_tensor({}, 0, 0, 16), "model.gguf: offset 39: tensor 'blk.0.w': dimension count 0 is not 1..4");
  EXPECT_NE(one_tensor({1, 1, 1, 1, 1}, 0, 0, 16).find("dimension count 5 is not 1..4"), std::string::npos);
  EXPECT_NE(one_tensor({4, 0}, 0, 0, 16).find("offset 51: tensor 'blk.0.w': dimension 1 is 0, not positive"), std::string::npos);
  EXPECT_NE(one_tensor({4, uint64_t{1} << 63}, 0, 0, 16).find("not positive"), std::string::npos);
  EXPECT_NE(one_tensor({uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0, 16).find("element count overflows"), std::string::npos);
  EXPECT_NE(one_tensor({4}, 99, 0, 16).find("tensor 'blk.0.w': unknown ggml type 99"), std::string::npos);
  EXPECT_NE(one_tensor({4}, 4, 0, 16).find("unknown ggml type 4"), std::string::npos);  // removed Q4_2
  EXPECT_NE(one_tensor({16}, 8, 0, 64).find("row of 16 values is not a multiple of the Q8_0 block size 32"), std::string::npos);
  EXPECT_NE(one_tensor({4}, 0, 0, 15).find("tensor 'blk.0.w': data of 16 bytes at data offset 0 runs past end of file"),
            std::string::npos);
  EXPECT_NE(one_tensor({4}, 0, 1u << 20, 16).find("runs past end of file"), std::string::npos);
  EXPECT_NE(one_tensor({4}, 0, std::numeric_limits<uint64_t>::max() - 31, 16).find("runs past end of file"), std::string::npos);
  // Duplicate tensor names; overlapping data is allowed.
  RawGguf f;
  f.header(2, 0).tensor_info("w", {4}, 0, 0).tensor_info("w", {4}, 0, 0).pad_to(32).zeros(16);
  EXPECT_NE(parse_error(f.bytes).find("tensor 'w': duplicate tensor name"), std::string::npos);
  f.header(2, 0).tensor_info("w", {4}, 0, 0).tensor_info("v", {2}, 0, 0).pad_to(32).zeros(16);
  EXPECT_EQ(parse_error(f.bytes), "");
  // Data section past the end of the file.
  f.header(1, 0).tensor_info("w", {4}, 0, 0);
  EXPECT_NE(parse_error(f.bytes).find("data section at offset 64 starts past end of file"), std::string::npos);
}

TEST(GgufMalformed, TypedGettersNameTheKey) {
  GgufWriter w;
  w.set_string("general.name", "x");
  w.set_i32("neg", -1);
  const auto bytes = w.to_bytes();
  const GgufFile f = GgufFile::parse(bytes, "m.gguf");
  try {
    f.get_u64("general.name");
    FAIL();
  } catch (const EngineError& e) {
    EXPECT_EQ(std::string(e.what()), "m.gguf: key 'general.name': value of type string is not a non-negative integer");
  }
  EXPECT_THROW(f.get_u64("neg"), EngineError);
  EXPECT_EQ(f.get_i64("neg"), -1);
  EXPECT_EQ(f.get_f64("neg"), -1.0);
  EXPECT_THROW(f.get_array("neg"), EngineError);
  EXPECT_THROW(f.get_bool("general.name"), EngineError);
}

TEST(GgufMalformed, RandomCorruptionNeverCrashes) {
  const auto full = small_file();
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    auto bytes = full;
    for (int k = 0; k < 4; ++k) bytes[rng() % bytes.size()] = static_cast<std::byte>(rng());
    try {
      const GgufFile f = GgufFile::parse(bytes);
      for (const auto& t : f.tensors()) {
        ASSERT_LE(t.data + t.nbytes, bytes.data() + bytes.size());
      }
    } catch (const EngineError& e) {
      ASSERT_EQ(std::string(e.what()).rfind("<memory>: offset ", 0), 0u) << e.what();
    }
  }
}

TEST(GgufFuzzSeeds, AllParse) {
  // The checked-in fuzz seeds stay valid files, so fuzzing starts from deep inside the format.
  const fs::path seeds = fs::path(RAGENT_SOURCE_DIR) / "tests/fuzz/seeds/gguf";
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(seeds)) {
    EXPECT_LT(entry.file_size(), 4096u) << entry.path();
    const GgufFile f = GgufFile::open(entry.path());
    EXPECT_FALSE(f.metadata().empty() && f.tensors().empty()) << entry.path();
    ++count;
  }
  EXPECT_GE(count, 2u);
}

TEST(GgmlTypes, TensorBytes) {
  const int64_t ne[] = {512, 3};
  EXPECT_EQ(ggml_tensor_nbytes(GgmlType::Q4_K, ne), 2u * 144 * 3);
  EXPECT_EQ(ggml_tensor_nbytes(GgmlType::Q8_0, std::span<const int64_t>(ne, 1)), 16u * 34);
  const int64_t odd[] = {33};
  EXPECT_EQ(ggml_tensor_nbytes(GgmlType::Q8_0, odd), std::nullopt);
  EXPECT_EQ(ggml_type_traits(4), std::nullopt);
  EXPECT_EQ(ggml_type_traits(30)->name, "BF16");
}

}  // namespace
}  // namespace ragent::engine
