// Pins engine/paged_sequence_cache.cpp: a forward pass through a PagedSequenceCache gives the
// same logits as through a ContiguousSequenceCache of the same storage type (F32: bit for bit;
// F16: the same half-precision rounding, so bit for bit too), across block boundaries and from a
// shared cached prefix; slots never write into shared blocks; truncate keeps committed slots;
// a full pool throws the KvCache's error naming bytes and leaves the cache unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "engine/cpu_backend.hpp"
#include "engine/paged_sequence_cache.hpp"
#include "tests/engine/tiny_model.hpp"

namespace ragent::engine {
namespace {

using model_testing::TempDir;

ModelConfig tiny_llama() {
  ModelConfig c;
  c.arch = ModelArch::Llama;
  c.vocab_size = 64;
  c.hidden_size = 64;
  c.context_length = 1024;
  c.head_dim = 16;
  c.rope_dim = 16;
  c.layers.assign(2, LayerConfig{AttentionKind::Normal, 4, 2, FfnKind::Normal, 96});
  return c;
}

std::vector<TokenId> tokens_of(int n, int salt) {
  std::vector<TokenId> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<TokenId>((i * 7 + salt * 13) % 64));
  return t;
}

class PagedSequenceCacheTest : public ::testing::TestWithParam<GgmlType> {
 protected:
  void SetUp() override {
    model_testing::write_tiny_gguf(model_testing::make_tiny_model(tiny_llama(), 5), GgmlType::F32,
                                   dir_.path() / "m.gguf");
    model_ = std::make_unique<Model>(Model::load(dir_.path() / "m.gguf"));
  }

  // Forwards tokens[from..) in chunks of `chunk`, committing each when paged; returns the
  // logits of every token forwarded, row after row.
  std::vector<float> run(CpuBackend& backend, SequenceCache& cache, const std::vector<TokenId>& tokens, int from,
                         int chunk) {
    std::vector<float> all;
    std::vector<float> logits;
    for (int at = from; at < static_cast<int>(tokens.size()); at += chunk) {
      const int n = std::min(chunk, static_cast<int>(tokens.size()) - at);
      std::vector<int32_t> positions(static_cast<size_t>(n));
      std::iota(positions.begin(), positions.end(), at);
      logits.resize(static_cast<size_t>(n * 64));
      backend.forward(tokens.data() + at, n, positions.data(), cache, logits.data(), /*all_logits=*/true);
      if (auto* paged = dynamic_cast<PagedSequenceCache*>(&cache)) {
        paged->commit({tokens.data() + at, static_cast<size_t>(n)});
      }
      all.insert(all.end(), logits.begin(), logits.end());
    }
    return all;
  }

  KvType contiguous_type() const { return GetParam() == GgmlType::F32 ? KvType::F32 : KvType::F16; }

  TempDir dir_;
  std::unique_ptr<Model> model_;
};

TEST_P(PagedSequenceCacheTest, LogitsEqualContiguousCacheAcrossBlocks) {
  CpuBackend backend(*model_, CpuBackendOptions{.kv_type = contiguous_type(), .threads = 1});
  KvCache kv(KvCacheConfig::for_model(model_->config(), 1 << 20, GetParam(), /*block_tokens=*/4));
  const auto tokens = tokens_of(23, 1);  // chunks of 3 straddle the 4-token blocks

  ContiguousSequenceCache contiguous(model_->config(), contiguous_type());
  PagedSequenceCache paged(kv, std::vector<TokenId>{tokens[0]});
  EXPECT_EQ(paged.cached_tokens(), 0);
  EXPECT_EQ(run(backend, paged, tokens, 0, 3), run(backend, contiguous, tokens, 0, 3));
  EXPECT_EQ(paged.committed_tokens(), 23);
  kv.check_consistency();
}

TEST_P(PagedSequenceCacheTest, CachedPrefixGivesTheSameLogitsAsPrefilling) {
  CpuBackend backend(*model_, CpuBackendOptions{.kv_type = contiguous_type(), .threads = 1});
  KvCache kv(KvCacheConfig::for_model(model_->config(), 1 << 20, GetParam(), /*block_tokens=*/4));
  auto tokens = tokens_of(18, 2);
  {
    PagedSequenceCache first(kv, tokens);
    run(backend, first, tokens, 0, 18);
  }  // released: its four full blocks stay cached
  tokens.push_back(9);  // same prefix, one more token
  PagedSequenceCache second(kv, tokens);
  ASSERT_EQ(second.cached_tokens(), 16);
  ASSERT_EQ(second.size_tokens(), 16);
  EXPECT_EQ(second.position(15), 15);
  ContiguousSequenceCache contiguous(model_->config(), contiguous_type());
  const auto expected = run(backend, contiguous, tokens, 0, 19);
  const auto got = run(backend, second, tokens, 16, 3);  // only the uncached tail
  EXPECT_EQ(got, std::vector<float>(expected.end() - 3 * 64, expected.end()));
  kv.check_consistency();
}

TEST_P(PagedSequenceCacheTest, TruncateKeepsCommittedSlotsAndFullPoolThrowsUnchanged) {
  // Room for three 4-token blocks.
  const auto one_block = KvCache(KvCacheConfig::for_model(model_->config(), 1 << 20, GetParam(), 4)).pool().block_bytes();
  KvCache kv(KvCacheConfig::for_model(model_->config(), 3 * one_block, GetParam(), 4));
  const auto tokens = tokens_of(6, 3);
  PagedSequenceCache cache(kv, tokens);
  std::vector<int32_t> positions{0, 1, 2, 3, 4, 5};
  EXPECT_EQ(cache.append(positions.data(), 6), 0);
  cache.commit({tokens.data(), 4});
  cache.truncate(5);
  EXPECT_EQ(cache.size_tokens(), 5);
  EXPECT_THROW(cache.truncate(3), EngineError);
  std::vector<int32_t> many(20, 7);
  try {
    cache.append(many.data(), 20);
    FAIL() << "append past the pool did not throw";
  } catch (const EngineError& e) {
    EXPECT_NE(std::string(e.what()).find("bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cache.size_tokens(), 5);
  kv.check_consistency();
}

INSTANTIATE_TEST_SUITE_P(Types, PagedSequenceCacheTest, ::testing::Values(GgmlType::F32, GgmlType::F16),
                         [](const auto& param_info) { return param_info.param == GgmlType::F32 ? "F32" : "F16"; });

// Q8_0 has no contiguous twin: its logits stay within 8-bit rounding of the F32 ones.
TEST(PagedSequenceCacheQ8, LogitsCloseToF32) {
  TempDir dir;
  model_testing::write_tiny_gguf(model_testing::make_tiny_model(tiny_llama(), 5), GgmlType::F32, dir.path() / "m.gguf");
  const Model model = Model::load(dir.path() / "m.gguf");
  CpuBackend backend(model, CpuBackendOptions{.kv_type = KvType::F32, .threads = 1});
  const auto tokens = tokens_of(21, 4);
  std::vector<int32_t> positions(tokens.size());
  std::iota(positions.begin(), positions.end(), 0);
  auto logits_with = [&](GgmlType type) {
    KvCache kv(KvCacheConfig::for_model(model.config(), 1 << 20, type, 4));
    PagedSequenceCache cache(kv, tokens);
    std::vector<float> logits(tokens.size() * 64);
    backend.forward(tokens.data(), 11, positions.data(), cache, logits.data(), true);  // then 10 reading them back
    backend.forward(tokens.data() + 11, 10, positions.data() + 11, cache, logits.data() + 11 * 64, true);
    return logits;
  };
  const auto exact = logits_with(GgmlType::F32), q8 = logits_with(GgmlType::Q8_0);
  double diff = 0, norm = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    diff += (q8[i] - exact[i]) * (q8[i] - exact[i]);
    norm += exact[i] * exact[i];
  }
  EXPECT_GT(diff, 0.0);  // the 8-bit path really ran
  EXPECT_LT(std::sqrt(diff / norm), 2e-2);
}

TEST(PagedSequenceCacheColumns, ColumnRangesEqualTheSameColumnsOfWholeRows) {
  // One layer of 4 KV heads x 16 values; ranges on head boundaries, and (for Q8_0, whose blocks
  // are 32 wide) ranges that cut through a block.
  ModelConfig c = tiny_llama();
  c.layers.assign(1, LayerConfig{AttentionKind::Normal, 8, 4, FfnKind::Normal, 96});
  const int64_t width = 64;
  for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0}) {
    KvCache kv(KvCacheConfig::for_model(c, 1 << 20, type, /*block_tokens=*/4));
    const std::vector<TokenId> none;
    PagedSequenceCache cache(kv, none);
    std::vector<int32_t> positions(11);
    std::iota(positions.begin(), positions.end(), 0);
    cache.append(positions.data(), 11);
    for (int64_t slot = 0; slot < 11; ++slot) {
      std::vector<float> k(width), v(width);
      for (int64_t i = 0; i < width; ++i) {
        k[static_cast<size_t>(i)] = std::sin(static_cast<float>(slot * width + i));
        v[static_cast<size_t>(i)] = std::cos(static_cast<float>(slot * width + i));
      }
      cache.write(0, slot, k.data(), v.data());
    }
    std::vector<float> keys(11 * width), values(11 * width);
    cache.read(0, 0, 11, keys.data(), values.data());
    for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 64}, {16, 48}, {32, 64}, {16, 32}, {0, 16}}) {
      const int64_t w = end - begin;
      std::vector<float> k_cols(static_cast<size_t>(9 * w)), v_cols(static_cast<size_t>(9 * w));
      cache.read_columns(0, 2, 9, begin, end, k_cols.data(), v_cols.data());  // slots 2..10: three blocks
      for (int64_t t = 0; t < 9; ++t) {
        for (int64_t i = 0; i < w; ++i) {
          ASSERT_EQ(k_cols[static_cast<size_t>(t * w + i)], keys[static_cast<size_t>((2 + t) * width + begin + i)])
              << "type " << static_cast<int>(type) << " columns " << begin << ".." << end;
          ASSERT_EQ(v_cols[static_cast<size_t>(t * w + i)], values[static_cast<size_t>((2 + t) * width + begin + i)]);
        }
      }
    }
  }
}

}  // namespace
}  // namespace ragent::engine
