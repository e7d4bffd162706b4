// Pins CpuBackend::embed against the independent PyTorch forward pass
// (tests/reference/torch_forward.py in its embedding mode, float64): a tiny random llama with
// F32 weights written as a GGUF, 40 random tokens, every pooling (mean, first, last) under
// causal and bidirectional attention, normalized, plus unnormalized mean pooling. The engine's
// vector must agree within a relative L2 error of 1e-4.
//
// Without python3-torch the tests skip, and fail when CI=true.
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu_backend.hpp"
#include "engine/model.hpp"
#include "tests/engine/tiny_model.hpp"
#include "tests/engine/torch_reference.hpp"

namespace ragent::engine {
namespace {

using model_testing::TempDir;

constexpr int kTextTokens = 40;

struct Case {
  Pooling pooling;
  bool causal;
  bool normalize;
};

std::string case_name(const Case& c) {
  std::string name(pooling_name(c.pooling));
  name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return name + (c.causal ? "Causal" : "Bidirectional") + (c.normalize ? "" : "Unnormalized");
}

// How gtest (and so ctest) names a case's parameter.
void PrintTo(const Case& c, std::ostream* os) { *os << case_name(c); }

class EmbeddingReference : public ::testing::TestWithParam<Case> {};

TEST_P(EmbeddingReference, LlamaF32) {
  REQUIRE_TORCH_REFERENCE();
  const Case& c = GetParam();
  const EmbeddingOptions options{c.pooling, c.normalize, c.causal};
  const auto model = model_testing::make_tiny_model(model_testing::llama_config(64, 4, 2, 128, 2), 31);
  TempDir dir;
  model_testing::write_tiny_gguf(model, GgmlType::F32, dir.path() / "model.gguf");

  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> token_dist(0, static_cast<int32_t>(model.config.vocab_size) - 1);
  std::vector<int32_t> tokens(kTextTokens), positions(kTextTokens);
  for (int i = 0; i < kTextTokens; ++i) {
    tokens[static_cast<size_t>(i)] = token_dist(rng);
    positions[static_cast<size_t>(i)] = i;
  }
  const std::filesystem::path ref_dir = dir.path() / "reference";
  std::filesystem::create_directories(ref_dir);
  model_testing::write_reference_dump(model, ref_dir, tokens, positions, 0, options);
  torch_reference::run(ref_dir);
  const auto hidden = static_cast<size_t>(model.config.hidden_size);
  const std::vector<double> expected = torch_reference::read_f64(ref_dir / "embedding.f64", hidden);

  const Model loaded = Model::load(dir.path() / "model.gguf");
  CpuBackend backend(loaded, CpuBackendOptions{KvType::F32});
  std::vector<float> embedding(hidden);
  backend.embed(tokens.data(), kTextTokens, options, embedding.data());

  const double error = torch_reference::relative_l2(embedding, expected);
  std::printf("[ reference ] llama F32 embedding %s: relative L2 error %.4g\n", case_name(c).c_str(), error);
  ::testing::Test::RecordProperty("relative_l2", std::to_string(error));
  EXPECT_LE(error, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(PoolingsAndMasks, EmbeddingReference,
                         ::testing::Values(Case{Pooling::Mean, true, true}, Case{Pooling::Mean, false, true},
                                           Case{Pooling::First, true, true}, Case{Pooling::First, false, true},
                                           Case{Pooling::Last, true, true}, Case{Pooling::Last, false, true},
                                           Case{Pooling::Mean, false, false}),
                         [](const ::testing::TestParamInfo<Case>& param_info) { return case_name(param_info.param); });

}  // namespace
}  // namespace ragent::engine
