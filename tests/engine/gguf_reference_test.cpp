// Cross-checks engine/gguf_writer.cpp and engine/gguf.cpp against an independent GGUF parser,
// @huggingface/gguf (npm), through tests/reference/gguf_dump.mjs: both sides print header,
// metadata and tensor infos of the same file in one line format, and the lines must match.
// Skips when node or the npm package (tests/reference/node_modules) is missing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/gguf.hpp"
#include "tests/support/reference.hpp"

namespace ragent::engine {
namespace {

namespace fs = std::filesystem;

const fs::path kReferenceDir = fs::path(RAGENT_SOURCE_DIR) / "tests/reference";

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Same notation as gguf_dump.mjs: integers in full, floats with 6 decimals, JSON strings.
std::string format(const GgufValue& v) {
  switch (v.type) {
    case GgufValueType::ARRAY: {
      std::string out = "[";
      const auto& values = v.as_array().values;
      for (size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        out += format(values[i]);
      }
      return out + "]";
    }
    case GgufValueType::FLOAT32:
    case GgufValueType::FLOAT64: {
      std::array<char, 64> buf;
      std::snprintf(buf.data(), buf.size(), "%.6f", v.as_f64());
      return buf.data();
    }
    case GgufValueType::BOOL: return v.as_bool() ? "true" : "false";
    case GgufValueType::STRING: return json_string(v.as_string());
    default:
      if (const auto* u = std::get_if<uint64_t>(&v.data)) return std::to_string(*u);
      return std::to_string(v.as_i64());
  }
}

std::string dump(const GgufFile& f) {
  std::ostringstream out;
  out << "version " << f.version() << "\ndata_offset " << f.data_offset() << "\n";
  for (const auto& [key, value] : f.metadata()) {
    out << "kv " << key << " " << static_cast<uint32_t>(value.type);
    if (value.type == GgufValueType::ARRAY) out << "/" << static_cast<uint32_t>(value.as_array().element_type);
    out << " " << format(value) << "\n";
  }
  for (const GgufTensorInfo& t : f.tensors()) {
    out << "tensor " << t.name << " ";
    for (size_t i = 0; i < t.ne.size(); ++i) out << (i ? "x" : "") << t.ne[i];
    out << " " << static_cast<uint32_t>(t.type) << " " << t.offset << "\n";
  }
  return out.str();
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  ::pclose(pipe);
  return out;
}

GgufValue value(GgufValueType t, uint64_t v) { return {t, v}; }
GgufValue value(GgufValueType t, int64_t v) { return {t, v}; }

TEST(GgufReference, HuggingFaceParserReadsWhatWeWrite) {
  RAGENT_REQUIRE_REFERENCE(fs::exists(kReferenceDir / "node_modules/@huggingface/gguf") && !run("node --version 2>/dev/null").empty(),
                           "needs node and @huggingface/gguf in tests/reference/node_modules");
  GgufWriter w;
  w.set_alignment(64);
  w.set("u8", value(GgufValueType::UINT8, uint64_t{200}));
  w.set("i8", value(GgufValueType::INT8, int64_t{-100}));
  w.set("u16", value(GgufValueType::UINT16, uint64_t{60000}));
  w.set("i16", value(GgufValueType::INT16, int64_t{-30000}));
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set("u64", value(GgufValueType::UINT64, uint64_t{18000000000000000000ull}));
  w.set("i64", value(GgufValueType::INT64, int64_t{-9000000000000000000}));
  w.set_f32("f32", -1.25f);
  w.set("f64", GgufValue{GgufValueType::FLOAT64, 12345.5});
  w.set_bool("bool", false);
  w.set_string("general.name", "say \"hi\" \\ bye");
  w.set_string_array("tokenizer.ggml.tokens", {"<s>", "</s>", "", "tok"});
  GgufArray scores{GgufValueType::FLOAT32, {}};
  for (float s : {0.0f, -1.5f, 2.25f}) scores.values.push_back(GgufValue{GgufValueType::FLOAT32, double{s}});
  w.set_array("tokenizer.ggml.scores", scores);
  w.set_array("u64s", GgufArray{GgufValueType::UINT64, {value(GgufValueType::UINT64, uint64_t{1} << 60)}});
  GgufArray bools{GgufValueType::BOOL, {}};
  bools.values.push_back(GgufValue{GgufValueType::BOOL, true});
  bools.values.push_back(GgufValue{GgufValueType::BOOL, false});
  w.set_array("bools", std::move(bools));
  GgufArray inner{GgufValueType::INT32, {value(GgufValueType::INT32, int64_t{-1}), value(GgufValueType::INT32, int64_t{7})}};
  w.set_array("nested", GgufArray{GgufValueType::ARRAY, {GgufValue{GgufValueType::ARRAY, inner},
                                                         GgufValue{GgufValueType::ARRAY, GgufArray{GgufValueType::INT32, {}}}}});
  for (uint32_t id = 0; id < 64; ++id) {
    const auto traits = ggml_type_traits(id);
    if (!traits) continue;
    const std::vector<int64_t> ne = {traits->block_size, 2, 1 + id % 3};
    w.add_tensor("t." + std::string(traits->name), static_cast<GgmlType>(id), ne,
                 std::vector<std::byte>(*ggml_tensor_nbytes(static_cast<GgmlType>(id), ne)));
  }
  const fs::path path = fs::temp_directory_path() / ("ragent_gguf_reference_" + std::to_string(::getpid()) + ".gguf");
  w.write(path);
  const std::string theirs =
      run("node '" + (kReferenceDir / "gguf_dump.mjs").string() + "' '" + path.string() + "' 2>&1");
  const std::string ours = dump(GgufFile::open(path));
  fs::remove(path);
  EXPECT_EQ(theirs, ours);
}

}  // namespace
}  // namespace ragent::engine
