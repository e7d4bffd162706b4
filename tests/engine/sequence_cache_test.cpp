// Pins engine/sequence_cache.cpp: slots keep positions and values through growth, F16 rounds
// values to half precision, truncate drops slots, and layers without attention store nothing.
#include <gtest/gtest.h>

#include <vector>

#include "engine/sequence_cache.hpp"
#include "kernels/cpu/quant.hpp"

namespace ragent::engine {
namespace {

ModelConfig two_layer_config() {
  ModelConfig c;
  c.head_dim = 4;
  c.layers = {LayerConfig{AttentionKind::Normal, 4, 2, FfnKind::Normal, 8},
              LayerConfig{AttentionKind::NoOp, 0, 0, FfnKind::Normal, 8}};
  return c;
}

std::vector<float> row(int64_t slot, float offset) {
  std::vector<float> v(8);
  for (size_t i = 0; i < v.size(); ++i) v[i] = offset + 0.001f * static_cast<float>(slot * 8 + static_cast<int64_t>(i));
  return v;
}

void fill(SequenceCache& cache, int64_t n, int32_t first_position) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t position = first_position + static_cast<int32_t>(i);
    const int64_t slot = cache.append(&position, 1);
    ASSERT_EQ(slot, i);
    cache.write(0, slot, row(slot, 1.0f).data(), row(slot, -1.0f).data());
  }
}

TEST(SequenceCache, F32KeepsValuesAndPositionsThroughGrowth) {
  ContiguousSequenceCache cache(two_layer_config(), KvType::F32);
  fill(cache, 100, 7);
  EXPECT_EQ(cache.size_tokens(), 100);
  EXPECT_GE(cache.capacity_tokens(), 100);
  std::vector<float> keys(100 * 8), values(100 * 8);
  cache.read(0, 0, 100, keys.data(), values.data());
  for (int64_t s = 0; s < 100; ++s) {
    EXPECT_EQ(cache.position(s), 7 + s);
    for (int64_t i = 0; i < 8; ++i) {
      ASSERT_EQ(keys[static_cast<size_t>(s * 8 + i)], row(s, 1.0f)[static_cast<size_t>(i)]);
      ASSERT_EQ(values[static_cast<size_t>(s * 8 + i)], row(s, -1.0f)[static_cast<size_t>(i)]);
    }
  }
}

TEST(SequenceCache, F16RoundsToHalfPrecision) {
  ContiguousSequenceCache cache(two_layer_config(), KvType::F16);
  fill(cache, 20, 0);
  std::vector<float> keys(5 * 8), values(5 * 8);
  cache.read(0, 10, 5, keys.data(), values.data());
  for (int64_t s = 0; s < 5; ++s) {
    for (int64_t i = 0; i < 8; ++i) {
      const float k = row(10 + s, 1.0f)[static_cast<size_t>(i)];
      EXPECT_EQ(keys[static_cast<size_t>(s * 8 + i)], kernels::f16_to_f32(kernels::f32_to_f16(k)));
    }
  }
}

TEST(SequenceCache, TruncateDropsLaterSlots) {
  ContiguousSequenceCache cache(two_layer_config(), KvType::F32);
  fill(cache, 10, 0);
  cache.truncate(4);
  EXPECT_EQ(cache.size_tokens(), 4);
  const int32_t position = 50;
  EXPECT_EQ(cache.append(&position, 1), 4);
  EXPECT_EQ(cache.position(4), 50);
  cache.truncate(20);  // never grows
  EXPECT_EQ(cache.size_tokens(), 5);
}

TEST(SequenceCache, ColumnRangesEqualTheSameColumnsOfWholeRows) {
  for (KvType type : {KvType::F32, KvType::F16}) {
    ContiguousSequenceCache cache(two_layer_config(), type);
    fill(cache, 12, 0);
    std::vector<float> keys(12 * 8), values(12 * 8), k_cols(10 * 4), v_cols(10 * 4);
    cache.read(0, 0, 12, keys.data(), values.data());
    cache.read_columns(0, 2, 10, 4, 8, k_cols.data(), v_cols.data());  // the second KV head
    for (int64_t t = 0; t < 10; ++t) {
      for (int64_t i = 0; i < 4; ++i) {
        EXPECT_EQ(k_cols[static_cast<size_t>(t * 4 + i)], keys[static_cast<size_t>((2 + t) * 8 + 4 + i)]);
        EXPECT_EQ(v_cols[static_cast<size_t>(t * 4 + i)], values[static_cast<size_t>((2 + t) * 8 + 4 + i)]);
      }
    }
  }
}

}  // namespace
}  // namespace ragent::engine
