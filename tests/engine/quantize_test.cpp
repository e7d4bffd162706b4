// Pins engine/quantize.cpp: which type each tensor gets, metadata carried over, values kept.
#include "engine/quantize.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "kernels/cpu/quant.hpp"

namespace ragent::engine {
namespace {

namespace fs = std::filesystem;

constexpr int kLayers = 8;
// For 8 layers, llama.cpp's use_more_bits picks i < 1, i >= 7 and (i - 1) % 3 == 2: {0, 3, 6, 7}.
bool more_bits_layer(int i) { return i == 0 || i == 3 || i == 6 || i == 7; }

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// Bytes of `values` stored as `type` (F32, F16 or BF16).
std::vector<std::byte> encode(GgmlType type, const std::vector<float>& values) {
  const auto q = static_cast<kernels::QuantType>(static_cast<uint32_t>(type));
  std::vector<std::byte> out(kernels::row_bytes(q, static_cast<int64_t>(values.size())));
  kernels::quantize_row(q, values.data(), out.data(), static_cast<int64_t>(values.size()));
  return out;
}

std::vector<float> decode(const GgufTensorInfo& t) {
  const auto q = static_cast<kernels::QuantType>(static_cast<uint32_t>(t.type));
  std::vector<float> out(static_cast<size_t>(t.element_count()));
  kernels::dequantize_row(q, t.data, out.data(), t.element_count());
  return out;
}

double relative_rms_error(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (x[i] - y[i]) * static_cast<double>(x[i] - y[i]);
    ref += x[i] * static_cast<double>(x[i]);
  }
  return std::sqrt(err / ref);
}

class QuantizeModel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ragent_quantize_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    write_model();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void add(GgufWriter& w, const std::string& name, GgmlType type, std::vector<int64_t> ne) {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    auto values = gaussian(static_cast<size_t>(n), static_cast<uint32_t>(originals_.size() + 1));
    // Store what the file really holds (after F16/BF16 rounding) as the reference.
    const auto bytes = encode(type, values);
    const auto q = static_cast<kernels::QuantType>(static_cast<uint32_t>(type));
    kernels::dequantize_row(q, bytes.data(), values.data(), n);
    originals_[name] = values;
    w.add_tensor(name, type, std::move(ne), bytes);
  }

  // A tiny Llama-shaped model: F32, F16 and BF16 tensors, 8 layers, odd row lengths.
  void write_model() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_string("general.name", "tiny");
    w.set_u32("llama.block_count", kLayers);
    w.set_f32("llama.rope.freq_base", 500000.0f);
    w.set_string_array("tokenizer.ggml.tokens", {"<s>", "</s>", "a"});
    w.set_u32("general.file_type", 0);
    add(w, "token_embd.weight", GgmlType::F16, {256, 16});
    add(w, "output_norm.weight", GgmlType::F32, {256});
    add(w, "output.weight", GgmlType::BF16, {256, 16});
    for (int i = 0; i < kLayers; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      add(w, p + "attn_norm.weight", GgmlType::F32, {256});
      add(w, p + "attn_q.weight", GgmlType::F32, {256, 8});
      add(w, p + "attn_v.weight", GgmlType::F16, {256, 4});
      add(w, p + "ffn_down.weight", GgmlType::F32, {512, 4});
    }
    add(w, "blk.1.ffn_up.weight", GgmlType::F32, {256, 768});  // large enough to split over threads
    add(w, "blk.0.odd32.weight", GgmlType::F32, {96, 2});  // multiple of 32, not of 256
    add(w, "blk.0.odd.weight", GgmlType::F32, {40, 2});    // not a multiple of 32
    w.write(in_path());
  }

  fs::path in_path() const { return dir_ / "in.gguf"; }
  fs::path out_path() const { return dir_ / "out.gguf"; }

  fs::path dir_;
  std::map<std::string, std::vector<float>> originals_;
};

TEST_F(QuantizeModel, Q4_K_MFollowsTheMixture) {
  std::vector<std::string> seen;
  QuantizeOptions options;
  options.threads = 3;
  options.progress = [&](const QuantizeProgress& p) {
    EXPECT_EQ(p.tensor_index, seen.size());
    EXPECT_GT(p.bytes_out, 0u);
    seen.emplace_back(p.tensor_name);
  };
  quantize_model(in_path(), out_path(), "Q4_K_M", options);
  const GgufFile out = GgufFile::open(out_path());
  EXPECT_EQ(seen.size(), out.tensors().size());
  EXPECT_EQ(out.get_u64("general.file_type"), 15u);
  EXPECT_EQ(out.get_u64("general.quantization_version"), 2u);

  auto type_of = [&](const std::string& name) { return out.find_tensor(name)->type; };
  EXPECT_EQ(type_of("token_embd.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type_of("output.weight"), GgmlType::Q6_K);
  EXPECT_EQ(type_of("output_norm.weight"), GgmlType::F32);
  for (int i = 0; i < kLayers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const GgmlType more = more_bits_layer(i) ? GgmlType::Q6_K : GgmlType::Q4_K;
    EXPECT_EQ(type_of(p + "attn_norm.weight"), GgmlType::F32) << i;
    EXPECT_EQ(type_of(p + "attn_q.weight"), GgmlType::Q4_K) << i;
    EXPECT_EQ(type_of(p + "attn_v.weight"), more) << i;
    EXPECT_EQ(type_of(p + "ffn_down.weight"), more) << i;
  }
  EXPECT_EQ(type_of("blk.1.ffn_up.weight"), GgmlType::Q4_K);
  EXPECT_EQ(type_of("blk.0.odd32.weight"), GgmlType::Q8_0);
  EXPECT_EQ(type_of("blk.0.odd.weight"), GgmlType::F16);

  for (const GgufTensorInfo& t : out.tensors()) {
    const double bound = t.type == GgmlType::Q4_K ? 0.09 : t.type == GgmlType::Q6_K ? 0.025 : 0.01;
    EXPECT_LT(relative_rms_error(originals_.at(t.name), decode(t)), bound) << t.name;
    EXPECT_EQ(static_cast<size_t>(t.element_count()), originals_.at(t.name).size());
  }
}

TEST_F(QuantizeModel, Q8_0KeepsMetadataAndValues) {
  quantize_model(in_path(), out_path(), "q8_0");
  const GgufFile in = GgufFile::open(in_path());
  const GgufFile out = GgufFile::open(out_path());
  EXPECT_EQ(out.get_u64("general.file_type"), 7u);
  // Every input key is carried over with its value (file_type aside), in order.
  for (const auto& [key, value] : in.metadata()) {
    if (key == "general.file_type") continue;
    const GgufValue* copied = out.find(key);
    ASSERT_NE(copied, nullptr) << key;
    EXPECT_EQ(copied->type, value.type) << key;
  }
  EXPECT_EQ(out.get_string("general.name"), "tiny");
  EXPECT_EQ(out.get_f64("llama.rope.freq_base"), 500000.0);
  EXPECT_EQ(out.get_array("tokenizer.ggml.tokens")->values[1].as_string(), "</s>");
  EXPECT_EQ(out.metadata()[0].first, "general.architecture");
  ASSERT_EQ(out.tensors().size(), in.tensors().size());
  for (size_t i = 0; i < in.tensors().size(); ++i) {
    const GgufTensorInfo& t = out.tensors()[i];
    EXPECT_EQ(t.name, in.tensors()[i].name);  // same order
    if (t.ne.size() == 1) {
      EXPECT_EQ(t.type, GgmlType::F32) << t.name;
      EXPECT_EQ(decode(t), originals_.at(t.name)) << t.name;  // exact
    } else if (t.name == "blk.0.odd.weight") {
      EXPECT_EQ(t.type, GgmlType::F16);
    } else {
      EXPECT_EQ(t.type, GgmlType::Q8_0) << t.name;
      EXPECT_LT(relative_rms_error(originals_.at(t.name), decode(t)), 0.01) << t.name;
    }
  }
}

TEST_F(QuantizeModel, RequantizesQuantizedInputAndFloatTargets) {
  quantize_model(in_path(), out_path(), "Q8_0");
  const fs::path f16 = dir_ / "f16.gguf";
  quantize_model(out_path(), f16, "F16");  // Q8_0 in, dequantized then stored as F16
  const GgufFile out = GgufFile::open(f16);
  EXPECT_EQ(out.get_u64("general.file_type"), 1u);
  for (const GgufTensorInfo& t : out.tensors()) {
    EXPECT_EQ(t.type, t.ne.size() == 1 ? GgmlType::F32 : GgmlType::F16) << t.name;
    EXPECT_LT(relative_rms_error(originals_.at(t.name), decode(t)), 0.01) << t.name;
  }
  const fs::path f32 = dir_ / "f32.gguf";
  quantize_model(in_path(), f32, "F32");
  const GgufFile exact = GgufFile::open(f32);
  EXPECT_EQ(exact.get_u64("general.file_type"), 0u);
  for (const GgufTensorInfo& t : exact.tensors()) {
    EXPECT_EQ(t.type, GgmlType::F32);
    EXPECT_EQ(decode(t), originals_.at(t.name)) << t.name;  // F16/BF16 widen exactly
  }
}

TEST_F(QuantizeModel, RefusesUnknownTargetsAndUnsupportedTensors) {
  EXPECT_THROW(quantize_model(in_path(), out_path(), "Q3_K_S"), EngineError);
  GgufWriter w;
  std::vector<std::byte> q2(84);
  w.add_tensor("blk.0.w", GgmlType::Q2_K, {256}, q2);
  w.write(dir_ / "q2.gguf");
  try {
    quantize_model(dir_ / "q2.gguf", out_path(), "Q8_0");
    FAIL();
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("q2.gguf: tensor 'blk.0.w': type Q2_K cannot be requantized"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(out_path()));
}

TEST(QuantizeRules, ChooseTensorType) {
  const int64_t ne2[] = {4096, 4096};
  const int64_t ne1[] = {4096};
  const int64_t odd[] = {4000, 8};  // multiple of 32, not 256
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "blk.0.attn_norm.weight", ne1, 32), GgmlType::F32);
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "blk.5.attn_k.weight", ne2, 32), GgmlType::Q4_K);
  // 32 layers: more bits for i < 4, i >= 28, and (i - 4) % 3 == 2 (6, 9, ..., 27).
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "blk.3.attn_v.weight", ne2, 32), GgmlType::Q6_K);
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "blk.4.attn_v.weight", ne2, 32), GgmlType::Q4_K);
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "blk.6.ffn_down.weight", ne2, 32), GgmlType::Q6_K);
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "blk.7.ffn_down.weight", ne2, 32), GgmlType::Q4_K);
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "blk.28.ffn_down.weight", ne2, 32), GgmlType::Q6_K);
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "blk.6.ffn_up.weight", ne2, 32), GgmlType::Q4_K);
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q4_K_M, "output.weight", odd, 32), GgmlType::Q8_0);
  EXPECT_EQ(choose_tensor_type(QuantTarget::Q8_0, "output.weight", ne2, 32), GgmlType::Q8_0);
  EXPECT_EQ(choose_tensor_type(QuantTarget::F16, "output.weight", ne2, 32), GgmlType::F16);
  EXPECT_EQ(parse_quant_target("q4_k"), QuantTarget::Q4_K_M);
  EXPECT_EQ(llama_file_type(parse_quant_target("Q4_K_M")), 15u);
  EXPECT_EQ(llama_file_type(QuantTarget::Q8_0), 7u);
}

}  // namespace
}  // namespace ragent::engine
