// Pins CpuBackend::embed (engine/cpu_backend.cpp) where no reference is needed: unit length,
// what causal and bidirectional attention let each pooled token see, agreement with the hidden
// state the forward pass projects to logits, refusal of bad input; and the GGUF embedding keys
// (pooling_type, attention.causal) from a written file to the default EmbeddingOptions.
// The comparison with PyTorch is embedding_reference_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "engine/cpu_backend.hpp"
#include "engine/model.hpp"
#include "tests/engine/tiny_model.hpp"

namespace ragent::engine {
namespace {

using model_testing::TempDir;
using model_testing::TinyModel;

constexpr int64_t kVocab = 256;
constexpr int64_t kHidden = 64;

double norm(const std::vector<float>& v) {
  double sum_squares = 0;
  for (float x : v) sum_squares += static_cast<double>(x) * x;
  return std::sqrt(sum_squares);
}

double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
    ref += b[i] * static_cast<double>(b[i]);
  }
  return std::sqrt(diff / ref);
}

class EmbeddingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_testing::write_tiny_gguf(tiny_, GgmlType::F32, dir_.path() / "m.gguf");
    model_ = std::make_unique<Model>(Model::load(dir_.path() / "m.gguf"));
    backend_ = std::make_unique<CpuBackend>(*model_, CpuBackendOptions{KvType::F32});
  }

  std::vector<float> embed(const std::vector<int32_t>& tokens, Pooling pooling, bool causal, bool normalize = true) {
    std::vector<float> out(kHidden);
    backend_->embed(tokens.data(), static_cast<int>(tokens.size()), EmbeddingOptions{pooling, normalize, causal},
                    out.data());
    return out;
  }

  static std::vector<int32_t> tokens(int n, int salt = 0) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = (i * 37 + 11 + salt * 101) % kVocab;
    return v;
  }

  TinyModel tiny_ = model_testing::make_tiny_model(model_testing::llama_config(kHidden, 4, 2, 96, 2), 5);
  TempDir dir_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<CpuBackend> backend_;
};

TEST_F(EmbeddingTest, NormalizedVectorHasUnitLengthAndTheDirectionOfThePooledOne) {
  const auto text = tokens(23);
  for (Pooling pooling : {Pooling::Mean, Pooling::First, Pooling::Last}) {
    for (bool causal : {true, false}) {
      SCOPED_TRACE(std::string(pooling_name(pooling)) + (causal ? " causal" : " bidirectional"));
      const std::vector<float> unit = embed(text, pooling, causal);
      EXPECT_NEAR(norm(unit), 1.0, 1e-6);
      std::vector<float> raw = embed(text, pooling, causal, /*normalize=*/false);
      const double length = norm(raw);
      EXPECT_GT(std::abs(length - 1.0), 1e-2) << "the final norm's output is not of unit length by itself";
      for (float& x : raw) x = static_cast<float>(x / length);
      EXPECT_LE(relative_l2(raw, unit), 1e-6);
    }
  }
}

TEST_F(EmbeddingTest, CausalFirstTokenSeesOnlyItselfWhileBidirectionalSeesTheText) {
  const auto text = tokens(12);
  const std::vector<int32_t> first_alone = {text[0]};
  auto changed_end = text;
  changed_end.back() = (changed_end.back() + 1) % kVocab;

  const std::vector<float> causal = embed(text, Pooling::First, true);
  EXPECT_LE(relative_l2(causal, embed(first_alone, Pooling::First, true)), 1e-6);
  EXPECT_LE(relative_l2(causal, embed(changed_end, Pooling::First, true)), 1e-6);

  const std::vector<float> bidirectional = embed(text, Pooling::First, false);
  EXPECT_GT(relative_l2(bidirectional, causal), 1e-2);
  EXPECT_GT(relative_l2(bidirectional, embed(changed_end, Pooling::First, false)), 1e-4)
      << "the first token sees the last one";
  // One token sees only itself either way.
  EXPECT_LE(relative_l2(embed(first_alone, Pooling::First, false), embed(first_alone, Pooling::First, true)), 1e-6);
}

TEST_F(EmbeddingTest, CausalLastTokenIsTheHiddenStateTheForwardProjects) {
  const auto text = tokens(30);
  const std::vector<float> hidden = embed(text, Pooling::Last, true, /*normalize=*/false);
  std::vector<int32_t> positions(text.size());
  std::iota(positions.begin(), positions.end(), 0);
  auto cache = backend_->new_sequence_cache();
  std::vector<float> logits(kVocab);
  backend_->forward(text.data(), static_cast<int>(text.size()), positions.data(), *cache, logits.data(), false);

  // logits = lm_head · hidden, with the model's own F32 output matrix.
  const std::vector<float>& output = tiny_.tensors.at("lm_head.weight").values;
  std::vector<float> projected(kVocab);
  for (int64_t v = 0; v < kVocab; ++v) {
    double dot = 0;
    for (int64_t i = 0; i < kHidden; ++i) dot += static_cast<double>(output[static_cast<size_t>(v * kHidden + i)]) * hidden[static_cast<size_t>(i)];
    projected[static_cast<size_t>(v)] = static_cast<float>(dot);
  }
  EXPECT_LE(relative_l2(projected, logits), 1e-5);
}

TEST_F(EmbeddingTest, CausalMeanIsTheMeanOfEveryPrefixsLastToken) {
  const auto text = tokens(9, 1);
  std::vector<float> mean(kHidden, 0.0f);
  for (size_t n = 1; n <= text.size(); ++n) {
    const std::vector<float> last = embed({text.begin(), text.begin() + static_cast<std::ptrdiff_t>(n)}, Pooling::Last,
                                          true, /*normalize=*/false);
    for (size_t i = 0; i < mean.size(); ++i) mean[i] += last[i] / static_cast<float>(text.size());
  }
  EXPECT_LE(relative_l2(embed(text, Pooling::Mean, true, /*normalize=*/false), mean), 1e-5);
}

TEST_F(EmbeddingTest, BadInputThrowsNamingTheProblemAndWritesNothing) {
  std::vector<float> out(kHidden, -7.0f);
  const std::vector<int32_t> bad = {3, 4, static_cast<int32_t>(kVocab)};
  try {
    backend_->embed(bad.data(), 3, EmbeddingOptions{}, out.data());
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("embed: token 256 at index 2 is outside the vocabulary of 256"),
              std::string::npos)
        << e.what();
  }
  const int32_t negative = -1;
  EXPECT_THROW(backend_->embed(&negative, 1, EmbeddingOptions{}, out.data()), EngineError);
  try {
    backend_->embed(bad.data(), 0, EmbeddingOptions{}, out.data());
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("embed: n_tokens must be at least 1, got 0"), std::string::npos) << e.what();
  }
  EXPECT_EQ(out, std::vector<float>(kHidden, -7.0f));
}

// An embedding model as llama.cpp's converters write one: pooling_type 3 (last),
// attention.causal false, no output.weight (the output ties to the token embedding).
TEST(EmbeddingGguf, PoolingAndMaskKeysSetTheModelsDefaultOptions) {
  ModelConfig config = model_testing::llama_config(kHidden, 4, 2, 96, 2);
  config.pooling = Pooling::Last;
  config.causal_attention = false;
  config.tied_embeddings = true;
  TempDir dir;
  model_testing::write_tiny_gguf(model_testing::make_tiny_model(config, 8), GgmlType::F32, dir.path() / "e.gguf");
  const Model model = Model::load(dir.path() / "e.gguf");
  EXPECT_EQ(model.config().pooling, Pooling::Last);
  EXPECT_FALSE(model.config().causal_attention);
  EXPECT_TRUE(model.config().tied_embeddings);
  EXPECT_EQ(model.config().vocab_size, kVocab);

  const EmbeddingOptions options = model_embedding_options(model.config());
  EXPECT_EQ(options.pooling, Pooling::Last);
  EXPECT_FALSE(options.causal);
  EXPECT_TRUE(options.normalize);

  CpuBackend backend(model, CpuBackendOptions{KvType::F32});
  const std::vector<int32_t> text = {1, 200, 37, 99};
  std::vector<float> by_default(kHidden), explicit_options(kHidden);
  backend.embed(text.data(), 4, options, by_default.data());
  backend.embed(text.data(), 4, EmbeddingOptions{Pooling::Last, true, false}, explicit_options.data());
  EXPECT_EQ(by_default, explicit_options);
  EXPECT_NEAR(norm(by_default), 1.0, 1e-6);

  // A generative model names no pooling: mean, causal, normalized.
  const EmbeddingOptions plain = model_embedding_options(model_testing::llama_config(kHidden, 4, 2, 96, 2));
  EXPECT_EQ(plain.pooling, Pooling::Mean);
  EXPECT_TRUE(plain.causal);
  EXPECT_TRUE(plain.normalize);
}

}  // namespace
}  // namespace ragent::engine
