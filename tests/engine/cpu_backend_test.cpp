// Pins engine/cpu_backend.cpp properties that need no reference: prefill and decode agree,
// logits depend on positions only relatively (RoPE), the mask follows positions, the F16
// cache stays close to F32, and bad input leaves the cache as it was.
// The comparison with PyTorch is cpu_backend_reference_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "engine/cpu_backend.hpp"
#include "engine/model.hpp"
#include "tests/engine/tiny_model.hpp"

namespace ragent::engine {
namespace {

using model_testing::TempDir;

constexpr int64_t kVocab = 256;

ModelConfig tiny_llama() {
  ModelConfig c;
  c.arch = ModelArch::Llama;
  c.vocab_size = kVocab;
  c.hidden_size = 64;
  c.context_length = 131072;
  c.head_dim = 16;
  c.rope_dim = 16;
  c.rope_theta = 10000.0;
  c.layers.assign(2, LayerConfig{AttentionKind::Normal, 4, 2, FfnKind::Normal, 96});
  return c;
}

class CpuBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_testing::write_tiny_gguf(model_testing::make_tiny_model(tiny_llama(), 3), GgmlType::F32,
                                   dir_.path() / "m.gguf");
    model_ = std::make_unique<Model>(Model::load(dir_.path() / "m.gguf"));
  }

  // Logits of every token when `tokens` run from a fresh cache in one call.
  std::vector<float> prefill(const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
                             KvType kv_type = KvType::F32) {
    CpuBackend backend(*model_, CpuBackendOptions{kv_type});
    auto cache = backend.new_sequence_cache();
    std::vector<float> logits(tokens.size() * kVocab);
    backend.forward(tokens.data(), static_cast<int>(tokens.size()), positions.data(), *cache, logits.data(), true);
    return logits;
  }

  static std::vector<int32_t> sequence(int n, int32_t start = 0) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    std::iota(v.begin(), v.end(), start);
    return v;
  }

  static std::vector<int32_t> tokens(int n) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = (i * 37 + 11) % kVocab;
    return v;
  }

  TempDir dir_;
  std::unique_ptr<Model> model_;
};

double relative_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
    ref += b[i] * static_cast<double>(b[i]);
  }
  return std::sqrt(diff / ref);
}

TEST_F(CpuBackendTest, PrefillAndTokenByTokenDecodeAgree) {
  const auto toks = tokens(80);  // past the cache's first growth and a key block
  const auto pos = sequence(80);
  const std::vector<float> batch = prefill(toks, pos);

  CpuBackend backend(*model_, CpuBackendOptions{KvType::F32});
  auto cache = backend.new_sequence_cache();
  std::vector<float> stepwise(batch.size());
  for (size_t i = 0; i < toks.size(); ++i) {
    backend.forward(&toks[i], 1, &pos[i], *cache, stepwise.data() + i * kVocab, false);
  }
  EXPECT_EQ(cache->size_tokens(), 80);
  EXPECT_LE(relative_l2(stepwise, batch), 1e-5);
}

TEST_F(CpuBackendTest, ChunkedPrefillMatchesOneBatch) {
  // Chunks of 100 over 300 tokens: queries in later chunks stream several cached key blocks.
  const auto toks = tokens(300);
  const auto pos = sequence(300);
  const std::vector<float> batch = prefill(toks, pos);
  CpuBackend backend(*model_, CpuBackendOptions{KvType::F32});
  auto cache = backend.new_sequence_cache();
  std::vector<float> chunked(batch.size());
  for (size_t start = 0; start < toks.size(); start += 100) {
    backend.forward(&toks[start], 100, &pos[start], *cache, chunked.data() + start * kVocab, true);
  }
  EXPECT_LE(relative_l2(chunked, batch), 1e-5);
}

TEST_F(CpuBackendTest, LastLogitsAreTheLastRowOfAll) {
  const auto toks = tokens(9);
  const auto pos = sequence(9);
  const std::vector<float> all = prefill(toks, pos);
  CpuBackend backend(*model_);
  auto cache = backend.new_sequence_cache();
  std::vector<float> last(kVocab);
  backend.forward(toks.data(), 9, pos.data(), *cache, last.data(), false);
  const std::vector<float> expected(all.end() - kVocab, all.end());
  EXPECT_LE(relative_l2(last, expected), 1e-2);  // default F16 cache
}

TEST_F(CpuBackendTest, ShiftingEveryPositionKeepsLogits) {
  // RoPE scores depend on position differences only.
  const auto toks = tokens(40);
  EXPECT_LE(relative_l2(prefill(toks, sequence(40, 100000)), prefill(toks, sequence(40))), 1e-4);
  // ...while a different spacing changes them.
  std::vector<int32_t> spaced = sequence(40);
  for (int32_t& p : spaced) p *= 3;
  EXPECT_GT(relative_l2(prefill(toks, spaced), prefill(toks, sequence(40))), 1e-2);
}

TEST_F(CpuBackendTest, TokenSeesOnlyPositionsUpToItsOwn) {
  // Two tokens in one batch at positions 1 and 0: the second sees only itself.
  const std::vector<int32_t> toks = {5, 9};
  const std::vector<float> both = prefill(toks, {1, 0});
  const std::vector<float> alone = prefill({9}, {0});
  const std::vector<float> second(both.begin() + kVocab, both.end());
  EXPECT_LE(relative_l2(second, alone), 1e-6);
  // The first sees both, so it differs from running alone.
  const std::vector<float> first(both.begin(), both.begin() + kVocab);
  EXPECT_GT(relative_l2(first, prefill({5}, {1})), 1e-3);
}

TEST_F(CpuBackendTest, F16CacheStaysCloseToF32) {
  const auto toks = tokens(64);
  const auto pos = sequence(64);
  const double error = relative_l2(prefill(toks, pos, KvType::F16), prefill(toks, pos, KvType::F32));
  EXPECT_GT(error, 0.0);
  EXPECT_LE(error, 1e-2);
}

TEST_F(CpuBackendTest, BatchOfSequencesEqualsEachRunAlone) {
  // One pass over three sequences (a decode token after a 20-token history, a fresh 30-token
  // prompt with every row's logits, a decode token near position 100,000) and a refused item
  // among them: each sequence gets exactly what it gets alone, and nobody sees another's keys.
  const auto history = tokens(20);
  const auto far_history = tokens(5);
  const std::vector<int32_t> far_positions = {99990, 99991, 99992, 99993, 99994};
  const auto prompt = tokens(30);
  const int32_t next = 77, far_next = 123, bad = static_cast<int32_t>(kVocab);
  const int32_t next_position = 20, far_position = 99995;
  const auto prompt_positions = sequence(30);

  CpuBackend backend(*model_, CpuBackendOptions{KvType::F32});
  auto a = backend.new_sequence_cache(), b = backend.new_sequence_cache(), c = backend.new_sequence_cache(),
       d = backend.new_sequence_cache();
  std::vector<float> scratch(30 * kVocab);
  backend.forward(history.data(), 20, sequence(20).data(), *a, scratch.data(), false);
  backend.forward(far_history.data(), 5, far_positions.data(), *c, scratch.data(), false);

  std::vector<float> la(kVocab), lb(30 * kVocab), lc(kVocab), ld(kVocab, -1.0f);
  std::vector<ForwardItem> items(4);
  items[0] = {&next, 1, &next_position, a.get(), la.data(), false, {}};
  items[1] = {&bad, 1, &next_position, d.get(), ld.data(), false, {}};
  items[2] = {prompt.data(), 30, prompt_positions.data(), b.get(), lb.data(), true, {}};
  items[3] = {&far_next, 1, &far_position, c.get(), lc.data(), false, {}};
  backend.forward_batch(items);

  EXPECT_TRUE(items[0].error.empty());
  EXPECT_NE(items[1].error.find("outside the vocabulary"), std::string::npos) << items[1].error;
  EXPECT_EQ(d->size_tokens(), 0);
  EXPECT_EQ(ld, std::vector<float>(kVocab, -1.0f));
  EXPECT_EQ(a->size_tokens(), 21);
  EXPECT_EQ(b->size_tokens(), 30);
  EXPECT_EQ(c->size_tokens(), 6);

  // Alone, each on a fresh backend.
  auto history_then = history;
  history_then.push_back(next);
  const std::vector<float> all_a = prefill(history_then, sequence(21));
  EXPECT_LE(relative_l2(la, std::vector<float>(all_a.end() - kVocab, all_a.end())), 1e-5);
  EXPECT_LE(relative_l2(lb, prefill(prompt, prompt_positions)), 1e-5);
  auto far_then = far_history;
  far_then.push_back(far_next);
  auto far_then_positions = far_positions;
  far_then_positions.push_back(far_position);
  const std::vector<float> all_c = prefill(far_then, far_then_positions);
  EXPECT_LE(relative_l2(lc, std::vector<float>(all_c.end() - kVocab, all_c.end())), 1e-5);
}

TEST_F(CpuBackendTest, BadInputThrowsAndLeavesTheCache) {
  CpuBackend backend(*model_);
  auto cache = backend.new_sequence_cache();
  std::vector<float> logits(kVocab);
  const std::vector<int32_t> good = {1, 2, 3};
  const auto pos = sequence(4);
  backend.forward(good.data(), 3, pos.data(), *cache, logits.data(), false);

  const std::vector<int32_t> bad = {4, static_cast<int32_t>(kVocab)};
  try {
    backend.forward(bad.data(), 2, pos.data() + 3, *cache, logits.data(), false);
    FAIL() << "expected EngineError";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("token 256 at index 1 is outside the vocabulary of 256"), std::string::npos)
        << e.what();
  }
  const int32_t negative = -1;
  EXPECT_THROW(backend.forward(good.data(), 1, &negative, *cache, logits.data(), false), EngineError);
  EXPECT_THROW(backend.forward(good.data(), 0, pos.data(), *cache, logits.data(), false), EngineError);
  EXPECT_EQ(cache->size_tokens(), 3);
}

}  // namespace
}  // namespace ragent::engine
