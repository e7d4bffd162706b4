// Pins engine/cpu_backend.cpp against an independent PyTorch forward pass
// (tests/reference/torch_forward.py, run with Debian's /usr/bin/python3 and python3-torch).
//
// Each case builds a tiny random-weight model, writes it as a GGUF (llama/deci Q/K permuted
// for interleaved-pair RoPE, qwen2 not) or a Hugging Face directory (rotate-half), and dumps the
// same weights (dequantized, for quantized files) for the reference. The engine prefills part
// of a 72-token sequence as one batch and decodes the rest token by token; all logits must
// agree within a relative L2 error of 1e-4 for F32 weights and 2e-2 for Q8_0 / Q4_K, and for
// F32 the greedy continuation must be the reference's token for token.
//
// Without python3-torch the tests skip, and fail when CI=true.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu_backend.hpp"
#include "engine/model.hpp"
#include "tests/engine/tiny_model.hpp"
#include "tests/engine/torch_reference.hpp"

namespace ragent::engine {
namespace {

using model_testing::attention_layer;
using model_testing::llama_config;
using model_testing::TempDir;
using model_testing::TinyModel;
using torch_reference::read_f64;
using torch_reference::relative_l2;

constexpr int kSequenceTokens = 72;
constexpr int kPrefillTokens = 40;
constexpr int kGreedySteps = 8;

RopeScaling llama3_scaling() {
  RopeScaling s;
  s.type = RopeScalingType::Llama3;
  s.factor = 8.0;
  s.low_freq_factor = 1.0;
  s.high_freq_factor = 4.0;
  s.original_context_length = 8192;
  return s;
}

enum class Format { Gguf, HfDirectory };

struct Outcome {
  double relative_l2 = 0;
  // Quantized files only: how far the engine's logits move from those of the unquantized
  // weights. It must dwarf relative_l2, or the comparison could not tell the two apart.
  double quantization_shift = 0;
  std::vector<int32_t> engine_greedy, reference_greedy;
};

std::vector<int32_t> read_greedy(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<int32_t> out;
  const boost::json::value greedy = boost::json::parse(text);
  for (const auto& v : greedy.at("tokens").as_array()) out.push_back(v.to_number<int32_t>());
  return out;
}

// Prefill the first kPrefillTokens as one batch, then decode one token at a time, so both
// paths are compared. Returns every token's logits; `cache` holds the sequence afterwards.
std::vector<float> engine_logits(CpuBackend& backend, SequenceCache& cache, const std::vector<int32_t>& tokens,
                                 const std::vector<int32_t>& positions, int64_t vocab) {
  std::vector<float> logits(tokens.size() * static_cast<size_t>(vocab));
  backend.forward(tokens.data(), kPrefillTokens, positions.data(), cache, logits.data(), true);
  for (size_t i = kPrefillTokens; i < tokens.size(); ++i) {
    backend.forward(&tokens[i], 1, &positions[i], cache, logits.data() + i * static_cast<size_t>(vocab), false);
  }
  return logits;
}

int32_t argmax(const float* logits, int64_t n) {
  return static_cast<int32_t>(std::max_element(logits, logits + n) - logits);
}

// Writes the model, runs the reference and the engine, and compares.
// Positions run start_position, start_position + stride, ...: a stride above 1 catches an engine
// that rotates by cache slot instead of by the given position (RoPE alone is shift-invariant).
Outcome run_case(const TinyModel& model, Format format, GgmlType type, int32_t start_position, int32_t stride,
                 uint32_t seed) {
  TempDir dir;
  const std::filesystem::path ref_dir = dir.path() / "reference";
  std::filesystem::create_directories(ref_dir);
  std::filesystem::path model_path = dir.path() / "model.gguf";
  if (format == Format::Gguf) {
    model_testing::write_tiny_gguf(model, type, model_path);
  } else {
    model_path = dir.path() / "hf";
    std::filesystem::create_directories(model_path);
    model_testing::write_tiny_hf_dir(model, model_path);
  }

  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> token_dist(0, static_cast<int32_t>(model.config.vocab_size) - 1);
  std::vector<int32_t> tokens(kSequenceTokens), positions(kSequenceTokens);
  for (int i = 0; i < kSequenceTokens; ++i) {
    tokens[static_cast<size_t>(i)] = token_dist(rng);
    positions[static_cast<size_t>(i)] = start_position + stride * i;
  }
  const TinyModel reference = type == GgmlType::F32 ? model : model_testing::dequantized(model, type);
  const int greedy_steps = type == GgmlType::F32 ? kGreedySteps : 0;
  model_testing::write_reference_dump(reference, ref_dir, tokens, positions, greedy_steps);
  torch_reference::run(ref_dir);
  const int64_t vocab = model.config.vocab_size;
  const std::vector<double> expected = read_f64(ref_dir / "logits.f64", static_cast<size_t>(kSequenceTokens * vocab));

  const Model loaded = Model::load(model_path);
  CpuBackend backend(loaded, CpuBackendOptions{KvType::F32});
  auto cache = backend.new_sequence_cache();
  const std::vector<float> logits = engine_logits(backend, *cache, tokens, positions, vocab);
  Outcome out;
  out.relative_l2 = relative_l2(logits, expected);

  if (type != GgmlType::F32) {
    const std::filesystem::path unquantized_path = dir.path() / "unquantized.gguf";
    model_testing::write_tiny_gguf(model, GgmlType::F32, unquantized_path);
    const Model unquantized = Model::load(unquantized_path);
    CpuBackend unquantized_backend(unquantized, CpuBackendOptions{KvType::F32});
    auto unquantized_cache = unquantized_backend.new_sequence_cache();
    out.quantization_shift =
        relative_l2(logits, engine_logits(unquantized_backend, *unquantized_cache, tokens, positions, vocab));
  }

  if (greedy_steps > 0) {
    out.reference_greedy = read_greedy(ref_dir / "greedy.json");
    std::vector<float> step(static_cast<size_t>(vocab));
    int32_t next = argmax(logits.data() + (kSequenceTokens - 1) * vocab, vocab);
    int32_t position = positions.back();
    for (int s = 0; s < greedy_steps; ++s) {
      out.engine_greedy.push_back(next);
      ++position;
      backend.forward(&next, 1, &position, *cache, step.data(), false);
      next = argmax(step.data(), vocab);
    }
  }
  return out;
}

double tolerance(GgmlType type) { return type == GgmlType::F32 ? 1e-4 : 2e-2; }

void check(const TinyModel& model, Format format, GgmlType type, int32_t start_position, uint32_t seed,
           int32_t stride = 1) {
  const Outcome out = run_case(model, format, type, start_position, stride, seed);
  const auto traits = ggml_type_traits(static_cast<uint32_t>(type));
  std::printf("[ reference ] %s %s positions %d + %d i: relative L2 error %.4g", std::string(model_arch_name(model.config.arch)).c_str(),
              std::string(traits->name).c_str(), start_position, stride, out.relative_l2);
  if (type != GgmlType::F32) std::printf(" (quantization moves logits by %.3g)", out.quantization_shift);
  std::printf("\n");
  ::testing::Test::RecordProperty("relative_l2", std::to_string(out.relative_l2));
  EXPECT_LE(out.relative_l2, tolerance(type));
  if (type != GgmlType::F32) {
    // The engine multiplies 8-bit activations, so its error against the reference on the
    // dequantized weights is of the order of Q8_0's own weight rounding; it must still be
    // smaller than what quantizing the weights moved, or the comparison could not tell
    // quantized weights from the originals.
    EXPECT_GT(out.quantization_shift, out.relative_l2);
  }
  EXPECT_EQ(out.engine_greedy, out.reference_greedy);
}

TinyModel small_llama() { return model_testing::make_tiny_model(llama_config(64, 4, 2, 128, 2), 11); }

TEST(CpuBackendReference, LlamaF32) {
  REQUIRE_TORCH_REFERENCE();
  check(small_llama(), Format::Gguf, GgmlType::F32, 0, 1);
}

TEST(CpuBackendReference, LlamaQ8_0) {
  REQUIRE_TORCH_REFERENCE();
  check(small_llama(), Format::Gguf, GgmlType::Q8_0, 0, 2);
}

TEST(CpuBackendReference, LlamaQ4_K) {
  REQUIRE_TORCH_REFERENCE();
  // Q4_K rows are 256 values: every matrix here has 256 columns.
  check(model_testing::make_tiny_model(llama_config(256, 4, 2, 256, 2), 12), Format::Gguf, GgmlType::Q4_K, 0, 3);
}

TEST(CpuBackendReference, LlamaF32BeyondPosition100000) {
  REQUIRE_TORCH_REFERENCE();
  check(model_testing::make_tiny_model(llama_config(64, 4, 1, 96, 1), 13), Format::Gguf, GgmlType::F32, 100000, 4);
}

TEST(CpuBackendReference, LlamaTiedWithRopeFreqsBeyondPosition100000) {
  REQUIRE_TORCH_REFERENCE();
  ModelConfig c = llama_config(64, 4, 2, 128, 2);
  c.rope_theta = 500000.0;
  c.tied_embeddings = true;
  c.has_rope_freqs = true;
  const TinyModel m = model_testing::make_tiny_model(c, 14, llama3_scaling());
  check(m, Format::Gguf, GgmlType::F32, 0, 5);
  check(m, Format::Gguf, GgmlType::F32, 100000, 6);
  check(m, Format::Gguf, GgmlType::F32, 100000, 7, 5);
  check(m, Format::Gguf, GgmlType::Q8_0, 100000, 7);
}

TEST(CpuBackendReference, LlamaHfDirectoryRotateHalfWithLlama3Scaling) {
  REQUIRE_TORCH_REFERENCE();
  ModelConfig c = llama_config(64, 4, 2, 128, 2);
  c.rope_theta = 500000.0;
  c.rope_scaling = llama3_scaling();
  const TinyModel m = model_testing::make_tiny_model(c, 15);
  check(m, Format::HfDirectory, GgmlType::F32, 0, 8);
  check(m, Format::HfDirectory, GgmlType::F32, 100000, 9, 3);
}

TEST(CpuBackendReference, LlamaLinearRopeScaling) {
  REQUIRE_TORCH_REFERENCE();
  ModelConfig c = llama_config(64, 4, 4, 128, 2);
  c.rope_scaling.type = RopeScalingType::Linear;
  c.rope_scaling.factor = 4.0;
  check(model_testing::make_tiny_model(c, 16), Format::Gguf, GgmlType::F32, 0, 10);
}

// Deci in GGUF: per-layer head counts, skipped and linear-replaced attention, skipped FFN.
ModelConfig deci_gguf_config() {
  ModelConfig c = llama_config(64, 4, 1, 128, 0);
  c.arch = ModelArch::Deci;
  c.layers = {attention_layer(4, 1, 128),
              LayerConfig{AttentionKind::NoOp, 0, 0, FfnKind::Normal, 192},
              LayerConfig{AttentionKind::Linear, 4, 0, FfnKind::NoOp, 0},
              attention_layer(2, 2, 96)};
  return c;
}

TEST(CpuBackendReference, DeciMixedLayersF32) {
  REQUIRE_TORCH_REFERENCE();
  check(model_testing::make_tiny_model(deci_gguf_config(), 17), Format::Gguf, GgmlType::F32, 0, 11);
}

TEST(CpuBackendReference, DeciMixedLayersQ8_0) {
  REQUIRE_TORCH_REFERENCE();
  check(model_testing::make_tiny_model(deci_gguf_config(), 17), Format::Gguf, GgmlType::Q8_0, 0, 12);
}

// Deci from a Hugging Face directory: the linear FFN replacement, which GGUF cannot name.
TEST(CpuBackendReference, DeciHfDirectoryWithLinearFfn) {
  REQUIRE_TORCH_REFERENCE();
  ModelConfig c = llama_config(64, 4, 2, 0, 0);
  c.arch = ModelArch::Deci;
  const int64_t ffn = deci_ffn_length(1.0, 64);
  c.layers = {attention_layer(4, 2, ffn),
              LayerConfig{AttentionKind::Normal, 4, 1, FfnKind::Linear, 0},
              LayerConfig{AttentionKind::NoOp, 0, 0, FfnKind::Normal, ffn},
              LayerConfig{AttentionKind::Linear, 4, 0, FfnKind::NoOp, 0}};
  check(model_testing::make_tiny_model(c, 18), Format::HfDirectory, GgmlType::F32, 0, 13);
}

ModelConfig qwen2_config(int64_t hidden) {
  ModelConfig c = llama_config(hidden, 4, 2, hidden * 2, 2);
  c.arch = ModelArch::Qwen2;
  c.rope_theta = 1000000.0;
  c.qkv_bias = true;
  return c;
}

TEST(CpuBackendReference, Qwen2WithBiasesF32) {
  REQUIRE_TORCH_REFERENCE();
  check(model_testing::make_tiny_model(qwen2_config(64), 19), Format::Gguf, GgmlType::F32, 0, 14);
}

TEST(CpuBackendReference, Qwen2WithBiasesQ8_0) {
  REQUIRE_TORCH_REFERENCE();
  check(model_testing::make_tiny_model(qwen2_config(64), 19), Format::Gguf, GgmlType::Q8_0, 0, 15);
}

TEST(CpuBackendReference, Qwen2WithBiasesQ4_K) {
  REQUIRE_TORCH_REFERENCE();
  ModelConfig c = qwen2_config(256);
  for (LayerConfig& l : c.layers) l.ffn_length = 256;
  check(model_testing::make_tiny_model(c, 20), Format::Gguf, GgmlType::Q4_K, 0, 16);
}

TEST(CpuBackendReference, Qwen2HfDirectory) {
  REQUIRE_TORCH_REFERENCE();
  check(model_testing::make_tiny_model(qwen2_config(64), 21), Format::HfDirectory, GgmlType::F32, 0, 17);
}

// GGUF rope.dimension_count below the head size: only the leading dimensions rotate.
TEST(CpuBackendReference, Qwen2PartialRotaryF32) {
  REQUIRE_TORCH_REFERENCE();
  ModelConfig c = qwen2_config(64);
  c.rope_dim = c.head_dim / 2;
  check(model_testing::make_tiny_model(c, 22), Format::Gguf, GgmlType::F32, 0, 18);
}

}  // namespace
}  // namespace ragent::engine
